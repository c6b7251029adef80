//! CreatePartitions: a topic's partition count may grow, never shrink.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC};
use super::RequestContext;
use super::topic_admin;

pub async fn handle(ctx: &RequestContext<'_>, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let node = ctx.services.config.node_id;
    let current = |name: &str| ctx.services.topics.get(name).map(|topic| topic.partitions.len() as i32).unwrap_or(0);
    let added: i64 = req.topics.iter().map(|t| (t.count as i64 - current(&t.name) as i64).max(0)).sum();
    let too_many = added > topic_admin::MAX_PARTITIONS_PER_BATCH;
    let quota = ctx.mutation_quota(3, req.validate_only);
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let mut out = CreatePartitionsTopicResult::default();
        let current = current(&t.name);
        // Manual assignments name replicas for the new partitions only. A cluster's
        // controller checks them against its brokers; a single broker is every replica.
        let single = ctx.services.cluster().is_none();
        let bad_assignment = t.assignments.as_ref().is_some_and(|a| {
            a.len() as i64 != t.count as i64 - current as i64 || a.iter().any(|r| r.broker_ids.is_empty() || single && r.broker_ids.iter().any(|b| b.0 != node))
        });
        let assignment = t.assignments.map(|a| a.into_iter().map(|r| r.broker_ids.into_iter().map(|b| b.0).collect()).collect());
        let result = if !ctx.authorized(op::ALTER, TOPIC, &t.name) {
            Err((E::TopicAuthorizationFailed.code(), "Authorization failed.".to_string()))
        } else if too_many {
            Err((E::PolicyViolation.code(), "Unable to perform excessively large batch operation.".to_string()))
        } else if bad_assignment {
            Err((E::InvalidReplicaAssignment.code(), format!("assignments must name replicas for each of the {} new partitions", t.count as i64 - current as i64)))
        } else if let Err(throttled) = quota.admit((t.count as i64 - current as i64).max(0)) {
            Err(throttled)
        } else {
            topic_admin::add_partitions(ctx.services, &t.name, t.count, assignment, req.validate_only).await.map_err(|e| e.failure())
        };
        if let Err((code, message)) = result {
            out.error_code = code;
            out.error_message = Some(StrBytes::from_string(message));
        }
        out.name = t.name;
        resp.results.push(out);
    }
    resp.throttle_time_ms = quota.throttle_time_ms();
    resp
}
