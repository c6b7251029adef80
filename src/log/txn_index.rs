//! The aborted-transaction index, Kafka's `.txnindex`: for each segment, the
//! transactions whose ABORT marker it holds, so that a read_committed Fetch can tell the
//! consumer which records to skip without the broker reading them. An entry is
//! `version i16 (0) | producer id i64 | first offset i64 | last offset i64 | last stable
//! offset i64`, 34 bytes. Entries are kept in memory too (they are few: one per aborted
//! transaction) and appended to the segment's file as markers are written.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::storage::{self, OpenMode, SharedStorage, StorageFile};

const ENTRY_VERSION: i16 = 0;
const ENTRY_BYTES: usize = 34;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// The first offset of the transaction in this partition.
    pub first_offset: i64,
    /// The offset of its ABORT marker.
    pub last_offset: i64,
    /// The last stable offset once it was aborted.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend(ENTRY_VERSION.to_be_bytes());
        out.extend(self.producer_id.to_be_bytes());
        out.extend(self.first_offset.to_be_bytes());
        out.extend(self.last_offset.to_be_bytes());
        out.extend(self.last_stable_offset.to_be_bytes());
    }

    /// An entry of the index of the segment starting at `base`; `None` for anything
    /// that cannot be one (a torn or zero-filled tail).
    fn decode(b: &[u8], base: i64) -> Option<AbortedTxn> {
        let i64_at = |at: usize| b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(i64::from_be_bytes);
        if b.len() < ENTRY_BYTES || i16::from_be_bytes([b[0], b[1]]) != ENTRY_VERSION {
            return None;
        }
        let e = AbortedTxn { producer_id: i64_at(2)?, first_offset: i64_at(10)?, last_offset: i64_at(18)?, last_stable_offset: i64_at(26)? };
        (e.producer_id >= 0 && e.first_offset <= e.last_offset && e.last_offset >= base).then_some(e)
    }
}

pub fn path(dir: &Path, segment_base: i64) -> PathBuf {
    dir.join(format!("{}.txnindex", super::segment::file_stem(segment_base)))
}

/// The aborted transactions of one partition log, by segment.
#[derive(Debug)]
pub struct TxnIndex {
    files: SharedStorage,
    dir: PathBuf,
    by_segment: BTreeMap<i64, Vec<AbortedTxn>>,
}

impl TxnIndex {
    /// Reads the index files of the segments starting at `bases`; a damaged tail (torn
    /// write) is ignored, the entries before it kept.
    pub fn open(files: &SharedStorage, dir: &Path, bases: impl IntoIterator<Item = i64>) -> io::Result<Self> {
        let mut by_segment = BTreeMap::new();
        for base in bases {
            let bytes = match files.read(&path(dir, base)) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let entries: Vec<AbortedTxn> = bytes.chunks(ENTRY_BYTES).map_while(|c| AbortedTxn::decode(c, base)).collect();
            if !entries.is_empty() {
                by_segment.insert(base, entries);
            }
        }
        Ok(TxnIndex { files: files.clone(), dir: dir.to_path_buf(), by_segment })
    }

    /// Records an aborted transaction in the index of the segment holding its marker.
    pub fn append(&mut self, segment_base: i64, entry: AbortedTxn) -> io::Result<()> {
        let entries = self.by_segment.entry(segment_base).or_default();
        let mut bytes = Vec::with_capacity(ENTRY_BYTES);
        entry.encode(&mut bytes);
        let at = (entries.len() * ENTRY_BYTES) as u64;
        // Memory first: the marker is in the log already, and readers must skip the
        // transaction even if the file write fails (recovery rebuilds the file).
        entries.push(entry);
        let f = StorageFile::open(&self.files, &path(&self.dir, segment_base), OpenMode::Create)?;
        // Entries past what memory holds are a torn write from before: overwritten.
        f.write_at(&bytes, at)
    }

    /// Forgets the aborted transactions whose marker is at or after `offset` (the log was
    /// truncated there).
    pub fn truncate_from(&mut self, offset: i64) -> io::Result<()> {
        let affected: Vec<i64> = self.by_segment.iter().filter(|(_, es)| es.iter().any(|e| e.last_offset >= offset)).map(|(b, _)| *b).collect();
        for base in affected {
            let entries = self.by_segment.get_mut(&base).expect("listed");
            entries.retain(|e| e.last_offset < offset);
            if entries.is_empty() {
                self.by_segment.remove(&base);
                storage::remove_if_exists(&self.files, &path(&self.dir, base))?;
            } else {
                let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
                entries.iter().for_each(|e| e.encode(&mut bytes));
                storage::write_file(&self.files, &path(&self.dir, base), &bytes, false)?;
            }
        }
        Ok(())
    }

    /// The segment starting at `base` is gone (retention, truncation): so is its index.
    pub fn remove_segment(&mut self, base: i64) -> io::Result<()> {
        self.by_segment.remove(&base);
        storage::remove_if_exists(&self.files, &path(&self.dir, base))
    }

    /// The aborted transactions a read from `from` up to (not including) `upper` must
    /// report: those whose records may lie in that range, in first-offset order.
    pub fn collect(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut out: Vec<AbortedTxn> = self.by_segment.values().flatten().filter(|e| e.last_offset >= from && e.first_offset < upper).copied().collect();
        out.sort_by_key(|e| e.first_offset);
        out
    }

    /// Every aborted transaction whose marker is at or after `from` (the cleaner's view).
    pub fn since(&self, from: i64) -> Vec<AbortedTxn> {
        self.collect(from, i64::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.by_segment.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_truncation_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let files = storage::local();
        let mut idx = TxnIndex::open(&files, dir.path(), [0, 100]).unwrap();
        let a = AbortedTxn { producer_id: 1, first_offset: 5, last_offset: 9, last_stable_offset: 10 };
        let b = AbortedTxn { producer_id: 2, first_offset: 100, last_offset: 120, last_stable_offset: 121 };
        idx.append(0, a).unwrap();
        idx.append(100, b).unwrap();
        assert_eq!(idx.collect(0, 7), vec![a]);
        assert_eq!(idx.collect(9, 200), vec![a, b]);
        assert_eq!(idx.collect(9, 100), vec![a]);
        assert_eq!(idx.collect(10, 200), vec![b]);
        // A torn or zero-filled write after the entries is ignored on reopen.
        let mut bytes = std::fs::read(path(dir.path(), 100)).unwrap();
        bytes.extend([0u8; ENTRY_BYTES + 7]);
        std::fs::write(path(dir.path(), 100), bytes).unwrap();
        let mut idx = TxnIndex::open(&files, dir.path(), [0, 100]).unwrap();
        assert_eq!(idx.collect(0, i64::MAX), vec![a, b]);
        idx.truncate_from(100).unwrap();
        assert_eq!(idx.collect(0, i64::MAX), vec![a]);
        assert!(!path(dir.path(), 100).exists());
        idx.remove_segment(0).unwrap();
        assert!(idx.is_empty() && !path(dir.path(), 0).exists());
    }
}
