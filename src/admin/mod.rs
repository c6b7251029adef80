//! Command-line admin tools that talk to a running broker over the Kafka protocol, as
//! Kafka's own `kafka-consumer-groups.sh` does.

pub mod client;
pub mod groups;
pub mod users;

pub use client::{Client, ClientError};
