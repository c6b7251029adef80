//! CreateTopics, with configs, manual assignments and `validate_only`.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{topic_entries, Detail};
use super::authz::{op, TOPIC};
use super::RequestContext;
use super::{topic_admin, Services};
use crate::broker::NewTopic;
use crate::config::TopicOverrides;

type Failure = (i16, String);

pub async fn handle(ctx: &RequestContext<'_>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = ctx.services;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *counts.entry(t.name.to_string()).or_default() += 1;
    }
    // Kafka counts what the request would create before anything else, on raw numbers.
    let total: i64 = req.topics.iter().map(|t| partitions_of(broker, t)).sum();
    let too_many = total > topic_admin::MAX_PARTITIONS_PER_BATCH;
    // CREATE on the cluster covers every topic; otherwise CREATE on each.
    let cluster_create = ctx.cluster_authorized(op::CREATE);
    let quota = ctx.mutation_quota(6, req.validate_only);
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let mut out = CreatableTopicResult::default();
        out.name = t.name.clone();
        out.num_partitions = -1;
        out.replication_factor = -1;
        let result = if too_many {
            Err((E::PolicyViolation.code(), "Excessively large number of partitions per request.".to_string()))
        } else if counts[t.name.as_str()] > 1 {
            Err((E::InvalidRequest.code(), "topic named more than once in the request".to_string()))
        } else if !cluster_create && !ctx.authorized(op::CREATE, TOPIC, &t.name) {
            Err((E::TopicAuthorizationFailed.code(), "Authorization failed.".to_string()))
        } else if let Err(throttled) = quota.admit(partitions_of(broker, &t)) {
            Err(throttled)
        } else {
            create_one(broker, &t, req.validate_only).await
        };
        match result {
            Ok(_) if ctx.version < 5 => {}
            Ok((partitions, rf, overrides, id)) => {
                out.num_partitions = partitions;
                out.replication_factor = rf as i16;
                if ctx.version >= 7 {
                    out.topic_id = id.unwrap_or_default();
                }
                let entries = topic_entries(&overrides, &broker.config, None, Detail { synonyms: false, documentation: false, v3: false });
                out.configs = Some(
                    entries
                        .into_iter()
                        .map(|e| {
                            let mut c = CreatableTopicConfigs::default();
                            c.name = e.name;
                            c.value = e.value;
                            c.read_only = e.read_only;
                            c.config_source = e.config_source;
                            c.is_sensitive = e.is_sensitive;
                            c
                        })
                        .collect(),
                );
            }
            Err((code, message)) => {
                out.error_code = code;
                out.error_message = Some(StrBytes::from_string(message));
            }
        }
        resp.topics.push(out);
    }
    resp.throttle_time_ms = quota.throttle_time_ms();
    resp
}

/// The partitions a topic of the request would create.
fn partitions_of(broker: &Services, t: &CreatableTopic) -> i64 {
    match (t.assignments.is_empty(), t.num_partitions) {
        (false, _) => t.assignments.len() as i64,
        (true, -1) => broker.config.num_partitions as i64,
        (true, n) => n.max(0) as i64,
    }
}

/// Creates (or with `validate_only`, checks) one topic: (partitions, replication factor,
/// overrides, topic id).
async fn create_one(broker: &Services, t: &CreatableTopic, validate_only: bool) -> Result<(i32, i32, TopicOverrides, Option<uuid::Uuid>), Failure> {
    let cfg = &broker.config;
    let (partitions, rf) = if t.assignments.is_empty() {
        let p = if t.num_partitions == -1 { cfg.num_partitions } else { t.num_partitions };
        let rf = if t.replication_factor == -1 { cfg.default_replication_factor } else { t.replication_factor as i32 };
        (p, rf)
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((E::InvalidRequest.code(), "with manual assignments, num_partitions and replication_factor must be -1".into()));
        }
        let mut seen: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
        seen.sort_unstable();
        if seen.iter().enumerate().any(|(i, p)| *p != i as i32) {
            return Err((E::InvalidReplicaAssignment.code(), "partition indexes must be 0..n, each once".into()));
        }
        let rf = t.assignments[0].broker_ids.len() as i32;
        for a in &t.assignments {
            // A cluster's controller checks the brokers; a single broker is the only one.
            let single_elsewhere = broker.cluster().is_none() && a.broker_ids.iter().any(|b| b.0 != cfg.node_id);
            if a.broker_ids.len() as i32 != rf || single_elsewhere {
                return Err((E::InvalidReplicaAssignment.code(), format!("replicas must be [{}] on this single-broker cluster", cfg.node_id)));
            }
        }
        (t.assignments.len() as i32, rf)
    };
    let mut overrides = TopicOverrides::new();
    for c in &t.configs {
        let Some(value) = &c.value else {
            return Err((E::InvalidConfig.code(), format!("null value for config '{}'", c.name.as_str())));
        };
        overrides.insert(c.name.to_string(), value.to_string());
    }
    let req = NewTopic { name: t.name.as_str(), partitions, replication_factor: rf, overrides: overrides.clone() };
    let assignment = (!t.assignments.is_empty()).then(|| {
        let mut a: Vec<_> = t.assignments.iter().collect();
        a.sort_by_key(|a| a.partition_index);
        a.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect()
    });
    let topic = topic_admin::create_topic(broker, req, assignment, validate_only).await.map_err(|e| e.failure())?;
    Ok((partitions, rf, overrides, topic.map(|t| t.id)))
}
