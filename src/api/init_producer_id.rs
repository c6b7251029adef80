//! InitProducerId: a fresh producer id for an idempotent producer; for a transactional
//! one, its coordinator's answer (the id's producer id with the epoch bumped, fencing
//! older producers and aborting their open transaction).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use std::time::Duration;

use super::authz::{op, TOPIC, TRANSACTIONAL_ID};
use super::RequestContext;
use crate::controller::image::PRODUCER_ID_BLOCK;
use crate::controller::Command;
use crate::txn::InitError;

/// How long reserving a block of producer ids through the controller may take.
const ALLOCATION_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn handle(ctx: &RequestContext<'_>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req.transactional_id.as_ref().is_some_and(|t| t.is_empty()) {
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    // A transactional producer needs WRITE on its id; an idempotent one IDEMPOTENT_WRITE
    // on the cluster or WRITE on some topic.
    let denied = match &req.transactional_id {
        Some(id) => (!ctx.authorized(op::WRITE, TRANSACTIONAL_ID, id)).then_some(ResponseError::TransactionalIdAuthorizationFailed),
        None => (!ctx.cluster_authorized(op::IDEMPOTENT_WRITE) && !ctx.authorized_on_any(op::WRITE, TOPIC)).then_some(ResponseError::ClusterAuthorizationFailed),
    };
    if let Some(e) = denied {
        resp.error_code = e.code();
        return resp;
    }
    if let Some(txn_id) = &req.transactional_id {
        // The id is a (non-compact) string in its __transaction_state key.
        if txn_id.len() > i16::MAX as usize {
            resp.error_code = ResponseError::InvalidRequest.code();
            return resp;
        }
        if ctx.version >= 6 && req.keep_prepared_txn {
            // Two-phase commit (KIP-939) is not offered (transaction.two.phase.commit.enable).
            resp.error_code = ResponseError::UnsupportedVersion.code();
            return resp;
        }
        let expected = (ctx.version >= 3 && req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        let mut fresh = None;
        loop {
            match ctx.services.txn.init_producer_id(txn_id, req.transaction_timeout_ms, expected, fresh).await {
                Ok((id, epoch)) => {
                    resp.producer_id = ProducerId(id);
                    resp.producer_epoch = epoch;
                }
                Err(InitError::NeedsProducerId) if fresh.is_none() => match allocate(ctx).await {
                    Ok(id) => {
                        fresh = Some(id);
                        continue;
                    }
                    Err(code) => resp.error_code = code,
                },
                Err(InitError::NeedsProducerId) => resp.error_code = ResponseError::UnknownServerError.code(),
                Err(InitError::Code(e)) if e == ResponseError::ProducerFenced && ctx.version < 4 => resp.error_code = ResponseError::InvalidProducerEpoch.code(),
                Err(InitError::Code(e)) => resp.error_code = e.code(),
            }
            return resp;
        }
    }
    // Like Kafka, an idempotent producer always gets a fresh id (epoch 0), also when it
    // re-initialises after an error with its old id and epoch (KIP-360).
    match allocate(ctx).await {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(code) => resp.error_code = code,
    }
    resp
}

/// A producer id no one has had.
pub(super) async fn allocate(ctx: &RequestContext<'_>) -> Result<i64, i16> {
    match ctx.services.cluster() {
        None => ctx.services.producer_ids.next_id().map_err(|e| {
            tracing::error!(error = %e, "could not reserve producer ids");
            ResponseError::KafkaStorageError.code()
        }),
        Some(rm) => cluster_id(ctx, rm).await,
    }
}

/// The next id of this broker's block, reserving a new block through the controller
/// when it is used up.
async fn cluster_id(ctx: &RequestContext<'_>, rm: &crate::replication::ReplicaManager) -> Result<i64, i16> {
    let ids = &ctx.services.cluster_producer_ids;
    loop {
        if let Some(id) = ids.take() {
            return Ok(id);
        }
        let cmd = Command::AllocateProducerIds { broker: ctx.services.config.node_id };
        match rm.controller.write(cmd, ALLOCATION_TIMEOUT).await {
            Ok(r) if r.is_ok() => ids.install(r.value, PRODUCER_ID_BLOCK),
            Ok(r) => return Err(r.error_code),
            Err(e) => {
                tracing::warn!(error = %e, "could not reserve producer ids");
                return Err(ResponseError::CoordinatorNotAvailable.code());
            }
        }
    }
}
