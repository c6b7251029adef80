//! DescribeProducers: the idempotent producers a partition leader holds state for (id,
//! epoch, last sequence, last timestamp), as the admin client's `describeProducers`
//! lists them, with the coordinator epoch of their last marker and the first offset of
//! their open transaction.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::authz::{op, TOPIC};
use super::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for t in req.topics {
        let topic = ctx.services.topics.get(&t.name);
        let denied = !ctx.authorized(op::READ, TOPIC, &t.name);
        let mut out = TopicResponse::default();
        for index in t.partition_indexes {
            let mut r = PartitionResponse::default();
            r.partition_index = index;
            match topic.as_ref().and_then(|topic| topic.partition(index)) {
                _ if denied => r.error_code = E::TopicAuthorizationFailed.code(),
                None => r.error_code = E::UnknownTopicOrPartition.code(),
                Some(p) if !p.is_leader() => r.error_code = E::NotLeaderOrFollower.code(),
                Some(p) => {
                    let log = p.log.read();
                    r.active_producers = log
                        .producers()
                        .active()
                        .into_iter()
                        .map(|(id, e)| {
                            let last = e.batches.back();
                            ProducerState::default()
                                .with_producer_id(ProducerId(id))
                                .with_producer_epoch(e.epoch as i32)
                                .with_last_sequence(last.map_or(-1, |b| b.last_seq))
                                .with_last_timestamp(last.map_or(-1, |b| b.max_timestamp))
                                .with_coordinator_epoch(e.coordinator_epoch)
                                .with_current_txn_start_offset(e.current_txn_first_offset.unwrap_or(-1))
                        })
                        .collect();
                }
            }
            out.partitions.push(r);
        }
        out.name = t.name;
        resp.topics.push(out);
    }
    resp
}
