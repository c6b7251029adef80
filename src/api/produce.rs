//! Produce: validate each partition's batch header and CRC, then append it as is (only
//! the base offset and leader epoch are patched). Records are never decoded, unless the
//! topic's `compression.type` asks for another codec than the batch's.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::partition::AckError;
use crate::broker::{Partition, Topic};
use crate::errors::{leadership_error, log_error_code};
use crate::log::batch::{self, BatchError};
use crate::log::LogError;

/// Produce v13 addresses topics by id instead of name (KIP-516).
const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// An acks=all batch waiting for the high watermark.
struct AwaitedAck {
    /// Where its answer goes: topic index and partition index in the response.
    topic_index: usize,
    partition_index: usize,
    partition: Arc<Partition>,
    /// The offset the high watermark must reach.
    end_offset: i64,
    /// The leader epoch the batch was written in.
    leader_epoch: i32,
    min_insync_replicas: usize,
}

pub async fn handle(ctx: &RequestContext<'_>, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let timeout_ms = req.timeout_ms;
    let acks_valid = matches!(acks, -1..=1);
    let now = ctx.services.clock.now_ms();
    let mut resp = ProduceResponse::default();
    let mut waits: Vec<AwaitedAck> = Vec::new();
    for (ti, topic_data) in req.topic_data.into_iter().enumerate() {
        let topic: Option<Arc<Topic>> = if ctx.version >= FIRST_TOPIC_ID_VERSION {
            ctx.services.topics.get_by_id(&topic_data.topic_id)
        } else {
            ctx.services.topics.get(&topic_data.name)
        };
        let unknown = if ctx.version >= FIRST_TOPIC_ID_VERSION { E::UnknownTopicId } else { E::UnknownTopicOrPartition };
        let mut out = TopicProduceResponse::default();
        out.name = topic_data.name.clone();
        out.topic_id = topic_data.topic_id;
        for pd in topic_data.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let result = if !acks_valid {
                Err((E::InvalidRequiredAcks.code(), format!("acks must be -1, 0 or 1, not {acks}")))
            } else {
                match topic.as_ref().map(|t| t.partition(pd.index)) {
                    None => Err((unknown.code(), "unknown topic".to_string())),
                    Some(None) => Err((E::UnknownTopicOrPartition.code(), format!("no partition {}", pd.index))),
                    Some(Some(p)) if leadership_error(p, -1).is_some() => {
                        let st = p.state();
                        pr.current_leader.leader_id = BrokerId(st.leader);
                        pr.current_leader.leader_epoch = st.leader_epoch;
                        Err((E::NotLeaderOrFollower.code(), format!("this broker does not lead partition {}", pd.index)))
                    }
                    Some(Some(p)) => append(p, pd.records.as_ref(), acks, now).map(|(info, epoch)| {
                        pr.base_offset = info.base_offset;
                        pr.log_append_time_ms = info.log_append_time;
                        if ctx.version >= 5 {
                            pr.log_start_offset = p.log_start_offset();
                        }
                        if acks == -1 {
                            let min_isr = p.effective_min_isr(p.log.read().config().min_insync_replicas);
                            waits.push(AwaitedAck {
                                topic_index: ti,
                                partition_index: out.partition_responses.len(),
                                partition: p.clone(),
                                end_offset: info.last_offset + 1,
                                leader_epoch: epoch,
                                min_insync_replicas: min_isr,
                            });
                        }
                    }),
                }
            };
            if let Err((code, message)) = result {
                tracing::debug!(topic = %topic_data.name.as_str(), partition = pd.index, code, %message, "produce rejected");
                pr.error_code = code;
                if ctx.version >= 8 {
                    pr.error_message = Some(StrBytes::from_string(message));
                }
            }
            out.partition_responses.push(pr);
        }
        resp.responses.push(out);
    }
    // acks=all answers once every in-sync replica has the batch (the high watermark is
    // past it), or when the request's timeout runs out.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms.max(0) as u64);
    for w in waits {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let code = match w.partition.wait_committed(w.end_offset, w.leader_epoch, w.min_insync_replicas, left).await {
            Ok(()) => continue,
            Err(AckError::TimedOut) => E::RequestTimedOut,
            Err(AckError::NotEnoughReplicasAfterAppend) => E::NotEnoughReplicasAfterAppend,
            Err(AckError::NotLeader) => E::NotLeaderOrFollower,
        };
        let pr = &mut resp.responses[w.topic_index].partition_responses[w.partition_index];
        pr.error_code = code.code();
        if ctx.version >= 8 {
            pr.error_message = Some(StrBytes::from_static_str("the batch was not replicated to the ISR in time"));
        }
    }
    // acks=0: the client expects no response at all.
    (acks != 0).then_some(resp)
}

fn append(p: &Partition, records: Option<&bytes::Bytes>, acks: i16, now: i64) -> Result<(crate::log::AppendInfo, i32), (i16, String)> {
    let err = |e: LogError| (log_error_code(&e), e.to_string());
    let invalid = |msg: &str| (E::InvalidRecord.code(), msg.to_string());
    let records = records.filter(|r| !r.is_empty()).ok_or_else(|| invalid("a produce request must carry one record batch per partition"))?;
    // Kafka (v3+) accepts exactly one batch per partition.
    let size = batch::peek_offset_and_size(records).map(|(_, s)| s).unwrap_or(0);
    if size < records.len() && size >= batch::HEADER_SIZE {
        return Err(invalid("a produce request must carry exactly one record batch per partition"));
    }
    let mut header = batch::validate(records).map_err(|e| err(LogError::Batch(e)))?;
    if header.is_transactional() || header.is_control() {
        return Err(err(LogError::Batch(BatchError::Invalid("transactional batches are not supported yet"))));
    }
    let (compression, max_message_bytes, min_isr) = {
        let log = p.log.read();
        let c = log.config();
        (c.compression, c.max_message_bytes, c.min_insync_replicas)
    };
    // A topic whose compression.type names a codec stores every batch in it: the ones
    // that differ are recompressed (and their records checked) on a blocking thread, so
    // that other connections keep being served; the others, and every batch of a
    // `producer` topic, are stored as they came.
    let recompressed;
    let records = if compression.needs_recompression(header.compression()) {
        let (bytes, h) = off_the_reactor(|| crate::log::recompress::recompress(&header, records, compression, max_message_bytes)).map_err(|e| invalid(&e.to_string()))?;
        header = h;
        recompressed = bytes;
        &recompressed
    } else {
        records
    };
    // The records themselves, as Kafka's validator walks them (uncompressed batches: a
    // length walk; compressed ones are stored unopened).
    if header.compression() == 0 {
        crate::log::records::check_uncompressed(&header, records).map_err(|e| invalid(&e.to_string()))?;
    }
    if acks == -1 {
        let (isr, min_isr) = (p.isr_len(), p.effective_min_isr(min_isr));
        if isr < min_isr {
            return Err((E::NotEnoughReplicas.code(), format!("min.insync.replicas is {min_isr} but the ISR has {isr} replica(s)")));
        }
    }
    p.append(records, &header, now).map_err(err)
}

/// Runs CPU-heavy work where it does not hold up the connections sharing this worker
/// thread (`block_in_place` hands them to another worker); inline on a current-thread
/// runtime (tests, fuzzing), where that is not possible.
fn off_the_reactor<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
