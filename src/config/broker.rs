//! Broker configuration: the declared keys and the typed values read from them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;

use super::def::{find, ConfigDef, ConfigError, ConfigType as T, Validator as V};
use super::dynamic::DynamicConfigs;
use super::kafka_broker_keys::KAFKA_BROKER_KEYS;
use super::listeners::{bind_address, default_advertised_host, host_port, parse_endpoints, parse_protocol_map, split_host_port, ListenerConfig, SecurityProtocol};

const fn def(name: &'static str, ty: T, default: Option<&'static str>, validator: V, doc: &'static str) -> ConfigDef {
    ConfigDef { name, ty, default, validator, read_only: true, doc }
}

/// Every broker key Riffle reads. Broker keys are static (read-only at run time), as in
/// Kafka for all of these.
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    def("node.id", T::Int, Some("1"), V::AtLeast(0), "The node id of this broker."),
    def("listeners", T::List, Some("PLAINTEXT://127.0.0.1:9092"), V::None, "Listener URIs the broker binds to."),
    def("advertised.listeners", T::List, None, V::None, "Listeners published to clients, if different from listeners."),
    def("listener.security.protocol.map", T::List, Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), V::None, "Security protocol of each listener name."),
    def("broker.rack", T::String, None, V::None, "Rack of the broker."),
    def("log.dirs", T::List, Some("./data"), V::None, "Directory holding the partition logs."),
    def("log.dir", T::String, None, V::None, "Used when log.dirs is not set."),
    def("auto.create.topics.enable", T::Boolean, Some("true"), V::None, "Create a topic when a client asks for its metadata."),
    def("num.partitions", T::Int, Some("1"), V::AtLeast(1), "Default number of partitions of a new topic."),
    def("default.replication.factor", T::Int, Some("1"), V::AtLeast(1), "Default replication factor of a new topic."),
    def("log.segment.bytes", T::Int, Some("1073741824"), V::AtLeast(super::topic::MIN_SEGMENT_BYTES), "Maximum size of one log segment file."),
    def("log.roll.ms", T::Long, None, V::AtLeast(1), "Maximum age of the active segment before it is rolled."),
    def("log.roll.hours", T::Int, Some("168"), V::AtLeast(1), "log.roll.ms in hours, used when log.roll.ms is unset."),
    def("log.roll.jitter.ms", T::Long, Some("0"), V::AtLeast(0), "Accepted for compatibility; no jitter is applied."),
    def("log.index.interval.bytes", T::Int, Some("4096"), V::AtLeast(0), "Bytes between two offset index entries."),
    def("log.index.size.max.bytes", T::Int, Some("10485760"), V::AtLeast(4), "Maximum size of an offset index file."),
    def("log.retention.ms", T::Long, None, V::None, "Age after which a segment may be deleted."),
    def("log.retention.minutes", T::Int, None, V::None, "log.retention.ms in minutes."),
    def("log.retention.hours", T::Int, Some("168"), V::None, "log.retention.ms in hours."),
    def("log.retention.bytes", T::Long, Some("-1"), V::None, "Maximum size of a partition before old segments are deleted."),
    def("log.retention.check.interval.ms", T::Long, Some("300000"), V::AtLeast(1), "How often retention is checked."),
    def("log.cleanup.policy", T::List, Some("delete"), V::OneOf(&["delete", "compact"]), "Default cleanup policy."),
    def("log.cleaner.delete.retention.ms", T::Long, Some("86400000"), V::AtLeast(0), "How long tombstones are kept."),
    def("log.cleaner.min.cleanable.ratio", T::Double, Some("0.5"), V::Between(0.0, 1.0), "Dirty ratio that triggers cleaning."),
    def("log.cleaner.min.compaction.lag.ms", T::Long, Some("0"), V::AtLeast(0), "Minimum age before a record may be compacted."),
    def("log.cleaner.max.compaction.lag.ms", T::Long, Some("9223372036854775807"), V::AtLeast(1), "Maximum age before a record must be compacted."),
    def("log.cleaner.enable", T::Boolean, Some("true"), V::None, "Run the log cleaner for compacted topics."),
    def("log.cleaner.backoff.ms", T::Long, Some("15000"), V::AtLeast(0), "Pause between cleaner passes when nothing needs cleaning."),
    def("log.cleaner.dedupe.buffer.size", T::Long, Some("134217728"), V::AtLeast(1024), "Memory for the cleaner's key-to-offset map."),
    def("log.cleaner.io.max.bytes.per.second", T::Double, Some("1.7976931348623157E308"), V::None, "I/O rate limit of the cleaner."),
    def("log.cleaner.threads", T::Int, Some("1"), V::AtLeast(0), "Accepted; Riffle runs one cleaner thread."),
    def("log.segment.delete.delay.ms", T::Long, Some("60000"), V::AtLeast(0), "Delay before a deleted segment's files are removed."),
    def("log.flush.interval.messages", T::Long, Some("9223372036854775807"), V::AtLeast(1), "Messages appended before the log is fsynced."),
    def("log.flush.interval.ms", T::Long, None, V::AtLeast(0), "Time before the log is fsynced."),
    def("log.message.timestamp.type", T::String, Some("CreateTime"), V::OneOf(&["CreateTime", "LogAppendTime"]), "Timestamp type of stored messages."),
    def("log.message.timestamp.before.max.ms", T::Long, Some("9223372036854775807"), V::AtLeast(0), "Maximum allowed age of a record timestamp."),
    def("log.message.timestamp.after.max.ms", T::Long, Some("3600000"), V::AtLeast(0), "Maximum allowed lead of a record timestamp."),
    def("message.max.bytes", T::Int, Some("1048588"), V::AtLeast(0), "Largest record batch the broker accepts."),
    def("min.insync.replicas", T::Int, Some("1"), V::AtLeast(1), "Minimum in-sync replicas for acks=all."),
    def("unclean.leader.election.enable", T::Boolean, Some("false"), V::None, "Allow out-of-sync replicas to become leader."),
    def("compression.type", T::String, Some("producer"), V::OneOf(super::topic::COMPRESSION_TYPES), "Default codec of stored batches; 'producer' keeps the producer's."),
    def("compression.gzip.level", T::Int, Some("-1"), V::BetweenOr(1, 9, -1), "Default gzip level when the broker compresses."),
    def("compression.lz4.level", T::Int, Some("9"), V::Between(1.0, 17.0), "Default lz4 level when the broker compresses."),
    def("compression.zstd.level", T::Int, Some("3"), V::Between(-131072.0, 22.0), "Default zstd level when the broker compresses."),
    def("log.preallocate", T::Boolean, Some("false"), V::None, "Accepted; segment files are not preallocated."),
    def("log.local.retention.bytes", T::Long, Some("-2"), V::AtLeast(-2), "Local retention with tiered storage (which Riffle does not have)."),
    def("log.local.retention.ms", T::Long, Some("-2"), V::AtLeast(-2), "Local retention with tiered storage (which Riffle does not have)."),
    def("remote.log.storage.system.enable", T::Boolean, Some("false"), V::OneOf(&["false"]), "Tiered storage is not available."),
    def("group.initial.rebalance.delay.ms", T::Int, Some("3000"), V::AtLeast(0), "How long the first rebalance of an empty group waits for more members."),
    def("group.min.session.timeout.ms", T::Int, Some("6000"), V::AtLeast(0), "Smallest session timeout a member may ask for."),
    def("group.max.session.timeout.ms", T::Int, Some("1800000"), V::AtLeast(0), "Largest session timeout a member may ask for."),
    def("group.max.size", T::Int, Some("2147483647"), V::AtLeast(1), "Maximum members in one group."),
    def("group.consumer.session.timeout.ms", T::Int, Some("45000"), V::AtLeast(1), "Session timeout of members of consumer groups (KIP-848)."),
    def("group.consumer.heartbeat.interval.ms", T::Int, Some("5000"), V::AtLeast(1), "Heartbeat interval the coordinator gives members of consumer groups."),
    def("group.consumer.max.size", T::Int, Some("2147483647"), V::AtLeast(1), "Maximum members in one consumer group."),
    def("group.consumer.migration.policy", T::String, Some("bidirectional"), V::OneOf(&["bidirectional", "upgrade", "downgrade", "disabled", "BIDIRECTIONAL", "UPGRADE", "DOWNGRADE", "DISABLED"]), "Whether a group with members moves between the classic and the consumer protocol."),
    def("group.consumer.assignors", T::List, Some("uniform,range"), V::OneOf(CONSUMER_ASSIGNORS), "Server-side assignors of consumer groups; the first is the default."),
    def("group.coordinator.rebalance.protocols", T::List, Some("classic,consumer,streams"), V::OneOf(&["classic", "consumer", "streams", "share"]), "Group protocols the coordinator serves (Riffle: classic and consumer)."),
    def("offsets.topic.num.partitions", T::Int, Some("50"), V::AtLeast(1), "Partitions of __consumer_offsets (fixed once it exists)."),
    def("offsets.topic.replication.factor", T::Short, Some("3"), V::AtLeast(1), "Replication factor of __consumer_offsets (a single broker: 1; a cluster waits for this many live brokers)."),
    def("offsets.topic.segment.bytes", T::Int, Some("104857600"), V::AtLeast(1), "Segment size of __consumer_offsets."),
    def("offsets.retention.minutes", T::Int, Some("10080"), V::AtLeast(1), "How long offsets of an empty group are kept."),
    def("offsets.retention.check.interval.ms", T::Long, Some("600000"), V::AtLeast(1), "How often expired offsets are removed."),
    def("transaction.state.log.num.partitions", T::Int, Some("50"), V::AtLeast(1), "Partitions of __transaction_state (fixed once it exists)."),
    def("transaction.state.log.replication.factor", T::Short, Some("3"), V::AtLeast(1), "Replication factor of __transaction_state (a single broker: 1; a cluster waits for this many live brokers)."),
    def("transaction.state.log.min.isr", T::Int, Some("2"), V::AtLeast(1), "min.insync.replicas of __transaction_state."),
    def("transaction.state.log.segment.bytes", T::Int, Some("104857600"), V::AtLeast(1), "Segment size of __transaction_state."),
    def("transaction.max.timeout.ms", T::Int, Some("900000"), V::AtLeast(1), "Largest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond)."),
    def("transactional.id.expiration.ms", T::Int, Some("604800000"), V::AtLeast(1), "How long a transactional id with no transaction in flight is kept after its last use."),
    def("transaction.abort.timed.out.transaction.cleanup.interval.ms", T::Int, Some("10000"), V::AtLeast(1), "How often transactions past their timeout are aborted."),
    def("transaction.remove.expired.transaction.cleanup.interval.ms", T::Int, Some("3600000"), V::AtLeast(1), "How often expired transactional ids are removed."),
    def("transaction.partition.verification.enable", T::Boolean, Some("true"), V::None, "Partition leaders ask the transaction coordinator whether a partition is in the producer's transaction before its first transactional batch (KIP-890)."),
    def("offset.metadata.max.bytes", T::Int, Some("4096"), V::AtLeast(0), "Largest metadata string of a committed offset."),
    def("offsets.commit.timeout.ms", T::Int, Some("5000"), V::AtLeast(1), "How long an offset commit waits for the followers of its __consumer_offsets partition."),
    def("socket.request.max.bytes", T::Int, Some("104857600"), V::AtLeast(1), "Largest request frame accepted."),
    def("queued.max.request.bytes", T::Long, Some("-1"), V::None, "Bytes of requests read but not yet answered, across all connections, before no more are read (-1: no limit)."),
    def("max.connections", T::Int, Some("2147483647"), V::AtLeast(0), "Maximum simultaneous client connections."),
    def("process.roles", T::List, None, V::None, "broker,controller for a node of a cluster (unset: a single broker without a quorum)."),
    def("controller.quorum.voters", T::List, None, V::None, "The metadata quorum: id@host:port of every controller."),
    def("controller.listener.names", T::List, Some("CONTROLLER"), V::None, "Names of the listeners used by the controller."),
    def("inter.broker.listener.name", T::String, None, V::None, "The listener replicas fetch from and transaction markers go to (default: the first PLAINTEXT listener, else the first)."),
    def("security.inter.broker.protocol", T::String, None, V::None, "Kafka's older way to name the inter-broker listener: the listener named as this protocol."),
    def("ssl.keystore.type", T::String, Some("JKS"), V::None, "Key store format; Riffle reads PEM."),
    def("ssl.keystore.location", T::String, None, V::None, "PEM file with the listener's private key and certificate chain."),
    def("ssl.keystore.certificate.chain", T::Password, None, V::None, "The certificate chain, as PEM text."),
    def("ssl.keystore.key", T::Password, None, V::None, "The private key (unencrypted PKCS#8), as PEM text."),
    def("ssl.truststore.type", T::String, Some("JKS"), V::None, "Trust store format; Riffle reads PEM."),
    def("ssl.truststore.location", T::String, None, V::None, "PEM file with the certificates client certificates are checked against."),
    def("ssl.truststore.certificates", T::Password, None, V::None, "The trusted certificates, as PEM text."),
    def("ssl.client.auth", T::String, Some("none"), V::None, "Client certificates: required, requested or none."),
    def("ssl.enabled.protocols", T::List, Some("TLSv1.2,TLSv1.3"), V::None, "TLS versions accepted."),
    def("ssl.principal.mapping.rules", T::String, Some("DEFAULT"), V::None, "Rules mapping a client certificate's subject to a principal name."),
    def("sasl.enabled.mechanisms", T::List, Some("GSSAPI"), V::None, "SASL mechanisms of SASL listeners (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)."),
    def("sasl.mechanism.inter.broker.protocol", T::String, Some("GSSAPI"), V::None, "The SASL mechanism brokers authenticate to each other with on a SASL inter-broker listener."),
    def("sasl.mechanism.controller.protocol", T::String, Some("GSSAPI"), V::None, "The SASL mechanism nodes authenticate to the controllers with on a SASL controller listener."),
    def("ssl.endpoint.identification.algorithm", T::String, Some("https"), V::None, "https: a node checks the host name of the node it connects to against its certificate; empty: not."),
    def("quota.window.num", T::Int, Some("11"), V::AtLeast(1), "Samples a client's byte rate is measured over."),
    def("quota.window.size.seconds", T::Int, Some("1"), V::AtLeast(1), "Length of each byte-rate sample."),
    def("controller.quota.window.num", T::Int, Some("11"), V::AtLeast(1), "Samples of the controller mutation quota (its burst: this many windows of the quota)."),
    def("controller.quota.window.size.seconds", T::Int, Some("1"), V::AtLeast(1), "Length of each controller mutation sample."),
    def("sasl.oauthbearer.jwks.endpoint.url", T::String, None, V::None, "The JSON Web Key Set signed OAUTHBEARER tokens are checked against (https:// or file:), with OAuthBearerValidatorCallbackHandler."),
    def("sasl.oauthbearer.jwks.endpoint.refresh.ms", T::Long, Some("3600000"), V::AtLeast(0), "How often the JSON Web Key Set is fetched again."),
    def("sasl.oauthbearer.expected.issuer", T::String, None, V::None, "The iss claim a signed token must have."),
    def("sasl.oauthbearer.expected.audience", T::List, Some(""), V::None, "Audiences (aud) of which a signed token must name one."),
    def("sasl.oauthbearer.allow.unverified.issuer", T::Boolean, Some("false"), V::None, "Accept signed tokens without an expected issuer configured."),
    def("sasl.oauthbearer.allow.unverified.audience", T::Boolean, Some("false"), V::None, "Accept signed tokens without an expected audience configured."),
    def("sasl.oauthbearer.sub.claim.name", T::String, Some("sub"), V::None, "The claim of a signed token naming the principal."),
    def("sasl.oauthbearer.clock.skew.seconds", T::Int, Some("30"), V::AtLeast(0), "Leeway of the exp check of a signed token."),
    def("sasl.server.max.receive.size", T::Int, Some("524288"), V::AtLeast(1), "The largest request accepted before SASL authentication completes."),
    def("connections.max.reauth.ms", T::Long, Some("0"), V::AtLeast(0), "Session lifetime of a SASL connection before it must re-authenticate (0: none)."),
    def("connection.failed.authentication.delay.ms", T::Int, Some("100"), V::AtLeast(0), "Delay before a failed authentication is answered and its connection closed."),
    def("authorizer.class.name", T::String, Some(""), V::None, "org.apache.kafka.metadata.authorizer.StandardAuthorizer turns on ACLs."),
    def("super.users", T::List, None, V::None, "Principals (separated by ';') allowed everything when ACLs are on."),
    def("allow.everyone.if.no.acl.found", T::Boolean, Some("false"), V::None, "Allow a resource no ACL covers (ACLs on)."),
    def("controller.quorum.election.timeout.ms", T::Int, Some("1000"), V::AtLeast(10), "How long a quorum member waits for the leader before starting an election."),
    def("broker.heartbeat.interval.ms", T::Int, Some("2000"), V::AtLeast(1), "How often a broker heartbeats to the active controller."),
    def("broker.session.timeout.ms", T::Int, Some("9000"), V::AtLeast(1), "How long a broker may go without a heartbeat before it is fenced."),
    def("replica.lag.time.max.ms", T::Long, Some("30000"), V::AtLeast(1), "A follower not caught up for this long leaves the ISR."),
    def("replica.fetch.wait.max.ms", T::Int, Some("500"), V::AtLeast(0), "Longest wait of a follower's fetch."),
    def("replica.fetch.min.bytes", T::Int, Some("1"), V::AtLeast(0), "Bytes a follower's fetch waits for."),
    def("replica.fetch.max.bytes", T::Int, Some("1048576"), V::AtLeast(0), "Bytes a follower fetches per partition."),
    def("replica.fetch.response.max.bytes", T::Int, Some("10485760"), V::AtLeast(0), "Bytes a follower fetches per request."),
    def("replica.fetch.backoff.ms", T::Int, Some("1000"), V::AtLeast(0), "Pause of a follower after a fetch error."),
    def("replica.high.watermark.checkpoint.interval.ms", T::Long, Some("5000"), V::AtLeast(1), "How often high watermarks are written to disk."),
    def("auto.leader.rebalance.enable", T::Boolean, Some("true"), V::None, "Move leaders back to their preferred replicas."),
    def("leader.imbalance.check.interval.seconds", T::Long, Some("300"), V::AtLeast(1), "How often leader balance is checked."),
];

/// A node of a cluster: its roles and the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub broker: bool,
    pub controller: bool,
    /// Voter id → controller listener `host:port`.
    pub voters: BTreeMap<i32, String>,
    /// Where this node's controller listens (controllers only).
    pub controller_listener: Option<SocketAddr>,
    /// The controller listener's name (the first of `controller.listener.names`) and
    /// its security protocol: what brokers connect to the controllers with.
    pub controller_listener_name: String,
    pub controller_security_protocol: SecurityProtocol,
}

/// Where a broker value came from, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set at run time for this broker (IncrementalAlterConfigs on its id).
    DynamicBroker,
    /// Set at run time as the cluster-wide default (the resource named "").
    DynamicDefault,
    /// Set in the properties file or with `--override`.
    Static,
    Default,
}

/// The broker's configuration: the explicitly set keys plus typed views of the ones the
/// broker acts on.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    explicit: BTreeMap<String, String>,
    /// Dynamic configs over the static ones, shared by every holder of this config (and
    /// its clones), replaced as a whole when they change.
    dynamic: Arc<RwLock<DynamicConfigs>>,
    pub node_id: i32,
    /// Every client listener, in the order of `listeners`.
    pub listeners: Vec<ListenerConfig>,
    /// The first client listener's bind address.
    pub listener: SocketAddr,
    /// The first client listener's published host and port: what this broker registers
    /// with the controller and what other brokers use.
    pub advertised_host: String,
    pub advertised_port: i32,
    pub rack: Option<String>,
    pub log_dir: PathBuf,
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`; `None` (-1 or 0) is no limit, as in Kafka.
    pub queued_max_request_bytes: Option<usize>,
    pub max_connections: usize,
    /// `None`: a single broker (no `process.roles`), which needs no quorum.
    pub cluster: Option<ClusterConfig>,
}

/// A broker key: one Riffle acts on, or another key of Kafka's broker configuration
/// (accepted and reported, not acted on).
/// The assignors `group.consumer.assignors` accepts, by name or by Kafka's class name.
const CONSUMER_ASSIGNORS: &[&str] = &[
    "uniform",
    "range",
    "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
    "org.apache.kafka.coordinator.group.assignor.RangeAssignor",
];

pub fn find_key(name: &str) -> Option<&'static ConfigDef> {
    find(BROKER_CONFIGS, name).or_else(|| find(KAFKA_BROKER_KEYS, name))
}

/// Every broker key, Riffle's own first, as DescribeConfigs lists them.
pub fn all_keys() -> impl Iterator<Item = &'static ConfigDef> {
    BROKER_CONFIGS.iter().chain(KAFKA_BROKER_KEYS.iter().filter(|k| find(BROKER_CONFIGS, k.name).is_none()))
}

/// Kafka keys that ask the broker to enforce something Riffle does not enforce yet: set
/// to anything but Kafka's default they stop the start, rather than let a user believe
/// their authorizer, policies or per-address limits are in force.
const NOT_ENFORCED: &[(&str, &str)] = &[
    ("create.topic.policy.class.name", "topic creation policies are not supported"),
    ("alter.config.policy.class.name", "config alteration policies are not supported"),
    ("max.connections.per.ip", "per-address connection limits are not supported (max.connections is)"),
    ("max.connections.per.ip.overrides", "per-address connection limits are not supported (max.connections is)"),
];

pub(super) fn not_enforced(key: &str, value: &str) -> Result<(), ConfigError> {
    let Some((_, reason)) = NOT_ENFORCED.iter().find(|(k, _)| *k == key) else { return Ok(()) };
    let default = find_key(key).and_then(|d| d.default).unwrap_or("");
    if value.trim() == default || (default.is_empty() && value.trim().is_empty()) {
        return Ok(());
    }
    Err(ConfigError::Invalid { name: key.into(), value: value.into(), reason: (*reason).into() })
}

impl BrokerConfig {
    /// Builds a configuration from explicit key/value pairs; unknown keys are returned as
    /// warnings (Kafka logs them and carries on), invalid values are errors.
    pub fn from_map(explicit: BTreeMap<String, String>) -> Result<(Self, Vec<String>), ConfigError> {
        let mut unknown = Vec::new();
        for (k, v) in &explicit {
            match find_key(k) {
                Some(d) => d.validate(v)?,
                // Per-listener settings (`listener.name.<listener>.<key>`) are read by
                // the listener they name.
                None if k.starts_with("listener.name.") => {}
                None => unknown.push(k.clone()),
            }
            not_enforced(k, v)?;
        }
        let get = |k: &str| -> Option<String> {
            explicit.get(k).cloned().or_else(|| find(BROKER_CONFIGS, k).and_then(|d| d.default.map(String::from)))
        };
        let int = |k: &str| -> i64 { get(k).and_then(|v| v.trim().parse().ok()).unwrap_or(0) };
        let invalid = |k: &str, v: &str, reason: &str| ConfigError::Invalid {
            name: k.into(),
            value: v.into(),
            reason: reason.into(),
        };

        let listeners = get("listeners").unwrap_or_default();
        let controller_names: Vec<String> = get("controller.listener.names").unwrap_or_default().split(',').map(|n| n.trim().to_ascii_uppercase()).collect();
        let protocol_text = get("listener.security.protocol.map").unwrap_or_default();
        let mut protocols = parse_protocol_map(&protocol_text).ok_or_else(|| invalid("listener.security.protocol.map", &protocol_text, "expected NAME:PROTOCOL,..."))?;
        for name in &controller_names {
            // Kafka maps the controller listener to PLAINTEXT unless told otherwise.
            protocols.entry(name.clone()).or_insert(SecurityProtocol::Plaintext);
        }
        let endpoints = parse_endpoints(&listeners).ok_or_else(|| invalid("listeners", &listeners, "expected NAME://host:port,..."))?;
        let advertised_text = get("advertised.listeners");
        let advertised_endpoints = match &advertised_text {
            Some(a) => parse_endpoints(a).ok_or_else(|| invalid("advertised.listeners", a, "expected NAME://host:port,..."))?,
            None => Vec::new(),
        };
        // As Kafka: every advertised listener must be one of `listeners`.
        if let Some(unknown) = advertised_endpoints.iter().find(|a| !endpoints.iter().any(|e| e.name == a.name)) {
            let text = advertised_text.clone().unwrap_or_default();
            return Err(invalid("advertised.listeners", &text, &format!("listener {} is not in listeners", unknown.name)));
        }
        let mut client_listeners = Vec::new();
        for e in endpoints.iter().filter(|e| !controller_names.contains(&e.name)) {
            let protocol = *protocols.get(&e.name).ok_or_else(|| invalid("listeners", &listeners, &format!("listener {} has no entry in listener.security.protocol.map", e.name)))?;
            if client_listeners.iter().any(|l: &ListenerConfig| l.name == e.name) {
                return Err(invalid("listeners", &listeners, &format!("listener name {} is used twice", e.name)));
            }
            let bind = bind_address(&e.host, e.port).ok_or_else(|| invalid("listeners", &listeners, "expected NAME://host:port"))?;
            let advertised = advertised_endpoints.iter().find(|a| a.name == e.name);
            let (advertised_host, advertised_port) = match advertised {
                Some(a) => (a.host.clone(), a.port),
                None => (default_advertised_host(&e.host), e.port),
            };
            client_listeners.push(ListenerConfig {
                name: e.name.clone(),
                security_protocol: protocol,
                bind,
                advertised_host,
                advertised_port: advertised_port as i32,
                advertised_explicitly: advertised.is_some(),
            });
        }
        let controller_endpoint = endpoints.iter().find(|e| controller_names.contains(&e.name));
        let cluster = match get("process.roles") {
            None => None,
            Some(roles) => {
                let roles: Vec<String> = roles.split(',').map(|r| r.trim().to_ascii_lowercase()).filter(|r| !r.is_empty()).collect();
                if roles.is_empty() || roles.iter().any(|r| r != "broker" && r != "controller") {
                    return Err(invalid("process.roles", &roles.join(","), "expected broker, controller or broker,controller"));
                }
                let voters_text = get("controller.quorum.voters").unwrap_or_default();
                let mut voters = BTreeMap::new();
                for v in voters_text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    let parsed = v.split_once('@').and_then(|(id, addr)| Some((id.parse::<i32>().ok()?, split_host_port(addr)?)));
                    let (id, (host, port)) = parsed.ok_or_else(|| invalid("controller.quorum.voters", &voters_text, "expected id@host:port,..."))?;
                    voters.insert(id, host_port(&host, port));
                }
                if voters.is_empty() {
                    return Err(invalid("controller.quorum.voters", &voters_text, "a cluster node needs the quorum's voters"));
                }
                let controller = roles.iter().any(|r| r == "controller");
                let broker = roles.iter().any(|r| r == "broker");
                let controller_listener = match (controller_endpoint, controller) {
                    (Some(e), true) => Some(bind_address(&e.host, e.port).ok_or_else(|| invalid("listeners", &listeners, "expected CONTROLLER://host:port"))?),
                    (None, true) => return Err(invalid("listeners", &listeners, "a controller needs a listener named in controller.listener.names")),
                    _ => None,
                };
                let node_id = int("node.id") as i32;
                if controller && !voters.contains_key(&node_id) {
                    return Err(invalid("controller.quorum.voters", &voters_text, &format!("node.id {node_id} is a controller but not a voter")));
                }
                let controller_listener_name = controller_names.first().cloned().unwrap_or_default();
                let controller_security_protocol = protocols.get(&controller_listener_name).copied().unwrap_or(SecurityProtocol::Plaintext);
                Some(ClusterConfig { broker, controller, voters, controller_listener, controller_listener_name, controller_security_protocol })
            }
        };
        if client_listeners.is_empty() && cluster.as_ref().is_none_or(|c| c.broker) {
            return Err(invalid("listeners", &listeners, "a broker needs a client listener, e.g. PLAINTEXT://host:port"));
        }
        // The inter-broker listener comes first: it is the address this broker registers,
        // where replicas fetch from (with the security its protocol asks for).
        let inter_broker = match get("inter.broker.listener.name") {
            Some(name) => {
                let name = name.trim().to_ascii_uppercase();
                Some(client_listeners.iter().position(|l| l.name == name).ok_or_else(|| invalid("inter.broker.listener.name", &name, "not one of listeners"))?)
            }
            // Kafka's older way: the listener named as the protocol.
            None => match get("security.inter.broker.protocol") {
                Some(p) => {
                    let name = p.trim().to_ascii_uppercase();
                    Some(client_listeners.iter().position(|l| l.name == name).ok_or_else(|| invalid("security.inter.broker.protocol", &name, "no listener of that name"))?)
                }
                None => client_listeners.iter().position(|l| l.security_protocol == SecurityProtocol::Plaintext),
            },
        };
        if let Some(i) = inter_broker {
            let l = client_listeners.remove(i);
            client_listeners.insert(0, l);
        }
        // A controller-only node serves no clients.
        let (listener, advertised) = match client_listeners.first() {
            Some(l) => (l.bind, (l.advertised_host.clone(), l.advertised_port as u16)),
            None => ("127.0.0.1:0".parse().expect("literal address"), ("127.0.0.1".to_string(), 0)),
        };
        let log_dir = get("log.dirs")
            .filter(|_| explicit.contains_key("log.dirs") || !explicit.contains_key("log.dir"))
            .or_else(|| get("log.dir"))
            .unwrap_or_else(|| "./data".into());
        let log_dir = log_dir.split(',').next().unwrap_or_default().trim().to_string();
        let cfg = BrokerConfig {
            node_id: int("node.id") as i32,
            listeners: client_listeners,
            listener,
            advertised_host: advertised.0,
            advertised_port: advertised.1 as i32,
            rack: get("broker.rack"),
            log_dir: PathBuf::from(log_dir),
            auto_create_topics_enable: get("auto.create.topics.enable").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            num_partitions: int("num.partitions") as i32,
            default_replication_factor: int("default.replication.factor") as i32,
            socket_request_max_bytes: int("socket.request.max.bytes") as usize,
            queued_max_request_bytes: usize::try_from(int("queued.max.request.bytes")).ok().filter(|n| *n > 0),
            max_connections: int("max.connections") as usize,
            cluster,
            explicit,
            dynamic: Arc::default(),
        };
        Ok((cfg, unknown))
    }

    /// The value of a declared key (dynamic, static or default), `None` for unset keys
    /// without a default.
    pub fn get(&self, name: &str) -> Option<String> {
        self.explicit(name).or_else(|| find_key(name).and_then(|d| d.default.map(String::from)))
    }

    /// Kafka keys set in this configuration that Riffle accepts but does not act on.
    pub fn accepted_only(&self) -> Vec<&str> {
        self.explicit.keys().filter(|k| find(BROKER_CONFIGS, k).is_none() && find(KAFKA_BROKER_KEYS, k).is_some()).map(String::as_str).collect()
    }

    /// The set value of a key, if any: this broker's dynamic value, else the dynamic
    /// cluster default, else the static one.
    pub fn explicit(&self, name: &str) -> Option<String> {
        if let Some((v, _)) = self.dynamic.read().get(name) {
            return Some(v.to_string());
        }
        self.explicit.get(name).cloned()
    }

    /// The statically set value of a key (properties file or `--override`).
    pub fn static_value(&self, name: &str) -> Option<&str> {
        self.explicit.get(name).map(String::as_str)
    }

    pub fn source(&self, name: &str) -> Source {
        match self.dynamic.read().get(name) {
            Some((_, true)) => Source::DynamicBroker,
            Some((_, false)) => Source::DynamicDefault,
            None if self.explicit.contains_key(name) => Source::Static,
            None => Source::Default,
        }
    }

    /// The dynamic configs in force.
    pub fn dynamic(&self) -> DynamicConfigs {
        self.dynamic.read().clone()
    }

    /// Replaces the dynamic configs; returns whether they changed.
    pub fn set_dynamic(&self, configs: DynamicConfigs) -> bool {
        let mut d = self.dynamic.write();
        if *d == configs {
            return false;
        }
        *d = configs;
        true
    }

    /// Overrides one key, as `--override key=value` does.
    pub fn with(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        let mut m = std::mem::take(&mut self.explicit);
        m.insert(key.into(), value.into());
        Ok(Self::from_map(m)?.0)
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::from_map(BTreeMap::new()).expect("defaults are valid").0
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = BrokerConfig::default();
        assert_eq!(c.listener.to_string(), "127.0.0.1:9092");
        assert_eq!(c.log_dir, PathBuf::from("./data"));
        assert_eq!(c.num_partitions, 1);
        let c = c.with("listeners", "PLAINTEXT://[::1]:0").unwrap().with("num.partitions", "3").unwrap();
        assert_eq!(c.listener.to_string(), "[::1]:0");
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.source("num.partitions"), Source::Static);
        assert!(BrokerConfig::default().with("num.partitions", "zero").is_err());
        let (_, unknown) = BrokerConfig::from_map([("bogus.key".to_string(), "1".to_string())].into()).unwrap();
        assert_eq!(unknown, vec!["bogus.key"]);
    }

    #[test]
    fn every_kafka_broker_key_is_accepted_and_typed() {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        // keys from a stock Kafka server.properties: accepted, not unknown
        let (c, unknown) = BrokerConfig::from_map(map(&[("num.network.threads", "3"), ("ssl.keystore.password", "secret"), ("log.dirs", "/tmp/x"), ("zookeeper.bogus", "1")])).unwrap();
        assert_eq!(unknown, vec!["zookeeper.bogus"]);
        assert_eq!(c.accepted_only(), vec!["num.network.threads", "ssl.keystore.password"]);
        assert_eq!(c.get("num.network.threads").as_deref(), Some("3"));
        // Kafka's default when unset
        assert_eq!(c.get("num.io.threads").as_deref(), Some("8"));
        assert_eq!(find_key("ssl.keystore.password").map(|d| d.ty), Some(T::Password));
        // values are checked against Kafka's type
        assert!(BrokerConfig::from_map(map(&[("num.network.threads", "three")])).is_err());
        // what Riffle would not enforce stops the start, unless left at Kafka's default
        assert!(BrokerConfig::from_map(map(&[("create.topic.policy.class.name", "org.example.Policy")])).is_err());
        assert!(BrokerConfig::from_map(map(&[("authorizer.class.name", "")])).is_ok());
        assert!(BrokerConfig::from_map(map(&[("max.connections.per.ip", "10")])).is_err());
        // Riffle's own table wins where both name a key, and each key is listed once
        let names: Vec<&str> = all_keys().map(|d| d.name).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len());
        assert_eq!(find_key("num.partitions").map(|d| d.doc), find(BROKER_CONFIGS, "num.partitions").map(|d| d.doc));
    }

    #[test]
    fn cluster_nodes_name_their_roles_listeners_and_voters() {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        let voters = "1@127.0.0.1:19092,2@127.0.0.1:19093,3@[::1]:19094";
        let (c, _) = BrokerConfig::from_map(map(&[
            ("node.id", "2"),
            ("process.roles", "broker,controller"),
            ("listeners", "CONTROLLER://127.0.0.1:19093,PLAINTEXT://127.0.0.1:9093"),
            ("controller.quorum.voters", voters),
        ]))
        .unwrap();
        assert_eq!(c.listener.to_string(), "127.0.0.1:9093");
        assert_eq!(c.advertised_port, 9093);
        let cluster = c.cluster.unwrap();
        assert!(cluster.broker && cluster.controller);
        assert_eq!(cluster.controller_listener.unwrap().to_string(), "127.0.0.1:19093");
        assert_eq!(cluster.voters[&3], "[::1]:19094");
        // A broker-only node needs no controller listener; a controller must be a voter.
        let (c, _) = BrokerConfig::from_map(map(&[("node.id", "4"), ("process.roles", "broker"), ("controller.quorum.voters", voters)])).unwrap();
        assert!(c.cluster.is_some_and(|c| c.broker && !c.controller));
        for bad in [
            vec![("node.id", "4"), ("process.roles", "controller"), ("listeners", "CONTROLLER://127.0.0.1:1"), ("controller.quorum.voters", voters)],
            vec![("process.roles", "broker,controller"), ("listeners", "PLAINTEXT://127.0.0.1:1"), ("controller.quorum.voters", voters)],
            vec![("process.roles", "broker"), ("controller.quorum.voters", "nonsense")],
            vec![("process.roles", "zookeeper"), ("controller.quorum.voters", voters)],
            // An inter-broker listener that does not exist.
            vec![("listeners", "PLAINTEXT://127.0.0.1:9093"), ("inter.broker.listener.name", "INTERNAL")],
            // A name the protocol map does not know, a name twice.
            vec![("listeners", "INTERNAL://127.0.0.1:9093")],
            vec![("listeners", "PLAINTEXT://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9094")],
            vec![("advertised.listeners", "EXTERNAL://example:9092")],
        ] {
            assert!(BrokerConfig::from_map(map(&bad)).is_err(), "{bad:?}");
        }
        assert!(BrokerConfig::default().cluster.is_none());
        // Named listeners, each advertised by its own name.
        let (c, _) = BrokerConfig::from_map(map(&[
            ("listeners", "INTERNAL://127.0.0.1:9093,EXTERNAL://0.0.0.0:9094"),
            ("advertised.listeners", "EXTERNAL://broker.example:19094"),
            ("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"),
        ]))
        .unwrap();
        let l: Vec<(&str, &str, i32)> = c.listeners.iter().map(|l| (l.name.as_str(), l.advertised_host.as_str(), l.advertised_port)).collect();
        assert_eq!(l, vec![("INTERNAL", "127.0.0.1", 9093), ("EXTERNAL", "broker.example", 19094)]);
        assert_eq!((c.advertised_host.as_str(), c.advertised_port), ("127.0.0.1", 9093));
        // The inter-broker listener (registered first) named the old way, by protocol; a
        // cluster's controller listener keeps its protocol for the nodes connecting to it.
        let (c, _) = BrokerConfig::from_map(map(&[
            ("process.roles", "broker,controller"),
            ("node.id", "1"),
            ("controller.quorum.voters", "1@127.0.0.1:9095"),
            ("listeners", "PLAINTEXT://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"),
            ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL"),
            ("security.inter.broker.protocol", "SASL_SSL"),
        ]))
        .unwrap();
        assert_eq!(c.listeners[0].name, "SASL_SSL");
        let cluster = c.cluster.unwrap();
        assert_eq!((cluster.controller_listener_name.as_str(), cluster.controller_security_protocol), ("CONTROLLER", SecurityProtocol::SaslSsl));
    }
}
