//! Riffle: a Kafka-wire-protocol compatible event streaming broker.
//!
//! Rooms, bottom to top (a room uses only rooms below it; `tests/layering` checks it):
//! `common`, `storage`, `wire` → `config` → `security` → `log` → `producer`, `net`, `admin` →
//! `controller` → `broker` → `errors` → `coordinator` → `group` → `replication` → `txn`
//! → `api`
//! → `server`.

pub mod admin;
pub mod api;
pub mod broker;
pub mod common;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod errors;
pub mod group;
pub mod log;
pub mod net;
pub mod producer;
pub mod replication;
pub mod security;
pub mod server;
pub mod storage;
pub mod txn;
pub mod wire;
