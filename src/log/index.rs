//! Sparse indexes of a segment: `.index` (relative offset → file position) and
//! `.timeindex` (timestamp → relative offset), in Kafka's on-disk entry format.
//!
//! The active segment keeps its entries in memory and appends each new one to the file;
//! a sealed segment's index is read through a read-only memory map.

use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::storage::{OpenMode, SharedStorage, StorageFile};

/// One fixed-size index entry.
pub trait Entry: Copy + std::fmt::Debug {
    const SIZE: usize;
    /// What lookups search by (relative offset, or timestamp).
    fn key(&self) -> i64;
    fn decode(b: &[u8]) -> Self;
    fn encode(&self, out: &mut Vec<u8>);
}

/// `.index` entry: offset relative to the segment base, and byte position in `.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn key(&self) -> i64 {
        self.relative_offset as i64
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes(b[0..4].try_into().expect("4 bytes")),
            position: u32::from_be_bytes(b[4..8].try_into().expect("4 bytes")),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
}

/// `.timeindex` entry: the largest timestamp seen so far and the relative offset of the
/// batch that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn key(&self) -> i64 {
        self.timestamp
    }
    fn decode(b: &[u8]) -> Self {
        TimeEntry {
            timestamp: i64::from_be_bytes(b[0..8].try_into().expect("8 bytes")),
            relative_offset: u32::from_be_bytes(b[8..12].try_into().expect("4 bytes")),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
}

impl OffsetIndex {
    /// The last entry whose file position is at most `position`.
    pub fn floor_position(&self, position: u64) -> Option<OffsetEntry> {
        self.floor_by(position.min(u32::MAX as u64) as i64, |e| e.position as i64)
    }
}

enum Storage<E> {
    Active { entries: Vec<E>, file: StorageFile },
    /// `None` when the file is empty (an empty file cannot be mapped).
    Sealed(Option<Mmap>),
}

pub struct SparseIndex<E: Entry> {
    path: PathBuf,
    files: SharedStorage,
    storage: Storage<E>,
}

pub type OffsetIndex = SparseIndex<OffsetEntry>;
pub type TimeIndex = SparseIndex<TimeEntry>;

impl<E: Entry> SparseIndex<E> {
    /// A fresh, empty index for a new active segment (truncates any stale file).
    pub fn create(files: &SharedStorage, path: &Path) -> io::Result<Self> {
        let file = StorageFile::open(files, path, OpenMode::CreateTruncate)?;
        Ok(SparseIndex { path: path.to_path_buf(), files: files.clone(), storage: Storage::Active { entries: Vec::new(), file } })
    }

    /// An empty placeholder that touches no file (replaced before use).
    pub fn placeholder(files: &SharedStorage, path: &Path) -> Self {
        SparseIndex { path: path.to_path_buf(), files: files.clone(), storage: Storage::Sealed(None) }
    }

    /// An active index built from entries recovered by scanning the log; the file is
    /// rewritten to match.
    pub fn rebuild(files: &SharedStorage, path: &Path, entries: Vec<E>) -> io::Result<Self> {
        let file = StorageFile::open(files, path, OpenMode::CreateTruncate)?;
        let mut buf = Vec::with_capacity(entries.len() * E::SIZE);
        entries.iter().for_each(|e| e.encode(&mut buf));
        file.write_at(&buf, 0)?;
        Ok(SparseIndex { path: path.to_path_buf(), files: files.clone(), storage: Storage::Active { entries, file } })
    }

    /// Reopens the index of the active segment after a clean shutdown, entries in memory
    /// and the file open for appends. `None` when the file is missing or fails the check
    /// that [`open_sealed`](Self::open_sealed) applies.
    pub fn open_active(files: &SharedStorage, path: &Path) -> io::Result<Option<Self>> {
        let bytes = match files.read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if bytes.len() % E::SIZE != 0 {
            return Ok(None);
        }
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        if entries.windows(2).any(|w| w[0].key() > w[1].key()) {
            return Ok(None);
        }
        let file = StorageFile::open(files, path, OpenMode::ReadWrite)?;
        Ok(Some(SparseIndex { path: path.to_path_buf(), files: files.clone(), storage: Storage::Active { entries, file } }))
    }

    /// Opens a sealed segment's index read-only. Returns `None` if the file is missing or
    /// fails the sanity check (whole entries, keys never decreasing), so the caller
    /// rebuilds it.
    pub fn open_sealed(files: &SharedStorage, path: &Path) -> io::Result<Option<Self>> {
        let file = match files.open(path, OpenMode::Read) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len() as usize;
        if len % E::SIZE != 0 {
            return Ok(None);
        }
        let map = if len == 0 {
            None
        } else {
            // SAFETY: sealed index files are never written again while mapped; Riffle
            // only replaces them by rename, which leaves this mapping intact.
            Some(unsafe { Mmap::map(&file)? })
        };
        let index: Self = SparseIndex { path: path.to_path_buf(), files: files.clone(), storage: Storage::Sealed(map) };
        let sane = (1..index.len()).all(|i| index.entry(i - 1).key() <= index.entry(i).key());
        Ok(sane.then_some(index))
    }

    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::Active { entries, .. } => entries.len(),
            Storage::Sealed(m) => m.as_ref().map_or(0, |m| m.len() / E::SIZE),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn size_bytes(&self) -> usize {
        self.len() * E::SIZE
    }

    pub fn entry(&self, i: usize) -> E {
        match &self.storage {
            Storage::Active { entries, .. } => entries[i],
            Storage::Sealed(m) => {
                let m = m.as_ref().expect("entry of an empty index");
                E::decode(&m[i * E::SIZE..(i + 1) * E::SIZE])
            }
        }
    }

    pub fn last(&self) -> Option<E> {
        let n = self.len();
        (n > 0).then(|| self.entry(n - 1))
    }

    /// The last entry whose key is at most `key`.
    pub fn floor(&self, key: i64) -> Option<E> {
        self.floor_by(key, |e| e.key())
    }

    /// The last entry whose `field` is at most `value`; `field` must never decrease
    /// along the index.
    fn floor_by(&self, value: i64, field: impl Fn(&E) -> i64) -> Option<E> {
        // Binary search for the first entry with field > `value`.
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if field(&self.entry(mid)) <= value {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo > 0).then(|| self.entry(lo - 1))
    }

    /// The first entry whose key is at least `key`.
    pub fn ceiling(&self, key: i64) -> Option<E> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.entry(mid).key() < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.len()).then(|| self.entry(lo))
    }

    /// Appends an entry to an active index.
    pub fn append(&mut self, e: E) -> io::Result<()> {
        match &mut self.storage {
            Storage::Active { entries, file } => {
                let mut buf = Vec::with_capacity(E::SIZE);
                e.encode(&mut buf);
                file.write_at(&buf, (entries.len() * E::SIZE) as u64)?;
                entries.push(e);
                Ok(())
            }
            Storage::Sealed(_) => Err(io::Error::other("append to a sealed index")),
        }
    }

    /// Turns an active index into a sealed, memory-mapped one (on segment roll).
    pub fn seal(&mut self) -> io::Result<()> {
        if let Storage::Active { file, .. } = &self.storage {
            file.sync()?;
            let sealed = Self::open_sealed(&self.files, &self.path)?
                .ok_or_else(|| io::Error::other(format!("index {} failed its check on seal", self.path.display())))?;
            self.storage = sealed.storage;
        }
        Ok(())
    }

    pub fn sync(&self) -> io::Result<()> {
        match &self.storage {
            Storage::Active { file, .. } => file.sync(),
            Storage::Sealed(_) => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_then_sealed_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::create(&crate::storage::local(), &path).unwrap();
        for i in 0..10u32 {
            idx.append(OffsetEntry { relative_offset: i * 10, position: i * 100 }).unwrap();
        }
        assert_eq!(idx.floor(35).unwrap().position, 300);
        assert!(idx.floor(-1).is_none());
        idx.seal().unwrap();
        assert_eq!(idx.floor(35).unwrap().position, 300);
        assert_eq!(idx.floor(1000).unwrap().relative_offset, 90);
        assert_eq!(idx.ceiling(31).unwrap().relative_offset, 40);
        let reopened = OffsetIndex::open_sealed(&crate::storage::local(), &path).unwrap().unwrap();
        assert_eq!(reopened.len(), 10);
    }

    #[test]
    fn damaged_index_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(TimeIndex::open_sealed(&crate::storage::local(), &path).unwrap().is_none());
        let mut bytes = Vec::new();
        TimeEntry { timestamp: 10, relative_offset: 0 }.encode(&mut bytes);
        TimeEntry { timestamp: 5, relative_offset: 1 }.encode(&mut bytes);
        std::fs::write(&path, bytes).unwrap();
        assert!(TimeIndex::open_sealed(&crate::storage::local(), &path).unwrap().is_none());
        assert!(TimeIndex::open_sealed(&crate::storage::local(), &dir.path().join("missing")).unwrap().is_none());
    }
}
