//! DescribeQuorum (`Admin.describeMetadataQuorum`, `kafka-metadata-quorum.sh`): the
//! metadata quorum of a cluster, as its active controller sees it. Served by nodes of a
//! cluster only; a single broker has no quorum and does not advertise the API, as a
//! Kafka broker without KRaft did not.

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use crate::config::listeners::split_host_port;

const METADATA_TOPIC: &str = "__cluster_metadata";
const QUORUM_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let mut resp = DescribeQuorumResponse::default();
    if !ctx.cluster_authorized(op::DESCRIBE) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    let Some(rm) = ctx.services.cluster() else {
        resp.error_code = E::UnsupportedVersion.code();
        resp.error_message = Some(StrBytes::from_static_str("a single broker has no metadata quorum"));
        return resp;
    };
    let state = rm.controller.describe_quorum(QUORUM_TIMEOUT).await;
    for t in req.topics {
        let mut out = TopicData::default();
        for p in t.partitions {
            let mut d = PartitionData::default();
            d.partition_index = p.partition_index;
            match (&state, t.topic_name.as_str() == METADATA_TOPIC && p.partition_index == 0) {
                (_, false) => d.error_code = E::UnknownTopicOrPartition.code(),
                (Err(e), true) => {
                    d.error_code = E::NotLeaderOrFollower.code();
                    d.error_message = Some(StrBytes::from_string(e.to_string()));
                }
                (Ok(s), true) => {
                    d.leader_id = BrokerId(s.leader_id);
                    d.leader_epoch = s.leader_epoch;
                    d.high_watermark = s.high_watermark;
                    d.current_voters = s
                        .voters
                        .iter()
                        .map(|v| {
                            ReplicaState::default()
                                .with_replica_id(BrokerId(v.id))
                                .with_log_end_offset(v.log_end_offset)
                                .with_last_fetch_timestamp(v.last_fetch_timestamp)
                                .with_last_caught_up_timestamp(v.last_caught_up_timestamp)
                        })
                        .collect();
                }
            }
            out.partitions.push(d);
        }
        out.topic_name = t.topic_name;
        resp.topics.push(out);
    }
    // v2: the voters' controller endpoints
    let listener = ctx.services.config.get("controller.listener.names").unwrap_or_default();
    let listener = listener.split(',').next().unwrap_or("CONTROLLER").trim().to_string();
    for (id, addr) in rm.controller.voters() {
        let Some((host, port)) = split_host_port(addr) else { continue };
        let l = Listener::default().with_name(StrBytes::from_string(listener.clone())).with_host(StrBytes::from_string(host)).with_port(port);
        resp.nodes.push(Node::default().with_node_id(BrokerId(*id as i32)).with_listeners(vec![l]));
    }
    resp
}
