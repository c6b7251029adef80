//! Maps the library's errors to the Kafka error codes clients expect.

use kafka_protocol::error::ResponseError as E;

use crate::broker::TopicError;
use crate::log::batch::BatchError;
use crate::log::LogError;
use crate::log::SequenceError;

pub fn log_error_code(e: &LogError) -> i16 {
    match e {
        LogError::Io { .. } => E::KafkaStorageError,
        LogError::Batch(BatchError::Corrupt(_) | BatchError::Crc { .. }) => E::CorruptMessage,
        LogError::Batch(BatchError::Invalid(_)) => E::InvalidRecord,
        LogError::TooLarge { .. } => E::MessageTooLarge,
        LogError::LargerThanSegment { .. } => E::RecordListTooLarge,
        LogError::InvalidTimestamp { .. } => E::InvalidTimestamp,
        LogError::Sequence(SequenceError::InvalidEpoch { .. }) => E::InvalidProducerEpoch,
        LogError::Sequence(SequenceError::OutOfOrder { .. }) => E::OutOfOrderSequenceNumber,
        LogError::Sequence(SequenceError::CoordinatorFenced { .. }) => E::TransactionCoordinatorFenced,
        LogError::Sequence(SequenceError::InvalidTxnState { .. }) => E::InvalidTxnState,
        LogError::OffsetOutOfRange { .. } => E::OffsetOutOfRange,
        LogError::NotLeader => E::NotLeaderOrFollower,
    }
    .code()
}

pub fn topic_error_code(e: &TopicError) -> i16 {
    match e {
        TopicError::InvalidName(..) => E::InvalidTopicException,
        TopicError::AlreadyExists(_) => E::TopicAlreadyExists,
        TopicError::InvalidPartitions(_) | TopicError::PartitionsNotIncreased(..) => E::InvalidPartitions,
        TopicError::InvalidReplicationFactor(..) => E::InvalidReplicationFactor,
        TopicError::InvalidConfig(_) => E::InvalidConfig,
        TopicError::Unknown(_) => E::UnknownTopicOrPartition,
        TopicError::Io { .. } | TopicError::Log(_) => E::KafkaStorageError,
    }
    .code()
}

/// The error for a request that names a leader epoch (-1: none) other than the
/// partition's current one.
pub fn leader_epoch_error(requested: i32, current: i32) -> Option<i16> {
    match requested {
        r if r < 0 || r == current => None,
        r if r > current => Some(E::UnknownLeaderEpoch.code()),
        _ => Some(E::FencedLeaderEpoch.code()),
    }
}

/// Client requests to a partition this broker does not lead get NOT_LEADER_OR_FOLLOWER
/// (the client then refreshes its metadata); a stale or future leader epoch is fenced.
/// The epoch is checked first, as Kafka does: a client with a newer epoch retries
/// (UNKNOWN_LEADER_EPOCH) without refreshing its metadata.
pub fn leadership_error(p: &crate::broker::Partition, requested_epoch: i32) -> Option<i16> {
    let (role, epoch) = p.role_and_epoch();
    leader_epoch_error(requested_epoch, epoch).or_else(|| (role != crate::broker::partition::Role::Leader).then(|| E::NotLeaderOrFollower.code()))
}
