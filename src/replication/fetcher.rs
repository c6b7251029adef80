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
use tokio::sync::watch;

use super::leader_client::LeaderClient;
use crate::broker::partition::Role;
use crate::broker::{now_ms, Broker, Partition};

/// Versions the fetcher speaks: the last Fetch with a plain replica id and topic names,
/// and OffsetsForLeaderEpoch v4.
const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
/// OffsetsForLeaderEpoch's "no such epoch".
const UNDEFINED: i64 = -1;

fn followed(broker: &Broker, leader: i32) -> Vec<Arc<Partition>> {
    broker
        .topics
        .all()
        .iter()
        .flat_map(|t| t.partitions.iter().cloned())
        .filter(|p| {
            let st = p.state();
            st.role == Role::Follower && st.leader == leader
        })
        .collect()
}

pub async fn run(broker: Arc<Broker>, leader: i32, _stop: watch::Receiver<bool>) {
    let Some(rm) = broker.replicas.get() else { return };
    let cfg = rm.config.clone();
    let me = broker.config.node_id;
    let mut client: Option<LeaderClient> = None;
    tracing::info!(leader, "starting replica fetcher");
    loop {
        let parts = followed(&broker, leader);
        if parts.is_empty() {
            tracing::info!(leader, "stopping replica fetcher: nothing left to follow");
            return;
        }
        let image = rm.controller.image();
        let Some(addr) = image.brokers.get(&leader).filter(|b| !b.fenced).map(|b| format!("{}:{}", b.endpoint.host, b.endpoint.port)) else {
            tokio::time::sleep(cfg.fetch_backoff).await;
            continue;
        };
        if client.is_none() {
            match LeaderClient::connect(&addr, Duration::from_secs(5)).await {
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
        let result = if parts.iter().any(|p| p.needs_truncation.load(Ordering::Acquire)) {
            truncate(c, me, &parts).await
        } else {
            Ok(())
        };
        let ready: Vec<Arc<Partition>> = parts.into_iter().filter(|p| !p.needs_truncation.load(Ordering::Acquire)).collect();
        let result = match result {
            Ok(()) if !ready.is_empty() => fetch(c, me, &ready, &cfg).await,
            Ok(()) => {
                // Every partition waits for the leader to know its epoch.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(())
            }
            err => err,
        };
        if let Err(e) = result {
            tracing::debug!(leader, error = %e, "replica fetch failed");
            client = None;
            tokio::time::sleep(cfg.fetch_backoff).await;
        }
    }
}

type TopicParts<'a> = BTreeMap<Arc<str>, Vec<&'a Arc<Partition>>>;

fn by_topic(parts: &[Arc<Partition>]) -> TopicParts<'_> {
    let mut out: TopicParts = BTreeMap::new();
    for p in parts {
        out.entry(p.topic.clone()).or_default().push(p);
    }
    out
}

fn find<'a>(parts: &'a [Arc<Partition>], topic: &str, index: i32) -> Option<&'a Arc<Partition>> {
    parts.iter().find(|p| &*p.topic == topic && p.index == index)
}

/// Asks the leader where each partition's latest local epoch ended there, and truncates
/// what the leader does not have (Kafka's follower truncation by leader epoch).
async fn truncate(c: &mut LeaderClient, me: i32, parts: &[Arc<Partition>]) -> std::io::Result<()> {
    let todo: Vec<Arc<Partition>> = parts.iter().filter(|p| p.needs_truncation.load(Ordering::Acquire)).cloned().collect();
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(me);
    let mut no_epoch = Vec::new();
    for (topic, ps) in by_topic(&todo) {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        for p in ps {
            let Some(epoch) = p.log.read().latest_epoch() else {
                no_epoch.push(p.clone());
                continue;
            };
            let mut op = OffsetForLeaderPartition::default();
            op.partition = p.index;
            op.current_leader_epoch = p.leader_epoch();
            op.leader_epoch = epoch;
            t.partitions.push(op);
        }
        if !t.partitions.is_empty() {
            req.topics.push(t);
        }
    }
    // Nothing written under any epoch: keep only what was committed.
    for p in no_epoch {
        let hw = p.high_watermark();
        p.log.write().truncate_to(hw, now_ms()).map_err(std::io::Error::other)?;
        p.needs_truncation.store(false, Ordering::Release);
    }
    if req.topics.is_empty() {
        return Ok(());
    }
    let resp = c.call(EPOCH_VERSION, &req, Duration::from_secs(10)).await?;
    for t in resp.topics {
        for r in t.partitions {
            let Some(p) = find(&todo, &t.topic, r.partition) else { continue };
            if r.error_code != 0 {
                // Not (yet) the leader for the epoch we know: the metadata will catch up.
                tracing::debug!(topic = %p.topic, partition = p.index, code = r.error_code, "leader refused OffsetsForLeaderEpoch");
                continue;
            }
            let mut log = p.log.write();
            let leo = log.log_end_offset();
            let to = if r.end_offset == UNDEFINED {
                p.high_watermark()
            } else if Some(r.leader_epoch) == log.latest_epoch() {
                r.end_offset.min(leo)
            } else {
                // The leader knows an older epoch only: cut at the end of that epoch here too.
                let local = log.end_offset_for_epoch(r.leader_epoch).map_or(r.end_offset, |(_, o)| o);
                r.end_offset.min(local).min(leo)
            };
            if to < leo {
                tracing::info!(topic = %p.topic, partition = p.index, from = leo, to, "truncating to the leader's log");
            }
            log.truncate_to(to, now_ms()).map_err(std::io::Error::other)?;
            drop(log);
            p.needs_truncation.store(false, Ordering::Release);
        }
    }
    Ok(())
}

async fn fetch(c: &mut LeaderClient, me: i32, parts: &[Arc<Partition>], cfg: &super::ReplicationConfig) -> std::io::Result<()> {
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(me);
    req.max_wait_ms = cfg.fetch_wait_max_ms;
    req.min_bytes = cfg.fetch_min_bytes;
    req.max_bytes = cfg.fetch_response_max_bytes;
    req.session_epoch = -1;
    for (topic, ps) in by_topic(parts) {
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(topic.to_string()));
        for p in ps {
            let log = p.log.read();
            let mut fp = FetchPartition::default();
            fp.partition = p.index;
            fp.current_leader_epoch = p.leader_epoch();
            fp.fetch_offset = log.log_end_offset();
            fp.last_fetched_epoch = log.latest_epoch().unwrap_or(-1);
            fp.log_start_offset = log.log_start_offset();
            fp.partition_max_bytes = cfg.fetch_max_bytes;
            t.partitions.push(fp);
        }
        req.topics.push(t);
    }
    let timeout = Duration::from_millis(cfg.fetch_wait_max_ms.max(0) as u64) + Duration::from_secs(10);
    let resp = c.call(FETCH_VERSION, &req, timeout).await?;
    if resp.error_code != 0 {
        return Err(std::io::Error::other(format!("fetch error {}", resp.error_code)));
    }
    let now = now_ms();
    for t in resp.responses {
        for pd in t.partitions {
            let Some(p) = find(parts, &t.topic, pd.partition_index) else { continue };
            match pd.error_code {
                0 => {
                    let records = pd.records.unwrap_or_default();
                    if let Err(e) = p.append_replicated(&records, pd.high_watermark, pd.log_start_offset, now) {
                        tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "could not append fetched batches; checking the log against the leader");
                        p.needs_truncation.store(true, Ordering::Release);
                    }
                }
                code if code == E::OffsetOutOfRange.code() => {
                    let leo = p.log_end_offset();
                    if pd.log_start_offset > leo {
                        // Everything here is below the leader's log start: start again there.
                        p.log.write().truncate_fully_and_start_at(pd.log_start_offset, now).map_err(std::io::Error::other)?;
                    } else {
                        p.needs_truncation.store(true, Ordering::Release);
                    }
                }
                code => {
                    // Not leader, fenced or unknown epoch: the metadata will catch up.
                    tracing::debug!(topic = %p.topic, partition = p.index, code, "leader refused the fetch");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    Ok(())
}
