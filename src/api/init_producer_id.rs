//! InitProducerId for idempotent producers. Transactions are not supported yet: a
//! transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients
//! treat as fatal rather than retrying forever.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use std::time::Duration;

use super::RequestContext;
use crate::controller::image::PRODUCER_ID_BLOCK;
use crate::controller::Command;

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
    if req.transactional_id.is_some() {
        resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return resp;
    }
    // Like Kafka, an idempotent producer always gets a fresh id (epoch 0), also when it
    // re-initialises after an error with its old id and epoch (KIP-360).
    let id = match ctx.services.cluster() {
        None => ctx.services.producer_ids.next_id().map_err(|e| {
            tracing::error!(error = %e, "could not reserve producer ids");
            ResponseError::KafkaStorageError.code()
        }),
        Some(rm) => cluster_id(ctx, rm).await,
    };
    match id {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(code) => resp.error_code = code,
    }
    resp
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
