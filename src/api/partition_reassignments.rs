//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455): moving a
//! partition's replicas between brokers, committed by the controller (see
//! `controller::reassignment`). A single broker is the only broker there is: its
//! partitions can be "reassigned" to itself (nothing moves), any other broker is not
//! registered, and nothing is ever in progress.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::alter_partition_reassignments_response::{ReassignablePartitionResponse, ReassignableTopicResponse};
use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use crate::controller::Command;

/// Bounds of the wait for the controller to commit a reassignment.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait, after the commit, for this broker to apply it (so that a listing here
/// right after sees it); the answer does not depend on it.
const APPLY_WAIT: Duration = Duration::from_secs(5);

type Target = (String, i32, Option<Vec<i32>>);

pub async fn alter(ctx: &RequestContext<'_>, req: AlterPartitionReassignmentsRequest) -> AlterPartitionReassignmentsResponse {
    if !ctx.cluster_authorized(op::ALTER) {
        return AlterPartitionReassignmentsResponse::default().with_error_code(kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code());
    }
    let asked: Vec<Target> = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index, p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()))))
        .collect();
    let allow_rf_change = ctx.version < 1 || req.allow_replication_factor_change;
    let codes: Vec<(i16, Option<String>)> = match ctx.services.cluster() {
        None => asked.iter().map(|t| single_broker(ctx, t)).collect(),
        Some(rm) => {
            let cmd = Command::AlterPartitionReassignments { partitions: asked.clone(), allow_replication_factor_change: allow_rf_change, defaults: rm.controller.election_defaults() };
            let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64).clamp(MIN_TIMEOUT, MAX_TIMEOUT);
            match rm.controller.write(cmd, timeout).await {
                Ok(r) => {
                    let done: Vec<&Target> = asked.iter().zip(&r.partitions).filter(|(_, (_, _, code))| *code == 0).map(|(t, _)| t).collect();
                    rm.wait_applied(APPLY_WAIT, || {
                        let image = rm.image();
                        done.iter().all(|(topic, index, target)| {
                            image.partition(topic, *index).is_some_and(|p| match target {
                                Some(t) => p.target_replicas() == *t,
                                None => !p.is_reassigning(),
                            })
                        })
                    })
                    .await;
                    let messages = r.partition_messages.into_iter().chain(std::iter::repeat(None));
                    r.partitions.into_iter().zip(messages).map(|((_, _, code), message)| (code, message)).collect()
                }
                Err(e) => vec![(E::RequestTimedOut.code(), Some(e.to_string())); asked.len()],
            }
        }
    };
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.allow_replication_factor_change = allow_rf_change;
    // Topic → its place in the response (a request may name many).
    let mut place: HashMap<String, usize> = HashMap::new();
    for ((topic, index, _), (code, message)) in asked.into_iter().zip(codes) {
        let i = *place.entry(topic.clone()).or_insert_with(|| {
            resp.responses.push(ReassignableTopicResponse::default().with_name(StrBytes::from_string(topic).into()));
            resp.responses.len() - 1
        });
        let pr = ReassignablePartitionResponse::default().with_partition_index(index).with_error_code(code).with_error_message(message.map(StrBytes::from_string));
        resp.responses[i].partitions.push(pr);
    }
    resp
}

/// A single broker's answer: its own partitions may only stay where they are.
fn single_broker(ctx: &RequestContext<'_>, (topic, index, target): &Target) -> (i16, Option<String>) {
    let me = ctx.services.config.node_id;
    let known = ctx.services.topics.get(topic).is_some_and(|t| t.partition(*index).is_some());
    let fail = |e: E, message: String| (e.code(), Some(message));
    match target {
        _ if !known => fail(E::UnknownTopicOrPartition, format!("{topic}-{index} does not exist")),
        None => fail(E::NoReassignmentInProgress, "no reassignment is in progress".into()),
        Some(t) if t.is_empty() => fail(E::InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.".into()),
        Some(t) => match t.iter().find(|b| **b != me) {
            Some(b) => fail(E::InvalidReplicaAssignment, format!("The manual partition assignment includes broker {b}, but no such broker is registered.")),
            None if t.len() > 1 => fail(E::InvalidReplicaAssignment, format!("The manual partition assignment includes the broker {me} more than once.")),
            None => (0, None),
        },
    }
}

pub async fn list(ctx: &RequestContext<'_>, req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    if !ctx.cluster_authorized(op::DESCRIBE) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let Some(rm) = ctx.services.cluster() else {
        return resp;
    };
    // The newest image this node knows, as Kafka's controller answers from its own.
    let image = rm.controller.image();
    let wanted: Vec<(String, Option<Vec<i32>>)> = match &req.topics {
        Some(ts) => ts.iter().map(|t| (t.name.to_string(), Some(t.partition_indexes.clone()))).collect(),
        None => image.topics.keys().map(|n| (n.clone(), None)).collect(),
    };
    for (name, indexes) in wanted {
        let Some(topic) = image.topics.get(&name) else { continue };
        let ongoing: Vec<OngoingPartitionReassignment> = topic
            .partitions
            .iter()
            .enumerate()
            .filter(|(i, p)| p.is_reassigning() && indexes.as_ref().is_none_or(|ix| ix.contains(&(*i as i32))))
            .map(|(i, p)| {
                let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
                OngoingPartitionReassignment::default()
                    .with_partition_index(i as i32)
                    .with_replicas(ids(&p.replicas))
                    .with_adding_replicas(ids(&p.adding_replicas))
                    .with_removing_replicas(ids(&p.removing_replicas))
            })
            .collect();
        if !ongoing.is_empty() {
            resp.topics.push(OngoingTopicReassignment::default().with_name(StrBytes::from_string(name).into()).with_partitions(ongoing));
        }
    }
    resp
}
