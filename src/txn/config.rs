//! The transaction coordinator's settings, from Kafka's broker keys.

use std::time::Duration;

use crate::config::BrokerConfig;

#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions`
    pub partitions: i32,
    /// `transaction.state.log.replication.factor`
    pub replication_factor: i32,
    /// `transaction.state.log.min.isr`
    pub min_isr: i32,
    /// `transaction.state.log.segment.bytes`
    pub segment_bytes: String,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    pub expiration_interval_ms: i64,
    /// How long a write to `__transaction_state` (or a marker) waits for the in-sync
    /// replicas (`request.timeout.ms`, as Kafka's coordinator appends).
    pub write_timeout: Duration,
}

impl TxnConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        let num = |k: &str, default: i64| c.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(default);
        TxnConfig {
            partitions: num("transaction.state.log.num.partitions", 50) as i32,
            replication_factor: num("transaction.state.log.replication.factor", 3) as i32,
            min_isr: num("transaction.state.log.min.isr", 2) as i32,
            segment_bytes: c.get("transaction.state.log.segment.bytes").unwrap_or_else(|| "104857600".to_string()),
            max_timeout_ms: num("transaction.max.timeout.ms", 900_000) as i32,
            id_expiration_ms: num("transactional.id.expiration.ms", 604_800_000),
            abort_interval_ms: num("transaction.abort.timed.out.transaction.cleanup.interval.ms", 10_000),
            expiration_interval_ms: num("transaction.remove.expired.transaction.cleanup.interval.ms", 3_600_000),
            write_timeout: Duration::from_millis(num("request.timeout.ms", 30_000).max(1) as u64),
        }
    }
}

/// `transaction.partition.verification.enable` (dynamic: read when used).
pub fn verification_enabled(c: &BrokerConfig) -> bool {
    c.get("transaction.partition.verification.enable").is_none_or(|v| v.eq_ignore_ascii_case("true"))
}
