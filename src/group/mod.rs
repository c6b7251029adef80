//! Consumer groups and their committed offsets, kept in `__consumer_offsets` through the
//! coordinator runtime.

pub mod classic;
pub mod config;
pub mod consumer;
pub mod coordinator;
pub mod offsets;
pub mod records;
pub mod shard;
pub mod txn_offsets;

pub use classic::{GroupState, JoinOutcome, JoinRequest, SyncOutcome, SyncRequest};
pub use config::GroupConfig;
pub use consumer::{ConsumerHeartbeat, HeartbeatOutcome};
pub use coordinator::{GroupCoordinator, GroupDescription, GroupListing, OFFSETS_TOPIC};
pub use offsets::OffsetToCommit;
pub use txn_offsets::TxnOffsetCommit;

#[cfg(test)]
mod tests;
