//! Metadata: brokers, cluster id, controller, and topics with their partitions. Creates
//! unknown topics when the client allows it and `auto.create.topics.enable` is on.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::errors::topic_error_code;
use super::RequestContext;
use crate::broker::{Broker, NewTopic, Topic};

/// Operations everyone may do while Riffle has no ACLs (Kafka's AclOperation codes).
const TOPIC_OPERATIONS: &[i32] = &[3, 4, 5, 6, 7, 8, 10, 11];
pub const CLUSTER_OPERATIONS: &[i32] = &[5, 7, 8, 9, 10, 11, 12];
/// "Not requested" in authorized-operations fields.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub fn operations_bits(ops: &[i32]) -> i32 {
    ops.iter().fold(0, |acc, op| acc | (1 << op))
}

pub async fn handle(ctx: &RequestContext<'_>, req: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let cfg = &broker.config;
    let mut resp = MetadataResponse::default();
    let mut b = MetadataResponseBroker::default();
    b.node_id = BrokerId(cfg.node_id);
    b.host = StrBytes::from_string(cfg.advertised_host.clone());
    b.port = cfg.advertised_port;
    if ctx.version >= 1 {
        b.rack = cfg.rack.clone().map(StrBytes::from_string);
    }
    resp.brokers = vec![b];
    if ctx.version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id.clone()));
    }
    resp.controller_id = BrokerId(cfg.node_id);
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations && (8..=10).contains(&ctx.version) {
        operations_bits(CLUSTER_OPERATIONS)
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let topic_ops = req.include_topic_authorized_operations && ctx.version >= 8;
    let version = ctx.version;

    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && ctx.version == 0,
    };
    if all {
        resp.topics = broker.topics.all().iter().map(|t| describe_topic(t, cfg.node_id, topic_ops, version)).collect();
        return resp;
    }
    let allow_create = (ctx.version < 4 || req.allow_auto_topic_creation) && cfg.auto_create_topics_enable;
    for wanted in req.topics.unwrap_or_default() {
        let entry = match wanted.name {
            Some(name) => lookup_or_create(broker, &name, allow_create, topic_ops, version),
            None => match broker.topics.get_by_id(&wanted.topic_id) {
                Some(t) => describe_topic(&t, cfg.node_id, topic_ops, version),
                None => error_topic(None, wanted.topic_id, ResponseError::UnknownTopicId.code()),
            },
        };
        resp.topics.push(entry);
    }
    resp
}

fn lookup_or_create(broker: &Arc<Broker>, name: &TopicName, allow_create: bool, topic_ops: bool, version: i16) -> MetadataResponseTopic {
    let node_id = broker.config.node_id;
    if let Some(t) = broker.topics.get(name) {
        return describe_topic(&t, node_id, topic_ops, version);
    }
    if let Err(e) = crate::broker::topics::validate_name(name) {
        return error_topic(Some(name.clone()), Uuid::nil(), topic_error_code(&e));
    }
    // Internal topics (__consumer_offsets, __transaction_state) are created by their
    // coordinators with their own settings, never as ordinary topics.
    if !allow_create || name.starts_with("__") {
        return error_topic(Some(name.clone()), Uuid::nil(), ResponseError::UnknownTopicOrPartition.code());
    }
    let req = NewTopic {
        name,
        partitions: broker.config.num_partitions,
        replication_factor: broker.config.default_replication_factor,
        overrides: Default::default(),
    };
    match broker.topics.create(req) {
        Ok(t) => describe_topic(&t, node_id, topic_ops, version),
        // A concurrent request created it first.
        Err(crate::broker::TopicError::AlreadyExists(_)) => match broker.topics.get(name) {
            Some(t) => describe_topic(&t, node_id, topic_ops, version),
            None => error_topic(Some(name.clone()), Uuid::nil(), ResponseError::LeaderNotAvailable.code()),
        },
        Err(e) => {
            tracing::debug!(topic = %name.as_str(), error = %e, "auto-creation refused");
            error_topic(Some(name.clone()), Uuid::nil(), topic_error_code(&e))
        }
    }
}

fn error_topic(name: Option<TopicName>, id: Uuid, code: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = name;
    t.topic_id = id;
    t.error_code = code;
    t.topic_authorized_operations = OPERATIONS_NOT_REQUESTED;
    t
}

pub fn describe_topic(topic: &Topic, node_id: i32, topic_ops: bool, version: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(topic.name.to_string())));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    if version >= 1 {
        t.is_internal = topic.is_internal();
    }
    t.topic_authorized_operations = if topic_ops { operations_bits(TOPIC_OPERATIONS) } else { OPERATIONS_NOT_REQUESTED };
    t.partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = p.index;
            // Single broker: this node leads every partition and is its only replica.
            let node = BrokerId(node_id);
            mp.leader_id = node;
            if version >= 7 {
                mp.leader_epoch = p.leader_epoch;
            }
            mp.replica_nodes = vec![node];
            mp.isr_nodes = vec![node];
            mp
        })
        .collect();
    t
}
