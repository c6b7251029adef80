//! Consumer groups (the classic protocol) and their committed offsets.

pub mod coordinator;
#[allow(clippy::module_inception)]
pub mod group;
pub mod records;

pub use coordinator::{GroupConfig, GroupCoordinator, JoinRequest, OffsetToCommit, SyncRequest, OFFSETS_TOPIC};
pub use group::{GroupState, JoinOutcome, SyncOutcome};
