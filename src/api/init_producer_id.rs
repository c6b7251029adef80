//! InitProducerId for idempotent producers. Transactions are not supported yet: a
//! transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients
//! treat as fatal rather than retrying forever.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;

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
    match ctx.broker.producer_ids.next_id() {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not reserve producer ids");
            resp.error_code = ResponseError::KafkaStorageError.code();
        }
    }
    resp
}
