//! ListOffsets: earliest, latest (the high watermark), max timestamp, and by timestamp
//! (through each segment's `.timeindex`).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::broker::Partition;
use crate::log::LogError;
use crate::errors::{leadership_error, log_error_code};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let topic = ctx.services.topics.get(&t.name);
        let denied = !ctx.authorized(op::DESCRIBE, TOPIC, &t.name);
        let mut out = ListOffsetsTopicResponse::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            pr.offset = -1;
            pr.leader_epoch = -1;
            let part = topic.as_ref().and_then(|t| t.partition(p.partition_index));
            let refused = part.and_then(|part| leadership_error(part, p.current_leader_epoch));
            match part {
                _ if denied => pr.error_code = E::TopicAuthorizationFailed.code(),
                None => pr.error_code = E::UnknownTopicOrPartition.code(),
                Some(_) if refused.is_some() => pr.error_code = refused.unwrap_or_default(),
                Some(part) => match lookup(part, p.timestamp, req.isolation_level == READ_COMMITTED) {
                    Ok(found) => {
                        if ctx.version >= 4 {
                            pr.leader_epoch = part.leader_epoch();
                        }
                        if let Some((offset, timestamp)) = found {
                            pr.offset = offset;
                            pr.timestamp = timestamp;
                        }
                    }
                    Err(e) => {
                        tracing::error!(topic = %part.topic, partition = part.index, error = %e, "list offsets failed");
                        pr.error_code = log_error_code(&e);
                    }
                },
            }
            out.partitions.push(pr);
        }
        resp.topics.push(out);
    }
    resp
}

/// (offset, timestamp) for a ListOffsets query; `None` when no record qualifies.
fn lookup(p: &Partition, timestamp: i64, read_committed: bool) -> Result<Option<(i64, i64)>, LogError> {
    // Consumers see up to the high watermark only, read_committed ones up to the last
    // stable offset.
    let hw = if read_committed { p.last_stable_offset() } else { p.high_watermark() };
    let log = p.log.read();
    Ok(match timestamp {
        LATEST => Some((hw, -1)),
        EARLIEST | EARLIEST_LOCAL => Some((log.log_start_offset(), -1)),
        MAX_TIMESTAMP => log.offset_of_max_timestamp(hw)?,
        t if t >= 0 => log.offset_for_timestamp(t, hw)?,
        // EARLIEST_PENDING_UPLOAD, LATEST_TIERED: no tiered storage, so no such offset.
        _ => None,
    })
}
