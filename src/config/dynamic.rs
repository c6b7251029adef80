//! Dynamic broker configs: the keys Kafka lets IncrementalAlterConfigs / AlterConfigs
//! change at run time on a BROKER resource — as a cluster-wide default (resource name
//! "") or for one broker (its id) — and the layers they form over the static config.
//! Kafka 4.4's list (`DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS`), with the keys it only
//! takes per broker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where Kafka allows a dynamic key to be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// As the cluster-wide default or for one broker.
    ClusterWide,
    /// For one broker only (listeners, security).
    PerBroker,
}

use Scope as S;

/// Every key Kafka 4.4 updates at run time.
pub static DYNAMIC_BROKER_KEYS: &[(&str, Scope)] = &[
    ("background.threads", S::ClusterWide),
    ("compression.gzip.level", S::ClusterWide),
    ("compression.lz4.level", S::ClusterWide),
    ("compression.type", S::ClusterWide),
    ("compression.zstd.level", S::ClusterWide),
    ("config.providers", S::ClusterWide),
    ("cordoned.log.dirs", S::PerBroker),
    ("errors.deadletterqueue.auto.create.topics.enable", S::ClusterWide),
    ("errors.deadletterqueue.topic.name.prefix", S::ClusterWide),
    ("follower.fetch.last.tiered.offset.enable", S::ClusterWide),
    ("follower.replication.throttled.rate", S::ClusterWide),
    ("group.consumer.assignment.interval.ms", S::ClusterWide),
    ("group.consumer.assignor.offload.enable", S::ClusterWide),
    ("group.coordinator.cached.buffer.max.bytes", S::ClusterWide),
    ("group.share.assignment.interval.ms", S::ClusterWide),
    ("group.share.assignor.offload.enable", S::ClusterWide),
    ("group.streams.assignment.interval.ms", S::ClusterWide),
    ("group.streams.assignor.offload.enable", S::ClusterWide),
    ("leader.replication.throttled.rate", S::ClusterWide),
    ("listener.security.protocol.map", S::PerBroker),
    ("listeners", S::PerBroker),
    ("log.cleaner.backoff.ms", S::ClusterWide),
    ("log.cleaner.dedupe.buffer.size", S::ClusterWide),
    ("log.cleaner.delete.retention.ms", S::ClusterWide),
    ("log.cleaner.io.buffer.load.factor", S::ClusterWide),
    ("log.cleaner.io.buffer.size", S::ClusterWide),
    ("log.cleaner.io.max.bytes.per.second", S::ClusterWide),
    ("log.cleaner.max.compaction.lag.ms", S::ClusterWide),
    ("log.cleaner.min.cleanable.ratio", S::ClusterWide),
    ("log.cleaner.min.compaction.lag.ms", S::ClusterWide),
    ("log.cleaner.threads", S::ClusterWide),
    ("log.cleanup.policy", S::ClusterWide),
    ("log.flush.interval.messages", S::ClusterWide),
    ("log.flush.interval.ms", S::ClusterWide),
    ("log.index.interval.bytes", S::ClusterWide),
    ("log.index.size.max.bytes", S::ClusterWide),
    ("log.local.retention.bytes", S::ClusterWide),
    ("log.local.retention.ms", S::ClusterWide),
    ("log.message.timestamp.after.max.ms", S::ClusterWide),
    ("log.message.timestamp.before.max.ms", S::ClusterWide),
    ("log.message.timestamp.type", S::ClusterWide),
    ("log.preallocate", S::ClusterWide),
    ("log.remote.copy.lag.bytes", S::ClusterWide),
    ("log.remote.copy.lag.ms", S::ClusterWide),
    ("log.retention.bytes", S::ClusterWide),
    ("log.retention.ms", S::ClusterWide),
    ("log.roll.jitter.ms", S::ClusterWide),
    ("log.roll.ms", S::ClusterWide),
    ("log.segment.bytes", S::ClusterWide),
    ("log.segment.delete.delay.ms", S::ClusterWide),
    ("max.connection.creation.rate", S::ClusterWide),
    ("max.connections", S::ClusterWide),
    ("max.connections.per.ip", S::ClusterWide),
    ("max.connections.per.ip.overrides", S::ClusterWide),
    ("max.decompressed.message.bytes", S::ClusterWide),
    ("message.max.bytes", S::ClusterWide),
    ("metric.reporters", S::ClusterWide),
    ("min.insync.replicas", S::ClusterWide),
    ("num.io.threads", S::ClusterWide),
    ("num.network.threads", S::ClusterWide),
    ("num.recovery.threads.per.data.dir", S::ClusterWide),
    ("num.replica.fetchers", S::ClusterWide),
    ("principal.builder.class", S::PerBroker),
    ("producer.id.expiration.ms", S::ClusterWide),
    ("remote.fetch.max.wait.ms", S::ClusterWide),
    ("remote.list.offsets.request.timeout.ms", S::ClusterWide),
    ("remote.log.index.file.cache.total.size.bytes", S::ClusterWide),
    ("remote.log.manager.copier.thread.pool.size", S::ClusterWide),
    ("remote.log.manager.copy.max.bytes.per.second", S::ClusterWide),
    ("remote.log.manager.expiration.thread.pool.size", S::ClusterWide),
    ("remote.log.manager.fetch.max.bytes.per.second", S::ClusterWide),
    ("remote.log.manager.follower.thread.pool.size", S::ClusterWide),
    ("remote.log.reader.threads", S::ClusterWide),
    ("replica.alter.log.dirs.io.max.bytes.per.second", S::ClusterWide),
    ("sasl.enabled.mechanisms", S::PerBroker),
    ("sasl.jaas.config", S::PerBroker),
    ("sasl.kerberos.kinit.cmd", S::PerBroker),
    ("sasl.kerberos.min.time.before.relogin", S::PerBroker),
    ("sasl.kerberos.principal.to.local.rules", S::PerBroker),
    ("sasl.kerberos.service.name", S::PerBroker),
    ("sasl.kerberos.ticket.renew.jitter", S::PerBroker),
    ("sasl.kerberos.ticket.renew.window.factor", S::PerBroker),
    ("sasl.login.refresh.buffer.seconds", S::PerBroker),
    ("sasl.login.refresh.min.period.seconds", S::PerBroker),
    ("sasl.login.refresh.window.factor", S::PerBroker),
    ("sasl.login.refresh.window.jitter", S::PerBroker),
    ("sasl.mechanism.inter.broker.protocol", S::PerBroker),
    ("share.coordinator.cached.buffer.max.bytes", S::ClusterWide),
    ("ssl.cipher.suites", S::PerBroker),
    ("ssl.client.auth", S::PerBroker),
    ("ssl.enabled.protocols", S::PerBroker),
    ("ssl.endpoint.identification.algorithm", S::PerBroker),
    ("ssl.engine.factory.class", S::PerBroker),
    ("ssl.key.password", S::PerBroker),
    ("ssl.keymanager.algorithm", S::PerBroker),
    ("ssl.keystore.certificate.chain", S::PerBroker),
    ("ssl.keystore.key", S::PerBroker),
    ("ssl.keystore.location", S::PerBroker),
    ("ssl.keystore.password", S::PerBroker),
    ("ssl.keystore.type", S::PerBroker),
    ("ssl.protocol", S::PerBroker),
    ("ssl.provider", S::PerBroker),
    ("ssl.secure.random.implementation", S::PerBroker),
    ("ssl.trustmanager.algorithm", S::PerBroker),
    ("ssl.truststore.certificates", S::PerBroker),
    ("ssl.truststore.location", S::PerBroker),
    ("ssl.truststore.password", S::PerBroker),
    ("ssl.truststore.type", S::PerBroker),
    ("transaction.partition.verification.enable", S::ClusterWide),
    ("unclean.leader.election.enable", S::ClusterWide),
];

/// Keys Kafka updates at run time that Riffle reads only when it starts (listeners,
/// connection limits, the cleaner's settings):
/// changing them is refused rather than reported but not applied.
pub static STARTUP_ONLY_KEYS: &[&str] = &[
    "listeners",
    "listener.security.protocol.map",
    "max.connections",
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
];

/// The scope of a key Kafka updates at run time (`None`: static only).
pub fn dynamic_scope(name: &str) -> Option<Scope> {
    DYNAMIC_BROKER_KEYS.iter().find(|(k, _)| *k == name).map(|(_, s)| *s)
}

/// Whether Riffle changes `name` at run time: Kafka does, and Riffle does not read it
/// only at start-up.
pub fn is_dynamic(name: &str) -> bool {
    dynamic_scope(name).is_some() && !STARTUP_ONLY_KEYS.contains(&name)
}

/// The dynamic layers over a broker's static config: the cluster-wide defaults and
/// this broker's own (which win).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicConfigs {
    pub cluster_default: BTreeMap<String, String>,
    pub per_broker: BTreeMap<String, String>,
}

impl DynamicConfigs {
    /// The dynamic value of `name` and whether it is this broker's own.
    pub fn get(&self, name: &str) -> Option<(&str, bool)> {
        self.per_broker.get(name).map(|v| (v.as_str(), true)).or_else(|| self.cluster_default.get(name).map(|v| (v.as_str(), false)))
    }
}

/// Checks the dynamic configs a resource would have after a change, as Kafka's broker
/// does before it forwards the change: every key one that may change at run time (and,
/// for the cluster-wide default, not a per-broker one) with a valid value. The message
/// words Kafka's.
pub fn validate(configs: &BTreeMap<String, String>, per_broker: bool) -> Result<(), String> {
    let list = |keys: Vec<&String>| keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
    let unknown: Vec<&String> = configs.keys().filter(|k| super::broker::find_key(k).is_none()).collect();
    if !unknown.is_empty() {
        return Err(format!("Unknown broker configs: Set({})", list(unknown)));
    }
    let static_only: Vec<&String> = configs.keys().filter(|k| dynamic_scope(k).is_none()).collect();
    if !static_only.is_empty() {
        return Err(format!("Cannot update these configs dynamically: Set({})", list(static_only)));
    }
    let startup_only: Vec<&String> = configs.keys().filter(|k| STARTUP_ONLY_KEYS.contains(&k.as_str())).collect();
    if !startup_only.is_empty() {
        return Err(format!("Riffle applies these configs only at start-up (set them in server.properties): Set({})", list(startup_only)));
    }
    if !per_broker {
        let only_per_broker: Vec<&String> = configs.keys().filter(|k| dynamic_scope(k) == Some(Scope::PerBroker)).collect();
        if !only_per_broker.is_empty() {
            return Err(format!("Cannot update these configs at default cluster level, broker id must be specified: Set({})", list(only_per_broker)));
        }
    }
    for (k, v) in configs {
        let def = super::broker::find_key(k).expect("checked above");
        def.validate(v).map_err(|e| e.to_string())?;
        super::broker::not_enforced(k, v).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dynamic_key_riffle_acts_on_is_declared() {
        for name in STARTUP_ONLY_KEYS {
            assert!(dynamic_scope(name).is_some(), "{name} is not dynamic in Kafka");
        }
        assert_eq!(dynamic_scope("listeners"), Some(Scope::PerBroker));
        assert_eq!(dynamic_scope("log.retention.ms"), Some(Scope::ClusterWide));
        assert_eq!(dynamic_scope("log.dirs"), None);
        assert!(is_dynamic("log.retention.ms") && !is_dynamic("max.connections"));
    }

    #[test]
    fn only_run_time_keys_with_valid_values_pass() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(validate(&m("log.retention.ms", "1000"), false).is_ok());
        assert!(validate(&m("log.retention.ms", "soon"), false).is_err());
        assert!(validate(&m("log.dirs", "/x"), true).unwrap_err().starts_with("Cannot update these configs dynamically"));
        assert!(validate(&m("ssl.cipher.suites", "x"), false).unwrap_err().contains("broker id must be specified"));
        assert!(validate(&m("max.connections", "5"), true).unwrap_err().contains("only at start-up"));
        assert!(validate(&m("no.such.key", "5"), true).is_err());
    }
}
