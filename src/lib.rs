//! Riffle: a Kafka-wire-protocol compatible event streaming broker.

pub mod admin;
pub mod api;
pub mod broker;
pub mod config;
pub mod controller;
pub mod group;
pub mod log;
pub mod net;
pub mod producer;
pub mod replication;
pub mod wire;
