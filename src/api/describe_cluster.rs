//! DescribeCluster: the brokers of the cluster (a single broker: itself) and the
//! controller id clients should use.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

/// `endpoint_type` values (KIP-919).
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let cfg = &ctx.services.config;
    let mut resp = DescribeClusterResponse::default();
    if ctx.version >= 1 {
        resp.endpoint_type = req.endpoint_type;
    }
    if ctx.version >= 1 && req.endpoint_type != ENDPOINT_BROKERS {
        // Only broker endpoints are served; controllers are not separately addressable.
        resp.error_code = ResponseError::UnsupportedEndpointType.code();
        resp.error_message = Some(StrBytes::from_static_str("only broker endpoints (1) are supported"));
        return resp;
    }
    resp.cluster_id = StrBytes::from_string(ctx.services.cluster_id());
    resp.controller_id = BrokerId(super::metadata::controller_id(ctx.services));
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations {
        ctx.authorized_operations(super::authz::CLUSTER, crate::security::acl::CLUSTER_NAME)
    } else {
        super::metadata::OPERATIONS_NOT_REQUESTED
    };
    let broker = |id: i32, host: &str, port: i32, rack: &Option<String>, fenced: bool| {
        let mut b = DescribeClusterBroker::default();
        b.broker_id = BrokerId(id);
        b.host = StrBytes::from_string(host.to_string());
        b.port = port;
        b.rack = rack.clone().map(StrBytes::from_string);
        b.is_fenced = fenced;
        b
    };
    resp.brokers = match ctx.services.cluster() {
        Some(rm) => {
            let with_fenced = ctx.version >= 2 && req.include_fenced_brokers;
            rm.image()
                .brokers
                .values()
                .filter(|b| with_fenced || !b.fenced)
                .map(|b| {
                    let (host, port) = b.endpoint.address_for(ctx.session.listener_name());
                    broker(b.endpoint.id, host, port, &b.endpoint.rack, b.fenced)
                })
                .collect()
        }
        None => vec![broker(cfg.node_id, &ctx.session.listener.advertised_host, ctx.session.listener.advertised_port, &cfg.rack, false)],
    };
    resp
}
