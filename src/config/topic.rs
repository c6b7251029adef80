//! Topic-level configuration: keys, their broker synonyms, and the typed values a
//! partition log acts on.

use std::collections::BTreeMap;

use super::broker::BrokerConfig;
use super::compression::TopicCompression;
use super::def::{ConfigDef, ConfigError, ConfigType as T, Validator as V};

/// A topic key and the broker keys it falls back to, each with the factor that converts
/// the broker value into the topic key's unit (e.g. hours to ms).
pub struct TopicKey {
    pub def: ConfigDef,
    pub synonyms: &'static [(&'static str, i64)],
}

const fn key(name: &'static str, ty: T, default: &'static str, validator: V, synonyms: &'static [(&'static str, i64)], doc: &'static str) -> TopicKey {
    TopicKey { def: ConfigDef { name, ty, default: Some(default), validator, read_only: false, doc }, synonyms }
}

const HOUR_MS: i64 = 3_600_000;

/// The values of `compression.type`, topic and broker.
pub const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

pub static TOPIC_CONFIGS: &[TopicKey] = &[
    key("cleanup.policy", T::List, "delete", V::OneOf(&["delete", "compact"]), &[("log.cleanup.policy", 1)], "delete, compact, or both."),
    key("compression.type", T::String, "producer", V::OneOf(COMPRESSION_TYPES), &[("compression.type", 1)], "Codec of stored batches; 'producer' keeps the producer's."),
    key("compression.gzip.level", T::Int, "-1", V::BetweenOr(1, 9, -1), &[("compression.gzip.level", 1)], "gzip level when the broker compresses."),
    key("compression.lz4.level", T::Int, "9", V::Between(1.0, 17.0), &[("compression.lz4.level", 1)], "lz4 level when the broker compresses."),
    key("compression.zstd.level", T::Int, "3", V::Between(-131072.0, 22.0), &[("compression.zstd.level", 1)], "zstd level when the broker compresses."),
    key("delete.retention.ms", T::Long, "86400000", V::AtLeast(0), &[("log.cleaner.delete.retention.ms", 1)], "How long tombstones are kept."),
    key("errors.deadletterqueue.group.enable", T::Boolean, "false", V::None, &[], "Share groups' dead-letter queue (Kafka 4.4; share groups are not served)."),
    key("file.delete.delay.ms", T::Long, "60000", V::AtLeast(0), &[("log.segment.delete.delay.ms", 1)], "Delay before deleted segment files are removed."),
    key("follower.replication.throttled.replicas", T::List, "", V::ReplicaList, &[], "Replicas whose follower fetches are throttled (accepted; no replication throttle is applied)."),
    key("flush.messages", T::Long, "9223372036854775807", V::AtLeast(1), &[("log.flush.interval.messages", 1)], "Messages between fsyncs."),
    key("flush.ms", T::Long, "9223372036854775807", V::AtLeast(0), &[("log.flush.interval.ms", 1)], "Time between fsyncs."),
    key("index.interval.bytes", T::Int, "4096", V::AtLeast(0), &[("log.index.interval.bytes", 1)], "Bytes between offset index entries."),
    key("leader.replication.throttled.replicas", T::List, "", V::ReplicaList, &[], "Replicas whose leader-side reads are throttled (accepted; no replication throttle is applied)."),
    key("local.retention.bytes", T::Long, "-2", V::AtLeast(-2), &[("log.local.retention.bytes", 1)], "Local retention with tiered storage (which Riffle does not have)."),
    key("local.retention.ms", T::Long, "-2", V::AtLeast(-2), &[("log.local.retention.ms", 1)], "Local retention with tiered storage (which Riffle does not have)."),
    key("max.compaction.lag.ms", T::Long, "9223372036854775807", V::AtLeast(1), &[("log.cleaner.max.compaction.lag.ms", 1)], "Maximum time a record stays uncompacted."),
    key("max.decompressed.message.bytes", T::Int, "2147483639", V::AtLeast(1), &[("max.decompressed.message.bytes", 1)], "Largest decompressed batch accepted (accepted; batches are bounded by max.message.bytes)."),
    key("max.message.bytes", T::Int, "1048588", V::AtLeast(0), &[("message.max.bytes", 1)], "Largest record batch accepted."),
    key("message.timestamp.type", T::String, "CreateTime", V::OneOf(&["CreateTime", "LogAppendTime"]), &[("log.message.timestamp.type", 1)], "CreateTime or LogAppendTime."),
    key("message.timestamp.before.max.ms", T::Long, "9223372036854775807", V::AtLeast(0), &[("log.message.timestamp.before.max.ms", 1)], "Maximum allowed age of a record timestamp."),
    key("message.timestamp.after.max.ms", T::Long, "3600000", V::AtLeast(0), &[("log.message.timestamp.after.max.ms", 1)], "Maximum allowed lead of a record timestamp."),
    key("min.cleanable.dirty.ratio", T::Double, "0.5", V::Between(0.0, 1.0), &[("log.cleaner.min.cleanable.ratio", 1)], "Dirty ratio that triggers cleaning."),
    key("min.compaction.lag.ms", T::Long, "0", V::AtLeast(0), &[("log.cleaner.min.compaction.lag.ms", 1)], "Minimum age before a record may be compacted."),
    key("min.insync.replicas", T::Int, "1", V::AtLeast(1), &[("min.insync.replicas", 1)], "Minimum in-sync replicas for acks=all."),
    key("preallocate", T::Boolean, "false", V::None, &[("log.preallocate", 1)], "Accepted; segment files are not preallocated."),
    key("remote.copy.lag.bytes", T::Long, "-1", V::AtLeast(-1), &[("log.remote.copy.lag.bytes", 1)], "Tiered storage (which Riffle does not have)."),
    key("remote.copy.lag.ms", T::Long, "0", V::AtLeast(-1), &[("log.remote.copy.lag.ms", 1)], "Tiered storage (which Riffle does not have)."),
    key("remote.log.copy.disable", T::Boolean, "false", V::None, &[], "Tiered storage (which Riffle does not have)."),
    key("remote.log.delete.on.disable", T::Boolean, "false", V::None, &[], "Tiered storage (which Riffle does not have)."),
    key("remote.storage.enable", T::Boolean, "false", V::OneOf(&["false"]), &[], "Tiered storage is not available, as on a Kafka broker with remote.log.storage.system.enable=false."),
    key("retention.bytes", T::Long, "-1", V::None, &[("log.retention.bytes", 1)], "Maximum partition size before old segments are deleted."),
    key("retention.ms", T::Long, "604800000", V::AtLeast(-1), &[("log.retention.ms", 1), ("log.retention.minutes", 60_000), ("log.retention.hours", HOUR_MS)], "Maximum age of a segment before it is deleted."),
    // Kafka 4 refuses segments under 1 MiB; tests that want smaller ones set internal.segment.bytes
    key("segment.bytes", T::Int, "1073741824", V::AtLeast(MIN_SEGMENT_BYTES), &[("log.segment.bytes", 1)], "Maximum size of one segment file."),
    key("segment.index.bytes", T::Int, "10485760", V::AtLeast(4), &[("log.index.size.max.bytes", 1)], "Maximum size of an offset index file."),
    key("segment.jitter.ms", T::Long, "0", V::AtLeast(0), &[("log.roll.jitter.ms", 1)], "Accepted; no jitter is applied."),
    key("segment.ms", T::Long, "604800000", V::AtLeast(1), &[("log.roll.ms", 1), ("log.roll.hours", HOUR_MS)], "Maximum age of the active segment."),
    key("unclean.leader.election.enable", T::Boolean, "false", V::None, &[("unclean.leader.election.enable", 1)], "Allow out-of-sync replicas to lead."),
];

/// Kafka's smallest `segment.bytes` and `log.segment.bytes` (1 MiB, since Kafka 4.0).
pub const MIN_SEGMENT_BYTES: i64 = 1 << 20;

/// Kafka's internal topic keys: accepted by CreateTopics and AlterConfigs, described
/// only where a topic sets them, with no default and no validator. `internal.segment.bytes`
/// overrides `segment.bytes` below its 1 MiB minimum, which is what tests use it for.
pub static INTERNAL_TOPIC_CONFIGS: &[TopicKey] = &[TopicKey {
    def: ConfigDef { name: "internal.segment.bytes", ty: T::Int, default: None, validator: V::None, read_only: false, doc: "The maximum size of a single log file. This should be used for testing only." },
    synonyms: &[],
}];

pub fn find_key(name: &str) -> Option<&'static TopicKey> {
    TOPIC_CONFIGS.iter().chain(INTERNAL_TOPIC_CONFIGS).find(|k| k.def.name == name)
}

/// Per-topic overrides, as set by CreateTopics or AlterConfigs.
pub type TopicOverrides = BTreeMap<String, String>;

/// Where an effective topic value comes from, as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSource {
    Topic,
    /// Set on the broker under this synonym.
    Broker(&'static str),
    Default,
}

/// Validates overrides: every key known, every value valid.
pub fn validate(overrides: &TopicOverrides) -> Result<(), ConfigError> {
    for (k, v) in overrides {
        find_key(k).ok_or_else(|| ConfigError::Unknown(k.clone()))?.def.validate(v)?;
    }
    Ok(())
}

/// The effective value of a topic key and where it came from.
pub fn resolve(key: &TopicKey, overrides: &TopicOverrides, broker: &BrokerConfig) -> (String, ValueSource) {
    if let Some(v) = overrides.get(key.def.name) {
        return (v.clone(), ValueSource::Topic);
    }
    for &(syn, factor) in key.synonyms {
        if let Some(v) = broker.explicit(syn) {
            let value = match v.trim().parse::<i64>() {
                Ok(n) if factor != 1 => n.saturating_mul(factor).to_string(),
                _ => v.to_string(),
            };
            return (value, ValueSource::Broker(syn));
        }
    }
    (key.def.default.unwrap_or_default().to_string(), ValueSource::Default)
}

/// The typed topic settings a partition log acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub index_interval_bytes: u64,
    pub segment_index_bytes: u64,
    pub max_message_bytes: usize,
    pub log_append_time: bool,
    pub flush_messages: i64,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub cleanup_compact: bool,
    pub cleanup_delete: bool,
    pub min_insync_replicas: i32,
    pub delete_retention_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub compression: TopicCompression,
}

impl TopicConfig {
    pub fn new(overrides: &TopicOverrides, broker: &BrokerConfig) -> Self {
        let get = |name: &str| -> String {
            let k = find_key(name).expect("declared topic key");
            resolve(k, overrides, broker).0
        };
        let num = |name: &str| -> i64 { get(name).trim().parse().unwrap_or(i64::MAX) };
        let policy = get("cleanup.policy");
        TopicConfig {
            // (0 or less: every batch is larger than a segment and refused, as in Kafka)
            segment_bytes: match overrides.get("internal.segment.bytes").and_then(|v| v.trim().parse::<i64>().ok()) {
                Some(n) => n.max(0) as u64,
                None => num("segment.bytes") as u64,
            },
            segment_ms: num("segment.ms"),
            index_interval_bytes: num("index.interval.bytes") as u64,
            segment_index_bytes: num("segment.index.bytes") as u64,
            max_message_bytes: num("max.message.bytes") as usize,
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            flush_messages: num("flush.messages"),
            timestamp_before_max_ms: num("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: num("message.timestamp.after.max.ms"),
            retention_ms: num("retention.ms"),
            retention_bytes: num("retention.bytes"),
            cleanup_compact: policy.contains("compact"),
            cleanup_delete: policy.contains("delete"),
            min_insync_replicas: num("min.insync.replicas") as i32,
            delete_retention_ms: num("delete.retention.ms"),
            min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio").trim().parse().unwrap_or(0.5),
            min_compaction_lag_ms: num("min.compaction.lag.ms"),
            max_compaction_lag_ms: num("max.compaction.lag.ms"),
            compression: match get("compression.type").trim() {
                "uncompressed" => TopicCompression::Uncompressed,
                "gzip" => TopicCompression::Gzip { level: num("compression.gzip.level") as i32 },
                "snappy" => TopicCompression::Snappy,
                "lz4" => TopicCompression::Lz4 { level: num("compression.lz4.level") as i32 },
                "zstd" => TopicCompression::Zstd { level: num("compression.zstd.level") as i32 },
                _ => TopicCompression::Producer,
            },
        }
    }
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self::new(&TopicOverrides::new(), &BrokerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_and_overrides() {
        let broker = BrokerConfig::default().with("log.retention.hours", "1").unwrap();
        let k = find_key("retention.ms").unwrap();
        assert_eq!(resolve(k, &TopicOverrides::new(), &broker), ("3600000".into(), ValueSource::Broker("log.retention.hours")));
        let o: TopicOverrides = [("retention.ms".to_string(), "5".to_string())].into();
        assert_eq!(resolve(k, &o, &broker).1, ValueSource::Topic);
        assert_eq!(TopicConfig::new(&o, &broker).retention_ms, 5);
        assert!(validate(&[("segment.bytes".to_string(), "1".to_string())].into()).is_err());
        assert!(validate(&[("segment.bytes".to_string(), "1048575".to_string())].into()).is_err());
        assert!(validate(&[("no.such".to_string(), "1".to_string())].into()).is_err());
        let seg: TopicOverrides = [("segment.bytes".to_string(), "1048576".to_string())].into();
        assert_eq!(TopicConfig::new(&seg, &broker).segment_bytes, 1 << 20);
        // the internal key wins, unvalidated but typed, as in Kafka
        let seg: TopicOverrides = [("segment.bytes".to_string(), "1048576".to_string()), ("internal.segment.bytes".to_string(), "1024".to_string())].into();
        assert!(validate(&seg).is_ok());
        assert_eq!(TopicConfig::new(&seg, &broker).segment_bytes, 1024);
        assert!(validate(&[("internal.segment.bytes".to_string(), "abc".to_string())].into()).is_err());
    }

    #[test]
    fn every_synonym_is_a_broker_key() {
        for k in TOPIC_CONFIGS {
            for (syn, _) in k.synonyms {
                assert!(super::super::broker::find_key(syn).is_some(), "{syn}");
            }
        }
    }
}
