//! Produce: validate each partition's batch header and CRC, then append it as is (only
//! the base offset and leader epoch are patched). Records are never decoded, unless the
//! topic's `compression.type` asks for another codec than the batch's.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC, TRANSACTIONAL_ID};
use super::RequestContext;
use crate::security::quotas::QuotaKind;
use crate::broker::partition::AckError;
use crate::broker::{Partition, Topic};
use crate::errors::{leadership_error, log_error_code};
use crate::log::batch::{self, BatchError};
use crate::log::LogError;

/// Produce v13 addresses topics by id instead of name (KIP-516).
const FIRST_TOPIC_ID_VERSION: i16 = 13;
/// Produce v11 producers understand TRANSACTION_ABORTABLE (KIP-890).
const FIRST_ABORTABLE_VERSION: i16 = 11;
/// Produce v12 is sent by producers of transactions V2 (KIP-890).
const FIRST_TXN_V2_VERSION: i16 = 12;
const ADD_PARTITIONS_RETRY_BACKOFF: Duration = Duration::from_millis(20);
const ADD_PARTITIONS_RETRY_MAX: Duration = Duration::from_millis(100);

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
    // A transactional producer needs WRITE on its transactional id, every producer WRITE
    // on each topic.
    let txn_denied = req.transactional_id.as_ref().is_some_and(|id| !ctx.authorized(op::WRITE, TRANSACTIONAL_ID, id));
    let verdicts = verify_transactional(ctx, &req).await;
    let request_bytes: usize = req.topic_data.iter().flat_map(|t| t.partition_data.iter()).map(|p| p.records.as_ref().map_or(0, |r| r.len())).sum();
    for (ti, topic_data) in req.topic_data.into_iter().enumerate() {
        let topic: Option<Arc<Topic>> = if ctx.version >= FIRST_TOPIC_ID_VERSION {
            ctx.services.topics.get_by_id(&topic_data.topic_id)
        } else {
            ctx.services.topics.get(&topic_data.name)
        };
        let unknown = if ctx.version >= FIRST_TOPIC_ID_VERSION { E::UnknownTopicId } else { E::UnknownTopicOrPartition };
        let topic_denied = !ctx.authorized(op::WRITE, TOPIC, topic.as_ref().map_or(topic_data.name.as_str(), |t| &t.name));
        let mut out = TopicProduceResponse::default();
        out.name = topic_data.name.clone();
        out.topic_id = topic_data.topic_id;
        for pd in topic_data.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let verdict = verdicts.refused(ti, pd.index);
            let result = if txn_denied {
                Err((E::TransactionalIdAuthorizationFailed.code(), String::new()))
            } else if topic_denied {
                Err((E::TopicAuthorizationFailed.code(), String::new()))
            } else if !acks_valid {
                Err((E::InvalidRequiredAcks.code(), format!("acks must be -1, 0 or 1, not {acks}")))
            } else if let Some(code) = verdict {
                Err((code, String::new()))
            } else {
                match topic.as_ref().map(|t| t.partition(pd.index)) {
                    None => Err((unknown.code(), "unknown topic".to_string())),
                    Some(None) => Err((E::UnknownTopicOrPartition.code(), format!("no partition {}", pd.index))),
                    // The coordinators' topics are written by the coordinators only.
                    Some(Some(p)) if ctx.services.coordinators.is_coordinator_topic(&p.topic) => {
                        Err((E::InvalidTopicException.code(), format!("Cannot append to internal topic {}", p.topic)))
                    }
                    Some(Some(p)) if leadership_error(p, -1).is_some() => {
                        let st = p.state();
                        pr.current_leader.leader_id = BrokerId(st.leader);
                        pr.current_leader.leader_epoch = st.leader_epoch;
                        Err((E::NotLeaderOrFollower.code(), format!("this broker does not lead partition {}", pd.index)))
                    }
                    Some(Some(p)) => append(p, pd.records.as_ref(), acks, now, verdicts.guard(ti, pd.index)).map(|(info, epoch)| {
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
                // Kafka's message for a partition not in the transaction; none for the
                // other refusals of a transactional batch.
                let message = if code == E::InvalidTxnState.code() { "Partition was not added to the transaction".to_string() } else { message };
                if ctx.version >= 8 && !message.is_empty() {
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
    if ctx.version >= 1 {
        resp.throttle_time_ms = ctx.throttle(QuotaKind::Produce, request_bytes);
    }
    // acks=0: the client expects no response at all.
    (acks != 0).then_some(resp)
}

/// The outcome of checking a request's transactional batches: partitions refused (by
/// topic index and partition, with the error Kafka answers) and the guards of the
/// verified ones.
#[derive(Default)]
struct Verdicts {
    refused: Vec<(usize, i32, i16)>,
    guards: Vec<(usize, i32, u64)>,
}

impl Verdicts {
    fn refused(&self, topic_index: usize, partition: i32) -> Option<i16> {
        self.refused.iter().find(|(t, p, _)| *t == topic_index && *p == partition).map(|(_, _, c)| *c)
    }

    fn guard(&self, topic_index: usize, partition: i32) -> Option<u64> {
        self.guards.iter().find(|(t, p, _)| *t == topic_index && *p == partition).map(|(_, _, g)| *g)
    }
}

/// Transactional batches that open a producer's transaction in a partition are checked
/// with the transaction coordinator first (KIP-890, `transaction.partition.verification.enable`),
/// as Kafka translates the coordinator's errors for producers.
async fn verify_transactional(ctx: &RequestContext<'_>, req: &ProduceRequest) -> Verdicts {
    let mut needed: Vec<(usize, Arc<Partition>)> = Vec::new();
    let mut producers: Vec<(i64, i16)> = Vec::new();
    let by_id = ctx.version >= FIRST_TOPIC_ID_VERSION;
    for (ti, t) in req.topic_data.iter().enumerate() {
        for pd in &t.partition_data {
            // Only the header is read (the rest of the produce path checks the batch).
            let Some(h) = pd.records.as_ref().and_then(|r| batch::BatchHeader::parse(r).ok()) else { continue };
            // Control batches too: Kafka checks the transactional id and the transaction
            // before it refuses a client's marker.
            if !h.is_transactional() || !h.has_producer_id() {
                continue;
            }
            if !producers.contains(&(h.producer_id, h.producer_epoch)) {
                producers.push((h.producer_id, h.producer_epoch));
            }
            let topic = if by_id { ctx.services.topics.get_by_id(&t.topic_id) } else { ctx.services.topics.get(&t.name) };
            let Some(p) = topic.as_ref().and_then(|t| t.partition(pd.index)) else { continue };
            if p.is_leader() && !p.log.read().producers().has_open_transaction(h.producer_id, h.producer_epoch) {
                needed.push((ti, p.clone()));
            }
        }
    }
    if producers.is_empty() {
        return Verdicts::default();
    }
    let refuse_all = |code: i16| Verdicts {
        refused: req.topic_data.iter().enumerate().flat_map(|(ti, t)| t.partition_data.iter().map(move |pd| (ti, pd.index, code))).collect(),
        guards: Vec::new(),
    };
    // Transactional records need the transactional id they belong to (Kafka answers
    // without it as for an unauthorized one), and one producer per request.
    let Some(txn_id) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) else {
        return refuse_all(E::TransactionalIdAuthorizationFailed.code());
    };
    if producers.len() > 1 {
        return refuse_all(E::InvalidProducerIdMapping.code());
    }
    // A producer of transactions V2 (Produce v12+) never sends AddPartitionsToTxn: the
    // leader adds the partition for it.
    let add = ctx.version >= FIRST_TXN_V2_VERSION;
    if needed.is_empty() || !(add || crate::txn::verification_enabled(&ctx.services.config)) {
        return Verdicts::default();
    }
    let (producer_id, producer_epoch) = producers[0];
    // The guard taken before asking: a marker for the producer meanwhile voids it.
    let guards: Vec<u64> = needed.iter().map(|(_, p)| p.log.write().begin_verification(producer_id, producer_epoch)).collect();
    let partitions: Vec<(String, i32)> = needed.iter().map(|(_, p)| (p.topic.to_string(), p.index)).collect();
    // The previous transaction's markers may still be out: retried briefly, as Kafka's
    // add.partitions.to.txn.retry.backoff.ms, before the producer is told.
    let deadline = tokio::time::Instant::now() + ADD_PARTITIONS_RETRY_MAX;
    let results = loop {
        let results = ctx.services.txn.verify_partitions(txn_id, producer_id, producer_epoch, &partitions, add).await;
        if !results.iter().any(|r| *r == Err(E::ConcurrentTransactions)) || tokio::time::Instant::now() >= deadline {
            break results;
        }
        tokio::time::sleep(ADD_PARTITIONS_RETRY_BACKOFF).await;
    };
    let mut verdicts = Verdicts::default();
    for (((ti, p), guard), r) in needed.into_iter().zip(guards).zip(results) {
        let code = match r {
            Ok(()) => {
                verdicts.guards.push((ti, p.index, guard));
                continue;
            }
            // Older producers do not know TRANSACTION_ABORTABLE (KIP-890).
            Err(E::TransactionAbortable) if ctx.version < FIRST_ABORTABLE_VERSION => E::InvalidTxnState,
            Err(E::ProducerFenced) => E::InvalidProducerEpoch,
            // Retriable for every client, without a metadata refresh.
            Err(E::NetworkException | E::CoordinatorLoadInProgress | E::CoordinatorNotAvailable | E::NotCoordinator) => E::NotEnoughReplicas,
            Err(E::ConcurrentTransactions) if !add => E::NotEnoughReplicas,
            Err(e) => e,
        };
        verdicts.refused.push((ti, p.index, code.code()));
    }
    verdicts
}

fn append(p: &Partition, records: Option<&bytes::Bytes>, acks: i16, now: i64, guard: Option<u64>) -> Result<(crate::log::AppendInfo, i32), (i16, String)> {
    let err = |e: LogError| (log_error_code(&e), e.to_string());
    let invalid = |msg: &str| (E::InvalidRecord.code(), msg.to_string());
    let records = records.filter(|r| !r.is_empty()).ok_or_else(|| invalid("a produce request must carry one record batch per partition"))?;
    // Kafka (v3+) accepts exactly one batch per partition.
    let size = batch::peek_offset_and_size(records).map(|(_, s)| s).unwrap_or(0);
    if size < records.len() && size >= batch::HEADER_SIZE {
        return Err(invalid("a produce request must carry exactly one record batch per partition"));
    }
    let mut header = batch::validate(records).map_err(|e| err(LogError::Batch(e)))?;
    // Markers are the transaction coordinator's (WriteTxnMarkers), never a client's.
    if header.is_control() {
        return Err(err(LogError::Batch(BatchError::Invalid("client produce requests may not carry control records"))));
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
    p.append_guarded(records, &header, now, guard).map_err(err)
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
