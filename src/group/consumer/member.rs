//! One member of a consumer group (KIP-848): what it subscribes to, as its heartbeats
//! tell, and what it owns, as the reconciliation decided. Kafka's ConsumerGroupMember.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions a member owns, by topic id, each with the epoch at which it was assigned
/// (KIP-1251: a commit with an older member epoch is accepted for a partition assigned
/// before it).
pub type OwnedPartitions = BTreeMap<Uuid, BTreeMap<i32, i32>>;

/// Partitions of a target assignment, by topic id.
pub type TargetPartitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// Where a member is in its reconciliation (Kafka's MemberState; the byte is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    /// Waiting for the member to revoke partitions it must give up.
    UnrevokedPartitions,
    /// Waiting for partitions of its target that other members still own.
    UnreleasedPartitions,
    Unknown,
}

impl MemberState {
    pub fn value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    pub fn from_value(v: i8) -> Self {
        match v {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }
}

/// The member epoch of a static member that left temporarily (it keeps its partitions
/// until its session expires or it rejoins).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

/// What ConsumerGroupMemberMetadataValue stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Sorted and deduplicated, so that a reordered list is no change.
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Set for a member of the classic protocol in a consumer group (after an online
    /// upgrade): what its JoinGroup carried.
    pub classic: Option<ClassicMemberMetadata>,
}

/// A classic member's session timeout and supported protocols (name, metadata), in its
/// order of preference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub protocols: Vec<(String, bytes::Bytes)>,
}

/// What ConsumerGroupCurrentMemberAssignmentValue stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: OwnedPartitions,
    pub pending_revocation: OwnedPartitions,
}

impl Default for MemberAssignment {
    fn default() -> Self {
        MemberAssignment { member_epoch: 0, previous_member_epoch: 0, state: MemberState::Stable, assigned: BTreeMap::new(), pending_revocation: BTreeMap::new() }
    }
}

impl MemberAssignment {
    /// Moves to `epoch`, remembering the epoch it leaves (a member whose response was
    /// lost may heartbeat with it).
    pub fn with_epoch(mut self, epoch: i32, previous: i32) -> Self {
        self.previous_member_epoch = previous;
        self.member_epoch = epoch;
        self
    }

    /// The epoch at which `partition` of `topic` was assigned, also while it is pending
    /// revocation.
    pub fn assignment_epoch(&self, topic: &Uuid, partition: i32) -> Option<i32> {
        self.assigned.get(topic).and_then(|p| p.get(&partition)).or_else(|| self.pending_revocation.get(topic).and_then(|p| p.get(&partition))).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMember {
    pub member_id: String,
    pub metadata: MemberMetadata,
    pub assignment: MemberAssignment,
}

impl ConsumerMember {
    pub fn new(member_id: &str) -> Self {
        ConsumerMember { member_id: member_id.to_string(), metadata: MemberMetadata { rebalance_timeout_ms: -1, ..Default::default() }, assignment: MemberAssignment::default() }
    }

    pub fn epoch(&self) -> i32 {
        self.assignment.member_epoch
    }

    /// The owned partitions as topic id → partitions (what the member is told it owns).
    pub fn assigned_sets(&self) -> TargetPartitions {
        self.assignment.assigned.iter().map(|(t, ps)| (*t, ps.keys().copied().collect())).collect()
    }
}

/// Whether the member reported its partitions and every one is assigned to it.
pub fn is_subset(owned: Option<&TargetPartitions>, assigned: &OwnedPartitions) -> bool {
    let Some(owned) = owned else { return false };
    owned.iter().all(|(t, ps)| assigned.get(t).is_some_and(|a| ps.iter().all(|p| a.contains_key(p))))
}
