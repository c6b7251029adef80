//! What a broker hosts: its topics and their partitions (log, replica state, high
//! watermark), the log directory's identity and lock, and log maintenance.

pub mod dynamic_configs;
pub mod identity;
pub mod log_manager;
pub mod meta;
pub mod partition;
pub mod topics;

pub use identity::BrokerIdentity;
pub use partition::Partition;
pub use topics::{NewTopic, Topic, TopicError, TopicRegistry};
