//! Riffle: a Kafka-wire-protocol compatible event streaming broker.

pub mod api;
pub mod broker;
pub mod config;
pub mod log;
pub mod net;
pub mod producer;
