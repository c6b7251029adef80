//! Offset commits and fetches of consumer groups are checked against member epochs
//! (Kafka's ConsumerGroup.validateOffsetCommit / validateOffsetFetch, with KIP-1251's
//! per-partition assignment epochs).

use kafka_protocol::error::ResponseError as E;
use uuid::Uuid;

use super::group::ConsumerGroup;
use super::member::MemberAssignment;

/// How a commit to a consumer group is to be checked.
pub enum CommitCheck {
    Accept,
    /// The commit carries an older epoch than the member's: each partition must have
    /// been assigned to the member at that epoch or before.
    PerPartition { assignment: MemberAssignment, received_epoch: i32, stale: i16 },
}

/// A member of the classic protocol is told of a stale generation the classic way.
fn stale_error(classic: bool) -> i16 {
    if classic {
        E::IllegalGeneration.code()
    } else {
        E::StaleMemberEpoch.code()
    }
}

impl CommitCheck {
    /// The error of one partition of the commit, if any.
    pub fn partition_error(&self, topic: Option<Uuid>, partition: i32) -> Option<i16> {
        let CommitCheck::PerPartition { assignment, received_epoch, stale } = self else { return None };
        match topic.and_then(|t| assignment.assignment_epoch(&t, partition)) {
            Some(assigned_at) if *received_epoch >= assigned_at => None,
            _ => Some(*stale),
        }
    }
}

impl ConsumerGroup {
    pub fn validate_offset_commit(&self, member_id: &str, member_epoch: i32, transactional: bool) -> Result<CommitCheck, i16> {
        // The admin client (or a consumer outside group management) may commit to an
        // empty group.
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(CommitCheck::Accept);
        }
        if transactional && member_epoch < 0 && member_id.is_empty() {
            return Ok(CommitCheck::Accept);
        }
        let Some(member) = self.members.get(member_id) else { return Err(E::UnknownMemberId.code()) };
        let epoch = member.epoch();
        let stale = stale_error(member.metadata.classic.is_some());
        if member_epoch == epoch {
            Ok(CommitCheck::Accept)
        } else if member_epoch > epoch {
            Err(stale)
        } else {
            Ok(CommitCheck::PerPartition { assignment: member.assignment.clone(), received_epoch: member_epoch, stale })
        }
    }

    pub fn validate_offset_fetch(&self, member_id: Option<&str>, member_epoch: i32) -> Result<(), i16> {
        let Some(member_id) = member_id else { return Ok(()) };
        if member_epoch < 0 && member_id.is_empty() {
            return Ok(());
        }
        let Some(member) = self.members.get(member_id) else { return Err(E::UnknownMemberId.code()) };
        if member.epoch() != member_epoch {
            return Err(stale_error(member.metadata.classic.is_some()));
        }
        Ok(())
    }
}
