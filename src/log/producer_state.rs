//! Per-partition idempotent producer state, as Kafka's ProducerStateManager keeps it:
//! for each producer id, its epoch and the metadata of its last five batches, so that
//! a retried batch is recognised and answered with its original offset.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::batch::{BatchHeader, NO_SEQUENCE};
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SequenceError {
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidEpoch { producer_id: i64, epoch: i16, current: i16 },
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrder { producer_id: i64, expected: i32, got: i32 },
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

    /// Records an appended batch (with its assigned offsets).
    pub fn update(&mut self, h: &BatchHeader) {
        if !h.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.base_sequence == NO_SEQUENCE {
            return;
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
    }

    /// Every producer with state here: id, epoch, and its newest batch (last sequence,
    /// max timestamp), as DescribeProducers reports them.
    pub fn active(&self) -> Vec<(i64, i16, Option<&BatchMetadata>)> {
        let mut all: Vec<_> = self.producers.iter().map(|(id, e)| (*id, e.epoch, e.batches.back())).collect();
        all.sort_by_key(|(id, _, _)| *id);
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
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }
}

/// Snapshot files: `<offset>.snapshot` holds the state as of that log offset, so that
/// start-up only scans batch headers written after it.
pub mod snapshot {
    use super::*;

    const VERSION: u16 = 1;
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
        if b.len() < HEADER || u16::from_be_bytes([b[0], b[1]]) != VERSION {
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
            state.producers.insert(id, ProducerEntry { epoch, batches });
        }
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
        s.update(&h0);
        let h1 = header(7, 0, 5, 5, 5);
        s.update(&h1);
        // Retry of the first batch: recognised with its original offset.
        match s.check(&header(7, 0, 0, 5, 99)).unwrap() {
            SequenceCheck::Duplicate(m) => assert_eq!(m.base_offset, 0),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.check(&header(7, 0, 11, 1, 99)), Err(SequenceError::OutOfOrder { expected: 10, .. })));
        assert_eq!(s.check(&header(7, 0, 10, 1, 99)), Ok(SequenceCheck::Append));
        // New epoch must restart at 0; old epoch is fenced.
        assert!(s.check(&header(7, 1, 10, 1, 99)).is_err());
        s.update(&header(7, 1, 0, 1, 10));
        assert!(matches!(s.check(&header(7, 0, 10, 1, 99)), Err(SequenceError::InvalidEpoch { .. })));
        // Unknown producers may start anywhere.
        assert_eq!(s.check(&header(8, 0, 42, 1, 0)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn keeps_five_batches_and_round_trips_snapshots() {
        let mut s = ProducerStateManager::default();
        for i in 0..8 {
            s.update(&header(1, 0, i, 1, i as i64));
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
