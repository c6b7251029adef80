//! Transaction markers on their way: the coordinator writes a COMMIT or ABORT marker to
//! every partition of a transaction, through WriteTxnMarkers to each partition's leader
//! (directly when that is this broker), and completes the transaction only when every
//! marker is written. The partition side of WriteTxnMarkers is here too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;

use crate::broker::TopicRegistry;
use crate::common::SharedClock;
use crate::errors::log_error_code;
use crate::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::log::control::Marker;
use super::peers::Peers;

/// WriteTxnMarkers is served from v1 (kafka-protocol's range); the coordinator sends v1.
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// Pause between rounds for markers that could not be written yet (no leader, a
/// leader that moved).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

pub struct MarkerSender {
    topics: Arc<TopicRegistry>,
    groups: Arc<GroupCoordinator>,
    clock: SharedClock,
    node_id: i32,
    /// How long a marker waits to be on every in-sync replica.
    write_timeout: Duration,
    peers: Arc<Peers>,
}

/// The outcome of writing one marker.
enum Outcome {
    Written,
    /// The partition is gone (its topic was deleted): nothing to mark.
    Gone,
    Retry,
}

impl MarkerSender {
    pub fn new(topics: Arc<TopicRegistry>, groups: Arc<GroupCoordinator>, clock: SharedClock, node_id: i32, write_timeout: Duration, peers: Arc<Peers>) -> Self {
        MarkerSender { topics, groups, clock, node_id, write_timeout, peers }
    }

    /// The partition side of WriteTxnMarkers for one marker and its partitions: every
    /// marker is appended first (so that none is appended late, after the coordinator
    /// gave up waiting), then the in-sync replicas are waited for; for
    /// `__consumer_offsets` the group coordinator then commits or drops the
    /// transaction's offsets. One error code per partition, in order.
    pub async fn write_local(&self, producer_id: i64, producer_epoch: i16, marker: Marker, partitions: &[(String, i32)]) -> Vec<i16> {
        let mut codes = vec![0i16; partitions.len()];
        let mut appended = Vec::new();
        for (i, (topic, partition)) in partitions.iter().enumerate() {
            let Some(p) = self.topics.get(topic).and_then(|t| t.partition(*partition).cloned()) else {
                codes[i] = E::UnknownTopicOrPartition.code();
                continue;
            };
            if topic == OFFSETS_TOPIC && self.groups.is_loading(*partition) {
                // The groups are being replayed: the coordinator sends the marker again.
                codes[i] = E::CoordinatorLoadInProgress.code();
                continue;
            }
            match p.append_marker(producer_id, producer_epoch, marker, self.clock.now_ms()) {
                Ok((info, leader_epoch)) => appended.push((i, p, info.last_offset + 1, leader_epoch)),
                Err(e) => {
                    tracing::debug!(%topic, partition, producer_id, error = %e, "marker refused");
                    codes[i] = log_error_code(&e);
                }
            }
        }
        for (i, p, end, leader_epoch) in appended {
            if let Err(e) = p.wait_committed(end, leader_epoch, 1, self.write_timeout).await {
                tracing::debug!(topic = %p.topic, partition = p.index, producer_id, error = ?e, "marker not replicated in time");
                codes[i] = match e {
                    crate::broker::partition::AckError::NotLeader => E::NotLeaderOrFollower.code(),
                    _ => E::RequestTimedOut.code(),
                };
                continue;
            }
            if &*p.topic == OFFSETS_TOPIC {
                self.groups.complete_transaction(p.index, producer_id, marker.commit);
            }
        }
        codes
    }

    /// Writes the marker to every partition of `partitions`, retrying what fails, until
    /// all are written or `keep_going` says this broker is no longer the transaction's
    /// coordinator (the new one sends them again). Returns whether all were written.
    pub async fn send_all(&self, producer_id: i64, producer_epoch: i16, marker: Marker, partitions: &BTreeSet<(String, i32)>, keep_going: impl Fn() -> bool) -> bool {
        let mut pending: BTreeSet<(String, i32)> = partitions.clone();
        let mut rounds = 0u64;
        while !pending.is_empty() {
            if !keep_going() {
                return false;
            }
            if rounds > 0 {
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            rounds += 1;
            // Partitions by their leader, as this broker's metadata knows it.
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (topic, partition) in &pending {
                let leader = match self.topics.get(topic) {
                    None => None,
                    Some(t) => t.partition(*partition).map(|p| p.state().leader),
                };
                by_leader.entry(leader.unwrap_or(i32::MIN)).or_default().push((topic.clone(), *partition));
            }
            for (leader, parts) in by_leader {
                let outcomes: Vec<((String, i32), Outcome)> = if leader == i32::MIN {
                    // No such topic here any more: deleted while the transaction ran.
                    parts.into_iter().map(|p| (p, Outcome::Gone)).collect()
                } else if leader < 0 {
                    parts.into_iter().map(|p| (p, Outcome::Retry)).collect()
                } else if leader == self.node_id {
                    let codes = self.write_local(producer_id, producer_epoch, marker, &parts).await;
                    parts.into_iter().zip(codes).map(|(p, code)| (p, self.outcome(code))).collect()
                } else {
                    self.write_remote(leader, parts, producer_id, producer_epoch, marker).await
                };
                for (p, outcome) in outcomes {
                    match outcome {
                        Outcome::Written | Outcome::Gone => {
                            pending.remove(&p);
                        }
                        Outcome::Retry => {
                            if rounds % 50 == 0 {
                                tracing::warn!(topic = %p.0, partition = p.1, producer_id, rounds, "transaction marker not written yet; retrying");
                            }
                        }
                    }
                }
            }
        }
        true
    }

    fn outcome(&self, code: i16) -> Outcome {
        match code {
            0 => Outcome::Written,
            // (A partition that is gone is told by this broker's metadata, next round: a
            // leader may not know a new topic yet.)
            // The partition already took a newer epoch's marker or data: this transaction
            // was ended there (Kafka stops sending then too).
            c if c == E::InvalidProducerEpoch.code() => Outcome::Written,
            _ => Outcome::Retry,
        }
    }

    async fn write_remote(&self, leader: i32, parts: Vec<(String, i32)>, producer_id: i64, producer_epoch: i16, marker: Marker) -> Vec<((String, i32), Outcome)> {
        let retry_all = |parts: Vec<(String, i32)>| parts.into_iter().map(|p| (p, Outcome::Retry)).collect::<Vec<_>>();
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in &parts {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        let mut m = WritableTxnMarker::default();
        m.producer_id = ProducerId(producer_id);
        m.producer_epoch = producer_epoch;
        m.transaction_result = marker.commit;
        m.coordinator_epoch = marker.coordinator_epoch;
        m.topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut wt = WritableTxnMarkerTopic::default();
                wt.name = TopicName(StrBytes::from_string(t.to_string()));
                wt.partition_indexes = ps;
                wt
            })
            .collect();
        let mut req = WriteTxnMarkersRequest::default();
        req.markers = vec![m];
        let timeout = self.write_timeout + Duration::from_secs(5);
        let resp = match self.peers.call(leader, WRITE_TXN_MARKERS_VERSION, &req, timeout).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(leader, error = %e, "could not send transaction markers");
                return retry_all(parts);
            }
        };
        let mut codes: BTreeMap<(String, i32), i16> = BTreeMap::new();
        for r in resp.markers {
            for t in r.topics {
                for p in t.partitions {
                    codes.insert((t.name.to_string(), p.partition_index), p.error_code);
                }
            }
        }
        parts
            .into_iter()
            .map(|p| {
                let code = codes.get(&p).copied().unwrap_or(E::UnknownServerError.code());
                let outcome = self.outcome(code);
                (p, outcome)
            })
            .collect()
    }
}
