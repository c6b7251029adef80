//! One log segment: `<base offset>.log` plus its `.index` and `.timeindex`.
//!
//! Batches are appended to the `.log` file exactly as validated (with offsets patched in);
//! reads return byte ranges of the file, never decoded records.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use memmap2::Mmap;

use super::batch::{self, BatchHeader, LOG_OVERHEAD};
use super::file_slice::FileSlice;
use super::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::storage::{OpenMode, SharedStorage, StorageFile};

/// `00000000000000000042` for base offset 42, as Kafka names its files.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

pub fn log_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{}.log", file_stem(base_offset)))
}

/// Bytes of a batch header needed to know which offsets it covers.
const OFFSET_PROBE: usize = batch::LAST_OFFSET_DELTA + 4;

pub struct LogSegment {
    pub base_offset: i64,
    path: PathBuf,
    file: StorageFile,
    /// Bytes of whole, valid batches in the file.
    size: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Offset after the last batch (the segment's log end offset).
    next_offset: i64,
    /// Largest batch max timestamp, and the last offset of the batch that had it.
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Timestamp Kafka rolls by: the first batch's max timestamp, else creation time.
    rolling_timestamp: Option<i64>,
    created_ms: i64,
    bytes_since_index: u64,
    /// Timestamp of the last time index entry; entries only ever grow.
    last_time_entry: i64,
}

/// The outcome of scanning a segment file batch by batch.
pub struct ScanResult {
    /// Bytes of valid batches from the start of the file.
    pub valid_bytes: u64,
    pub batches: Vec<(u64, BatchHeader)>,
    /// Why the scan stopped before the end of the file, if it did.
    pub error: Option<String>,
}

/// Walks every batch of a `.log` file, checking each one's length, magic and CRC.
pub fn scan_file(storage: &SharedStorage, path: &Path, base_offset: i64) -> io::Result<ScanResult> {
    let file = storage.open(path, OpenMode::Read)?;
    let len = file.metadata()?.len();
    let mut result = ScanResult { valid_bytes: 0, batches: Vec::new(), error: None };
    if len == 0 {
        return Ok(result);
    }
    // SAFETY: the file is only read here and nothing truncates it during the scan (the
    // partition is not yet open for writes).
    let map = unsafe { Mmap::map(&file)? };
    let mut pos = 0usize;
    // Offsets never go below the segment's base nor backwards, and stay within what a
    // 4-byte relative offset in the index can address.
    let mut expected_offset = base_offset;
    while pos < map.len() {
        match batch::check_stored(&map[pos..]) {
            Ok(h) if h.base_offset < expected_offset => {
                result.error = Some(format!("offset {} goes backwards at position {pos}", h.base_offset));
                break;
            }
            Ok(h) if h.last_offset() - base_offset > i32::MAX as i64 => {
                result.error = Some(format!("offset {} is too far past the segment base at position {pos}", h.last_offset()));
                break;
            }
            Ok(h) => {
                expected_offset = h.next_offset();
                result.batches.push((pos as u64, h));
                pos += h.size;
            }
            Err(e) => {
                result.error = Some(format!("{e} at position {pos}"));
                break;
            }
        }
    }
    result.valid_bytes = pos as u64;
    Ok(result)
}

impl LogSegment {
    /// A segment of `size` bytes with nothing tracked yet.
    fn assemble(base_offset: i64, path: PathBuf, file: StorageFile, size: u64, offset_index: OffsetIndex, time_index: TimeIndex, now_ms: i64) -> Self {
        LogSegment {
            base_offset,
            path,
            file,
            size,
            offset_index,
            time_index,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: None,
            created_ms: now_ms,
            bytes_since_index: 0,
            last_time_entry: -1,
        }
    }

    /// Creates a new, empty active segment.
    pub fn create(storage: &SharedStorage, dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Self> {
        let path = log_path(dir, base_offset);
        let file = StorageFile::open(storage, &path, OpenMode::CreateTruncate)?;
        let stem = file_stem(base_offset);
        let offset_index = OffsetIndex::create(storage, &dir.join(format!("{stem}.index")))?;
        let time_index = TimeIndex::create(storage, &dir.join(format!("{stem}.timeindex")))?;
        Ok(Self::assemble(base_offset, path, file, 0, offset_index, time_index, now_ms))
    }

    /// Opens a segment by scanning it: the result is truncated to its last valid batch
    /// and its indexes are rebuilt (if `active`) or reused when they pass their check.
    /// Returns the segment and a description of any repair made.
    pub fn recover(storage: &SharedStorage, dir: &Path, base_offset: i64, index_interval: u64, active: bool, now_ms: i64) -> io::Result<(Self, Vec<String>)> {
        let path = log_path(dir, base_offset);
        let scan = scan_file(storage, &path, base_offset)?;
        let mut repairs = Vec::new();
        let file = StorageFile::open(storage, &path, OpenMode::ReadWrite)?;
        let on_disk = file.len()?;
        if scan.valid_bytes < on_disk {
            file.set_len(scan.valid_bytes)?;
            repairs.push(format!(
                "truncated {} bytes of torn or corrupt data ({})",
                on_disk - scan.valid_bytes,
                scan.error.as_deref().unwrap_or("partial batch")
            ));
        }
        let stem = file_stem(base_offset);
        let index_path = dir.join(format!("{stem}.index"));
        let time_path = dir.join(format!("{stem}.timeindex"));

        let placeholders = (OffsetIndex::placeholder(storage, &index_path), TimeIndex::placeholder(storage, &time_path));
        let mut seg = Self::assemble(base_offset, path, file, scan.valid_bytes, placeholders.0, placeholders.1, now_ms);
        let (mut offsets, mut times) = (Vec::new(), Vec::new());
        for (pos, h) in &scan.batches {
            seg.track_batch(*pos, h, index_interval, |e| offsets.push(e), |e| times.push(e));
        }
        if !active {
            times.extend(seg.final_time_entry());
        }
        let truncated = !repairs.is_empty();
        let reused = if active || truncated {
            None
        } else {
            match (OffsetIndex::open_sealed(storage, &index_path)?, TimeIndex::open_sealed(storage, &time_path)?) {
                (Some(o), Some(t)) if o.len() == offsets.len() && t.len() == times.len() => Some((o, t)),
                _ => None,
            }
        };
        match reused {
            Some((o, t)) => {
                seg.offset_index = o;
                seg.time_index = t;
            }
            None => {
                if !active && !truncated {
                    repairs.push("rebuilt missing or damaged indexes".into());
                }
                seg.offset_index = OffsetIndex::rebuild(storage, &index_path, offsets)?;
                seg.time_index = TimeIndex::rebuild(storage, &time_path, times)?;
                if !active {
                    seg.seal()?;
                }
            }
        }
        Ok((seg, repairs))
    }

    /// Updates the in-memory position of the log end and emits index entries as an
    /// append would.
    fn track_batch(&mut self, position: u64, h: &BatchHeader, index_interval: u64, mut offset_entry: impl FnMut(OffsetEntry), mut time_entry: impl FnMut(TimeEntry)) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.rolling_timestamp.is_none() && h.max_timestamp >= 0 {
            self.rolling_timestamp = Some(h.max_timestamp);
        }
        // Like Kafka: an entry maps a batch's last offset to the batch's start, once more
        // than `index.interval.bytes` have been written since the previous entry.
        if self.bytes_since_index > index_interval {
            offset_entry(OffsetEntry { relative_offset: (h.last_offset() - self.base_offset) as u32, position: position as u32 });
            if self.max_timestamp > self.last_time_entry {
                self.last_time_entry = self.max_timestamp;
                time_entry(TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset: (self.offset_of_max_timestamp - self.base_offset) as u32,
                });
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.size as u64;
        self.next_offset = h.next_offset();
        self.size = position + h.size as u64;
    }

    /// Appends one validated batch (offsets already assigned), given as consecutive
    /// parts so that a patched header can precede the untouched rest without a copy.
    pub fn append(&mut self, parts: &[&[u8]], h: &BatchHeader, index_interval: u64) -> io::Result<()> {
        let position = self.size;
        let mut at = position;
        for part in parts {
            self.file.write_at(part, at)?;
            at += part.len() as u64;
        }
        let (mut offsets, mut times) = (None, None);
        self.track_batch(position, h, index_interval, |e| offsets = Some(e), |e| times = Some(e));
        if let Some(e) = offsets {
            self.offset_index.append(e)?;
        }
        if let Some(e) = times {
            self.time_index.append(e)?;
        }
        Ok(())
    }

    /// Opens a sealed segment without scanning it: its size comes from the file, its end
    /// from the next segment's base offset, its max timestamp from the time index. Falls
    /// back to a full scan when an index fails its check.
    pub fn open_sealed(storage: &SharedStorage, dir: &Path, base_offset: i64, next_base: i64, index_interval: u64, now_ms: i64) -> io::Result<(Self, Vec<String>)> {
        let stem = file_stem(base_offset);
        let index = OffsetIndex::open_sealed(storage, &dir.join(format!("{stem}.index")))?;
        let time = TimeIndex::open_sealed(storage, &dir.join(format!("{stem}.timeindex")))?;
        let (Some(offset_index), Some(time_index)) = (index, time) else {
            return Self::recover(storage, dir, base_offset, index_interval, false, now_ms);
        };
        let mut seg = Self::with_indexes(storage, dir, base_offset, offset_index, time_index, now_ms)?;
        seg.next_offset = next_base;
        Ok((seg, Vec::new()))
    }

    /// A segment on its existing indexes, sized by its file, its max timestamp taken from
    /// the time index's last entry.
    fn with_indexes(storage: &SharedStorage, dir: &Path, base_offset: i64, offset_index: OffsetIndex, time_index: TimeIndex, now_ms: i64) -> io::Result<Self> {
        let path = log_path(dir, base_offset);
        let file = StorageFile::open(storage, &path, OpenMode::ReadWrite)?;
        let size = file.len()?;
        let last_time = time_index.last();
        let mut seg = Self::assemble(base_offset, path, file, size, offset_index, time_index, now_ms);
        if let Some(e) = last_time {
            seg.max_timestamp = e.timestamp;
            seg.offset_of_max_timestamp = base_offset + e.relative_offset as i64;
            seg.last_time_entry = e.timestamp;
        }
        Ok(seg)
    }

    /// Opens the active segment after a clean shutdown, without a CRC scan: the indexes
    /// are reloaded and only the batch headers after the last offset-index entry are
    /// read to find the log end. Falls back to a full [`recover`](Self::recover) when
    /// anything does not add up.
    pub fn open_active(storage: &SharedStorage, dir: &Path, base_offset: i64, index_interval: u64, now_ms: i64) -> io::Result<(Self, Vec<String>)> {
        let stem = file_stem(base_offset);
        let index = OffsetIndex::open_active(storage, &dir.join(format!("{stem}.index")))?;
        let time = TimeIndex::open_active(storage, &dir.join(format!("{stem}.timeindex")))?;
        let (Some(offset_index), Some(time_index)) = (index, time) else {
            return Self::recover(storage, dir, base_offset, index_interval, true, now_ms);
        };
        let mut seg = Self::with_indexes(storage, dir, base_offset, offset_index, time_index, now_ms)?;
        let file_size = seg.size;
        // Tracking resumes at the batch of the last offset-index entry.
        let from = seg.offset_index.last().map_or(0, |e| e.position as u64);
        if from > 0 && from >= file_size {
            // The index points past the log: not what a clean shutdown leaves.
            return Self::recover(storage, dir, base_offset, index_interval, true, now_ms);
        }
        seg.size = from;
        if file_size >= batch::HEADER_SIZE as u64 {
            let first = seg.header_at(0)?;
            seg.rolling_timestamp = (first.max_timestamp >= 0).then_some(first.max_timestamp);
        }
        let mut pos = from;
        while pos < file_size {
            let h = match seg.header_at(pos) {
                Ok(h) if pos + h.size as u64 <= file_size && h.base_offset >= seg.next_offset => h,
                _ => return Self::recover(storage, dir, base_offset, index_interval, true, now_ms),
            };
            let (mut offsets, mut times) = (None, None);
            seg.track_batch(pos, &h, index_interval, |e| offsets = Some(e), |e| times = Some(e));
            // Entries the index lacks (it should have them all after a clean shutdown).
            if let Some(e) = offsets {
                seg.offset_index.append(e)?;
            }
            if let Some(e) = times {
                seg.time_index.append(e)?;
            }
            pos += h.size as u64;
        }
        Ok((seg, Vec::new()))
    }

    /// Calls `f` with the position and header of every batch from `offset` on.
    pub fn for_each_header(&self, offset: i64, mut f: impl FnMut(u64, &BatchHeader)) -> io::Result<()> {
        let Some(mut pos) = self.position_of(offset.max(self.base_offset), self.size)? else {
            return Ok(());
        };
        while pos + batch::HEADER_SIZE as u64 <= self.size {
            let h = self.header_at(pos)?;
            f(pos, &h);
            pos += h.size as u64;
        }
        Ok(())
    }

    /// Whether the next batch of `incoming` bytes must go to a new segment.
    pub fn should_roll(&self, incoming: usize, segment_bytes: u64, segment_ms: i64, index_max_bytes: u64, now_ms: i64, next_base: i64) -> bool {
        if self.size == 0 {
            return false;
        }
        let full = self.size + incoming as u64 > segment_bytes;
        let old = now_ms - self.rolling_timestamp.unwrap_or(self.created_ms) > segment_ms;
        let index_full = (self.offset_index.size_bytes() + 8) as u64 > index_max_bytes
            || (self.time_index.size_bytes() + 12) as u64 > index_max_bytes;
        // Relative offsets are u32 in the index.
        let offset_overflow = next_base - self.base_offset > u32::MAX as i64 - 1;
        let position_overflow = self.size + incoming as u64 > u32::MAX as u64;
        full || old || index_full || offset_overflow || position_overflow
    }

    /// File position of the batch that contains `offset`, if any batch here does.
    pub fn position_of(&self, offset: i64, size_limit: u64) -> io::Result<Option<u64>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let mut pos = self
            .offset_index
            .floor(offset - self.base_offset)
            .map_or(0, |e| e.position as u64);
        let mut probe = [0u8; OFFSET_PROBE];
        while pos + OFFSET_PROBE as u64 <= size_limit {
            self.file.raw().read_exact_at(&mut probe, pos)?;
            let (base, size) = batch::peek_offset_and_size(&probe).expect("probe holds the prefix");
            let delta = i32::from_be_bytes(probe[batch::LAST_OFFSET_DELTA..].try_into().expect("4 bytes"));
            if size < batch::HEADER_SIZE {
                return Err(io::Error::other(format!("corrupt batch length at {} position {pos}", self.path.display())));
            }
            if base + delta as i64 >= offset {
                return Ok(Some(pos));
            }
            pos += size as u64;
        }
        Ok(None)
    }

    /// Whole batches starting with the one that contains `offset`, up to `max_bytes`
    /// (but at least one whole batch when `min_one` is set, as KIP-74 requires), never
    /// past `size_limit` (the high watermark's position when it falls in this segment).
    /// Only batch headers are read; the records stay in the file.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, size_limit: u64) -> io::Result<Option<FileSlice>> {
        let limit = size_limit.min(self.size);
        let Some(start) = self.position_of(offset, limit)? else {
            return Ok(None);
        };
        let available = limit - start;
        let mut end = start + available.min(max_bytes as u64);
        if min_one && end < limit {
            let (_, first) = self.peek_batch(start)?;
            end = end.max(start + first as u64).min(limit);
        }
        // Cut a trailing partial batch; clients cope with one but gain nothing from it.
        // If no whole batch fits (only possible without `min_one`), Kafka answers with
        // empty records rather than a fragment, which Java and kafka-python reject.
        let end = self.last_boundary(start, end)?;
        Ok(Some(FileSlice::new(self.file.raw().clone(), start, (end - start) as usize)))
    }

    /// The last batch boundary at or before `end`, at or after `start` (a batch start).
    /// The offset index, whose positions only grow, gets close; headers walk the rest.
    fn last_boundary(&self, start: u64, end: u64) -> io::Result<u64> {
        let mut pos = self.offset_index.floor_position(end).map_or(start, |e| (e.position as u64).max(start));
        while pos + OFFSET_PROBE as u64 <= end {
            let (_, size) = self.peek_batch(pos)?;
            if pos + size as u64 > end {
                break;
            }
            pos += size as u64;
        }
        Ok(pos)
    }

    /// Base offset and size of the batch at `pos`.
    fn peek_batch(&self, pos: u64) -> io::Result<(i64, usize)> {
        let mut prefix = [0u8; LOG_OVERHEAD];
        self.file.raw().read_exact_at(&mut prefix, pos)?;
        match batch::peek_offset_and_size(&prefix) {
            Some((base, size)) if size >= batch::HEADER_SIZE => Ok((base, size)),
            _ => Err(io::Error::other(format!("corrupt batch length at {} position {pos}", self.path.display()))),
        }
    }

    /// Base offset of the first batch whose max timestamp is at least `timestamp`,
    /// and that batch's header.
    pub fn find_by_timestamp(&self, timestamp: i64) -> io::Result<Option<(u64, BatchHeader)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let start_offset = self
            .time_index
            .floor(timestamp)
            .map_or(self.base_offset, |e| self.base_offset + e.relative_offset as i64);
        let mut pos = self.position_of(start_offset, self.size)?.unwrap_or(0);
        let mut header = [0u8; batch::HEADER_SIZE];
        while pos + batch::HEADER_SIZE as u64 <= self.size {
            self.file.raw().read_exact_at(&mut header, pos)?;
            let h = BatchHeader::parse(&header).map_err(io::Error::other)?;
            if h.max_timestamp >= timestamp {
                return Ok(Some((pos, h)));
            }
            pos += h.size as u64;
        }
        Ok(None)
    }

    /// Reads the whole batch at `position` (used off the hot path, e.g. ListOffsets).
    pub fn read_batch_at(&self, position: u64, size: usize) -> io::Result<Bytes> {
        let mut buf = BytesMut::zeroed(size);
        self.file.raw().read_exact_at(&mut buf, position)?;
        Ok(buf.freeze())
    }

    /// Header of the batch at `position`.
    pub fn header_at(&self, position: u64) -> io::Result<BatchHeader> {
        let mut header = [0u8; batch::HEADER_SIZE];
        self.file.raw().read_exact_at(&mut header, position)?;
        BatchHeader::parse(&header).map_err(io::Error::other)
    }

    /// The entry that makes a sealed segment's time index end at its max timestamp, if
    /// the last entry does not already (Kafka appends it when a segment stops being active).
    fn final_time_entry(&mut self) -> Option<TimeEntry> {
        if self.max_timestamp <= self.last_time_entry {
            return None;
        }
        self.last_time_entry = self.max_timestamp;
        Some(TimeEntry { timestamp: self.max_timestamp, relative_offset: (self.offset_of_max_timestamp - self.base_offset) as u32 })
    }

    pub fn seal(&mut self) -> io::Result<()> {
        if let Some(e) = self.final_time_entry() {
            self.time_index.append(e)?;
        }
        self.file.sync()?;
        self.offset_index.seal()?;
        self.time_index.seal()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.file.sync()?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// What time retention judges the segment by, as Kafka's `largestTimestamp`: its
    /// largest record timestamp or, with none (a segment the cleaner emptied), the
    /// file's last modification; never -1, which would make it older than any limit.
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        self.file.raw()
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms, |d| d.as_millis() as i64)
    }
    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    #[cfg(test)]
    pub fn index_lens(&self) -> (usize, usize) {
        (self.offset_index.len(), self.time_index.len())
    }

    pub fn index_paths(&self) -> [&Path; 2] {
        [self.offset_index.path(), self.time_index.path()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::tests::make_batch;

    fn append(seg: &mut LogSegment, offset: i64, count: i32) -> BatchHeader {
        let mut b = make_batch(count, 100, None);
        batch::assign_offsets(&mut b, offset, 0);
        let h = batch::validate(&b).unwrap();
        seg.append(&[&b[..16], &b[16..]], &h, 500).unwrap();
        h
    }

    /// A segment without timestamps (the cleaner can empty one) is as old as its file,
    /// not -1, which retention would take for older than any limit.
    #[test]
    fn a_segment_without_timestamps_is_as_old_as_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let seg = LogSegment::create(&crate::storage::local(), dir.path(), 0, 0).unwrap();
        assert_eq!(seg.max_timestamp(), -1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!((seg.largest_timestamp() - now).abs() < 60_000, "{} vs {now}", seg.largest_timestamp());
        let mut seg = seg;
        let h = append(&mut seg, 0, 1);
        assert_eq!(seg.largest_timestamp(), h.max_timestamp);
    }

    #[test]
    fn append_read_and_recover() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(&crate::storage::local(), dir.path(), 0, 0).unwrap();
        let mut offset = 0;
        for _ in 0..50 {
            offset = append(&mut seg, offset, 3).next_offset();
        }
        assert_eq!(seg.next_offset(), 150);
        // Offset 100 lies inside the batch starting at 99: the whole batch comes back.
        let data = seg.read(100, 1 << 20, true, u64::MAX).unwrap().unwrap().to_bytes().unwrap();
        assert_eq!(BatchHeader::parse(&data).unwrap().base_offset, 99);
        let batch_size = BatchHeader::parse(&data).unwrap().size;
        assert_eq!(data.len(), 17 * batch_size);
        // A tiny max_bytes still returns one whole batch.
        let one = seg.read(0, 10, true, u64::MAX).unwrap().unwrap().to_bytes().unwrap();
        assert_eq!(one.len(), batch_size);
        // A trailing partial batch is cut; without `min_one` nothing fits.
        assert_eq!(seg.read(0, batch_size * 5 / 2, true, u64::MAX).unwrap().unwrap().len(), 2 * batch_size);
        assert!(seg.read(0, batch_size - 1, false, u64::MAX).unwrap().unwrap().is_empty());
        assert!(seg.read(150, 100, true, u64::MAX).unwrap().is_none());
        let size = seg.size();
        drop(seg);

        // Tear the tail: recovery truncates back to the last whole batch.
        let path = log_path(dir.path(), 0);
        let f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all_at(&[1, 2, 3, 4, 5], size).unwrap();
        let (seg, repairs) = LogSegment::recover(&crate::storage::local(), dir.path(), 0, 500, true, 0).unwrap();
        assert_eq!(repairs.len(), 1);
        assert_eq!(seg.size(), size);
        assert_eq!(seg.next_offset(), 150);
        assert_eq!(seg.position_of(100, u64::MAX).unwrap(), seg.position_of(99, u64::MAX).unwrap());
    }

    #[test]
    fn sealed_index_is_reused_or_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = LogSegment::create(&crate::storage::local(), dir.path(), 0, 0).unwrap();
        let mut offset = 0;
        for _ in 0..20 {
            offset = append(&mut seg, offset, 1).next_offset();
        }
        seg.seal().unwrap();
        drop(seg);
        let (_, repairs) = LogSegment::recover(&crate::storage::local(), dir.path(), 0, 500, false, 0).unwrap();
        assert!(repairs.is_empty());
        std::fs::write(dir.path().join("00000000000000000000.index"), [0u8; 3]).unwrap();
        let (seg, repairs) = LogSegment::recover(&crate::storage::local(), dir.path(), 0, 500, false, 0).unwrap();
        assert_eq!(repairs, vec!["rebuilt missing or damaged indexes".to_string()]);
        assert_eq!(seg.position_of(19, u64::MAX).unwrap().is_some(), true);
    }
}
