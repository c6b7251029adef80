//! DescribeCluster: this broker as the whole cluster.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

/// `endpoint_type` values (KIP-919).
const ENDPOINT_BROKERS: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let cfg = &ctx.broker.config;
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
    resp.cluster_id = StrBytes::from_string(ctx.broker.cluster_id());
    resp.controller_id = BrokerId(cfg.node_id);
    resp.cluster_authorized_operations = i32::MIN;
    let mut b = DescribeClusterBroker::default();
    b.broker_id = BrokerId(cfg.node_id);
    b.host = StrBytes::from_string(cfg.advertised_host.clone());
    b.port = cfg.advertised_port;
    b.rack = cfg.rack.clone().map(StrBytes::from_string);
    resp.brokers = vec![b];
    resp
}
