//! A partition's log: its segments, its log start and end offsets, its idempotent
//! producer state. Appends go to the last (active) segment, which rolls by size, age or
//! index size; reads return whole batches as stored.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use thiserror::Error;

use super::batch::{self, BatchError, BatchHeader};
use super::cleaner;
use super::file_slice::FileSlice;
use super::leader_epoch::LeaderEpochCache;
use super::segment::{self, LogSegment};
use crate::config::TopicConfig;
use super::producer_state::{snapshot, ProducerStateManager, SequenceCheck, SequenceError};
use super::txn_index::TxnIndex;
use crate::storage::{self, SharedStorage};

#[derive(Debug, Error)]
pub enum LogError {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    /// Only reachable with `internal.segment.bytes` (segment.bytes is at least 1 MiB).
    #[error("batch of {size} bytes exceeds the maximum segment size {segment_bytes}")]
    LargerThanSegment { size: usize, segment_bytes: u64 },
    #[error("batch timestamp {timestamp} is outside the allowed range")]
    InvalidTimestamp { timestamp: i64 },
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error("offset {offset} is outside the log [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    /// Leadership moved away before the append (replication state, not the log's).
    #[error("this broker no longer leads the partition")]
    NotLeader,
}

trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T, LogError>;
}
impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, LogError> {
        self.map_err(|source| LogError::Io { path: path.to_path_buf(), source })
    }
}

/// How the broker last stopped, which decides how much of a log is checked on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every log was flushed and closed: nothing to recover.
    Clean,
    /// A crash or kill: the active segment is scanned and a torn tail truncated.
    Unclean,
}

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The LogAppendTime stamped on the batch, or -1 under CreateTime.
    pub log_append_time: i64,
    /// The batch was a retry of one already stored; nothing was written.
    pub duplicate: bool,
}

pub struct PartitionLog {
    /// Every file of the log is written through it.
    files: SharedStorage,
    dir: PathBuf,
    segments: BTreeMap<i64, LogSegment>,
    log_start_offset: i64,
    config: TopicConfig,
    producers: ProducerStateManager,
    unflushed_messages: i64,
    /// First offset the cleaner has not cleaned yet (compacted topics).
    cleaner_checkpoint: i64,
    /// When tombstones kept by the last clean may go: a pass is due then even if the
    /// log is not dirty.
    tombstone_horizon: Option<i64>,
    /// First offset of every leader epoch (`leader-epoch-checkpoint`).
    epochs: LeaderEpochCache,
    /// Aborted transactions, by the segment holding their marker (`.txnindex`).
    txn_index: TxnIndex,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir`, recovering the active segment: a torn or
    /// corrupt tail is truncated and its indexes rebuilt. Returns the repairs made.
    pub fn open(dir: &Path, config: TopicConfig, now_ms: i64) -> Result<(Self, Vec<String>), LogError> {
        Self::open_after(&storage::local(), dir, config, now_ms, Shutdown::Unclean)
    }

    /// Opens the log; after a [`Shutdown::Clean`] the active segment is trusted as
    /// written (as Kafka does when it finds `.kafka_cleanshutdown`) instead of scanned.
    pub fn open_after(files: &SharedStorage, dir: &Path, config: TopicConfig, now_ms: i64, shutdown: Shutdown) -> Result<(Self, Vec<String>), LogError> {
        files.create_dir_all(dir).at(dir)?;
        // Finish or discard a clean that a crash interrupted, before listing segments.
        let mut repairs = cleaner::recover_dir(files, dir, config.index_interval_bytes, now_ms).at(dir)?;
        let mut bases = Vec::new();
        for path in files.list(dir).at(dir)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if let Some(base) = name.strip_suffix(".log").and_then(|s| s.parse::<i64>().ok()) {
                bases.push(base);
            } else if name.ends_with(".tmp") || name.ends_with(".deleted") {
                let _ = files.remove_file(&path);
            }
        }
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let interval = config.index_interval_bytes;
        for (i, &base) in bases.iter().enumerate() {
            let (seg, fixes) = match bases.get(i + 1) {
                Some(&next) => LogSegment::open_sealed(files, dir, base, next, interval, now_ms),
                None if shutdown == Shutdown::Clean => LogSegment::open_active(files, dir, base, interval, now_ms),
                None => LogSegment::recover(files, dir, base, interval, true, now_ms),
            }
            .at(&segment::log_path(dir, base))?;
            repairs.extend(fixes.into_iter().map(|f| format!("segment {base}: {f}")));
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            segments.insert(0, LogSegment::create(files, dir, 0, now_ms).at(dir)?);
        }
        let first_base = *segments.keys().next().expect("at least one segment");
        let end = segments.values().next_back().expect("segment").next_offset();
        // DeleteRecords may have moved the start inside the first segment.
        let log_start_offset = read_offset_file(files, dir, LOG_START_FILE).unwrap_or(first_base).clamp(first_base, end);
        let cleaner_checkpoint = read_offset_file(files, dir, CLEANER_CHECKPOINT_FILE).unwrap_or(log_start_offset);
        let txn_index = TxnIndex::open(files, dir, segments.keys().copied()).at(dir)?;
        let mut log = PartitionLog {
            files: files.clone(),
            dir: dir.to_path_buf(),
            segments,
            log_start_offset,
            config,
            producers: ProducerStateManager::default(),
            unflushed_messages: 0,
            cleaner_checkpoint,
            tombstone_horizon: None,
            epochs: LeaderEpochCache::open(files, dir),
            txn_index,
        };
        log.epochs.truncate_from_end(end).at(dir)?;
        log.load_producer_state()?;
        Ok((log, repairs))
    }

    /// Rebuilds idempotent producer state: the newest usable snapshot, then the batch
    /// headers written after it (and the markers among them, whose aborted transactions
    /// are indexed again: a crash may have lost the index's tail).
    fn load_producer_state(&mut self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        let mut from = self.log_start_offset;
        for offset in snapshot::list(&self.files, &self.dir).at(&self.dir)?.into_iter().rev() {
            if offset > end {
                continue;
            }
            if let Some(state) = snapshot::read(&self.files, &self.dir, offset).at(&self.dir)? {
                self.producers = state;
                from = offset;
                break;
            }
        }
        self.txn_index.truncate_from(from).at(&self.dir)?;
        let mut markers = Vec::new();
        let mut producers = std::mem::take(&mut self.producers);
        for seg in self.segments.values().filter(|s| s.next_offset() > from) {
            let mut failed = None;
            seg.for_each_header(from, |pos, h| {
                if h.base_offset < from {
                    return;
                }
                let marker = if h.is_control() {
                    match seg.read_batch_at(pos, h.size) {
                        Ok(bytes) => super::control::decode(h, &bytes),
                        Err(e) => {
                            failed.get_or_insert(e);
                            None
                        }
                    }
                } else {
                    None
                };
                if let Some(first) = producers.update(h, marker) {
                    markers.push((seg.base_offset, *h, marker, first));
                }
            })
            .at(seg.path())?;
            if let Some(e) = failed {
                return Err(e).at(seg.path());
            }
        }
        self.producers = producers;
        for (segment_base, h, marker, first) in markers {
            self.index_aborted(segment_base, &h, marker, first)?;
        }
        Ok(())
    }

    fn active(&self) -> &LogSegment {
        self.segments.values().next_back().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut LogSegment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: TopicConfig) {
        self.config = config;
    }

    pub fn producers(&self) -> &ProducerStateManager {
        &self.producers
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Total bytes of all segment files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(LogSegment::size).sum()
    }

    /// Checks a validated batch against this topic's limits (no lock on the log needed
    /// for the data, but the config lives here).
    fn check_limits(&self, bytes: &Bytes, h: &BatchHeader, now_ms: i64) -> Result<(), LogError> {
        if h.size > self.config.max_message_bytes {
            return Err(LogError::TooLarge { size: h.size, max: self.config.max_message_bytes });
        }
        // Kafka refuses a batch no segment could hold (RECORD_LIST_TOO_LARGE)
        if h.size as u64 > self.config.segment_bytes {
            return Err(LogError::LargerThanSegment { size: h.size, segment_bytes: self.config.segment_bytes });
        }
        if self.config.cleanup_compact && !cleaner::all_records_keyed(bytes) {
            return Err(LogError::Batch(BatchError::Invalid("compacted topic cannot accept a record without a key")));
        }
        if !self.config.log_append_time && h.max_timestamp >= 0 {
            let too_old = now_ms.saturating_sub(h.base_timestamp) > self.config.timestamp_before_max_ms;
            let too_new = h.max_timestamp.saturating_sub(now_ms) > self.config.timestamp_after_max_ms;
            if too_old || too_new {
                return Err(LogError::InvalidTimestamp { timestamp: if too_new { h.max_timestamp } else { h.base_timestamp } });
            }
        }
        Ok(())
    }

    /// Appends one client batch that has passed [`batch::validate`]. The stored bytes are
    /// the client's with the base offset and leader epoch patched in (both outside the
    /// CRC); under LogAppendTime the timestamp is stamped and the CRC recomputed.
    pub fn append(&mut self, bytes: &Bytes, h: &BatchHeader, leader_epoch: i32, now_ms: i64) -> Result<AppendInfo, LogError> {
        self.append_guarded(bytes, h, leader_epoch, now_ms, None)
    }

    /// [`append`](Self::append) of a transactional batch whose partition was verified
    /// with the transaction coordinator: `guard` from `begin_verification` must still
    /// hold if the batch opens a transaction.
    pub fn append_guarded(&mut self, bytes: &Bytes, h: &BatchHeader, leader_epoch: i32, now_ms: i64, guard: Option<u64>) -> Result<AppendInfo, LogError> {
        self.check_limits(bytes, h, now_ms)?;
        if let Some(guard) = guard {
            self.producers.check_guard(h, guard)?;
        }
        if let SequenceCheck::Duplicate(m) = self.producers.check(h)? {
            return Ok(AppendInfo { base_offset: m.base_offset, last_offset: m.last_offset, log_append_time: -1, duplicate: true });
        }
        let base_offset = self.log_end_offset();
        self.maybe_roll(h.size, base_offset, now_ms)?;
        self.epochs.assign(leader_epoch, base_offset).at(&self.dir)?;

        let mut stored = *h;
        stored.base_offset = base_offset;
        stored.partition_leader_epoch = leader_epoch;
        let mut log_append_time = -1;
        let interval = self.config.index_interval_bytes;
        let path = self.active().path().to_path_buf();
        if self.config.log_append_time {
            let mut owned = bytes.to_vec();
            batch::assign_offsets(&mut owned, base_offset, leader_epoch);
            batch::set_log_append_time(&mut owned, now_ms);
            stored.max_timestamp = now_ms;
            log_append_time = now_ms;
            self.active_mut().append(&[&owned], &stored, interval).at(&path)?;
        } else {
            let mut prefix = [0u8; batch::MAGIC];
            prefix.copy_from_slice(&bytes[..batch::MAGIC]);
            batch::assign_offsets(&mut prefix, base_offset, leader_epoch);
            self.active_mut().append(&[&prefix, &bytes[batch::MAGIC..]], &stored, interval).at(&path)?;
        }
        self.producers.update(&stored, None);
        self.unflushed_messages += h.records_count as i64;
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo { base_offset, last_offset: stored.last_offset(), log_append_time, duplicate: false })
    }

    fn maybe_roll(&mut self, incoming: usize, next_base: i64, now_ms: i64) -> Result<(), LogError> {
        let c = &self.config;
        if !self.active().should_roll(incoming, c.segment_bytes, c.segment_ms, c.segment_index_bytes, now_ms, next_base) {
            return Ok(());
        }
        self.roll(next_base, now_ms)
    }

    /// Seals the active segment and starts a new one at `next_base`.
    fn roll(&mut self, next_base: i64, now_ms: i64) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let active = self.active_mut();
        let path = active.path().to_path_buf();
        active.seal().at(&path)?;
        // A snapshot at every roll bounds the header scan at the next start-up to the
        // active segment.
        snapshot::write(&self.files, &dir, next_base, &self.producers).at(&dir)?;
        let seg = LogSegment::create(&self.files, &dir, next_base, now_ms).at(&dir)?;
        self.segments.insert(next_base, seg);
        tracing::debug!(dir = %dir.display(), base_offset = next_base, "rolled new segment");
        Ok(())
    }

    /// Reads whole batches from `offset` up to `max_bytes` (at least one batch when
    /// `min_one`), never at or past `max_offset` (the high watermark for consumers).
    /// Returns an empty slice when there is nothing to read yet.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, max_offset: i64) -> Result<FileSlice, LogError> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange { offset, start: self.log_start_offset, end });
        }
        if offset >= max_offset {
            return Ok(FileSlice::empty());
        }
        for seg in self.segments.range(..=offset).next_back().into_iter().chain(self.segments.range(offset + 1..)).map(|(_, s)| s) {
            if seg.next_offset() <= offset {
                continue;
            }
            let limit = if max_offset < seg.next_offset() {
                match seg.position_of(max_offset, seg.size()).at(seg.path())? {
                    Some(p) => p,
                    None => seg.size(),
                }
            } else {
                seg.size()
            };
            if let Some(data) = seg.read(offset, max_bytes, min_one, limit).at(seg.path())? {
                if !data.is_empty() {
                    return Ok(data);
                }
            }
            if max_offset <= seg.next_offset() {
                break;
            }
        }
        Ok(FileSlice::empty())
    }

    /// Appends a batch fetched from the partition leader, as stored there (offsets and
    /// leader epoch already assigned). Its CRC is checked; it must start at the log end.
    pub fn append_replicated(&mut self, bytes: &[u8], now_ms: i64) -> Result<BatchHeader, LogError> {
        let h = batch::check_stored(bytes)?;
        let end = self.log_end_offset();
        // A compacted leader log has gaps, so a batch may start past the log end; never
        // before it.
        if h.base_offset < end {
            return Err(LogError::Batch(BatchError::Invalid("replicated batch starts before the log end offset")));
        }
        self.maybe_roll(h.size, h.base_offset, now_ms)?;
        self.epochs.assign(h.partition_leader_epoch, h.base_offset).at(&self.dir)?;
        let path = self.active().path().to_path_buf();
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(&[&bytes[..h.size]], &h, interval).at(&path)?;
        let marker = if h.is_control() { super::control::decode(&h, &bytes::Bytes::copy_from_slice(&bytes[..h.size])) } else { None };
        self.track_appended(&h, marker)?;
        self.unflushed_messages += h.records_count as i64;
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(h)
    }

    /// The latest leader epoch written to this log, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// Records that `epoch` starts at the log end (this replica became its leader).
    pub fn begin_epoch(&mut self, epoch: i32) -> Result<(), LogError> {
        let end = self.log_end_offset();
        self.epochs.assign(epoch, end).at(&self.dir)
    }

    /// OffsetsForLeaderEpoch: the largest epoch ≤ `epoch` and where it ended here.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// Removes everything at or after `offset` (a follower dropping what the leader
    /// does not have). A batch that straddles `offset` goes whole.
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset() {
            // Nothing to cut, but an epoch this replica began as leader without writing
            // anything may sit at the log end; as Kafka, drop it, or the follower would
            // keep asking the leader about an epoch the leader never had.
            let end = self.log_end_offset();
            return self.epochs.truncate_from_end(end).at(&self.dir);
        }
        if offset <= self.log_start_offset {
            return self.truncate_fully_and_start_at(offset.max(0).min(self.log_start_offset), now_ms);
        }
        let base = *self.segments.range(..=offset).next_back().map(|(b, _)| b).expect("offset is above the first segment");
        let doomed: Vec<i64> = self.segments.range(base + 1..).map(|(b, _)| *b).collect();
        for b in doomed {
            if let Some(seg) = self.segments.remove(&b) {
                remove_segment_files(&self.files, &seg)?;
                self.txn_index.remove_segment(b).at(&self.dir)?;
            }
        }
        let seg = self.segments.remove(&base).expect("containing segment");
        let path = seg.path().to_path_buf();
        let cut = if offset == base { Some(0) } else { seg.position_of(offset, seg.size()).at(&path)? };
        drop(seg);
        if let Some(pos) = cut {
            storage::StorageFile::open(&self.files, &path, storage::OpenMode::ReadWrite).and_then(|f| f.set_len(pos)).at(&path)?;
        }
        let (seg, _) = LogSegment::recover(&self.files, &self.dir, base, self.config.index_interval_bytes, true, now_ms).at(&path)?;
        self.segments.insert(base, seg);
        let end = self.log_end_offset();
        self.after_truncation(end)?;
        tracing::info!(dir = %self.dir.display(), offset = end, "truncated log");
        Ok(())
    }

    /// Empties the log and starts it again at `offset` (a follower whose leader's log
    /// starts past everything it has).
    pub fn truncate_fully_and_start_at(&mut self, offset: i64, now_ms: i64) -> Result<(), LogError> {
        for (base, seg) in std::mem::take(&mut self.segments) {
            remove_segment_files(&self.files, &seg)?;
            self.txn_index.remove_segment(base).at(&self.dir)?;
        }
        self.segments.insert(offset, LogSegment::create(&self.files, &self.dir, offset, now_ms).at(&self.dir)?);
        self.log_start_offset = offset;
        write_offset_file(&self.files, &self.dir, LOG_START_FILE, offset).at(&self.dir)?;
        self.epochs.clear().at(&self.dir)?;
        self.after_truncation(offset)?;
        tracing::info!(dir = %self.dir.display(), offset, "emptied log to restart it at an offset");
        Ok(())
    }

    /// Brings the rest of the log's state back to `end`: producer state is rebuilt from
    /// the newest snapshot at or below it and the batch headers after (as Kafka does), so
    /// producers and epochs known only from removed batches are forgotten.
    fn after_truncation(&mut self, end: i64) -> Result<(), LogError> {
        for snap in snapshot::list(&self.files, &self.dir).at(&self.dir)? {
            if snap > end || end == self.log_start_offset {
                let _ = self.files.remove_file(&snapshot::path(&self.dir, snap));
            }
        }
        self.producers = ProducerStateManager::default();
        self.load_producer_state()?;
        self.epochs.truncate_from_end(end).at(&self.dir)?;
        self.cleaner_checkpoint = self.cleaner_checkpoint.min(end);
        Ok(())
    }

    /// [`read`](Self::read), copied into memory: for readers other than Fetch.
    pub fn read_bytes(&self, offset: i64, max_bytes: usize, min_one: bool, max_offset: i64) -> Result<Bytes, LogError> {
        self.read(offset, max_bytes, min_one, max_offset)?.to_bytes().at(&self.dir)
    }

    /// ListOffsets by timestamp: the first offset whose record timestamp is at least
    /// `timestamp`, and that timestamp. The time index finds the batch; the batch (only
    /// that one) is decoded to find the record, as Kafka does.
    pub fn offset_for_timestamp(&self, timestamp: i64, max_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in self.segments.values() {
            let Some((pos, h)) = seg.find_by_timestamp(timestamp).at(seg.path())? else {
                continue;
            };
            if h.base_offset >= max_offset {
                return Ok(None);
            }
            let data = seg.read_batch_at(pos, h.size).at(seg.path())?;
            let exact = batch::record_timestamps(&data)
                .and_then(|rs| rs.into_iter().find(|&(o, ts)| ts >= timestamp && o >= self.log_start_offset));
            return Ok(Some(exact.unwrap_or((h.base_offset.max(self.log_start_offset), h.max_timestamp))));
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: the offset and timestamp of the record with the largest
    /// timestamp (the first such record).
    pub fn offset_of_max_timestamp(&self, max_offset: i64) -> Result<Option<(i64, i64)>, LogError> {
        let Some(seg) = self
            .segments
            .values()
            .filter(|s| s.max_timestamp() >= 0 && s.offset_of_max_timestamp() < max_offset)
            .reduce(|a, b| if b.max_timestamp() > a.max_timestamp() { b } else { a })
        else {
            return Ok(None);
        };
        let ts = seg.max_timestamp();
        Ok(self.offset_for_timestamp(ts, max_offset)?.map(|(o, _)| (o, ts)))
    }

    /// Moves the log start offset forward to `offset` (DeleteRecords), deleting the
    /// segments wholly below it. `offset` may not pass `max_offset` (the high watermark).
    pub fn advance_log_start(&mut self, offset: i64, max_offset: i64) -> Result<i64, LogError> {
        if offset > max_offset || offset < 0 {
            return Err(LogError::OffsetOutOfRange { offset, start: self.log_start_offset, end: max_offset });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            write_offset_file(&self.files, &self.dir, LOG_START_FILE, offset).at(&self.dir)?;
            self.delete_segments_below_start()?;
        }
        Ok(self.log_start_offset)
    }

    /// Deletes the segments retention lets go: older than `retention.ms` (by their
    /// largest timestamp), beyond `retention.bytes`, or wholly below the log start
    /// offset; the active one too, after rolling an empty one. Returns how many segments
    /// and bytes went (net of the rolled one).
    pub fn apply_retention(&mut self, now_ms: i64, high_watermark: i64) -> Result<(usize, u64), LogError> {
        let before = (self.segments.len(), self.size_bytes());
        if self.config.cleanup_delete {
            // Only segments wholly below the high watermark may go, as in Kafka: the rest
            // may not be on every in-sync replica yet. The active segment is a candidate
            // too unless it is empty (Kafka's deletableSegments).
            let active_base = self.active().base_offset;
            let candidates: Vec<(i64, i64, u64)> = self
                .segments
                .values()
                .take_while(|s| s.next_offset() <= high_watermark && !(s.base_offset == active_base && s.size() == 0))
                .map(|s| (s.base_offset, s.largest_timestamp(), s.size()))
                .collect();
            let mut doomed = 0;
            // Kafka deletes a prefix: the oldest segments, up to the first one to keep.
            if self.config.retention_ms >= 0 {
                doomed = candidates.iter().take_while(|(_, ts, _)| now_ms.saturating_sub(*ts) > self.config.retention_ms).count();
            }
            if self.config.retention_bytes >= 0 {
                let mut excess = self.size_bytes() as i64 - self.config.retention_bytes;
                let by_size = candidates.iter().take_while(|(_, _, size)| {
                    let go = excess - *size as i64 >= 0;
                    excess -= *size as i64;
                    go
                });
                doomed = doomed.max(by_size.count());
            }
            if doomed == self.segments.len() {
                // Every segment goes, the active one included: roll first, as Kafka does,
                // so that the log keeps an (empty) active segment at its end offset.
                self.roll(self.log_end_offset(), now_ms)?;
            }
            if doomed > 0 {
                let next_start = self.segments.values().nth(doomed).map_or(self.log_end_offset(), |s| s.base_offset).min(self.active().base_offset);
                let start = self.log_start_offset.max(next_start);
                self.log_start_offset = start;
                write_offset_file(&self.files, &self.dir, LOG_START_FILE, start).at(&self.dir)?;
            }
        }
        self.delete_segments_below_start()?;
        let after = (self.segments.len(), self.size_bytes());
        Ok((before.0 - after.0, before.1 - after.1))
    }

    /// Removes sealed segments whose every offset is below the log start offset.
    fn delete_segments_below_start(&mut self) -> Result<(), LogError> {
        let active = self.active().base_offset;
        let doomed: Vec<i64> = self
            .segments
            .values()
            .filter(|s| s.base_offset != active && s.next_offset() <= self.log_start_offset)
            .map(|s| s.base_offset)
            .collect();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                self.txn_index.remove_segment(base).at(&self.dir)?;
                // Unlinking is safe under concurrent readers: they hold the open file
                // (and sealed index mappings), which outlive the directory entry.
                for path in [seg.path()].into_iter().chain(seg.index_paths()) {
                    if let Err(e) = self.files.remove_file(path) {
                        tracing::warn!(path = %path.display(), error = %e, "could not remove a deleted segment file");
                    }
                }
                tracing::info!(dir = %self.dir.display(), base_offset = base, "deleted segment");
            }
        }
        Ok(())
    }

    /// What the cleaner would clean now, if the log is compacted and dirty enough.
    pub fn clean_plan(&self, now_ms: i64) -> Option<cleaner::CleanPlan> {
        let c = &self.config;
        if !c.cleanup_compact {
            return None;
        }
        // Nothing at or past an open transaction is cleaned (Kafka's first uncleanable
        // offset): whether its records stay is not decided yet.
        let unstable = self.first_unstable_offset().unwrap_or(i64::MAX);
        let sealed: Vec<&LogSegment> = self
            .segments
            .values()
            .take(self.segments.len() - 1)
            .filter(|s| s.next_offset() > self.log_start_offset)
            .take_while(|s| s.next_offset() <= unstable)
            .collect();
        // Records younger than min.compaction.lag.ms stay uncompacted.
        let lag_bound = sealed.iter().position(|s| c.min_compaction_lag_ms > 0 && now_ms.saturating_sub(s.max_timestamp()) < c.min_compaction_lag_ms);
        let cleanable = &sealed[..lag_bound.unwrap_or(sealed.len())];
        let total: u64 = cleanable.iter().map(|s| s.size()).sum();
        let dirty: Vec<&&LogSegment> = cleanable.iter().filter(|s| s.next_offset() > self.cleaner_checkpoint).collect();
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size()).sum();
        let tombstones_due = self.tombstone_horizon.is_some_and(|h| now_ms > h);
        if total == 0 || (dirty_bytes == 0 && !tombstones_due) {
            return None;
        }
        let ratio = dirty_bytes as f64 / total as f64;
        let overdue = dirty.iter().any(|s| now_ms.saturating_sub(s.max_timestamp()) > c.max_compaction_lag_ms);
        if ratio < c.min_cleanable_dirty_ratio && !overdue && !tombstones_due {
            return None;
        }
        Some(cleaner::CleanPlan {
            storage: self.files.clone(),
            dir: self.dir.clone(),
            segments: cleanable
                .iter()
                .map(|s| cleaner::SegmentInfo {
                    base_offset: s.base_offset,
                    next_offset: s.next_offset(),
                    size: s.size(),
                    max_timestamp: s.max_timestamp(),
                    path: s.path().to_path_buf(),
                    modified_ms: self.files.modified_ms(s.path()).unwrap_or(now_ms),
                })
                .collect(),
            first_dirty: self.cleaner_checkpoint.max(self.log_start_offset),
            delete_retention_ms: c.delete_retention_ms,
            index_interval: c.index_interval_bytes,
            aborted: self.aborted_since(self.log_start_offset),
        })
    }

    /// Swaps cleaned segments in (those retention has not deleted meanwhile) and moves
    /// the cleaner checkpoint.
    pub fn install_cleaned(&mut self, swaps: Vec<(i64, PathBuf)>, stats: &cleaner::CleanStats, now_ms: i64) -> Result<(), LogError> {
        let cleaned_up_to = stats.cleaned_up_to;
        self.tombstone_horizon = stats.tombstones_expire_at;
        let interval = self.config.index_interval_bytes;
        for (base, swap) in swaps {
            if !self.segments.contains_key(&base) || self.active().base_offset == base {
                let _ = self.files.remove_file(&swap);
                continue;
            }
            let seg = cleaner::finish_swap(&self.files, &self.dir, base, interval, now_ms).at(&swap)?;
            self.segments.insert(base, seg);
        }
        self.cleaner_checkpoint = self.cleaner_checkpoint.max(cleaned_up_to);
        write_offset_file(&self.files, &self.dir, CLEANER_CHECKPOINT_FILE, self.cleaner_checkpoint).at(&self.dir)
    }

    /// fsyncs the active segment and its indexes.
    pub fn flush(&mut self) -> Result<(), LogError> {
        let seg = self.active();
        seg.flush().at(seg.path())?;
        self.unflushed_messages = 0;
        Ok(())
    }

    /// Clean shutdown: flush and snapshot producer state at the log end.
    pub fn close(&mut self) -> Result<(), LogError> {
        self.flush()?;
        let end = self.log_end_offset();
        snapshot::write(&self.files, &self.dir, end, &self.producers).at(&self.dir)
    }

    /// First offset not yet cleaned (compacted topics).
    pub fn cleaner_checkpoint(&self) -> i64 {
        self.cleaner_checkpoint
    }

    pub fn active_base_offset(&self) -> i64 {
        self.active().base_offset
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Where DeleteRecords moved the log start offset inside the first segment.
const LOG_START_FILE: &str = "log-start-offset";
/// The first offset the cleaner has not cleaned.
const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// Removes a truncated segment's files. A failure is an error, not a warning: a
/// segment left behind would come back at the next start with records the leader
/// does not have.
fn remove_segment_files(files: &SharedStorage, seg: &LogSegment) -> Result<(), LogError> {
    for path in [seg.path()].into_iter().chain(seg.index_paths()) {
        storage::remove_if_exists(files, path).at(path)?;
    }
    Ok(())
}

fn read_offset_file(files: &SharedStorage, dir: &Path, name: &str) -> Option<i64> {
    storage::read_to_string(files, &dir.join(name)).ok()?.trim().parse().ok()
}

fn write_offset_file(files: &SharedStorage, dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    storage::write_file(files, &tmp, format!("{offset}\n").as_bytes(), false)?;
    files.rename(&tmp, &dir.join(name))
}

/// Scans every batch of every segment in `dir` (CRC included); returns one line per
/// problem found. Used by `riffle verify-logs` and the crash tests.
pub fn verify_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut bases: Vec<i64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    bases.sort_unstable();
    let mut expected: Option<i64> = None;
    for (i, base) in bases.iter().enumerate() {
        let path = segment::log_path(dir, *base);
        let scan = segment::scan_file(&storage::local(), &path, *base)?;
        let len = std::fs::metadata(&path)?.len();
        if let Some(err) = scan.error {
            problems.push(format!("{}: {err}", path.display()));
        } else if scan.valid_bytes != len {
            problems.push(format!("{}: {} trailing bytes", path.display(), len - scan.valid_bytes));
        }
        if let (Some(e), Some((_, first))) = (expected, scan.batches.first()) {
            if first.base_offset < e {
                problems.push(format!("{}: offsets overlap the previous segment", path.display()));
            }
        }
        if let Some((_, last)) = scan.batches.last() {
            expected = Some(last.next_offset());
            if let Some(next) = bases.get(i + 1) {
                if last.next_offset() > *next {
                    problems.push(format!("{}: runs past the next segment's base {next}", path.display()));
                }
            }
        }
    }
    Ok(problems)
}

mod transactions;
#[cfg(test)]
mod tests;
