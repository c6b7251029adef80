//! FindCoordinator: this broker coordinates every group (it leads every partition of
//! `__consumer_offsets`, created on first use). Batched keys from v4 (KIP-699).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

const KEY_TYPE_GROUP: i8 = 0;

/// (error code, message) for one key; `None` means this broker coordinates it.
fn lookup(ctx: &RequestContext<'_>, key: &str, key_type: i8) -> Option<(i16, &'static str)> {
    if key_type != KEY_TYPE_GROUP {
        // Transactions and share groups have no coordinator yet.
        return Some((E::InvalidRequest.code(), "only group coordinators are supported; transactions are not yet"));
    }
    if key.is_empty() {
        return Some((E::InvalidRequest.code(), "empty group id"));
    }
    ctx.broker.groups.offsets_partition(ctx.broker, key).err().map(|code| (code, "the offsets topic is not available"))
}

pub async fn handle(ctx: &RequestContext<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let cfg = &ctx.broker.config;
    let mut resp = FindCoordinatorResponse::default();
    let host = StrBytes::from_string(cfg.advertised_host.clone());
    if ctx.version < 4 {
        match lookup(ctx, &req.key, req.key_type) {
            None => {
                resp.node_id = BrokerId(cfg.node_id);
                resp.host = host;
                resp.port = cfg.advertised_port;
            }
            Some((code, message)) => {
                resp.error_code = code;
                resp.node_id = BrokerId(-1);
                resp.port = -1;
                if ctx.version >= 1 {
                    resp.error_message = Some(StrBytes::from_static_str(message));
                }
            }
        }
        return resp;
    }
    for key in req.coordinator_keys {
        let mut c = Coordinator::default();
        match lookup(ctx, &key, req.key_type) {
            None => {
                c.node_id = BrokerId(cfg.node_id);
                c.host = host.clone();
                c.port = cfg.advertised_port;
            }
            Some((code, message)) => {
                c.error_code = code;
                c.error_message = Some(StrBytes::from_static_str(message));
                c.node_id = BrokerId(-1);
                c.port = -1;
            }
        }
        c.key = key;
        resp.coordinators.push(c);
    }
    resp
}
