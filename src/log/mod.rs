//! Partition logs in Kafka's on-disk format: v2 record batches in segment files with
//! sparse offset and time indexes.

pub mod batch;
pub mod control;
pub mod cleaner;
pub mod file_slice;
pub mod index;
pub mod leader_epoch;
pub mod partition_log;
pub mod producer_state;
pub mod records;
pub mod recompress;
pub mod segment;
pub mod txn_index;
#[cfg(test)]
mod storage_faults;

pub use file_slice::FileSlice;
pub use partition_log::{verify_dir, AppendInfo, LogError, PartitionLog, Shutdown};
pub use producer_state::{ProducerStateManager, SequenceCheck, SequenceError};
