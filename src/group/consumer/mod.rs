//! The consumer group protocol of Kafka 4 (KIP-848): ConsumerGroupHeartbeat with
//! server-side assignment and incremental reconciliation. The group (`group.rs`) is
//! changed only by replaying its records (`records.rs`); the heartbeat (`heartbeat.rs`)
//! decides which records to write, with the assignors (`assignor.rs`) and the
//! reconciliation of each member (`reconcile.rs`); `describe.rs` and `offsets.rs`
//! answer ConsumerGroupDescribe and check offset commits and fetches by member epoch.

pub mod assignor;
pub mod classic_members;
pub mod describe;
pub mod group;
pub mod heartbeat;
pub mod member;
pub mod offsets;
pub mod reconcile;
pub mod records;

pub use group::{ConsumerGroup, ConsumerGroupState};
pub use heartbeat::{ConsumerHeartbeat, HeartbeatOutcome};
