//! The partition log under a failing disk (through `storage::FaultyStorage`): what was
//! synced survives a power loss, a torn write is cut at recovery, and a full disk fails
//! the append without damaging the log.

use bytes::Bytes;

use super::batch::{self, tests::make_batch, BatchHeader};
use super::{verify_dir, LogError, PartitionLog, Shutdown};
use crate::config::TopicConfig;
use crate::storage::{FaultyStorage, SharedStorage};

const NOW: i64 = 1_700_000_000_000;

fn batch(count: i32) -> (Bytes, BatchHeader) {
    let b = Bytes::from(make_batch(count, 100, None));
    let h = batch::validate(&b).unwrap();
    (b, h)
}

fn open(files: &SharedStorage, dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open_after(files, dir, TopicConfig::default(), NOW, Shutdown::Unclean).unwrap().0
}

#[test]
fn a_power_loss_keeps_what_was_synced_and_nothing_torn() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyStorage::new();
    let files: SharedStorage = faulty.clone();
    let mut log = open(&files, dir.path());
    for _ in 0..3 {
        let (b, h) = batch(5);
        log.append(&b, &h, 0, NOW).unwrap();
    }
    log.flush().unwrap();
    let (b, h) = batch(5);
    log.append(&b, &h, 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    drop(log);

    faulty.lose_unsynced_data().unwrap();
    let log = open(&files, dir.path());
    assert_eq!(log.log_end_offset(), 15, "the synced batches survive, the unsynced one is gone");
    assert!(verify_dir(dir.path()).unwrap().is_empty());
}

#[test]
fn a_torn_write_fails_the_append_and_is_cut_at_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyStorage::new();
    let files: SharedStorage = faulty.clone();
    let mut log = open(&files, dir.path());
    let (b, h) = batch(4);
    log.append(&b, &h, 0, NOW).unwrap();
    faulty.tear_next_write(30);
    let (b, h) = batch(4);
    assert!(matches!(log.append(&b, &h, 0, NOW), Err(LogError::Io { .. })));
    assert_eq!(log.log_end_offset(), 4, "a failed append assigns no offsets");
    drop(log);

    let log = open(&files, dir.path());
    assert_eq!(log.log_end_offset(), 4);
    assert!(verify_dir(dir.path()).unwrap().is_empty(), "the torn tail was truncated");
}

#[test]
fn a_full_disk_fails_appends_until_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyStorage::new();
    let files: SharedStorage = faulty.clone();
    let mut log = open(&files, dir.path());
    let (b, h) = batch(2);
    log.append(&b, &h, 0, NOW).unwrap();
    faulty.fill_disk_after(0);
    let (b, h) = batch(2);
    match log.append(&b, &h, 0, NOW) {
        Err(LogError::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(libc::ENOSPC)),
        other => panic!("expected ENOSPC, got {other:?}"),
    }
    assert_eq!(log.log_end_offset(), 2);
    faulty.free_disk();
    log.append(&b, &h, 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 4, "the next append lands where the failed one would have");
    log.flush().unwrap();
    drop(log);
    let log = open(&files, dir.path());
    assert_eq!(log.log_end_offset(), 4);
    assert!(verify_dir(dir.path()).unwrap().is_empty());
}
