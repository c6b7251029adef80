//! Log compaction (`cleanup.policy=compact`), as Kafka's LogCleaner: keep the newest
//! record of every key in the non-active segments.
//!
//! A pass (1) picks the cleanable range — sealed segments, minus those younger than
//! `min.compaction.lag.ms` — and runs only when its dirty part (past the cleaner
//! checkpoint) is at least `min.cleanable.dirty.ratio` of it, or `max.compaction.lag.ms`
//! forces it; (2) builds a map from key hash to newest offset over the dirty part,
//! bounded by `log.cleaner.dedupe.buffer.size`; (3) rewrites each segment of the range
//! without the records the map supersedes, keeping offsets and the batch's codec; (4)
//! swaps the result in. A tombstone goes only once its segment is in the cleaned part
//! and was last written more than `delete.retention.ms` ago (Kafka's rule before
//! KIP-534, whose per-batch delete horizon kafka-protocol cannot encode): consumers get
//! that long after the first clean to see the delete. A segment with nothing to remove
//! is left as it is, so its modification time keeps meaning "last written". The swap survives a crash: `<base>.log.cleaned` is complete once renamed to
//! `<base>.log.swap`; start-up recovery finishes a swap or discards a partial clean.
//! Reading is done outside the partition lock: sealed segments never change.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memmap2::Mmap;

use super::batch::{self, BatchHeader};
use super::records::{raw_records, RawRecord};
use super::segment::{self, LogSegment};
use super::txn_index::AbortedTxn;
use crate::storage::{self, OpenMode, SharedStorage, StorageFile, StorageWriter};

/// Cleaner settings, from Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct CleanerConfig {
    pub dedupe_buffer_bytes: usize,
    pub io_max_bytes_per_second: f64,
}

/// A sealed segment the cleaner may rewrite.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size: u64,
    pub max_timestamp: i64,
    pub path: PathBuf,
    /// When the segment file was last written (ms since the epoch).
    pub modified_ms: i64,
}

/// What one pass will clean, taken under the partition lock.
#[derive(Debug, Clone)]
pub struct CleanPlan {
    pub storage: SharedStorage,
    pub dir: PathBuf,
    pub segments: Vec<SegmentInfo>,
    /// First offset not yet cleaned (the cleaner checkpoint).
    pub first_dirty: i64,
    pub delete_retention_ms: i64,
    pub index_interval: u64,
    /// Aborted transactions whose records may be in the plan's segments: their records
    /// are removed and never count as a key's newest value (markers stay).
    pub aborted: Vec<AbortedTxn>,
}

impl CleanPlan {
    /// Whether the batch belongs to an aborted transaction.
    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.iter().any(|a| a.producer_id == h.producer_id && a.first_offset <= h.base_offset && h.base_offset < a.last_offset)
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanStats {
    pub segments: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    /// The new cleaner checkpoint: everything below it is clean.
    pub cleaned_up_to: i64,
    /// When the newest tombstone kept by this pass may go (another pass is due then).
    pub tombstones_expire_at: Option<i64>,
}

/// 128 bits of key hash: two SipHash runs over differently salted input. A collision
/// would drop a live record, so 64 bits are not enough for millions of keys.
fn key_hash(key: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    key.hash(&mut a);
    let mut b = DefaultHasher::new();
    0xc1ea_u16.hash(&mut b);
    key.hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// Bytes per offset-map entry, as Kafka counts it (16-byte hash + 8-byte offset).
const MAP_ENTRY_BYTES: usize = 24;

/// The batches of a segment file, as (header, bytes).
fn batches(files: &SharedStorage, path: &Path) -> io::Result<Vec<(BatchHeader, Bytes)>> {
    let file = files.open(path, OpenMode::Read)?;
    if file.metadata()?.len() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: sealed segments are immutable; replacement is by rename, never in place.
    let map = unsafe { Mmap::map(&file)? };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < map.len() {
        let h = batch::check_stored(&map[pos..]).map_err(io::Error::other)?;
        out.push((h, Bytes::copy_from_slice(&map[pos..pos + h.size])));
        pos += h.size;
    }
    Ok(out)
}

fn codec_error(e: anyhow::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// A batch holding only `kept`, byte for byte as they were: the header keeps its base
/// offset, last offset delta, timestamps, producer fields and attributes (codec,
/// timestamp type), as Kafka's cleaner does; the count, length and CRC are updated.
fn rebuild_batch(h: &BatchHeader, bytes: &Bytes, payload: &Bytes, kept: &[&RawRecord]) -> io::Result<BytesMut> {
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
    let mut records = BytesMut::new();
    for r in kept {
        records.extend_from_slice(&payload[r.span.clone()]);
    }
    let mut body = BytesMut::new();
    let put = |raw: BytesMut| move |b: &mut BytesMut| -> anyhow::Result<()> {
        b.extend_from_slice(&raw);
        Ok(())
    };
    match h.compression() {
        0 => body = records,
        1 => Gzip::compress(&mut body, put(records)).map_err(codec_error)?,
        2 => Snappy::compress(&mut body, put(records)).map_err(codec_error)?,
        3 => Lz4::compress(&mut body, put(records)).map_err(codec_error)?,
        4 => Zstd::compress(&mut body, put(records)).map_err(codec_error)?,
        c => return Err(io::Error::other(format!("unknown codec {c}"))),
    }
    let mut out = BytesMut::with_capacity(batch::HEADER_SIZE + body.len());
    out.extend_from_slice(&bytes[..batch::HEADER_SIZE]);
    out.extend_from_slice(&body);
    let length = (out.len() - batch::LOG_OVERHEAD) as i32;
    out[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    out[batch::RECORDS_COUNT..batch::RECORDS_COUNT + 4].copy_from_slice(&(kept.len() as i32).to_be_bytes());
    let crc = batch::compute_crc(&out);
    out[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Sleeps as needed to keep to `log.cleaner.io.max.bytes.per.second`.
struct Throttle {
    rate: f64,
    start: Instant,
    bytes: f64,
}

impl Throttle {
    fn account(&mut self, n: usize) {
        if !self.rate.is_finite() || self.rate <= 0.0 {
            return;
        }
        self.bytes += n as f64;
        let due = Duration::from_secs_f64(self.bytes / self.rate);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// Builds the key → newest offset map over the dirty segments. Returns the map and the
/// offset it covers up to (exclusive): less than the end when the map filled up.
fn build_offset_map(plan: &CleanPlan, cfg: &CleanerConfig, throttle: &mut Throttle) -> io::Result<(HashMap<u128, i64>, i64)> {
    let capacity = (cfg.dedupe_buffer_bytes / MAP_ENTRY_BYTES).max(1);
    let mut map: HashMap<u128, i64> = HashMap::new();
    let mut covered = plan.first_dirty;
    for seg in plan.segments.iter().filter(|s| s.next_offset > plan.first_dirty) {
        for (h, bytes) in batches(&plan.storage, &seg.path)? {
            throttle.account(bytes.len());
            if h.next_offset() <= plan.first_dirty {
                continue;
            }
            if h.is_control() || plan.is_aborted(&h) {
                covered = h.next_offset();
                continue;
            }
            let (_, records) = raw_records(&h, &bytes)?;
            let new_keys = records.iter().filter(|r| r.key.as_ref().is_some_and(|k| !map.contains_key(&key_hash(k)))).count();
            if map.len() + new_keys > capacity {
                // Full: clean up to here; the rest waits for the next pass.
                return Ok((map, covered));
            }
            for r in records {
                if let Some(k) = r.key {
                    map.insert(key_hash(&k), r.offset);
                }
            }
            covered = h.next_offset();
        }
    }
    Ok((map, covered))
}

/// Rewrites one segment into `<base>.log.cleaned`, then renames it `<base>.log.swap`.
/// Returns the swap file (`None` when nothing needed removing), bytes written and
/// records dropped.
fn rewrite_segment(seg: &SegmentInfo, map: &HashMap<u128, i64>, map_end: i64, plan: &CleanPlan, now_ms: i64, throttle: &mut Throttle, stats: &mut CleanStats) -> io::Result<(Option<PathBuf>, u64, u64)> {
    let cleaned_before = seg.next_offset <= plan.first_dirty;
    let tombstones_expired = cleaned_before && now_ms.saturating_sub(seg.modified_ms) > plan.delete_retention_ms;
    let mut kept_tombstones = false;
    let cleaned = seg.path.with_extension("log.cleaned");
    let files = &plan.storage;
    let mut out = io::BufWriter::new(StorageWriter::new(StorageFile::open(files, &cleaned, OpenMode::CreateTruncate)?));
    let mut written = 0u64;
    let mut removed = 0u64;
    for (h, bytes) in batches(files, &seg.path)? {
        throttle.account(bytes.len());
        if h.is_control() {
            // Transaction markers are kept as they are.
            out.write_all(&bytes)?;
            written += bytes.len() as u64;
            continue;
        }
        if plan.is_aborted(&h) {
            // An aborted transaction's records: no consumer may ever see them.
            removed += h.records_count.max(0) as u64;
            continue;
        }
        let (payload, records) = raw_records(&h, &bytes)?;
        let total = records.len();
        let kept: Vec<&RawRecord> = records
            .iter()
            .filter(|r| {
                let Some(k) = &r.key else { return true };
                if r.offset >= map_end {
                    return true;
                }
                if map.get(&key_hash(k)).is_some_and(|newest| *newest > r.offset) {
                    return false;
                }
                // The newest record of its key; a tombstone goes once every consumer
                // has had delete.retention.ms to see it.
                if r.value.is_none() {
                    if tombstones_expired {
                        return false;
                    }
                    kept_tombstones = true;
                }
                true
            })
            .collect();
        removed += (total - kept.len()) as u64;
        if kept.is_empty() {
            continue;
        }
        if kept.len() == total {
            out.write_all(&bytes)?;
            written += bytes.len() as u64;
            continue;
        }
        let rebuilt = rebuild_batch(&h, &bytes, &payload, &kept)?;
        out.write_all(&rebuilt)?;
        written += rebuilt.len() as u64;
    }
    let out = out.into_inner().map_err(|e| e.into_error())?;
    let written_at = if removed > 0 { now_ms } else { seg.modified_ms };
    if kept_tombstones {
        let expires = written_at.saturating_add(plan.delete_retention_ms);
        stats.tombstones_expire_at = Some(stats.tombstones_expire_at.map_or(expires, |t: i64| t.max(expires)));
    }
    if removed == 0 {
        files.remove_file(&cleaned)?;
        return Ok((None, seg.size, 0));
    }
    out.file().sync()?;
    let swap = seg.path.with_extension("log.swap");
    files.rename(&cleaned, &swap)?;
    Ok((Some(swap), written, removed))
}

/// Cleans the plan's segments, leaving a `.log.swap` file for each (the caller swaps
/// them in under the partition lock, see [`finish_swap`]). Returns the swap files and
/// the stats.
pub fn clean(plan: &CleanPlan, cfg: &CleanerConfig, now_ms: i64) -> io::Result<(Vec<(i64, PathBuf)>, CleanStats)> {
    let mut throttle = Throttle { rate: cfg.io_max_bytes_per_second, start: Instant::now(), bytes: 0.0 };
    let (map, map_end) = build_offset_map(plan, cfg, &mut throttle)?;
    let mut stats = CleanStats { cleaned_up_to: map_end, ..Default::default() };
    let mut swaps = Vec::new();
    for seg in plan.segments.iter().filter(|s| s.base_offset < map_end) {
        let (swap, written, removed) = rewrite_segment(seg, &map, map_end, plan, now_ms, &mut throttle, &mut stats)?;
        if let Some(swap) = swap {
            stats.segments += 1;
            stats.bytes_before += seg.size;
            stats.bytes_after += written;
            stats.records_removed += removed;
            swaps.push((seg.base_offset, swap));
        }
    }
    Ok((swaps, stats))
}

/// Completes a swap: the old segment's files go, the `.swap` file becomes the segment,
/// whose indexes are then rebuilt. Used after a clean and by start-up recovery.
pub fn finish_swap(files: &SharedStorage, dir: &Path, base_offset: i64, index_interval: u64, now_ms: i64) -> io::Result<LogSegment> {
    let log = segment::log_path(dir, base_offset);
    let stem = segment::file_stem(base_offset);
    for old in [dir.join(format!("{stem}.index")), dir.join(format!("{stem}.timeindex"))] {
        storage::remove_if_exists(files, &old)?;
    }
    // Rename over the old log: atomic, so a crash leaves either file whole.
    files.rename(&log.with_extension("log.swap"), &log)?;
    let (seg, _) = LogSegment::recover(files, dir, base_offset, index_interval, false, now_ms)?;
    Ok(seg)
}

/// Start-up recovery of an interrupted clean: completes swaps, discards partial output.
/// Returns the repairs made.
pub fn recover_dir(files: &SharedStorage, dir: &Path, index_interval: u64, now_ms: i64) -> io::Result<Vec<String>> {
    let mut repairs = Vec::new();
    for path in files.list(dir)? {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if name.ends_with(".log.cleaned") {
            files.remove_file(&path)?;
            repairs.push(format!("discarded an unfinished clean ({name})"));
        } else if let Some(base) = name.strip_suffix(".log.swap").and_then(|b| b.parse::<i64>().ok()) {
            finish_swap(files, dir, base, index_interval, now_ms)?;
            repairs.push(format!("completed the swap of cleaned segment {base}"));
        }
    }
    Ok(repairs)
}

/// Checks every record of a batch has a key (compacted topics refuse keyless records).
/// Decodes the batch: only compacted topics pay for this, as in Kafka.
pub fn all_records_keyed(bytes: &Bytes) -> bool {
    let Ok(h) = batch::BatchHeader::parse(bytes) else { return false };
    raw_records(&h, bytes).is_ok_and(|(_, rs)| rs.iter().all(|r| r.key.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TopicConfig;
    use crate::log::PartitionLog;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};

    const NOW: i64 = 1_700_000_000_000;

    /// A batch of (key, value) records; an empty key is a null key, a `None` value a
    /// tombstone.
    fn keyed(records: &[(&str, Option<&str>)], compression: Compression) -> (Bytes, BatchHeader) {
        let kvs: Vec<(Option<Bytes>, Option<Bytes>)> = records
            .iter()
            .map(|(k, v)| ((!k.is_empty()).then(|| Bytes::copy_from_slice(k.as_bytes())), v.map(|v| Bytes::copy_from_slice(v.as_bytes()))))
            .collect();
        batch::encode_records(&kvs, NOW, compression).unwrap()
    }

    fn compacted() -> TopicConfig {
        TopicConfig { segment_bytes: 400, cleanup_compact: true, cleanup_delete: false, min_cleanable_dirty_ratio: 0.0, delete_retention_ms: 1_000, ..TopicConfig::default() }
    }

    /// (offset, key, value) of every record, read from the start.
    fn contents(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        let mut next = log.log_start_offset();
        let end = log.log_end_offset();
        while next < end {
            let mut data = log.read_bytes(next, 1 << 20, true, end).unwrap();
            if data.is_empty() {
                break;
            }
            for set in RecordBatchDecoder::decode_all(&mut data).unwrap() {
                for r in set.records {
                    next = r.offset + 1;
                    let s = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                    out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
                }
            }
        }
        out
    }

    fn fill(log: &mut PartitionLog) {
        for i in 0..40 {
            let key = format!("k{}", i % 4);
            let value = format!("v{i}");
            let codec = if i % 2 == 0 { Compression::Gzip } else { Compression::None };
            let (b, h) = keyed(&[(&key, Some(&value))], codec);
            log.append(&b, &h, 0, NOW).unwrap();
        }
    }

    fn run(log: &mut PartitionLog, now: i64) -> Option<CleanStats> {
        let plan = log.clean_plan(now)?;
        let cfg = CleanerConfig { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::MAX };
        let (swaps, stats) = clean(&plan, &cfg, now).unwrap();
        log.install_cleaned(swaps, &stats, now).unwrap();
        Some(stats)
    }

    #[test]
    fn keeps_the_newest_record_per_key_with_offsets_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        // A keyless record is refused on a compacted topic.
        let (b, h) = keyed(&[("", Some("y"))], Compression::Gzip);
        assert!(matches!(log.append(&b, &h, 0, NOW), Err(crate::log::LogError::Batch(batch::BatchError::Invalid(_)))));
        fill(&mut log);
        let before = contents(&log);
        let active_base = log.active_base_offset();
        let stats = run(&mut log, NOW).expect("dirty enough to clean");
        assert!(stats.records_removed > 0);
        let after = contents(&log);
        // Offsets strictly increase; in the cleaned part each key appears once, newest.
        assert!(after.windows(2).all(|w| w[0].0 < w[1].0));
        let cleaned: Vec<_> = after.iter().filter(|r| r.0 < stats.cleaned_up_to).collect();
        for (offset, key, value) in &cleaned {
            let newest = before.iter().filter(|r| &r.1 == key && r.0 < stats.cleaned_up_to).map(|r| r.0).max().unwrap();
            assert_eq!(*offset, newest, "{key}");
            assert_eq!(value, &before.iter().find(|r| r.0 == newest).unwrap().2);
        }
        // Nothing in the active segment changed.
        assert_eq!(after.iter().filter(|r| r.0 >= active_base).count(), before.iter().filter(|r| r.0 >= active_base).count());
        assert!(run(&mut log, NOW).is_none(), "nothing left to clean");
        drop(log);
        let (log, _) = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        assert_eq!(contents(&log), after);
        assert!(crate::log::verify_dir(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn tombstones_go_after_delete_retention() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
        fill(&mut log);
        let (b, h) = keyed(&[("k1", None)], Compression::None);
        log.append(&b, &h, 0, NOW).unwrap();
        // Other keys roll the tombstone out of the active segment.
        for i in 0..20 {
            let (b, h) = keyed(&[(&format!("z{i}"), Some("filler"))], Compression::None);
            log.append(&b, &h, 0, NOW).unwrap();
        }
        let k1 = |log: &PartitionLog| contents(log).into_iter().filter(|r| r.1 == "k1").map(|r| r.2).collect::<Vec<_>>();
        // The first clean keeps the tombstone (the newest record of k1), however old its
        // timestamp: consumers get delete.retention.ms from now to see it.
        let first = crate::common::SystemClock::shared().now_ms();
        run(&mut log, first).unwrap();
        assert_eq!(k1(&log), vec![None]);
        assert!(run(&mut log, first + 10).is_none(), "not due yet");
        // Nothing is dirty, but the tombstone's delete horizon passes: another pass
        // removes it, and k1 is gone entirely.
        let later = crate::common::SystemClock::shared().now_ms() + compacted().delete_retention_ms + 100;
        run(&mut log, later).expect("a pass is due for the tombstone");
        assert!(k1(&log).is_empty());
        assert!(run(&mut log, later).is_none());
    }

    #[test]
    fn a_crash_mid_clean_is_finished_or_discarded_at_start_up() {
        for stage in ["cleaned", "swap"] {
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
            fill(&mut log);
            let before = contents(&log);
            let plan = log.clean_plan(NOW).unwrap();
            let cfg = CleanerConfig { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::MAX };
            let (swaps, _) = clean(&plan, &cfg, NOW).unwrap();
            if stage == "cleaned" {
                // Crash before the rename to .swap: the output is incomplete.
                for (_, swap) in &swaps {
                    std::fs::rename(swap, swap.with_extension("cleaned")).unwrap();
                }
            }
            drop(log); // crash: nothing installed
            let (log, repairs) = PartitionLog::open(dir.path(), compacted(), NOW).unwrap();
            assert!(!repairs.is_empty(), "{stage}");
            let after = contents(&log);
            // Either way no record is lost or duplicated: every key's newest value is
            // there, offsets increase, and each surviving record is one of the originals.
            assert!(after.windows(2).all(|w| w[0].0 < w[1].0), "{stage}");
            assert!(after.iter().all(|r| before.contains(r)), "{stage}");
            for key in ["k0", "k1", "k2", "k3"] {
                let newest = before.iter().filter(|r| r.1 == key).max_by_key(|r| r.0).unwrap();
                assert!(after.contains(newest), "{stage}: {key}");
            }
            if stage == "cleaned" {
                assert_eq!(after, before, "a discarded clean changes nothing");
            }
            assert!(crate::log::verify_dir(dir.path()).unwrap().is_empty(), "{stage}");
        }
    }
}
