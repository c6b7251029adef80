//! DeleteRecords: moves a partition's log start offset forward (-1: to the high
//! watermark); segments wholly below it are removed.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::errors::log_error_code;

pub async fn handle(ctx: &RequestContext<'_>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let topic = ctx.services.topics.get(&t.name);
        let denied = !ctx.authorized(op::DELETE, TOPIC, &t.name);
        let mut out = DeleteRecordsTopicResult::default();
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            match topic.as_ref().and_then(|topic| topic.partition(p.partition_index)) {
                _ if denied => r.error_code = E::TopicAuthorizationFailed.code(),
                None => r.error_code = E::UnknownTopicOrPartition.code(),
                Some(part) if !part.is_leader() => r.error_code = E::NotLeaderOrFollower.code(),
                // Only logs that allow deletion may lose records (Kafka's policy check).
                Some(part) if !part.log.read().config().cleanup_delete => r.error_code = E::PolicyViolation.code(),
                Some(part) => {
                    let hw = part.high_watermark();
                    let target = if p.offset == -1 { hw } else { p.offset };
                    let result = part.log.write().advance_log_start(target, hw);
                    match result {
                        Ok(low) => r.low_watermark = low,
                        Err(e) => r.error_code = log_error_code(&e),
                    }
                }
            }
            out.partitions.push(r);
        }
        out.name = t.name;
        resp.topics.push(out);
    }
    resp
}
