//! Transactions: the transaction coordinator (Kafka's TransactionCoordinator) on
//! `__transaction_state`, a shard of the coordinator runtime. Its state machine is in
//! `state.rs`, the records it writes in `records.rs`, the markers it sends in
//! `markers.rs`, loading in `shard.rs`. The partition side (markers, the last stable
//! offset, `.txnindex`) lives in `log/`.

pub mod config;
pub mod coordinator;
pub mod markers;
pub mod peers;
pub mod verification;
pub mod records;
mod shard;
pub mod state;

pub use config::{verification_enabled, TxnConfig};
pub use coordinator::{InitError, TransactionCoordinator, TRANSACTION_STATE_TOPIC};
