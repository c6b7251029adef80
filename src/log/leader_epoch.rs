//! The leader epoch cache, as Kafka's `leader-epoch-checkpoint`: for every leader epoch
//! the first offset written in it. A returning replica asks the leader where its own
//! latest epoch ended (OffsetsForLeaderEpoch) and truncates what the leader never had.

use std::io;
use std::path::{Path, PathBuf};

use crate::storage::{self, SharedStorage};

pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const VERSION: &str = "0";

#[derive(Debug)]
pub struct LeaderEpochCache {
    files: SharedStorage,
    path: PathBuf,
    /// (epoch, start offset), both increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Reads the checkpoint (Kafka's text format: version, count, then `epoch offset`
    /// lines); a missing or unreadable file is an empty cache.
    pub fn open(files: &SharedStorage, dir: &Path) -> LeaderEpochCache {
        let path = dir.join(CHECKPOINT_FILE);
        let entries = storage::read_to_string(files, &path).ok().and_then(|t| parse(&t)).unwrap_or_default();
        LeaderEpochCache { files: files.clone(), path, entries }
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer than the latest.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> io::Result<()> {
        if epoch < 0 || self.latest_epoch().is_some_and(|l| l >= epoch) {
            return Ok(());
        }
        // An epoch that wrote nothing is superseded by the next one at the same offset.
        while self.entries.last().is_some_and(|e| e.1 >= start_offset) {
            self.entries.pop();
        }
        self.entries.push((epoch, start_offset));
        self.flush()
    }

    /// OffsetsForLeaderEpoch, as Kafka's LeaderEpochFileCache answers it: for the latest
    /// epoch, the log end offset; otherwise the largest epoch ≤ `epoch` known here (or
    /// `epoch` itself when all known ones are larger) and the start of the next larger
    /// epoch. `None` (UNDEFINED) for an epoch past the latest, or when nothing is known.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end_offset));
        }
        let higher = self.entries.iter().find(|e| e.0 > epoch)?;
        let floor = self.entries.iter().rev().find(|e| e.0 <= epoch).map_or(epoch, |e| e.0);
        Some((floor, higher.1))
    }

    /// Forgets epochs that start at or after `offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, offset: i64) -> io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.1 < offset);
        if self.entries.len() != before {
            self.flush()?;
        }
        Ok(())
    }

    pub fn clear(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.flush()
    }

    fn flush(&self) -> io::Result<()> {
        let mut text = format!("{VERSION}\n{}\n", self.entries.len());
        for (epoch, offset) in &self.entries {
            text.push_str(&format!("{epoch} {offset}\n"));
        }
        storage::write_atomically(&self.files, &self.path, text.as_bytes())
    }
}

fn parse(text: &str) -> Option<Vec<(i32, i64)>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let entries: Vec<(i32, i64)> = lines
        .take(count)
        .map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect::<Option<_>>()?;
    (entries.len() == count).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_end_where_the_next_starts_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::open(&crate::storage::local(), dir.path());
        assert_eq!(c.end_offset_for(0, 0), None);
        c.assign(0, 0).unwrap();
        c.assign(2, 100).unwrap();
        c.assign(1, 50).unwrap(); // older than the latest: ignored
        c.assign(3, 150).unwrap();
        assert_eq!(c.end_offset_for(0, 200), Some((0, 100)));
        assert_eq!(c.end_offset_for(1, 200), Some((0, 100)));
        assert_eq!(c.end_offset_for(3, 200), Some((3, 200)));
        assert_eq!(c.end_offset_for(9, 200), None, "past the latest epoch: undefined");
        assert_eq!(c.end_offset_for(-1, 200), Some((-1, 0)), "below every epoch: where the first starts");
        let c2 = LeaderEpochCache::open(&crate::storage::local(), dir.path());
        assert_eq!(c2.entries(), &[(0, 0), (2, 100), (3, 150)]);
        assert_eq!(std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap(), "0\n3\n0 0\n2 100\n3 150\n");
        let mut c2 = c2;
        c2.truncate_from_end(120).unwrap();
        assert_eq!(c2.entries(), &[(0, 0), (2, 100)]);
        // A new epoch at an offset where an empty one started replaces it.
        c2.assign(4, 100).unwrap();
        assert_eq!(c2.entries(), &[(0, 0), (4, 100)]);
    }
}
