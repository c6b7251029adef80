//! UnregisterBroker (KIP-500's decommissioning): the controller forgets a broker's
//! registration. On a single broker the only registered broker is this one, which is
//! running: like a live Kafka broker it is registered again at once, so nothing changes.

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use crate::controller::Command;

/// How long the controller may take to commit the change.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: &RequestContext<'_>, req: UnregisterBrokerRequest) -> UnregisterBrokerResponse {
    let id = req.broker_id.0;
    let mut resp = UnregisterBrokerResponse::default();
    if !ctx.cluster_authorized(op::ALTER) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let (code, message) = match ctx.services.cluster() {
        None if id == ctx.services.config.node_id => (0, None),
        None => (E::BrokerIdNotRegistered.code(), Some(format!("Broker ID {id} is not currently registered"))),
        Some(rm) => match rm.controller.write(Command::UnregisterBroker { id, defaults: rm.controller.election_defaults() }, COMMIT_TIMEOUT).await {
            Ok(r) => (r.error_code, r.message),
            Err(e) => (E::RequestTimedOut.code(), Some(e.to_string())),
        },
    };
    resp.error_code = code;
    resp.error_message = message.map(StrBytes::from_string);
    resp
}
