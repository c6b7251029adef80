//! The partition log: recovery, appends, follower truncation, retention, cleaning.

use std::fs;

use super::*;
use crate::config::TopicConfig;
use crate::log::batch::tests::make_batch;

fn batch(count: i32, producer: Option<(i64, i16, i32)>) -> (Bytes, BatchHeader) {
    let b = Bytes::from(make_batch(count, 200, producer));
    let h = batch::validate(&b).unwrap();
    (b, h)
}

fn small_segments() -> TopicConfig {
    TopicConfig { segment_bytes: 4096, index_interval_bytes: 512, ..TopicConfig::default() }
}

/// Found by the segment_recovery fuzzer: a batch whose (CRC-free) base offset lies
/// below its segment's base once panicked the open; it is a corrupt tail now.
#[test]
fn a_batch_below_its_segment_base_is_truncated_at_open() {
    let now = 1_700_000_000_000;
    for bad_base in [-62i64, 5, i64::MAX - 3] {
        let dir = tempfile::tempdir().unwrap();
        let (mut b, _) = batch(3, None);
        let mut bytes = b.to_vec();
        bytes[..8].copy_from_slice(&bad_base.to_be_bytes());
        b = Bytes::from(bytes);
        std::fs::write(segment::log_path(dir.path(), 10), &b).unwrap();
        let (log, repairs) = PartitionLog::open(dir.path(), TopicConfig::default(), now).unwrap();
        assert_eq!(log.log_end_offset(), 10, "base {bad_base}");
        assert!(repairs.iter().any(|r| r.contains("truncated")), "{repairs:?}");
    }
}

#[test]
fn a_follower_copies_batches_as_stored_and_truncates_where_told() {
    let now = 1_700_000_000_000;
    let leader_dir = tempfile::tempdir().unwrap();
    let (mut leader, _) = PartitionLog::open(leader_dir.path(), small_segments(), now).unwrap();
    for i in 0..60 {
        let (b, h) = batch(2, Some((7, 0, i * 2)));
        leader.append(&b, &h, if i < 30 { 1 } else { 4 }, now).unwrap();
    }
    assert_eq!(leader.end_offset_for_epoch(1), Some((1, 60)));
    assert_eq!(leader.end_offset_for_epoch(3), Some((1, 60)));
    assert_eq!(leader.end_offset_for_epoch(4), Some((4, 120)));
    let dir = tempfile::tempdir().unwrap();
    let (mut follower, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    let mut next = 0;
    while next < leader.log_end_offset() {
        let data = leader.read_bytes(next, 1000, true, i64::MAX).unwrap();
        let mut pos = 0;
        while pos < data.len() {
            let h = follower.append_replicated(&data[pos..], now).unwrap();
            pos += h.size;
            next = h.next_offset();
        }
    }
    assert_eq!(follower.log_end_offset(), 120);
    assert_eq!(follower.epochs.entries(), leader.epochs.entries());
    // Not at the log end: refused.
    let again = leader.read_bytes(0, 1000, true, i64::MAX).unwrap();
    assert!(follower.append_replicated(&again, now).is_err());
    // Truncation inside an earlier segment: whole batches go, later segments too.
    follower.truncate_to(51, now).unwrap();
    assert_eq!(follower.log_end_offset(), 50);
    assert_eq!(follower.epochs.entries(), &[(1, 0)]);
    assert!(matches!(follower.read(51, 100, true, i64::MAX), Err(LogError::OffsetOutOfRange { .. })));
    // The producer's state went back with the log: its next batch continues at 50.
    let (b, h) = batch(2, Some((7, 0, 50)));
    assert_eq!(follower.append(&b, &h, 5, now).unwrap().base_offset, 50);
    drop(follower);
    let (follower, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    assert_eq!(follower.log_end_offset(), 52);
    assert_eq!(follower.epochs.entries(), &[(1, 0), (5, 50)]);
    assert!(verify_dir(dir.path()).unwrap().is_empty());
}

#[test]
fn truncating_at_the_log_end_drops_an_epoch_that_wrote_nothing() {
    // A replica led epoch 1 without writing, then follows a leader that never had
    // epoch 1: the empty entry must go, or the follower asks about it forever.
    let now = 1_700_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    let (b, h) = batch(2, None);
    log.append(&b, &h, 0, now).unwrap();
    log.begin_epoch(1).unwrap();
    assert_eq!(log.epochs.entries(), &[(0, 0), (1, 2)]);
    log.truncate_to(2, now).unwrap();
    assert_eq!(log.epochs.entries(), &[(0, 0)]);
    assert_eq!(log.log_end_offset(), 2);
}

#[test]
fn a_follower_takes_a_compacted_leaders_gaps() {
    let now = 1_700_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    let mut stored = make_batch(3, 20, None);
    batch::assign_offsets(&mut stored, 0, 2);
    log.append_replicated(&stored, now).unwrap();
    // The cleaner removed offsets 3..9 on the leader.
    batch::assign_offsets(&mut stored, 10, 2);
    log.append_replicated(&stored, now).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    batch::assign_offsets(&mut stored, 11, 2);
    assert!(log.append_replicated(&stored, now).is_err(), "a batch before the log end");
    let h = BatchHeader::parse(&log.read_bytes(5, 1 << 20, true, 13).unwrap()).unwrap();
    assert_eq!(h.base_offset, 10);
}

#[test]
fn a_follower_behind_the_leaders_log_start_starts_over_there() {
    let now = 1_700_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    for _ in 0..10 {
        let (b, h) = batch(2, None);
        log.append(&b, &h, 0, now).unwrap();
    }
    log.truncate_fully_and_start_at(500, now).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
}

#[test]
fn appends_roll_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    for i in 0..100 {
        let (b, h) = batch(2, None);
        let info = log.append(&b, &h, 3, now).unwrap();
        assert_eq!(info.base_offset, i * 2);
    }
    assert_eq!(log.log_end_offset(), 200);
    assert!(log.segment_count() > 5);
    let first = log.read_bytes(57, 1 << 20, true, 200).unwrap();
    let h = BatchHeader::parse(&first).unwrap();
    assert_eq!((h.base_offset, h.partition_leader_epoch), (56, 3));
    assert!(log.read(200, 100, true, 200).unwrap().is_empty());
    assert!(matches!(log.read(201, 100, true, 200), Err(LogError::OffsetOutOfRange { .. })));
    // Reads stop at max_offset (the high watermark), one segment at a time.
    let mut next = 190;
    loop {
        let data = log.read_bytes(next, 1 << 20, true, 194).unwrap();
        if data.is_empty() {
            break;
        }
        let mut pos = 0;
        while pos < data.len() {
            let h = BatchHeader::parse(&data[pos..]).unwrap();
            next = h.next_offset();
            pos += h.size;
        }
    }
    assert_eq!(next, 194);
    drop(log);

    let (log, repairs) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    assert!(repairs.is_empty(), "{repairs:?}");
    // Sealed segments answer timestamp lookups from their time index alone.
    assert_eq!(log.offset_for_timestamp(now, 200).unwrap(), Some((0, now)));
    assert_eq!(log.log_end_offset(), 200);
    assert_eq!(BatchHeader::parse(&log.read_bytes(121, 10, true, 200).unwrap()).unwrap().base_offset, 120);
    assert!(verify_dir(dir.path()).unwrap().is_empty());
}

/// After a clean shutdown the active segment is reopened from its indexes and the
/// headers past the last index entry, and ends up where a full scan would.
#[test]
fn clean_reopen_matches_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let cfg = TopicConfig { index_interval_bytes: 512, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg.clone(), now).unwrap();
    for _ in 0..37 {
        let (b, h) = batch(2, None);
        log.append(&b, &h, 0, now).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let state = |log: &PartitionLog| {
        let seg = log.active();
        (log.log_end_offset(), seg.size(), seg.max_timestamp(), seg.index_lens())
    };
    let (clean, _) = PartitionLog::open_after(&storage::local(), dir.path(), cfg.clone(), now, Shutdown::Clean).unwrap();
    let (scanned, _) = PartitionLog::open(dir.path(), cfg.clone(), now).unwrap();
    assert_eq!(state(&clean), state(&scanned));
    assert_eq!(clean.read_bytes(73, 1 << 20, true, 74).unwrap(), scanned.read_bytes(73, 1 << 20, true, 74).unwrap());
    drop((clean, scanned));
    // A torn tail behind a (lying) clean marker still falls back to the scan.
    let path = segment::log_path(dir.path(), 0);
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &[0, 0, 0, 0, 0, 0, 0, 74, 0, 0, 1]).unwrap();
    let (mut log, repairs) = PartitionLog::open_after(&storage::local(), dir.path(), cfg.clone(), now, Shutdown::Clean).unwrap();
    assert_eq!(log.log_end_offset(), 74);
    assert!(!repairs.is_empty());
    let (b, h) = batch(1, None);
    assert_eq!(log.append(&b, &h, 0, now).unwrap().base_offset, 74);
    log.close().unwrap();
    drop(log);
    // An index that points past the log (the log shrank behind the marker's back).
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 3).unwrap();
    let (log, repairs) = PartitionLog::open_after(&storage::local(), dir.path(), cfg, now, Shutdown::Clean).unwrap();
    assert!(log.log_end_offset() > 0 && log.log_end_offset() < 75, "{}", log.log_end_offset());
    assert!(!repairs.is_empty(), "the fallback scan reports the torn tail");
    assert!(verify_dir(dir.path()).unwrap().is_empty());
}

#[test]
fn sealed_segments_without_index_entries_keep_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    // One batch per segment and no index entries written while appending.
    let cfg = TopicConfig { segment_bytes: 300, index_interval_bytes: 1 << 30, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg.clone(), now).unwrap();
    for _ in 0..3 {
        let (b, h) = batch(1, None);
        log.append(&b, &h, 0, now).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), cfg, now).unwrap();
    assert_eq!(log.offset_for_timestamp(now, 3).unwrap(), Some((0, now)));
    assert_eq!(log.offset_of_max_timestamp(3).unwrap(), Some((0, now)));
}

#[test]
fn the_active_segment_rolls_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let cfg = TopicConfig { segment_ms: 1_000, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg, now).unwrap();
    let (b, h) = batch(1, None);
    log.append(&b, &h, 0, now).unwrap();
    log.append(&b, &h, 0, now + 500).unwrap();
    assert_eq!(log.segment_count(), 1, "younger than segment.ms");
    // The first batch's timestamp (make_batch writes `now`) is over a second old.
    log.append(&b, &h, 0, now + 1_500).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.active_base_offset(), 2);
}

#[test]
fn idempotent_retries_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    for seq in 0..30 {
        let (b, h) = batch(1, Some((9, 0, seq)));
        log.append(&b, &h, 0, now).unwrap();
    }
    drop(log); // no clean close: state comes from roll snapshots plus a header scan
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), now).unwrap();
    let (b, h) = batch(1, Some((9, 0, 28)));
    let info = log.append(&b, &h, 0, now).unwrap();
    assert!(info.duplicate);
    assert_eq!(info.base_offset, 28);
    let (b, h) = batch(1, Some((9, 0, 31)));
    assert!(matches!(log.append(&b, &h, 0, now), Err(LogError::Sequence(_))));
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn retention_by_time_size_and_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    // One ~260-byte batch per segment.
    let cfg = TopicConfig { segment_bytes: 300, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg.clone(), now).unwrap();
    for _ in 0..6 {
        let (b, h) = batch(1, None);
        log.append(&b, &h, 0, now).unwrap();
    }
    assert_eq!(log.segment_count(), 6);
    let files = |d: &Path| fs::read_dir(d).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log")).count();

    // Young segments stay.
    assert_eq!(log.apply_retention(now + 1_000, i64::MAX).unwrap().0, 0);
    // By size, as Kafka: the oldest segments go while the log stays at or above
    // retention.bytes without them (6 x ~270 bytes against 600: three go).
    log.set_config(TopicConfig { retention_bytes: 600, ..cfg.clone() });
    let (gone, _) = log.apply_retention(now, i64::MAX).unwrap();
    assert_eq!(gone, 3);
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(files(dir.path()), 3, "files are really removed");
    assert!(matches!(log.read(2, 100, true, 6), Err(LogError::OffsetOutOfRange { .. })));
    // By time, below the high watermark: the sealed segments older than retention.ms go,
    // the active one (beyond the high watermark of 5) stays.
    log.set_config(TopicConfig { retention_ms: 1_000, ..cfg.clone() });
    assert_eq!(log.apply_retention(now + 10_000, 5).unwrap().0, 2);
    assert_eq!((log.segment_count(), log.log_start_offset()), (1, 5));
    // DeleteRecords: the start moves inside the active segment, and survives reopen.
    assert!(log.advance_log_start(7, 6).is_err(), "not past the high watermark");
    assert_eq!(log.advance_log_start(6, 6).unwrap(), 6);
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), cfg, now).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (6, 6));
}

#[test]
fn limits_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let cfg = TopicConfig { max_message_bytes: 100, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg, now).unwrap();
    let (b, h) = batch(1, None);
    assert!(matches!(log.append(&b, &h, 0, now), Err(LogError::TooLarge { .. })));
    log.set_config(TopicConfig::default());
    assert!(matches!(log.append(&b, &h, 0, now - 10 * 3_600_000), Err(LogError::InvalidTimestamp { .. })));
    log.append(&b, &h, 0, now).unwrap();
    assert_eq!(log.offset_for_timestamp(now, 1).unwrap(), Some((0, now)));
    assert_eq!(log.offset_for_timestamp(now + 1, 1).unwrap(), None);
    assert_eq!(log.offset_of_max_timestamp(1).unwrap(), Some((0, now)));
}

#[test]
fn retention_deletes_the_active_segment_by_rolling_first() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let cfg = TopicConfig { segment_bytes: 300, retention_ms: 1_000, ..TopicConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), cfg.clone(), now).unwrap();
    for _ in 0..3 {
        let (b, h) = batch(1, None);
        log.append(&b, &h, 0, now).unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    // Kafka's UnifiedLog.deleteSegments: when every segment is deletable, a new active
    // segment is rolled first and the old active one goes with the rest.
    log.apply_retention(now + 10_000, 3).unwrap();
    assert_eq!((log.segment_count(), log.log_start_offset(), log.log_end_offset()), (1, 3, 3));
    assert_eq!(log.active_base_offset(), 3);
    // An empty active segment is never a candidate.
    log.apply_retention(now + 20_000, 3).unwrap();
    assert_eq!((log.segment_count(), log.log_start_offset()), (1, 3));
    drop(log);
    let (log, _) = PartitionLog::open(dir.path(), cfg, now).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 3));
}
