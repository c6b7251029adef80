//! Metadata: brokers, cluster id, controller, and topics with their partitions. Creates
//! unknown topics when the client allows it and `auto.create.topics.enable` is on.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::authz::{self, op};
use super::RequestContext;
use super::{topic_admin, Services};
use crate::broker::{NewTopic, Topic};
use crate::controller::{MetadataImage, NO_LEADER};
use crate::errors::topic_error_code;

/// "Not requested" in authorized-operations fields.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

pub async fn handle(ctx: &RequestContext<'_>, req: MetadataRequest) -> MetadataResponse {
    let broker = ctx.services;
    let cfg = &broker.config;
    let mut resp = MetadataResponse::default();
    let image = broker.cluster().map(|rm| rm.image());
    let endpoint = |id: i32, host: &str, port: i32, rack: &Option<String>| {
        let mut b = MetadataResponseBroker::default();
        b.node_id = BrokerId(id);
        b.host = StrBytes::from_string(host.to_string());
        b.port = port;
        if ctx.version >= 1 {
            b.rack = rack.clone().map(StrBytes::from_string);
        }
        b
    };
    resp.brokers = match &image {
        // A cluster lists its unfenced brokers, as Kafka does.
        Some(img) => img
            .live_brokers()
            .map(|b| {
                let (host, port) = b.endpoint.address_for(ctx.session.listener_name());
                endpoint(b.endpoint.id, host, port, &b.endpoint.rack)
            })
            .collect(),
        None => vec![endpoint(cfg.node_id, &ctx.session.listener.advertised_host, ctx.session.listener.advertised_port, &cfg.rack)],
    };
    if ctx.version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(broker.cluster_id()));
    }
    resp.controller_id = BrokerId(controller_id(broker));
    resp.cluster_authorized_operations = if req.include_cluster_authorized_operations && (8..=10).contains(&ctx.version) {
        ctx.authorized_operations(authz::CLUSTER, crate::security::acl::CLUSTER_NAME)
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
    // Topics the principal may not describe are left out of "all", and refused by name.
    let with_ops = |mut t: MetadataResponseTopic| {
        if topic_ops {
            t.topic_authorized_operations = ctx.authorized_operations(authz::TOPIC, t.name.as_ref().map_or("", |n| n.as_str()));
        }
        t
    };
    if all {
        resp.topics = broker
            .topics
            .all()
            .iter()
            .filter(|t| ctx.authorized(op::DESCRIBE, authz::TOPIC, &t.name))
            .map(|t| with_ops(describe_topic(t, image.as_deref(), cfg.node_id, version)))
            .collect();
        return resp;
    }
    let allow_create = (ctx.version < 4 || req.allow_auto_topic_creation) && cfg.auto_create_topics_enable;
    for wanted in req.topics.unwrap_or_default() {
        // A topic id, when given, names the topic (the Java consumer sends ids with an
        // empty name), as in Kafka.
        let entry = match wanted.name {
            Some(name) if wanted.topic_id.is_nil() => {
                if !ctx.authorized(op::DESCRIBE, authz::TOPIC, &name) {
                    error_topic(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed.code())
                } else {
                    // Auto-creation needs CREATE on the cluster or on the topic.
                    let may_create = allow_create && (ctx.cluster_authorized(op::CREATE) || ctx.authorized(op::CREATE, authz::TOPIC, &name));
                    if allow_create && !may_create && broker.topics.get(&name).is_none() {
                        error_topic(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed.code())
                    } else {
                        with_ops(lookup_or_create(broker, &name, may_create, version).await)
                    }
                }
            }
            _ => match broker.topics.get_by_id(&wanted.topic_id) {
                Some(t) if !ctx.authorized(op::DESCRIBE, authz::TOPIC, &t.name) => error_topic(None, wanted.topic_id, ResponseError::TopicAuthorizationFailed.code()),
                Some(t) => with_ops(describe_topic(&t, image.as_deref(), cfg.node_id, version)),
                None => error_topic(None, wanted.topic_id, ResponseError::UnknownTopicId.code()),
            },
        };
        resp.topics.push(entry);
    }
    resp
}

/// The controller id clients are told. They send admin requests there, and any broker
/// forwards them, so it is the active controller when that is a live broker, else this
/// broker.
pub fn controller_id(broker: &Services) -> i32 {
    let me = broker.config.node_id;
    let Some(rm) = broker.cluster() else { return me };
    match rm.controller.active_controller() {
        Some(a) if rm.image().is_live(a) => a,
        _ => me,
    }
}

async fn lookup_or_create(broker: &Services, name: &TopicName, allow_create: bool, version: i16) -> MetadataResponseTopic {
    let node_id = broker.config.node_id;
    let describe = |t: &Topic| {
        let image = broker.cluster().map(|rm| rm.image());
        describe_topic(t, image.as_deref(), node_id, version)
    };
    if let Some(t) = broker.topics.get(name) {
        return describe(&t);
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
    match topic_admin::create_topic(broker, req, None, false).await.map_err(|e| e.failure()) {
        Ok(Some(t)) => describe(&t),
        // A concurrent request created it first.
        Err((code, _)) if code == ResponseError::TopicAlreadyExists.code() => match broker.topics.get(name) {
            Some(t) => describe(&t),
            None => error_topic(Some(name.clone()), Uuid::nil(), ResponseError::LeaderNotAvailable.code()),
        },
        Ok(None) => error_topic(Some(name.clone()), Uuid::nil(), ResponseError::LeaderNotAvailable.code()),
        Err((code, message)) => {
            tracing::debug!(topic = %name.as_str(), code, %message, "auto-creation refused");
            error_topic(Some(name.clone()), Uuid::nil(), code)
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

/// A partition as Metadata and DescribeTopicPartitions show it.
pub struct PartitionView {
    pub index: i32,
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<BrokerId>,
    pub isr: Vec<BrokerId>,
    pub offline: Vec<BrokerId>,
}

/// A topic's partitions: on a cluster, leaders, replicas and ISRs from the metadata
/// image; on a single broker, this node for everything.
pub fn partition_views(topic: &Topic, image: Option<&MetadataImage>, node_id: i32) -> Vec<PartitionView> {
    let ids = |v: &[i32]| v.iter().map(|i| BrokerId(*i)).collect::<Vec<_>>();
    topic
        .partitions
        .iter()
        .map(|p| match image.map(|img| (img, img.partition(&topic.name, p.index))) {
            Some((img, Some(pi))) => {
                let offline: Vec<i32> = pi.replicas.iter().copied().filter(|r| !img.is_live(*r)).collect();
                PartitionView {
                    index: p.index,
                    error_code: if pi.leader == NO_LEADER { ResponseError::LeaderNotAvailable.code() } else { 0 },
                    leader: pi.leader,
                    leader_epoch: pi.leader_epoch,
                    replicas: ids(&pi.replicas),
                    isr: ids(&pi.isr),
                    offline: ids(&offline),
                }
            }
            // A cluster topic this broker has opened but whose record it has not
            // finished applying: no leader to name yet.
            Some((_, None)) => PartitionView {
                index: p.index,
                error_code: ResponseError::LeaderNotAvailable.code(),
                leader: NO_LEADER,
                leader_epoch: -1,
                replicas: vec![],
                isr: vec![],
                offline: vec![],
            },
            None => PartitionView {
                index: p.index,
                error_code: 0,
                leader: node_id,
                leader_epoch: p.leader_epoch(),
                replicas: vec![BrokerId(node_id)],
                isr: vec![BrokerId(node_id)],
                offline: vec![],
            },
        })
        .collect()
}

/// A topic as Metadata shows it.
pub fn describe_topic(topic: &Topic, image: Option<&MetadataImage>, node_id: i32, version: i16) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(StrBytes::from_string(topic.name.to_string())));
    if version >= 10 {
        t.topic_id = topic.id;
    }
    if version >= 1 {
        t.is_internal = topic.is_internal();
    }
    // The caller fills in the operations, when asked for, from the principal's ACLs.
    t.topic_authorized_operations = OPERATIONS_NOT_REQUESTED;
    t.partitions = partition_views(topic, image, node_id)
        .into_iter()
        .map(|v| {
            let mut mp = MetadataResponsePartition::default();
            mp.partition_index = v.index;
            mp.error_code = v.error_code;
            mp.leader_id = BrokerId(v.leader);
            if version >= 7 {
                mp.leader_epoch = v.leader_epoch;
            }
            mp.replica_nodes = v.replicas;
            mp.isr_nodes = v.isr;
            if version >= 5 {
                mp.offline_replicas = v.offline;
            }
            mp
        })
        .collect();
    t
}
