//! A partition this broker hosts: its log, its replica state (leader or follower, leader
//! epoch, ISR), the high watermark, the leader's view of its followers, and the notifier
//! that wakes long-polling fetches and acks=all produces when the log or the high
//! watermark moves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::log::batch::BatchHeader;
use crate::log::control::Marker;
use crate::log::txn_index::AbortedTxn;
use crate::log::{AppendInfo, FileSlice, LogError, PartitionLog};

/// How far a read may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBound {
    /// A follower: everything the leader has.
    LogEnd,
    /// read_uncommitted: up to the high watermark.
    HighWatermark,
    /// read_committed: up to the last stable offset, with the aborted transactions of
    /// the range read.
    LastStable,
}

/// What a read returns, all taken under one lock.
pub struct ReadResult {
    pub records: FileSlice,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// For [`ReadBound::LastStable`]: the aborted transactions in the range.
    pub aborted: Option<Vec<AbortedTxn>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    /// Listed in the metadata but not a replica here, or not led by anyone.
    None,
}

/// What the metadata says about this partition, as this broker last applied it.
#[derive(Debug, Clone)]
pub struct ReplicaState {
    pub role: Role,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl ReplicaState {
    /// A partition of a single broker: it leads, alone in the ISR.
    pub fn sole(node_id: i32) -> Self {
        ReplicaState { role: Role::Leader, leader: node_id, leader_epoch: 0, partition_epoch: 0, replicas: vec![node_id], isr: vec![node_id] }
    }

    /// A cluster partition before the metadata is applied: it serves nothing.
    pub fn unknown() -> Self {
        ReplicaState { role: Role::None, leader: -1, leader_epoch: -1, partition_epoch: -1, replicas: Vec::new(), isr: Vec::new() }
    }
}

/// The leader's view of one follower (Kafka's replica state on the leader).
#[derive(Debug, Clone, Copy)]
pub struct FollowerProgress {
    pub log_end_offset: i64,
    /// The last time the follower had everything the leader had.
    pub last_caught_up_ms: i64,
    last_fetch_ms: i64,
    /// The leader's log end offset at the follower's previous fetch.
    last_fetch_leader_leo: i64,
}

/// Lock order, outermost first: `state` → `log` → `isr_change_pending` → `followers`.
/// A method may skip locks but never takes an earlier one while holding a later one
/// (an append holds `state` for reading across the log write, so a batch never lands
/// after leadership moved). No lock is held across an await.
pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    pub log: RwLock<PartitionLog>,
    node_id: i32,
    state: RwLock<ReplicaState>,
    high_watermark: AtomicI64,
    followers: Mutex<HashMap<i32, FollowerProgress>>,
    /// An ISR change sent to the controller and not applied yet: when, and the ISR asked
    /// for. Until it is applied the high watermark counts the asked-for members too
    /// (Kafka's maximal ISR), so a replica being added never misses a committed batch.
    pub isr_change_pending: Mutex<Option<(i64, Vec<i32>)>>,
    /// The log end offset when this broker's current leadership began: a follower joins
    /// the ISR only once it has everything before it.
    epoch_start_offset: AtomicI64,
    /// A follower must check its log against the leader's before fetching.
    pub needs_truncation: AtomicBool,
    /// When this broker last became the leader (ms): followers are judged from then.
    leader_since_ms: AtomicI64,
    changed: Notify,
}

/// The last stable offset of `log` under the high watermark `hw`.
fn lso(log: &PartitionLog, hw: i64) -> i64 {
    log.first_unstable_offset().map_or(hw, |f| f.min(hw)).max(log.log_start_offset())
}

/// Why an acks=all produce did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    TimedOut,
    /// The batch is committed but the ISR is below `min.insync.replicas`.
    NotEnoughReplicasAfterAppend,
    /// Leadership moved while waiting.
    NotLeader,
}

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, mut log: PartitionLog, node_id: i32, state: ReplicaState) -> Self {
        let hw = log.log_end_offset();
        log.markers_replicated_to(hw);
        Partition {
            topic,
            index,
            log: RwLock::new(log),
            node_id,
            state: RwLock::new(state),
            high_watermark: AtomicI64::new(hw),
            followers: Mutex::new(HashMap::new()),
            isr_change_pending: Mutex::new(None),
            needs_truncation: AtomicBool::new(false),
            leader_since_ms: AtomicI64::new(0),
            epoch_start_offset: AtomicI64::new(0),
            changed: Notify::new(),
        }
    }

    pub fn state(&self) -> ReplicaState {
        self.state.read().clone()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state.read().leader_epoch
    }

    /// (role, leader epoch) without copying the replica lists: the per-request check of
    /// Produce and Fetch.
    pub fn role_and_epoch(&self) -> (Role, i32) {
        let st = self.state.read();
        (st.role, st.leader_epoch)
    }

    pub fn isr_len(&self) -> usize {
        self.state.read().isr.len()
    }

    /// `min.insync.replicas` capped at the partition's replica count, as Kafka's
    /// Partition.effectiveMinIsr: min.insync.replicas=2 on one replica lets acks=all in.
    pub fn effective_min_isr(&self, min_insync_replicas: i32) -> usize {
        let replicas = self.state.read().replicas.len().max(1);
        (min_insync_replicas.max(1) as usize).min(replicas)
    }

    pub fn is_leader(&self) -> bool {
        self.state.read().role == Role::Leader
    }

    /// The high watermark: the offset below which every ISR member has the log.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    /// The last stable offset: the high watermark, or the first offset of an open
    /// transaction below it (never below the log start). read_committed consumers read
    /// up to here.
    pub fn last_stable_offset(&self) -> i64 {
        lso(&self.log.read(), self.high_watermark())
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.read().log_start_offset()
    }

    /// Sets the high watermark (a follower takes the leader's, bounded by its own log
    /// end; start-up takes the checkpoint). Wakes waiters when it moves.
    pub fn set_high_watermark(&self, hw: i64) {
        let hw = hw.min(self.log_end_offset()).max(self.log_start_offset());
        let moved = self.high_watermark.swap(hw, Ordering::AcqRel) != hw;
        self.note_markers_replicated(hw);
        if moved {
            self.changed.notify_waiters();
        }
    }

    /// Transactions whose markers the high watermark passed become stable (the write
    /// lock only when there are such markers).
    fn note_markers_replicated(&self, hw: i64) {
        let pending = self.log.read().has_markers_below(hw);
        if pending {
            self.log.write().markers_replicated_to(hw);
        }
    }

    /// Applies a new replica state from the metadata. Becoming leader of a new epoch
    /// starts the epoch at the log end and forgets the old followers' progress.
    pub fn set_state(&self, new: ReplicaState, now_ms: i64) -> Result<(), LogError> {
        let mut st = self.state.write();
        let became_leader = new.role == Role::Leader && (st.role != Role::Leader || st.leader_epoch != new.leader_epoch);
        if became_leader {
            let mut log = self.log.write();
            log.begin_epoch(new.leader_epoch)?;
            self.epoch_start_offset.store(log.log_end_offset(), Ordering::Release);
            drop(log);
            self.followers.lock().clear();
            self.leader_since_ms.store(now_ms, Ordering::Release);
        }
        if new.role == Role::Follower && (st.role != Role::Follower || st.leader_epoch != new.leader_epoch) {
            self.needs_truncation.store(true, Ordering::Release);
        }
        let isr_changed = st.isr != new.isr;
        *st = new;
        drop(st);
        if isr_changed {
            *self.isr_change_pending.lock() = None;
        }
        self.maybe_advance_high_watermark();
        self.changed.notify_waiters();
        Ok(())
    }

    /// Reads for a consumer (up to the high watermark or the last stable offset) or a
    /// follower (up to the log end), under one lock.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, bound: ReadBound) -> Result<ReadResult, LogError> {
        let log = self.log.read();
        let hw = self.high_watermark();
        let lso = lso(&log, hw);
        let limit = match bound {
            ReadBound::LogEnd => log.log_end_offset(),
            ReadBound::HighWatermark => hw,
            ReadBound::LastStable => lso,
        };
        let records = log.read(offset, max_bytes, min_one, limit)?;
        // Kafka bounds the aborted transactions by an upper offset it estimates from the
        // index; the last stable offset bounds them as well (the consumer ignores those
        // past what it got).
        let aborted = (bound == ReadBound::LastStable).then(|| if records.is_empty() { Vec::new() } else { log.aborted_transactions(offset, lso) });
        Ok(ReadResult { records, high_watermark: hw, last_stable_offset: lso, log_start_offset: log.log_start_offset(), aborted })
    }

    /// Appends a transaction marker as the leader (WriteTxnMarkers), under the same
    /// leadership check as [`append`](Self::append).
    pub fn append_marker(&self, producer_id: i64, producer_epoch: i16, marker: Marker, now_ms: i64) -> Result<(AppendInfo, i32), LogError> {
        let info = {
            let st = self.state.read();
            if st.role != Role::Leader {
                return Err(LogError::NotLeader);
            }
            (self.log.write().append_marker(producer_id, producer_epoch, marker, st.leader_epoch, now_ms)?, st.leader_epoch)
        };
        self.maybe_advance_high_watermark();
        self.changed.notify_waiters();
        Ok(info)
    }

    /// Appends a client batch as the leader, stamped with the current leader epoch; the
    /// role is checked under the same lock, so a batch never lands after leadership
    /// moved. Returns where it landed and the epoch it was written in.
    pub fn append(&self, bytes: &Bytes, header: &BatchHeader, now_ms: i64) -> Result<(AppendInfo, i32), LogError> {
        self.append_guarded(bytes, header, now_ms, None)
    }

    /// [`append`](Self::append) with the guard of a verified transactional batch.
    pub fn append_guarded(&self, bytes: &Bytes, header: &BatchHeader, now_ms: i64, guard: Option<u64>) -> Result<(AppendInfo, i32), LogError> {
        let info = {
            let st = self.state.read();
            if st.role != Role::Leader {
                return Err(LogError::NotLeader);
            }
            (self.log.write().append_guarded(bytes, header, st.leader_epoch, now_ms, guard)?, st.leader_epoch)
        };
        if !info.0.duplicate {
            self.maybe_advance_high_watermark();
            self.changed.notify_waiters();
        }
        Ok(info)
    }

    /// Appends batches fetched from the leader (while this broker still follows it at
    /// `epoch`), then takes the leader's high watermark (bounded by what is here).
    pub fn append_replicated(&self, epoch: i32, records: &[u8], leader_hw: i64, leader_log_start: i64, now_ms: i64) -> Result<(), LogError> {
        let st = self.state.read();
        if st.role != Role::Follower || st.leader_epoch != epoch {
            return Ok(());
        }
        {
            let mut log = self.log.write();
            let mut pos = 0;
            while pos < records.len() {
                let Some((_, size)) = crate::log::batch::peek_offset_and_size(&records[pos..]) else { break };
                if size < crate::log::batch::HEADER_SIZE || pos + size > records.len() {
                    break; // a partial batch at the end of the response
                }
                let h = crate::log::batch::BatchHeader::parse(&records[pos..]).map_err(LogError::Batch)?;
                // Batches the log already has are skipped; a compacted leader log has gaps,
                // so a batch may start past the log end.
                if h.last_offset() >= log.log_end_offset() {
                    log.append_replicated(&records[pos..pos + size], now_ms)?;
                }
                pos += size;
            }
            if leader_log_start > log.log_start_offset() {
                let limit = log.log_end_offset();
                log.advance_log_start(leader_log_start.min(limit), limit)?;
            }
        }
        self.set_high_watermark(leader_hw);
        drop(st);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Truncates this follower's log to `offset` (while it still follows at `epoch`);
    /// `done` clears the need to check the log against the leader.
    pub fn truncate_as_follower(&self, epoch: i32, offset: i64, now_ms: i64, done: bool) -> Result<(), LogError> {
        let st = self.state.read();
        if st.role != Role::Follower || st.leader_epoch != epoch {
            return Ok(());
        }
        self.log.write().truncate_to(offset, now_ms)?;
        self.set_high_watermark(self.high_watermark());
        if done {
            self.needs_truncation.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Empties this follower's log and starts it at the leader's log start offset.
    pub fn restart_as_follower(&self, epoch: i32, offset: i64, now_ms: i64) -> Result<(), LogError> {
        let st = self.state.read();
        if st.role != Role::Follower || st.leader_epoch != epoch {
            return Ok(());
        }
        self.log.write().truncate_fully_and_start_at(offset, now_ms)?;
        self.high_watermark.store(offset, Ordering::Release);
        Ok(())
    }

    /// Empties the log of a partition this broker no longer replicates (reassigned
    /// away), as Kafka deletes such a replica; a later reassignment back fetches it anew.
    /// Returns whether there was anything to remove.
    pub fn drop_replica_data(&self, now_ms: i64) -> Result<bool, LogError> {
        // Most partitions a broker does not replicate are empty: a read lock tells.
        {
            let log = self.log.read();
            if log.log_end_offset() == 0 && log.log_start_offset() == 0 {
                return Ok(false);
            }
        }
        let st = self.state.read();
        let mut log = self.log.write();
        if st.role != Role::None || (log.log_end_offset() == 0 && log.log_start_offset() == 0) {
            return Ok(false);
        }
        log.truncate_fully_and_start_at(0, now_ms)?;
        self.high_watermark.store(0, Ordering::Release);
        self.followers.lock().clear();
        Ok(true)
    }

    /// The leader records a follower's fetch: its log end offset is the fetch offset.
    /// Returns whether the follower should join the ISR now (it has reached the high
    /// watermark and is not in the ISR).
    pub fn follower_fetched(&self, replica: i32, fetch_offset: i64, now_ms: i64) -> bool {
        if !self.state.read().replicas.contains(&replica) {
            return false;
        }
        let leader_leo = self.log_end_offset();
        {
            let mut followers = self.followers.lock();
            let f = followers.entry(replica).or_insert(FollowerProgress {
                log_end_offset: fetch_offset,
                last_caught_up_ms: 0,
                last_fetch_ms: now_ms,
                last_fetch_leader_leo: leader_leo,
            });
            // Kafka's rule: caught up now, or caught up to where the leader was at the
            // previous fetch (then it was caught up as of that fetch).
            if fetch_offset >= leader_leo {
                f.last_caught_up_ms = now_ms;
            } else if fetch_offset >= f.last_fetch_leader_leo {
                f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
            }
            f.log_end_offset = fetch_offset;
            f.last_fetch_ms = now_ms;
            f.last_fetch_leader_leo = leader_leo;
        }
        self.maybe_advance_high_watermark();
        let st = self.state.read();
        let caught_up = fetch_offset >= self.high_watermark() && fetch_offset >= self.epoch_start_offset.load(Ordering::Acquire);
        st.role == Role::Leader && !st.isr.contains(&replica) && caught_up
    }

    /// ISR members (other than the leader) that have not caught up for `max_lag_ms`. A
    /// follower that has everything the leader has is never lagging, however long it has
    /// been silent (Kafka's ReplicaState.isCaughtUp): an idle partition keeps its ISR.
    pub fn lagging_followers(&self, now_ms: i64, max_lag_ms: i64) -> Vec<i32> {
        let led_since_ms = self.leader_since_ms.load(Ordering::Acquire);
        let leader_end = self.log_end_offset();
        let st = self.state.read();
        if st.role != Role::Leader {
            return Vec::new();
        }
        let followers = self.followers.lock();
        st.isr
            .iter()
            .copied()
            .filter(|r| *r != self.node_id)
            .filter(|r| match followers.get(r) {
                Some(f) if f.log_end_offset >= leader_end => false,
                Some(f) => now_ms - f.last_caught_up_ms.max(led_since_ms) > max_lag_ms,
                // not heard from since this leadership began: judged from then
                None => now_ms - led_since_ms > max_lag_ms,
            })
            .collect()
    }

    /// Leader: the high watermark is the smallest log end offset over the ISR. A member
    /// not heard from yet holds it where it is.
    pub fn maybe_advance_high_watermark(&self) {
        let st = self.state.read();
        if st.role != Role::Leader {
            return;
        }
        let mut hw = self.log_end_offset();
        let mut members = st.isr.clone();
        if let Some((_, asked)) = &*self.isr_change_pending.lock() {
            members.extend(asked.iter().filter(|r| !st.isr.contains(r)));
        }
        {
            let followers = self.followers.lock();
            for r in members.iter().filter(|r| **r != self.node_id) {
                match followers.get(r) {
                    Some(f) => hw = hw.min(f.log_end_offset),
                    None => return,
                }
            }
        }
        drop(st);
        if hw > self.high_watermark() {
            self.high_watermark.store(hw, Ordering::Release);
            self.note_markers_replicated(hw);
            self.changed.notify_waiters();
        }
    }

    /// acks=all: waits until the high watermark reaches `offset` (the batch is on every
    /// ISR member), then checks the ISR is still at least `min_insync`.
    pub async fn wait_committed(&self, offset: i64, epoch: i32, min_insync: usize, timeout: Duration) -> Result<(), AckError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.read();
                // Leadership lost (even if regained since): the batch may be truncated.
                if st.role != Role::Leader || st.leader_epoch != epoch {
                    return Err(AckError::NotLeader);
                }
                if self.high_watermark() >= offset {
                    return if st.isr.len() >= min_insync { Ok(()) } else { Err(AckError::NotEnoughReplicasAfterAppend) };
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(AckError::TimedOut);
            }
        }
    }

    /// A future that completes at the next append or high watermark move. Create it
    /// before checking for data so that a change in between is not missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Wakes waiting fetches without data (e.g. at shutdown or deletion).
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TopicConfig;
    use crate::log::batch::tests::make_batch;

    fn leader_of_three(dir: &std::path::Path) -> Partition {
        let (log, _) = PartitionLog::open(dir, TopicConfig::default(), 0).unwrap();
        let state = ReplicaState { role: Role::Leader, leader: 1, leader_epoch: 3, partition_epoch: 0, replicas: vec![1, 2, 3], isr: vec![1, 2, 3] };
        let p = Partition::new(Arc::from("t"), 0, log, 1, ReplicaState::unknown());
        p.set_state(state, 0).unwrap();
        p
    }

    fn append(p: &Partition, count: i32) -> AppendInfo {
        let b = Bytes::from(make_batch(count, 10, None));
        let h = crate::log::batch::validate(&b).unwrap();
        p.append(&b, &h, 1_700_000_000_000).unwrap().0
    }

    #[tokio::test]
    async fn the_high_watermark_is_the_smallest_log_end_over_the_isr() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of_three(dir.path());
        let info = append(&p, 5);
        assert_eq!((p.log_end_offset(), p.high_watermark()), (5, 0), "followers not heard from hold it");
        assert!(!p.follower_fetched(2, 5, 10));
        assert_eq!(p.high_watermark(), 0);
        assert!(!p.follower_fetched(3, 3, 10));
        assert_eq!(p.high_watermark(), 3);
        // acks=all waits for the last member; with min.insync.replicas 2 of 3 it is fine.
        let waiting = p.wait_committed(info.last_offset + 1, 3, 2, Duration::from_secs(5));
        p.follower_fetched(3, 5, 20);
        assert_eq!(waiting.await, Ok(()));
        assert_eq!(p.high_watermark(), 5);
        // Consumers read only up to it.
        append(&p, 1);
        let r = p.read(5, 1 << 20, true, ReadBound::HighWatermark).unwrap();
        assert_eq!((r.records.len(), r.high_watermark), (0, 5));
        assert!(!p.read(5, 1 << 20, true, ReadBound::LogEnd).unwrap().records.is_empty());
        // A timed-out wait and an ISR below min.insync.replicas are told apart.
        assert_eq!(p.wait_committed(6, 3, 2, Duration::from_millis(20)).await, Err(AckError::TimedOut));
        let mut st = p.state();
        st.isr = vec![1];
        st.partition_epoch += 1;
        p.set_state(st, 0).unwrap();
        assert_eq!(p.high_watermark(), 6);
        assert_eq!(p.wait_committed(6, 3, 2, Duration::from_millis(20)).await, Err(AckError::NotEnoughReplicasAfterAppend));
    }

    #[test]
    fn a_follower_that_stops_fetching_lags_and_one_that_catches_up_rejoins() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader_of_three(dir.path());
        let since = p.leader_since_ms.load(Ordering::Acquire);
        append(&p, 5);
        p.follower_fetched(2, 5, since + 100);
        p.follower_fetched(3, 0, since + 100);
        p.follower_fetched(2, 5, since + 900);
        // 3 never had everything since this leadership began; 2 keeps fetching to the end.
        assert_eq!(p.lagging_followers(since + 1000, 500), vec![3]);
        assert!(p.lagging_followers(since + 400, 500).is_empty());
        // Silent, but with everything the leader has: not lagging however long (Kafka's
        // isCaughtUp), until the leader has more.
        assert_eq!(p.lagging_followers(since + 60_000, 500), vec![3]);
        append(&p, 1);
        assert_eq!(p.lagging_followers(since + 60_000, 500), vec![2, 3]);
        let mut st = p.state();
        st.isr = vec![1, 2];
        p.set_state(st, 0).unwrap();
        // Back at the high watermark: it asks to rejoin.
        assert!(p.follower_fetched(3, 5, since + 2000));
    }
}
