//! Broker and topic configuration, with Kafka's property names.
//!
//! Every key Riffle understands is declared once in a table ([`broker::BROKER_CONFIGS`],
//! [`topic::TOPIC_CONFIGS`]) with its type, default and documentation; DescribeConfigs,
//! validation and the typed structs are all derived from those tables.

pub mod broker;
pub mod compression;
pub mod def;
pub mod dynamic;
pub mod kafka_broker_keys;
pub mod listeners;
pub mod properties;
pub mod topic;

pub use broker::{BrokerConfig, ClusterConfig};
pub use compression::TopicCompression;
pub use def::{ConfigDef, ConfigError, ConfigType};
pub use dynamic::DynamicConfigs;
pub use listeners::{ListenerConfig, SecurityProtocol};
pub use topic::{TopicConfig, TopicOverrides};
