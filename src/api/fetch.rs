//! Fetch: slices of the log as stored, bounded by the high watermark, `max_bytes` and
//! `partition_max_bytes` (always at least one whole batch, KIP-74), long-polling until
//! `min_bytes` are there or `max_wait_ms` passes. Sessionless: every request is a full
//! fetch and the response's session id is 0, which clients treat as "no session".

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use tokio::sync::futures::Notified;
use tokio::time::Instant;

use super::authz::{op, TOPIC};
use super::{Reply, RequestContext};
use crate::security::quotas::QuotaKind;
use crate::broker::partition::ReadBound;
use crate::broker::Partition;
use crate::errors::{leadership_error, log_error_code};
use crate::net::response::Placeholders;

/// Fetch v13 addresses topics by id (KIP-516).
const FIRST_TOPIC_ID_VERSION: i16 = 13;
const READ_COMMITTED: i8 = 1;

/// One requested partition, resolved.
struct Wanted {
    topic_index: usize,
    partition: Result<Arc<Partition>, i16>,
    index: i32,
    fetch_offset: i64,
    current_leader_epoch: i32,
    max_bytes: usize,
}

/// The first Fetch version whose clients read zstd batches (Kafka 2.1).
const FIRST_ZSTD_VERSION: i16 = 10;
const ZSTD: i16 = 4;

pub async fn handle(ctx: &RequestContext<'_>, req: FetchRequest) -> Reply<FetchResponse> {
    let mut resp = FetchResponse::default();
    if req.session_id != 0 {
        // We never hand out sessions, so any session id is unknown.
        resp.error_code = E::FetchSessionIdNotFound.code();
        return Reply { body: resp, placeholders: Placeholders::default() };
    }
    let by_id = ctx.version >= FIRST_TOPIC_ID_VERSION;
    // A follower's fetch names its replica id (v15+: in replica_state) and reads up to the
    // log end; consumers read up to the high watermark. A follower needs CLUSTER_ACTION,
    // a consumer READ on each topic.
    let replica = if ctx.version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    let replica = (replica >= 0).then_some(replica);
    let follower_denied = replica.is_some() && !ctx.cluster_authorized(op::CLUSTER_ACTION);
    ctx.from_replica.store(replica.is_some(), std::sync::atomic::Ordering::Relaxed);
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let topic = if by_id { ctx.services.topics.get_by_id(&t.topic_id) } else { ctx.services.topics.get(&t.topic) };
        let denied = (topic.is_some() || !by_id) && (follower_denied || (replica.is_none() && !ctx.authorized(op::READ, TOPIC, topic.as_ref().map_or(t.topic.as_str(), |t| &t.name))));
        let mut out = FetchableTopicResponse::default();
        out.topic = t.topic.clone();
        out.topic_id = t.topic_id;
        resp.responses.push(out);
        for p in &t.partitions {
            let partition = match &topic {
                _ if denied => Err(E::TopicAuthorizationFailed.code()),
                None if by_id => Err(E::UnknownTopicId.code()),
                None => Err(E::UnknownTopicOrPartition.code()),
                Some(topic) => topic.partition(p.partition).cloned().ok_or(E::UnknownTopicOrPartition.code()),
            };
            wanted.push(Wanted {
                topic_index: ti,
                partition,
                index: p.partition,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    if let Some(r) = replica.filter(|_| !follower_denied) {
        follower_fetched(ctx, r, &wanted);
    }
    let bound = match (replica.is_some(), req.isolation_level == READ_COMMITTED) {
        (true, _) => ReadBound::LogEnd,
        (false, true) => ReadBound::LastStable,
        (false, false) => ReadBound::HighWatermark,
    };
    let max_bytes = if req.max_bytes <= 0 { usize::MAX } else { req.max_bytes as usize };
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let partitions: Vec<Arc<Partition>> = wanted.iter().filter_map(|w| w.partition.as_ref().ok().cloned()).collect();

    loop {
        // Register for wake-ups before reading, so an append in between is not missed.
        let mut waits: Vec<Pin<Box<Notified<'_>>>> = partitions
            .iter()
            .map(|p| {
                let mut n = Box::pin(p.appended());
                n.as_mut().enable();
                n
            })
            .collect();
        let (parts, total, errors, placeholders) = read_all(&wanted, max_bytes, bound, ctx.version);
        let now = Instant::now();
        if total >= min_bytes || errors || now >= deadline || waits.is_empty() {
            for (ti, pd) in parts {
                resp.responses[ti].partitions.push(pd);
            }
            // Consumers' bytes count against their quota; followers' do not.
            if replica.is_none() {
                resp.throttle_time_ms = ctx.throttle(QuotaKind::Fetch, total);
            }
            return Reply { body: resp, placeholders };
        }
        let _ = tokio::time::timeout(deadline - now, any(&mut waits)).await;
    }
}

/// Completes when any of the notifications fires.
async fn any(waits: &mut [Pin<Box<Notified<'_>>>]) {
    std::future::poll_fn(|cx| {
        for w in waits.iter_mut() {
            if w.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

/// Reads every wanted partition once. Returns the partition responses (their records as
/// placeholders for file ranges), the bytes read and whether any partition had an error
/// (which answers the fetch at once).
/// The leader records what each follower has (its fetch offsets) and asks the
/// controller to add a follower that has caught up to the ISR.
fn follower_fetched(ctx: &RequestContext<'_>, replica: i32, wanted: &[Wanted]) {
    let now = ctx.services.clock.now_ms();
    for w in wanted {
        let Ok(p) = &w.partition else { continue };
        if leadership_error(p, w.current_leader_epoch).is_some() {
            continue;
        }
        if p.follower_fetched(replica, w.fetch_offset, now) {
            let mut isr = p.state().isr;
            isr.push(replica);
            tracing::info!(topic = %p.topic, partition = p.index, replica, ?isr, "expanding ISR");
            if let Some(rm) = ctx.services.cluster() {
                crate::replication::request_isr_change(rm, p, isr);
            }
        }
    }
}

fn read_all(wanted: &[Wanted], max_bytes: usize, bound: ReadBound, version: i16) -> (Vec<(usize, PartitionData)>, usize, bool, Placeholders) {
    let mut placeholders = Placeholders::default();
    let mut total = 0usize;
    let mut errors = false;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut pd = PartitionData::default();
        pd.partition_index = w.index;
        pd.high_watermark = -1;
        pd.last_stable_offset = -1;
        pd.log_start_offset = -1;
        pd.preferred_read_replica = BrokerId(-1);
        pd.aborted_transactions = (bound == ReadBound::LastStable).then(Vec::new);
        pd.records = Some(Bytes::new());
        let refused = w.partition.as_ref().ok().and_then(|p| leadership_error(p, w.current_leader_epoch));
        match &w.partition {
            Err(code) => {
                pd.error_code = *code;
                errors = true;
            }
            Ok(p) if refused.is_some() => {
                pd.error_code = refused.unwrap_or_default();
                // Where the version has it, a hint of the current leader (KIP-951).
                let st = p.state();
                pd.current_leader.leader_id = BrokerId(st.leader);
                pd.current_leader.leader_epoch = st.leader_epoch;
                errors = true;
            }
            // Fetch before v10 cannot carry zstd: Kafka answers a zstd topic with
            // UNSUPPORTED_COMPRESSION_TYPE rather than batches the client cannot read.
            Ok(p) if version < FIRST_ZSTD_VERSION && p.log.read().config().compression.codec() == Some(ZSTD) => {
                pd.error_code = E::UnsupportedCompressionType.code();
                errors = true;
            }
            Ok(p) => {
                let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
                match p.read(w.fetch_offset, budget, total == 0, bound) {
                    Ok(read) => {
                        let records = read.records;
                        pd.high_watermark = read.high_watermark;
                        pd.last_stable_offset = read.last_stable_offset;
                        pd.log_start_offset = read.log_start_offset;
                        if let Some(aborted) = read.aborted {
                            pd.aborted_transactions = Some(
                                aborted
                                    .into_iter()
                                    .map(|a| {
                                        let mut t = AbortedTransaction::default();
                                        t.producer_id = kafka_protocol::messages::ProducerId(a.producer_id);
                                        t.first_offset = a.first_offset;
                                        t
                                    })
                                    .collect(),
                            );
                        }
                        let len = records.len();
                        match placeholders.stand_in(records) {
                            Ok(stand_in) => {
                                total += len;
                                pd.records = Some(stand_in);
                            }
                            Err(e) => {
                                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "fetch failed");
                                pd.error_code = E::KafkaStorageError.code();
                                errors = true;
                            }
                        }
                    }
                    Err(e) => {
                        pd.error_code = log_error_code(&e);
                        pd.high_watermark = p.high_watermark();
                        pd.last_stable_offset = p.last_stable_offset();
                        pd.log_start_offset = p.log_start_offset();
                        errors = true;
                        if pd.error_code != E::OffsetOutOfRange.code() {
                            tracing::error!(topic = %p.topic, partition = p.index, error = %e, "fetch failed");
                        }
                    }
                }
            }
        }
        if version < 5 {
            pd.log_start_offset = -1;
        }
        out.push((w.topic_index, pd));
    }
    (out, total, errors, placeholders)
}
