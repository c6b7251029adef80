//! ListConfigResources (KIP-1142; v0 was ListClientMetricsResources): the resources
//! that have configs, by type. v0 asks only for client-metrics resources; v1 for any of
//! the types below (none named: all of them). Riffle keeps no client-metrics or group
//! configs, so those types list nothing, as a Kafka without them does.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::authz::op;
use super::RequestContext;

const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_CLIENT_METRICS: i8 = 16;
const RESOURCE_GROUP: i8 = 32;
/// The types each version may ask for.
const V0_TYPES: &[i8] = &[RESOURCE_CLIENT_METRICS];
const V1_TYPES: &[i8] = &[RESOURCE_GROUP, RESOURCE_CLIENT_METRICS, RESOURCE_BROKER_LOGGER, RESOURCE_BROKER, RESOURCE_TOPIC];

pub async fn handle(ctx: &RequestContext<'_>, req: ListConfigResourcesRequest) -> ListConfigResourcesResponse {
    let mut resp = ListConfigResourcesResponse::default();
    if !ctx.cluster_authorized(op::DESCRIBE_CONFIGS) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let supported = if ctx.version == 0 { V0_TYPES } else { V1_TYPES };
    let types: Vec<i8> = if req.resource_types.is_empty() { supported.to_vec() } else { req.resource_types };
    if types.iter().any(|t| !supported.contains(t)) {
        resp.error_code = E::UnsupportedVersion.code();
        return resp;
    }
    let services = ctx.services;
    let brokers: Vec<i32> = match services.cluster() {
        Some(rm) => rm.image().live_brokers().map(|b| b.endpoint.id).collect(),
        None => vec![services.config.node_id],
    };
    let entry = |name: String, t: i8| ConfigResource::default().with_resource_name(StrBytes::from_string(name)).with_resource_type(t);
    for t in [RESOURCE_BROKER_LOGGER, RESOURCE_BROKER] {
        if types.contains(&t) {
            resp.config_resources.extend(brokers.iter().map(|id| entry(id.to_string(), t)));
        }
    }
    if types.contains(&RESOURCE_TOPIC) {
        resp.config_resources.extend(services.topics.all().iter().map(|topic| entry(topic.name.to_string(), RESOURCE_TOPIC)));
    }
    resp
}
