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
    /// The consumer group protocol (KIP-848).
    pub consumer: ConsumerGroupConfig,
}

/// `group.consumer.*`: the consumer group protocol's settings.
#[derive(Debug, Clone)]
pub struct ConsumerGroupConfig {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    pub max_size: usize,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<String>,
    /// `group.coordinator.rebalance.protocols` includes `consumer`.
    pub enabled: bool,
    /// `group.consumer.migration.policy`: a classic group may become a consumer group
    /// (upgrade) and back (downgrade) while it has members.
    pub migration_upgrade: bool,
    pub migration_downgrade: bool,
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
            consumer: ConsumerGroupConfig::from_broker(c),
        }
    }
}

impl ConsumerGroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        let num = |k: &str| c.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
        let list = |k: &str| -> Vec<String> { c.get(k).unwrap_or_default().split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect() };
        // Kafka names assignors by their short name or their class.
        let assignors = list("group.consumer.assignors")
            .into_iter()
            .map(|a| match a.as_str() {
                "org.apache.kafka.coordinator.group.assignor.uniformassignor" => "uniform".to_string(),
                "org.apache.kafka.coordinator.group.assignor.rangeassignor" => "range".to_string(),
                _ => a,
            })
            .filter(|a| a == "uniform" || a == "range")
            .collect::<Vec<_>>();
        let policy = c.get("group.consumer.migration.policy").unwrap_or_default().trim().to_ascii_lowercase();
        ConsumerGroupConfig {
            session_timeout_ms: num("group.consumer.session.timeout.ms") as i32,
            heartbeat_interval_ms: num("group.consumer.heartbeat.interval.ms") as i32,
            max_size: num("group.consumer.max.size").max(0) as usize,
            assignors: if assignors.is_empty() { vec!["uniform".to_string(), "range".to_string()] } else { assignors },
            enabled: list("group.coordinator.rebalance.protocols").iter().any(|p| p == "consumer"),
            migration_upgrade: matches!(policy.as_str(), "bidirectional" | "upgrade"),
            migration_downgrade: matches!(policy.as_str(), "bidirectional" | "downgrade"),
        }
    }
}
