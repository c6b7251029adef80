//! A partition this broker hosts: its log, leader epoch, and the notifier that wakes
//! long-polling fetches when data arrives.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::Notify;

use crate::log::batch::BatchHeader;
use crate::log::{AppendInfo, FileSlice, LogError, PartitionLog};

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    pub leader_epoch: i32,
    pub log: RwLock<PartitionLog>,
    appended: Notify,
}

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, log: PartitionLog) -> Self {
        Partition { topic, index, leader_epoch: 0, log: RwLock::new(log), appended: Notify::new() }
    }

    /// The high watermark. With one replica, the ISR is this broker alone, so every
    /// appended batch is committed at once and the high watermark is the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.log.read().log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.read().log_start_offset()
    }

    /// Reads for a consumer, bounded by the high watermark: (records, high watermark,
    /// log start offset), all under one lock so they agree.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<(FileSlice, i64, i64), LogError> {
        let log = self.log.read();
        let hw = log.log_end_offset();
        let data = log.read(offset, max_bytes, min_one, hw)?;
        Ok((data, hw, log.log_start_offset()))
    }

    pub fn append(&self, bytes: &Bytes, header: &BatchHeader, now_ms: i64) -> Result<AppendInfo, LogError> {
        let info = self.log.write().append(bytes, header, self.leader_epoch, now_ms)?;
        if !info.duplicate {
            self.appended.notify_waiters();
        }
        Ok(info)
    }

    /// A future that completes at the next append. Create it before checking for data so
    /// that an append in between is not missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// Wakes waiting fetches without data (e.g. at shutdown or deletion).
    pub fn wake(&self) {
        self.appended.notify_waiters();
    }
}
