//! OffsetsForLeaderEpoch: where a leader epoch ended in this leader's log (the start of
//! the next epoch, or the log end offset for the current one). A follower, or a client
//! validating its position after a leader change, truncates or resets from it.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::errors::leadership_error;

pub async fn handle(ctx: &RequestContext<'_>, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let mut resp = OffsetForLeaderEpochResponse::default();
    // A follower (v3+ names its replica id) needs CLUSTER_ACTION, a consumer DESCRIBE on
    // each topic.
    let follower = ctx.version >= 3 && req.replica_id.0 >= 0;
    let follower_denied = follower && !ctx.cluster_authorized(op::CLUSTER_ACTION);
    for t in req.topics {
        let topic = ctx.services.topics.get(&t.topic);
        let denied = follower_denied || (!follower && !ctx.authorized(op::DESCRIBE, TOPIC, &t.topic));
        let mut out = OffsetForLeaderTopicResult::default();
        out.topic = t.topic;
        for p in t.partitions {
            let mut r = EpochEndOffset::default();
            r.partition = p.partition;
            match topic.as_ref().and_then(|t| t.partition(p.partition)) {
                _ if denied => r.error_code = E::TopicAuthorizationFailed.code(),
                None => r.error_code = E::UnknownTopicOrPartition.code(),
                Some(part) => match leadership_error(part, p.current_leader_epoch) {
                    Some(code) => r.error_code = code,
                    None => {
                        if let Some((epoch, end)) = part.log.read().end_offset_for_epoch(p.leader_epoch) {
                            r.leader_epoch = epoch;
                            r.end_offset = end;
                        }
                    }
                },
            }
            out.partitions.push(r);
        }
        resp.topics.push(out);
    }
    resp
}
