//! The transactional side of a partition log: markers appended by the leader, the
//! aborted-transaction index they feed, and the first unstable offset that bounds the
//! last stable offset.

use super::{IoContext, LogError, PartitionLog};
use crate::log::batch::BatchHeader;
use crate::log::control::{self, Marker};
use crate::log::txn_index::AbortedTxn;
use crate::log::AppendInfo;

impl PartitionLog {
    /// Appends the marker that ends `producer_id`'s transaction (the leader, on
    /// WriteTxnMarkers). A marker for a producer with no open transaction here is still
    /// written, as Kafka does: it fences older epochs.
    pub fn append_marker(&mut self, producer_id: i64, producer_epoch: i16, marker: Marker, leader_epoch: i32, now_ms: i64) -> Result<AppendInfo, LogError> {
        self.producers.check_marker(producer_id, producer_epoch, marker.coordinator_epoch)?;
        let (bytes, h) = control::encode(producer_id, producer_epoch, marker, now_ms)?;
        let base_offset = self.log_end_offset();
        self.maybe_roll(h.size, base_offset, now_ms)?;
        self.epochs.assign(leader_epoch, base_offset).at(&self.dir)?;
        let mut owned = bytes.to_vec();
        crate::log::batch::assign_offsets(&mut owned, base_offset, leader_epoch);
        let mut stored = h;
        stored.base_offset = base_offset;
        stored.partition_leader_epoch = leader_epoch;
        let path = self.active().path().to_path_buf();
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(&[&owned], &stored, interval).at(&path)?;
        self.track_appended(&stored, Some(marker))?;
        // Markers are few and decide what consumers see: flushed like the data before them.
        self.unflushed_messages += 1;
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(AppendInfo { base_offset, last_offset: base_offset, log_append_time: -1, duplicate: false })
    }

    /// Producer state after a batch landed in the active segment; an ABORT marker that
    /// ended a transaction is indexed there.
    pub(super) fn track_appended(&mut self, h: &BatchHeader, marker: Option<Marker>) -> Result<(), LogError> {
        if let Some(first) = self.producers.update(h, marker) {
            let segment_base = self.active().base_offset;
            self.index_aborted(segment_base, h, marker, first)?;
        }
        Ok(())
    }

    /// Indexes the transaction an ABORT marker ended (first offset `first`).
    pub(super) fn index_aborted(&mut self, segment_base: i64, h: &BatchHeader, marker: Option<Marker>, first: i64) -> Result<(), LogError> {
        if marker.is_none_or(|m| m.commit) {
            return Ok(());
        }
        let last_stable_offset = self.producers.first_unstable_offset().filter(|o| *o != first).unwrap_or(h.next_offset());
        let entry = AbortedTxn { producer_id: h.producer_id, first_offset: first, last_offset: h.base_offset, last_stable_offset };
        self.txn_index.append(segment_base, entry).at(&self.dir)
    }

    /// The first offset of a transaction not known to be complete, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// The high watermark moved: markers below it are replicated.
    pub fn markers_replicated_to(&mut self, high_watermark: i64) {
        self.producers.markers_replicated_to(high_watermark);
    }

    /// Whether a marker below `high_watermark` still counts as unreplicated.
    pub fn has_markers_below(&self, high_watermark: i64) -> bool {
        self.producers.has_markers_below(high_watermark)
    }

    /// Starts the verification of `producer_id`'s next transactional batch here.
    pub fn begin_verification(&mut self, producer_id: i64, producer_epoch: i16) -> u64 {
        self.producers.begin_verification(producer_id, producer_epoch)
    }

    /// The aborted transactions a read_committed read of [`from`, `upper`) must report.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        if self.txn_index.is_empty() {
            return Vec::new();
        }
        self.txn_index.collect(from, upper)
    }

    /// Every aborted transaction with its marker at or after `from` (for the cleaner).
    pub fn aborted_since(&self, from: i64) -> Vec<AbortedTxn> {
        self.txn_index.since(from)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::TopicConfig;
    use crate::log::batch::{self, tests::make_batch};
    use crate::log::producer_state::SequenceError;
    use crate::log::txn_index;

    const NOW: i64 = 1_700_000_000_000;

    /// A batch of `producer`'s transaction (`count` records from sequence `seq`).
    fn txn_batch(count: i32, producer_id: i64, epoch: i16, seq: i32) -> (Bytes, BatchHeader) {
        let mut b = make_batch(count, 50, Some((producer_id, epoch, seq)));
        let attrs = i16::from_be_bytes([b[batch::ATTRIBUTES], b[batch::ATTRIBUTES + 1]]) | 0x10;
        b[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        let b = Bytes::from(b);
        let h = batch::validate(&b).unwrap();
        assert!(h.is_transactional());
        (b, h)
    }

    fn plain(count: i32) -> (Bytes, BatchHeader) {
        let b = Bytes::from(make_batch(count, 50, None));
        let h = batch::validate(&b).unwrap();
        (b, h)
    }

    fn abort(epoch: i32) -> Marker {
        Marker { commit: false, coordinator_epoch: epoch }
    }

    #[test]
    fn markers_bound_the_last_stable_offset_and_index_aborted_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
        let (b, h) = txn_batch(5, 1, 0, 0);
        log.append(&b, &h, 0, NOW).unwrap();
        let (b, h) = plain(5);
        log.append(&b, &h, 0, NOW).unwrap();
        assert_eq!(log.first_unstable_offset(), Some(0), "the open transaction holds it");
        // A non-transactional batch of a producer with a transaction open is refused.
        let (b, h) = make_plain_of(1);
        assert!(matches!(log.append(&b, &h, 0, NOW), Err(LogError::Sequence(SequenceError::InvalidTxnState { .. }))));

        let info = log.append_marker(1, 0, abort(3), 0, NOW).unwrap();
        assert_eq!(info.base_offset, 10);
        assert_eq!(log.first_unstable_offset(), Some(0), "until the marker is replicated");
        log.markers_replicated_to(11);
        assert_eq!(log.first_unstable_offset(), None);
        let aborted = log.aborted_transactions(0, 11);
        assert_eq!(aborted.len(), 1);
        assert_eq!((aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset), (1, 0, 10));
        assert!(log.aborted_transactions(11, 20).is_empty());
        // A deposed coordinator and an older producer epoch are fenced.
        assert!(matches!(log.append_marker(1, 0, abort(2), 0, NOW), Err(LogError::Sequence(SequenceError::CoordinatorFenced { .. }))));
        let (b, h) = txn_batch(1, 1, 1, 0);
        log.append(&b, &h, 0, NOW).unwrap();
        assert!(matches!(log.append_marker(1, 0, abort(3), 0, NOW), Err(LogError::Sequence(SequenceError::InvalidEpoch { .. }))));
        assert!(log.producers().has_open_transaction(1, 1) && !log.producers().has_open_transaction(1, 0));

        // Across a clean close and reopen: the open transaction and the index are back.
        log.close().unwrap();
        drop(log);
        let (log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
        assert_eq!(log.first_unstable_offset(), Some(11));
        assert_eq!(log.aborted_transactions(0, 20).len(), 1);
        drop(log);

        // Without snapshots and index (a crash before they were written), the index is
        // rebuilt from the markers in the log.
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".snapshot") || name.ends_with(".txnindex") {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
        let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
        assert_eq!(log.aborted_transactions(0, 20).len(), 1);
        assert!(txn_index::path(dir.path(), 0).exists());
        // (The high watermark of a reopened log is its end: its markers are stable.)
        log.markers_replicated_to(log.log_end_offset());
        assert_eq!(log.first_unstable_offset(), Some(11));
        // A follower truncating the open transaction away forgets it.
        log.truncate_to(11, NOW).unwrap();
        log.markers_replicated_to(log.log_end_offset());
        assert_eq!(log.first_unstable_offset(), None);
        assert_eq!(log.aborted_transactions(0, 20).len(), 1);
        log.truncate_to(5, NOW).unwrap();
        assert!(log.aborted_transactions(0, 20).is_empty(), "the marker was truncated away");
    }

    #[test]
    fn a_verification_survives_the_previous_transactions_marker_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
        let (b, h) = txn_batch(2, 1, 0, 0);
        log.append(&b, &h, 0, NOW).unwrap();
        // Transactions V2: the next transaction (epoch 1) is verified here while the
        // previous one's marker (written with epoch 1) is still on its way.
        let guard = log.begin_verification(1, 1);
        log.append_marker(1, 1, Marker { commit: true, coordinator_epoch: 0 }, 0, NOW).unwrap();
        let (b, h) = txn_batch(2, 1, 1, 0);
        log.append_guarded(&b, &h, 0, NOW, Some(guard)).unwrap();
        log.append_marker(1, 2, abort(0), 0, NOW).unwrap();
        // A marker that ends the verified transaction (aborted before its batch came)
        // voids the guard: the late batch cannot open a transaction nothing would close.
        let guard = log.begin_verification(1, 2);
        log.append_marker(1, 2, abort(0), 0, NOW).unwrap();
        let (b, h) = txn_batch(2, 1, 2, 0);
        assert!(matches!(log.append_guarded(&b, &h, 0, NOW, Some(guard)), Err(LogError::Sequence(SequenceError::InvalidTxnState { .. }))));
        assert_eq!(log.first_unstable_offset().filter(|o| *o >= 5), None);
    }

    /// A non-transactional batch of producer 1 (epoch 0).
    fn make_plain_of(producer_id: i64) -> (Bytes, BatchHeader) {
        let b = Bytes::from(make_batch(1, 50, Some((producer_id, 0, 5))));
        let h = batch::validate(&b).unwrap();
        (b, h)
    }

    #[test]
    fn the_cleaner_removes_aborted_records_and_stops_at_open_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let config = TopicConfig { cleanup_compact: true, min_cleanable_dirty_ratio: 0.0, ..TopicConfig::default() };
        let (mut log, _) = PartitionLog::open(dir.path(), config, NOW).unwrap();
        let keyed = |producer: Option<(i64, i16, i32)>, transactional: bool| {
            let recs = vec![(Some(Bytes::from_static(b"k")), Some(Bytes::from_static(b"v")))];
            let (p, e) = producer.map_or((-1, -1), |(p, e, _)| (p, e));
            batch::encode_batch(&recs, NOW, kafka_protocol::records::Compression::None, batch::BatchProducer { producer_id: p, producer_epoch: e, transactional, control: false }).unwrap()
        };
        let (b, h) = keyed(None, false);
        log.append(&b, &h, 0, NOW).unwrap();
        let (b, h) = keyed(Some((7, 0, 0)), true);
        log.append(&b, &h, 0, NOW).unwrap();
        log.append_marker(7, 0, abort(0), 0, NOW).unwrap();
        log.markers_replicated_to(log.log_end_offset());
        let (b, h) = keyed(Some((8, 0, 0)), true);
        log.append(&b, &h, 0, NOW).unwrap();
        log.roll(log.log_end_offset(), NOW).unwrap();
        // The open transaction of producer 8 is in the only sealed segment: not cleanable.
        assert!(log.clean_plan(NOW).is_none());
        log.append_marker(8, 0, Marker { commit: true, coordinator_epoch: 0 }, 0, NOW).unwrap();
        log.markers_replicated_to(log.log_end_offset());
        log.roll(log.log_end_offset(), NOW).unwrap();
        let plan = log.clean_plan(NOW).expect("cleanable now");
        assert_eq!(plan.aborted.len(), 1);
        let cfg = crate::log::cleaner::CleanerConfig { dedupe_buffer_bytes: 1 << 20, io_max_bytes_per_second: f64::INFINITY };
        let (swaps, stats) = crate::log::cleaner::clean(&plan, &cfg, NOW).unwrap();
        log.install_cleaned(swaps, &stats, NOW).unwrap();
        // The aborted record is gone, the committed newest one (producer 8's) stays, and
        // the first (plain) record, older than it, went.
        let mut kept: Vec<(i64, bool, bool)> = Vec::new();
        let mut next = log.log_start_offset();
        while next < log.log_end_offset() {
            let data = log.read_bytes(next, 1 << 20, true, log.log_end_offset()).unwrap();
            for b in crate::log::records::split_batches(data) {
                let h = b.unwrap().0;
                next = h.next_offset();
                kept.push((h.producer_id, h.is_control(), h.is_transactional()));
            }
        }
        assert!(!kept.contains(&(7, false, true)), "aborted data removed: {kept:?}");
        assert!(kept.contains(&(8, false, true)), "committed data kept: {kept:?}");
        assert!(kept.contains(&(7, true, true)) && kept.contains(&(8, true, true)), "markers kept: {kept:?}");
    }
}
