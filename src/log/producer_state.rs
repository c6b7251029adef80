//! Per-partition idempotent producer state, as Kafka's ProducerStateManager keeps it:
//! for each producer id, its epoch and the metadata of its last five batches, so that
//! a retried batch is recognised and answered with its original offset. For
//! transactional producers also the transaction open in this partition (its first
//! offset), which bounds the last stable offset, and the coordinator epoch of the last
//! marker, which fences markers from a deposed transaction coordinator.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::batch::{BatchHeader, NO_SEQUENCE};
use super::control::Marker;
use crate::storage::{self, SharedStorage};

/// Kafka keeps this many batches per producer for duplicate detection.
pub const BATCHES_PER_PRODUCER: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    /// The first offset of the producer's transaction open in this partition.
    pub current_txn_first_offset: Option<i64>,
    /// The coordinator epoch of the last marker written for this producer.
    pub coordinator_epoch: i32,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry { epoch: 0, batches: VecDeque::new(), current_txn_first_offset: None, coordinator_epoch: -1 }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SequenceError {
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidEpoch { producer_id: i64, epoch: i16, current: i16 },
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrder { producer_id: i64, expected: i32, got: i32 },
    /// A marker from a transaction coordinator older than the last one (a deposed
    /// coordinator still sending): TRANSACTION_COORDINATOR_FENCED.
    #[error("marker for producer {producer_id} from coordinator epoch {epoch}, older than {current}")]
    CoordinatorFenced { producer_id: i64, epoch: i32, current: i32 },
    /// A non-transactional batch while the producer's transaction is open here.
    #[error("producer {producer_id} has a transaction open in this partition")]
    InvalidTxnState { producer_id: i64 },
}

/// What to do with an incoming batch.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// A retry of a batch already in the log.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Default)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id. The smallest bounds the last
    /// stable offset.
    ongoing: BTreeMap<i64, i64>,
    /// Transactions whose marker is written but maybe not replicated yet: first offset
    /// → marker offset. They stay unstable until the high watermark passes the marker.
    unreplicated: BTreeMap<i64, i64>,
    /// Verifications with the transaction coordinator in flight or done (Kafka's
    /// VerificationGuard): producer id → (epoch, token). A marker for the producer
    /// clears it, so a batch verified before a transaction ended cannot open a new one.
    verifications: HashMap<i64, (i16, u64)>,
    next_token: u64,
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == last_seq.wrapping_add(1) || (next_seq == 0 && last_seq == i32::MAX)
}

impl ProducerStateManager {
    /// Checks a client batch before it is appended. Batches without a producer id are
    /// always appended.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if !h.has_producer_id() {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state was removed with old segments): Kafka
            // accepts any sequence.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceError::InvalidEpoch { producer_id: h.producer_id, epoch: h.producer_epoch, current: entry.epoch });
        }
        if !h.is_transactional() && entry.current_txn_first_offset.is_some() {
            return Err(SequenceError::InvalidTxnState { producer_id: h.producer_id });
        }
        if h.producer_epoch == entry.epoch {
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
            {
                return Ok(SequenceCheck::Duplicate(*dup));
            }
            if let Some(last) = entry.batches.back() {
                if h.base_sequence != NO_SEQUENCE && !in_sequence(last.last_seq, h.base_sequence) {
                    return Err(SequenceError::OutOfOrder {
                        producer_id: h.producer_id,
                        expected: last.last_seq.wrapping_add(1),
                        got: h.base_sequence,
                    });
                }
            }
        } else if h.base_sequence != 0 && h.base_sequence != NO_SEQUENCE {
            // A bumped epoch must start again at sequence 0.
            return Err(SequenceError::OutOfOrder { producer_id: h.producer_id, expected: 0, got: h.base_sequence });
        }
        Ok(SequenceCheck::Append)
    }

    /// Starts verifying that `producer_id`'s next batch here is in its transaction;
    /// returns the guard its append must present.
    /// Concurrent batches of one producer (in-flight requests) share the guard.
    pub fn begin_verification(&mut self, producer_id: i64, producer_epoch: i16) -> u64 {
        if let Some(&(epoch, token)) = self.verifications.get(&producer_id) {
            if epoch == producer_epoch {
                return token;
            }
        }
        self.next_token += 1;
        self.verifications.insert(producer_id, (producer_epoch, self.next_token));
        self.next_token
    }

    /// Whether a batch that opens a transaction here still holds its verification: no
    /// marker for the producer was written since it began.
    pub fn check_guard(&self, h: &BatchHeader, guard: u64) -> Result<(), SequenceError> {
        if !h.is_transactional() || self.has_open_transaction(h.producer_id, h.producer_epoch) {
            return Ok(());
        }
        match self.verifications.get(&h.producer_id) {
            Some(&(epoch, token)) if epoch == h.producer_epoch && token == guard => Ok(()),
            _ => Err(SequenceError::InvalidTxnState { producer_id: h.producer_id }),
        }
    }

    /// Checks a marker before the leader appends it: the producer's epoch may not go
    /// back, nor may the coordinator's.
    pub fn check_marker(&self, producer_id: i64, producer_epoch: i16, coordinator_epoch: i32) -> Result<(), SequenceError> {
        let Some(entry) = self.producers.get(&producer_id) else { return Ok(()) };
        if producer_epoch < entry.epoch {
            return Err(SequenceError::InvalidEpoch { producer_id, epoch: producer_epoch, current: entry.epoch });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(SequenceError::CoordinatorFenced { producer_id, epoch: coordinator_epoch, current: entry.coordinator_epoch });
        }
        Ok(())
    }

    /// Records an appended batch (with its assigned offsets); `marker` is what a control
    /// batch says. Returns, for a marker that ends an open transaction, its first offset.
    pub fn update(&mut self, h: &BatchHeader, marker: Option<Marker>) -> Option<i64> {
        if !h.has_producer_id() {
            return None;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        // The epoch of the transaction's data, before a marker moves it on.
        let data_epoch = entry.epoch;
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.is_control() {
            // A marker voids a verification of this producer, unless it ends an earlier
            // transaction than the verified one (transactions V2: the next transaction's
            // first batch may be verified while the previous one's markers are out).
            if let Some(&(verified_epoch, _)) = self.verifications.get(&h.producer_id) {
                if entry.current_txn_first_offset.is_none() || data_epoch >= verified_epoch {
                    self.verifications.remove(&h.producer_id);
                }
            }
            let marker = marker?;
            entry.coordinator_epoch = entry.coordinator_epoch.max(marker.coordinator_epoch);
            let first = entry.current_txn_first_offset.take()?;
            self.ongoing.remove(&first);
            self.unreplicated.insert(first, h.base_offset);
            return Some(first);
        }
        if h.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        if h.base_sequence == NO_SEQUENCE {
            return None;
        }
        if entry.batches.len() == BATCHES_PER_PRODUCER {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
        });
        None
    }

    /// The first offset that is not stable yet: that of the oldest open transaction, or
    /// of one whose marker is not known to be replicated.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let open = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        open.into_iter().chain(unreplicated).min()
    }

    /// The high watermark reached `high_watermark`: transactions whose markers are below
    /// it are stable.
    pub fn markers_replicated_to(&mut self, high_watermark: i64) {
        if !self.unreplicated.is_empty() {
            self.unreplicated.retain(|_, marker| *marker >= high_watermark);
        }
    }

    /// Whether a marker below `high_watermark` is still counted as unreplicated.
    pub fn has_markers_below(&self, high_watermark: i64) -> bool {
        self.unreplicated.values().any(|m| *m < high_watermark)
    }

    /// Whether `producer_id` has a transaction open here at `producer_epoch`. A batch of a
    /// later epoch belongs to a later transaction (transactions V2 bump the epoch at
    /// every end) even while the earlier one's marker is still on its way.
    pub fn has_open_transaction(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producers.get(&producer_id).is_some_and(|e| e.current_txn_first_offset.is_some() && e.epoch == producer_epoch)
    }

    /// Every producer with state here: id, epoch, and its newest batch (last sequence,
    /// max timestamp), as DescribeProducers reports them.
    pub fn active(&self) -> Vec<(i64, &ProducerEntry)> {
        let mut all: Vec<_> = self.producers.iter().map(|(id, e)| (*id, e)).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Drops what is known about batches at or after `offset` (log truncation).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
            if entry.current_txn_first_offset.is_some_and(|f| f >= offset) {
                entry.current_txn_first_offset = None;
            }
        }
        self.producers.retain(|_, e| !e.batches.is_empty() || e.current_txn_first_offset.is_some());
        self.rebuild_transactions();
    }

    /// Rebuilds the open-transaction index from the producers' entries.
    fn rebuild_transactions(&mut self) {
        self.ongoing = self.producers.iter().filter_map(|(id, e)| Some((e.current_txn_first_offset?, *id))).collect();
        self.unreplicated.clear();
    }
}

/// Snapshot files: `<offset>.snapshot` holds the state as of that log offset, so that
/// start-up only scans batch headers written after it.
pub mod snapshot {
    use super::*;

    /// Version 2 adds each producer's coordinator epoch and open transaction; version 1
    /// files (written before transactions) are still read.
    const VERSION: u16 = 2;
    const VERSION_1: u16 = 1;
    const HEADER: usize = 2 + 4 + 4;
    const BATCH_SIZE: usize = 4 + 4 + 8 + 8 + 8;

    pub fn path(dir: &Path, offset: i64) -> PathBuf {
        dir.join(format!("{offset:020}.snapshot"))
    }

    /// Offsets of the snapshot files in `dir`, ascending.
    pub fn list(files: &SharedStorage, dir: &Path) -> io::Result<Vec<i64>> {
        let mut out: Vec<i64> = files
            .list(dir)?
            .iter()
            .filter_map(|p| p.file_name()?.to_str()?.strip_suffix(".snapshot")?.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Writes the state atomically (temp file, fsync, rename) and keeps only the two
    /// newest snapshots.
    pub fn write(files: &SharedStorage, dir: &Path, offset: i64, state: &ProducerStateManager) -> io::Result<()> {
        let mut body = Vec::new();
        let mut ids: Vec<_> = state.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &state.producers[&id];
            body.extend(id.to_be_bytes());
            body.extend(e.epoch.to_be_bytes());
            body.extend(e.coordinator_epoch.to_be_bytes());
            body.extend(e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.push(e.batches.len() as u8);
            for b in &e.batches {
                body.extend(b.first_seq.to_be_bytes());
                body.extend(b.last_seq.to_be_bytes());
                body.extend(b.base_offset.to_be_bytes());
                body.extend(b.last_offset.to_be_bytes());
                body.extend(b.max_timestamp.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend(VERSION.to_be_bytes());
        out.extend(crc32c::crc32c(&body).to_be_bytes());
        out.extend((state.producers.len() as u32).to_be_bytes());
        out.extend(body);
        let final_path = path(dir, offset);
        let tmp = final_path.with_extension("snapshot.tmp");
        storage::write_file(files, &tmp, &out, true)?;
        files.rename(&tmp, &final_path)?;
        let all = list(files, dir)?;
        for old in all.iter().take(all.len().saturating_sub(2)) {
            let _ = files.remove_file(&path(dir, *old));
        }
        Ok(())
    }

    /// Reads a snapshot; `None` if it is damaged.
    pub fn read(files: &SharedStorage, dir: &Path, offset: i64) -> io::Result<Option<ProducerStateManager>> {
        let b = files.read(&path(dir, offset))?;
        Ok(decode(&b))
    }

    fn decode(b: &[u8]) -> Option<ProducerStateManager> {
        let version = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
        if b.len() < HEADER || (version != VERSION && version != VERSION_1) {
            return None;
        }
        let crc = u32::from_be_bytes(b[2..6].try_into().ok()?);
        let count = u32::from_be_bytes(b[6..10].try_into().ok()?);
        let body = &b[HEADER..];
        if crc32c::crc32c(body) != crc {
            return None;
        }
        let mut state = ProducerStateManager::default();
        let mut p = 0usize;
        let take = |p: &mut usize, n: usize| -> Option<&[u8]> {
            let s = body.get(*p..*p + n)?;
            *p += n;
            Some(s)
        };
        for _ in 0..count {
            let id = i64::from_be_bytes(take(&mut p, 8)?.try_into().ok()?);
            let epoch = i16::from_be_bytes(take(&mut p, 2)?.try_into().ok()?);
            let (coordinator_epoch, txn_first) = if version >= VERSION {
                (i32::from_be_bytes(take(&mut p, 4)?.try_into().ok()?), i64::from_be_bytes(take(&mut p, 8)?.try_into().ok()?))
            } else {
                (-1, -1)
            };
            let n = take(&mut p, 1)?[0] as usize;
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                let r = take(&mut p, BATCH_SIZE)?;
                batches.push_back(BatchMetadata {
                    first_seq: i32::from_be_bytes(r[0..4].try_into().ok()?),
                    last_seq: i32::from_be_bytes(r[4..8].try_into().ok()?),
                    base_offset: i64::from_be_bytes(r[8..16].try_into().ok()?),
                    last_offset: i64::from_be_bytes(r[16..24].try_into().ok()?),
                    max_timestamp: i64::from_be_bytes(r[24..32].try_into().ok()?),
                });
            }
            let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            state.producers.insert(id, ProducerEntry { epoch, batches, current_txn_first_offset, coordinator_epoch });
        }
        state.rebuild_transactions();
        (p == body.len()).then_some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::{self, tests::make_batch};

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, offset: i64) -> BatchHeader {
        let mut b = make_batch(count, 1, Some((pid, epoch, seq)));
        batch::assign_offsets(&mut b, offset, 0);
        batch::validate(&b).unwrap()
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut s = ProducerStateManager::default();
        let h0 = header(7, 0, 0, 5, 0);
        assert_eq!(s.check(&h0), Ok(SequenceCheck::Append));
        s.update(&h0, None);
        let h1 = header(7, 0, 5, 5, 5);
        s.update(&h1, None);
        // Retry of the first batch: recognised with its original offset.
        match s.check(&header(7, 0, 0, 5, 99)).unwrap() {
            SequenceCheck::Duplicate(m) => assert_eq!(m.base_offset, 0),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.check(&header(7, 0, 11, 1, 99)), Err(SequenceError::OutOfOrder { expected: 10, .. })));
        assert_eq!(s.check(&header(7, 0, 10, 1, 99)), Ok(SequenceCheck::Append));
        // New epoch must restart at 0; old epoch is fenced.
        assert!(s.check(&header(7, 1, 10, 1, 99)).is_err());
        s.update(&header(7, 1, 0, 1, 10), None);
        assert!(matches!(s.check(&header(7, 0, 10, 1, 99)), Err(SequenceError::InvalidEpoch { .. })));
        // Unknown producers may start anywhere.
        assert_eq!(s.check(&header(8, 0, 42, 1, 0)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn keeps_five_batches_and_round_trips_snapshots() {
        let mut s = ProducerStateManager::default();
        for i in 0..8 {
            s.update(&header(1, 0, i, 1, i as i64), None);
        }
        assert_eq!(s.producers[&1].batches.len(), BATCHES_PER_PRODUCER);
        // The oldest batches fell out of the window: a replay of sequence 0 is a gap.
        assert!(matches!(s.check(&header(1, 0, 0, 1, 0)), Err(SequenceError::OutOfOrder { expected: 8, .. })));
        let dir = tempfile::tempdir().unwrap();
        snapshot::write(&crate::storage::local(), dir.path(), 8, &s).unwrap();
        let back = snapshot::read(&crate::storage::local(), dir.path(), 8).unwrap().unwrap();
        assert_eq!(back.producers, s.producers);
        std::fs::write(snapshot::path(dir.path(), 9), b"garbage").unwrap();
        assert!(snapshot::read(&crate::storage::local(), dir.path(), 9).unwrap().is_none());
        s.truncate_to(5);
        assert_eq!(s.producers[&1].batches.back().unwrap().last_offset, 4);
    }
}
