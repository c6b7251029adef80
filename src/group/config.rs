//! The group coordinator's settings, from Kafka's broker keys.

use crate::config::BrokerConfig;

/// Coordinator settings, from Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_partitions: i32,
    pub offsets_segment_bytes: String,
    pub retention_ms: i64,
    pub retention_check_interval_ms: u64,
    pub metadata_max_bytes: usize,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the followers.
    pub commit_timeout: std::time::Duration,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        let num = |k: &str| c.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
        GroupConfig {
            initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms"),
            min_session_timeout_ms: num("group.min.session.timeout.ms") as i32,
            max_session_timeout_ms: num("group.max.session.timeout.ms") as i32,
            max_size: num("group.max.size") as usize,
            offsets_partitions: num("offsets.topic.num.partitions") as i32,
            offsets_segment_bytes: c.get("offsets.topic.segment.bytes").unwrap_or_default(),
            retention_ms: num("offsets.retention.minutes").saturating_mul(60_000),
            retention_check_interval_ms: num("offsets.retention.check.interval.ms") as u64,
            metadata_max_bytes: num("offset.metadata.max.bytes") as usize,
            commit_timeout: std::time::Duration::from_millis(num("offsets.commit.timeout.ms").max(1) as u64),
        }
    }
}
