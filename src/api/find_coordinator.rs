//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets`
//! partition, a transactional id's the leader of its `__transaction_state` partition
//! (each topic created on first use) — on a single broker, this broker. Batched keys
//! from v4 (KIP-699).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, GROUP, TRANSACTIONAL_ID};
use super::RequestContext;
use super::topic_admin;
use crate::broker::NewTopic;
use crate::coordinator::runtime::partition_for;
use crate::group::OFFSETS_TOPIC;
use crate::txn::TRANSACTION_STATE_TOPIC;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

type Found = Result<(i32, StrBytes, i32), (i16, &'static str)>;

/// The coordinator of one key: (node id, host, port), or (error code, message).
async fn lookup(ctx: &RequestContext<'_>, key: &str, key_type: i8) -> Found {
    let broker = ctx.services;
    // DESCRIBE on the group or transactional id, as Kafka checks.
    match key_type {
        KEY_TYPE_GROUP if !ctx.authorized(op::DESCRIBE, GROUP, key) => return Err((E::GroupAuthorizationFailed.code(), "Not authorized to access group")),
        KEY_TYPE_TRANSACTION if !ctx.authorized(op::DESCRIBE, TRANSACTIONAL_ID, key) => {
            return Err((E::TransactionalIdAuthorizationFailed.code(), "Not authorized to access transactional id"))
        }
        _ => {}
    }
    // Each coordinator: its topic, how that topic is created, and whether this broker
    // can serve the key (a single broker creates the topic on first use).
    let (topic, wanted_rf, spec, local) = match key_type {
        // An empty key is a key like any other to Kafka (it hashes to a partition).
        KEY_TYPE_GROUP => {
            let rf = broker.config.get("offsets.topic.replication.factor").and_then(|v| v.parse::<i32>().ok()).unwrap_or(3);
            (OFFSETS_TOPIC, rf, broker.groups.offsets_topic(), broker.groups.offsets_partition(key).map(|_| ()))
        }
        KEY_TYPE_TRANSACTION => {
            let local = match broker.txn.coordinator_error(key) {
                Some(e) => Err(e.code()),
                None => Ok(()),
            };
            (TRANSACTION_STATE_TOPIC, broker.txn.config().replication_factor, broker.txn.state_topic(), local)
        }
        // Share groups (KIP-932) have no coordinator yet.
        _ => return Err((E::InvalidRequest.code(), "unsupported coordinator key type")),
    };
    let Some(rm) = broker.cluster() else {
        let cfg = &broker.config;
        return match local {
            Ok(()) => Ok((cfg.node_id, StrBytes::from_string(ctx.session.listener.advertised_host.clone()), ctx.session.listener.advertised_port)),
            Err(code) => Err((code, "the coordinator's topic is not available")),
        };
    };
    if broker.topics.get(topic).is_none() {
        let live = rm.image().live_brokers().count() as i32;
        // As Kafka: not created under-replicated; clients wait until enough brokers are up.
        if live < wanted_rf {
            return Err((E::CoordinatorNotAvailable.code(), "fewer live brokers than the internal topic's replication factor"));
        }
        let req = NewTopic { name: spec.name, partitions: spec.partitions, replication_factor: wanted_rf, overrides: spec.configs };
        match topic_admin::create_topic(broker, req, None, false).await.map_err(|e| e.failure()) {
            Ok(_) => {}
            Err((code, _)) if code == E::TopicAlreadyExists.code() => {}
            Err((code, message)) => {
                tracing::warn!(code, %message, %topic, "could not create an internal topic");
                return Err((E::CoordinatorNotAvailable.code(), "the coordinator's topic is not available"));
            }
        }
    }
    let image = rm.image();
    let leader = image.topics.get(topic).and_then(|t| {
        let index = partition_for(key, t.partitions.len() as i32);
        t.partitions.get(index as usize).map(|p| p.leader)
    });
    match leader.and_then(|l| image.brokers.get(&l)).filter(|b| !b.fenced) {
        Some(b) => {
            let (host, port) = b.endpoint.address_for(ctx.session.listener_name());
            Ok((b.endpoint.id, StrBytes::from_string(host.to_string()), port))
        }
        None => Err((E::CoordinatorNotAvailable.code(), "the key's partition has no leader")),
    }
}

pub async fn handle(ctx: &RequestContext<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if ctx.version < 4 {
        match lookup(ctx, &req.key, req.key_type).await {
            Ok((node, host, port)) => {
                resp.node_id = BrokerId(node);
                resp.host = host;
                resp.port = port;
            }
            Err((code, message)) => {
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
        match lookup(ctx, &key, req.key_type).await {
            Ok((node, host, port)) => {
                c.node_id = BrokerId(node);
                c.host = host;
                c.port = port;
            }
            Err((code, message)) => {
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
