//! ElectLeaders: preferred-leader election (the first replica leads again once it is in
//! sync) or unclean election of an offline partition, committed by the controller. A
//! single broker leads everything already: every election is not needed.

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use crate::controller::Command;

const UNCLEAN: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    if !ctx.cluster_authorized(op::ALTER) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let broker = ctx.services;
    let all = req.topic_partitions.is_none();
    let asked: Vec<(String, i32)> = match &req.topic_partitions {
        Some(tps) => tps.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p))).collect(),
        None => broker.topics.all().iter().flat_map(|t| (0..t.partitions.len() as i32).map(move |p| (t.name.to_string(), p))).collect(),
    };
    let results: Vec<(String, i32, i16, Option<String>)> = match broker.cluster() {
        None => asked
            .into_iter()
            .map(|(t, p)| {
                let known = broker.topics.get(&t).is_some_and(|topic| topic.partition(p).is_some());
                let code = if known { E::ElectionNotNeeded.code() } else { E::UnknownTopicOrPartition.code() };
                (t, p, code, None)
            })
            .collect(),
        Some(rm) => {
            let cmd = Command::ElectLeaders {
                unclean: ctx.version >= 1 && req.election_type == UNCLEAN,
                partitions: Some(asked.clone()),
                defaults: rm.controller.election_defaults(),
            };
            let timeout = Duration::from_millis(req.timeout_ms.clamp(1000, 60_000) as u64);
            match rm.controller.write(cmd, timeout).await {
                Ok(r) => r.partitions.into_iter().map(|(t, p, code)| (t, p, code, None)).collect(),
                Err(e) => {
                    let msg = e.to_string();
                    asked.into_iter().map(|(t, p)| (t, p, E::RequestTimedOut.code(), Some(msg.clone()))).collect()
                }
            }
        }
    };
    for (topic, partition, code, message) in results {
        // Asked for every partition, Kafka reports only those where something happened.
        if all && code == E::ElectionNotNeeded.code() {
            continue;
        }
        let i = match resp.replica_election_results.iter().position(|r| r.topic.as_str() == topic) {
            Some(i) => i,
            None => {
                let mut r = ReplicaElectionResult::default();
                r.topic = TopicName(StrBytes::from_string(topic.clone()));
                resp.replica_election_results.push(r);
                resp.replica_election_results.len() - 1
            }
        };
        let mut pr = PartitionResult::default();
        pr.partition_id = partition;
        pr.error_code = code;
        pr.error_message = message.map(StrBytes::from_string);
        resp.replica_election_results[i].partition_result.push(pr);
    }
    resp
}
