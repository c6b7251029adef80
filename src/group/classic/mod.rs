//! The classic consumer group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

#[allow(clippy::module_inception)]
pub mod group;
pub mod membership;

pub use group::{GroupState, JoinOutcome, SyncOutcome};
pub use membership::{JoinRequest, SyncRequest};
