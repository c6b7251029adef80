//! The coordinator runtime, as Kafka's (CoordinatorRuntime / CoordinatorShard /
//! PartitionWriter): a coordinator keeps its state in the partitions of an internal,
//! compacted topic. This broker coordinates what hashes to the partitions it leads: on
//! gaining leadership the runtime replays the partition's records into the shard, on
//! losing it the shard drops that partition's state; writes go through the partition
//! log and are answered once committed.
//!
//! Consumer groups (`__consumer_offsets`) are the first shard; transactions
//! (`__transaction_state`) and share groups (`__share_group_state`) plug in the same way.

pub mod runtime;
pub mod shard;

pub use runtime::{CoordinatorError, CoordinatorRuntime};
pub use shard::{CoordinatorShard, ShardLoader, ShardTopic};

#[cfg(test)]
mod tests;
