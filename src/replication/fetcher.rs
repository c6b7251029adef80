//! A replica fetcher: follows one leader broker for every partition this broker
//! follows from it. Each partition first truncates to where its log and the leader's
//! agree (OffsetsForLeaderEpoch), then fetches from its log end with Kafka's Fetch API
//! carrying this broker's replica id, appends the batches as they are, and takes the
//! leader's high watermark.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::leader_client::LeaderClient;
use super::ReplicaManager;
use crate::broker::partition::Role;
use crate::broker::Partition;
use crate::common::{SharedClock, ShutdownSignal};

/// Versions the fetcher speaks: the last Fetch with a plain replica id and topic names,
/// and OffsetsForLeaderEpoch v4.
const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
/// OffsetsForLeaderEpoch's "no such epoch".
const UNDEFINED: i64 = -1;

/// A partition followed from the leader, with the leader epoch it was followed at: a
/// result is applied only if the partition still follows that leader at that epoch.
struct Followed {
    p: Arc<Partition>,
    epoch: i32,
}

/// How long to wait for the leader's connection to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an OffsetsForLeaderEpoch may take.
const EPOCH_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// What a fetch may take beyond the leader's `replica.fetch.wait.max.ms`.
const FETCH_GRACE: Duration = Duration::from_secs(10);
/// How long an idle fetcher waits for new metadata before looking again.
const IDLE_RECHECK: Duration = Duration::from_secs(1);
/// Pause while every partition waits for the leader to know its epoch.
const EPOCH_WAIT: Duration = Duration::from_millis(100);

fn followed(rm: &ReplicaManager, leader: i32) -> Vec<Followed> {
    rm.topics
        .all()
        .iter()
        .flat_map(|t| t.partitions.iter().cloned())
        .filter_map(|p| {
            let st = p.state();
            (st.role == Role::Follower && st.leader == leader).then_some(Followed { p, epoch: st.leader_epoch })
        })
        .collect()
}

/// Follows `leader` until shutdown.
pub async fn run(rm: Arc<ReplicaManager>, leader: i32, mut shutdown: ShutdownSignal) {
    tokio::select! {
        _ = follow(&rm, leader) => {}
        _ = shutdown.wait() => tracing::debug!(leader, "replica fetcher stopped"),
    }
}

async fn follow(rm: &Arc<ReplicaManager>, leader: i32) {
    let cfg = rm.config.clone();
    let me = rm.node_id();
    let mut images = rm.controller.subscribe();
    let mut client: Option<LeaderClient> = None;
    tracing::info!(leader, "starting replica fetcher");
    loop {
        let parts = followed(rm, leader);
        if parts.is_empty() {
            // Idle until the metadata changes (the fetcher for a leader lives as long as
            // the broker, so a partition that starts following it is never missed).
            client = None;
            let _ = tokio::time::timeout(IDLE_RECHECK, images.changed()).await;
            continue;
        }
        let image = rm.controller.image();
        let Some(addr) = image.brokers.get(&leader).filter(|b| !b.fenced).map(|b| format!("{}:{}", b.endpoint.host, b.endpoint.port)) else {
            tokio::time::sleep(cfg.fetch_backoff).await;
            continue;
        };
        if client.as_ref().is_some_and(LeaderClient::expiring) {
            client = None;
        }
        if client.is_none() {
            match LeaderClient::connect(&addr, &rm.peer_security, CONNECT_TIMEOUT, rm.clock.now_ms()).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::debug!(leader, %addr, error = %e, "cannot reach leader");
                    tokio::time::sleep(cfg.fetch_backoff).await;
                    continue;
                }
            }
        }
        let c = client.as_mut().expect("connected above");
        // Partitions that must first find where they diverge from the leader do that;
        // the others fetch meanwhile.
        let (todo, ready): (Vec<Followed>, Vec<Followed>) = parts.into_iter().partition(|f| f.p.needs_truncation.load(Ordering::Acquire));
        let mut result = if todo.is_empty() { Ok(false) } else { truncate(c, me, &todo, &rm.clock).await };
        if result.is_ok() && !ready.is_empty() {
            result = fetch(c, me, &ready, &cfg, &rm.clock).await;
        } else if ready.is_empty() {
            // Every partition waits for the leader to know its epoch.
            tokio::time::sleep(EPOCH_WAIT).await;
        }
        match result {
            Ok(false) => {}
            Ok(true) => tokio::time::sleep(cfg.fetch_backoff).await,
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed");
                client = None;
                tokio::time::sleep(cfg.fetch_backoff).await;
            }
        }
    }
}

type TopicParts<'a> = BTreeMap<Arc<str>, Vec<&'a Followed>>;

fn by_topic(parts: &[Followed]) -> TopicParts<'_> {
    let mut out: TopicParts = BTreeMap::new();
    for f in parts {
        out.entry(f.p.topic.clone()).or_default().push(f);
    }
    out
}

fn find<'a>(parts: &'a [Followed], topic: &str, index: i32) -> Option<&'a Followed> {
    parts.iter().find(|f| &*f.p.topic == topic && f.p.index == index)
}

/// Asks the leader where each partition's latest local epoch ended there, and truncates
/// what the leader does not have (Kafka's follower truncation by leader epoch). A
/// partition whose answer was for an older epoch asks again with its new latest epoch.
/// Returns whether anything failed (the caller backs off).
async fn truncate(c: &mut LeaderClient, me: i32, todo: &[Followed], clock: &SharedClock) -> std::io::Result<bool> {
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(me);
    let now = clock.now_ms();
    for (topic, fs) in by_topic(todo) {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        for f in fs {
            let latest = f.p.log.read().latest_epoch();
            let Some(epoch) = latest else {
                // Nothing written under any epoch: keep only what was committed.
                let hw = f.p.high_watermark();
                f.p.truncate_as_follower(f.epoch, hw, now, true).map_err(std::io::Error::other)?;
                continue;
            };
            let mut op = OffsetForLeaderPartition::default();
            op.partition = f.p.index;
            op.current_leader_epoch = f.epoch;
            op.leader_epoch = epoch;
            t.partitions.push(op);
        }
        if !t.partitions.is_empty() {
            req.topics.push(t);
        }
    }
    if req.topics.is_empty() {
        return Ok(false);
    }
    let resp = c.call(EPOCH_VERSION, &req, EPOCH_REQUEST_TIMEOUT).await?;
    let mut failed = false;
    for t in resp.topics {
        for r in t.partitions {
            let Some(f) = find(todo, &t.topic, r.partition) else { continue };
            if r.error_code != 0 {
                // Not (yet) the leader for the epoch we know: the metadata will catch up.
                tracing::debug!(topic = %f.p.topic, partition = f.p.index, code = r.error_code, "leader refused OffsetsForLeaderEpoch");
                failed = true;
                continue;
            }
            // As Kafka's follower: compare the leader's answer with our own view of the
            // epoch it names.
            let (to, done) = {
                let log = f.p.log.read();
                let leo = log.log_end_offset();
                if r.end_offset == UNDEFINED {
                    // The leader has no epoch at or below ours: keep what was committed.
                    (f.p.high_watermark().min(leo), true)
                } else {
                    match log.end_offset_for_epoch(r.leader_epoch) {
                        // We do not know the leader's epoch: cut where our largest epoch
                        // below it ended, then ask again with our new latest epoch.
                        Some((ours, end)) if ours != r.leader_epoch => (end.min(leo), false),
                        Some((_, end)) => (r.end_offset.min(end).min(leo), true),
                        None => (r.end_offset.min(leo), true),
                    }
                }
            };
            let leo = f.p.log_end_offset();
            if to < leo {
                tracing::info!(topic = %f.p.topic, partition = f.p.index, from = leo, to, "truncating to the leader's log");
            }
            f.p.truncate_as_follower(f.epoch, to, now, done).map_err(std::io::Error::other)?;
        }
    }
    Ok(failed)
}

/// One fetch from the leader for the partitions that are ready. Returns whether any
/// partition failed (the caller backs off).
async fn fetch(c: &mut LeaderClient, me: i32, parts: &[Followed], cfg: &super::ReplicationConfig, clock: &SharedClock) -> std::io::Result<bool> {
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(me);
    req.max_wait_ms = cfg.fetch_wait_max_ms;
    req.min_bytes = cfg.fetch_min_bytes;
    req.max_bytes = cfg.fetch_response_max_bytes;
    req.session_epoch = -1;
    for (topic, fs) in by_topic(parts) {
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        for f in fs {
            let log = f.p.log.read();
            let mut fp = FetchPartition::default();
            fp.partition = f.p.index;
            fp.current_leader_epoch = f.epoch;
            fp.fetch_offset = log.log_end_offset();
            fp.last_fetched_epoch = log.latest_epoch().unwrap_or(-1);
            fp.log_start_offset = log.log_start_offset();
            fp.partition_max_bytes = cfg.fetch_max_bytes;
            t.partitions.push(fp);
        }
        req.topics.push(t);
    }
    let timeout = Duration::from_millis(cfg.fetch_wait_max_ms.max(0) as u64) + FETCH_GRACE;
    let resp = c.call(FETCH_VERSION, &req, timeout).await?;
    if resp.error_code != 0 {
        return Err(std::io::Error::other(format!("fetch error {}", resp.error_code)));
    }
    let now = clock.now_ms();
    let mut failed = false;
    for t in resp.responses {
        for pd in t.partitions {
            let Some(f) = find(parts, &t.topic, pd.partition_index) else { continue };
            match pd.error_code {
                0 => {
                    let records = pd.records.unwrap_or_default();
                    if let Err(e) = f.p.append_replicated(f.epoch, &records, pd.high_watermark, pd.log_start_offset, now) {
                        tracing::warn!(topic = %f.p.topic, partition = f.p.index, error = %e, "could not append fetched batches; checking the log against the leader");
                        f.p.needs_truncation.store(true, Ordering::Release);
                        failed = true;
                    }
                }
                code if code == E::OffsetOutOfRange.code() => {
                    if pd.log_start_offset > f.p.log_end_offset() {
                        // Everything here is below the leader's log start: start again there.
                        f.p.restart_as_follower(f.epoch, pd.log_start_offset, now).map_err(std::io::Error::other)?;
                    } else {
                        f.p.needs_truncation.store(true, Ordering::Release);
                    }
                }
                code => {
                    // Not leader, fenced or unknown epoch: the metadata will catch up.
                    tracing::debug!(topic = %f.p.topic, partition = f.p.index, code, "leader refused the fetch");
                    failed = true;
                }
            }
        }
    }
    Ok(failed)
}
