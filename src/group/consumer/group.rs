//! A consumer group of the KIP-848 protocol: its epochs, members, target assignment
//! and resolved regular expressions. The state changes only by replaying records
//! (`replay`), the same when loading `__consumer_offsets` and when a heartbeat writes
//! them, so what a restarted coordinator rebuilds is what it had.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::member::{ConsumerMember, MemberState, TargetPartitions};
use super::records::{ConsumerRecord, GroupMetadata, ResolvedRegex};

/// The state names of ConsumerGroupDescribe and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    /// The group epoch is ahead of the target assignment.
    Assigning,
    /// Some member has not reached the target assignment yet.
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// Deadlines of a member, in the clock's monotonic milliseconds: not stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberTimers {
    pub session_deadline: i64,
    /// While the member is revoking: when it is fenced unless done, for which epoch.
    pub rebalance_deadline: Option<(i64, i32)>,
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub metadata: GroupMetadata,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    pub target: BTreeMap<String, TargetPartitions>,
    pub regexes: BTreeMap<String, ResolvedRegex>,
    /// The epoch of the member owning each partition (assigned or being revoked).
    pub partition_epochs: HashMap<(Uuid, i32), i32>,
    pub timers: HashMap<String, MemberTimers>,
    /// The topic registry's version the regexes and the metadata hash were last
    /// computed at.
    pub topics_version: Option<u64>,
}

impl ConsumerGroup {
    pub fn group_epoch(&self) -> i32 {
        self.metadata.epoch
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.metadata.epoch != self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|m| m.assignment.state != MemberState::Stable || m.epoch() != self.assignment_epoch) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Every topic a member subscribes to, by name or through a regex.
    pub fn subscribed_topic_names(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for m in self.members.values() {
            out.extend(m.metadata.subscribed_topic_names.iter().cloned());
            if let Some(r) = m.metadata.subscribed_topic_regex.as_deref().and_then(|r| self.regexes.get(r)) {
                out.extend(r.topics.iter().cloned());
            }
        }
        out
    }

    /// The epoch of the member that owns `partition`, if one does.
    pub fn owner_epoch(&self, topic: &Uuid, partition: i32) -> Option<i32> {
        self.partition_epochs.get(&(*topic, partition)).copied()
    }

    fn release(&mut self, member_id: &str) {
        if let Some(m) = self.members.get(member_id) {
            for (t, ps) in m.assignment.assigned.iter().chain(&m.assignment.pending_revocation) {
                for p in ps.keys() {
                    self.partition_epochs.remove(&(*t, *p));
                }
            }
        }
    }

    fn claim(&mut self, member_id: &str) {
        if let Some(m) = self.members.get(member_id) {
            let epoch = m.epoch();
            for (t, ps) in m.assignment.assigned.iter().chain(&m.assignment.pending_revocation) {
                for p in ps.keys() {
                    self.partition_epochs.insert((*t, *p), epoch);
                }
            }
        }
    }

    /// Applies one record of this group.
    pub fn replay(&mut self, rec: &ConsumerRecord) {
        match rec {
            ConsumerRecord::Metadata { value: Some(v), .. } => self.metadata = *v,
            ConsumerRecord::Metadata { value: None, .. } | ConsumerRecord::PartitionMetadata { .. } => {}
            ConsumerRecord::Member { member, value: Some(v), .. } => {
                let m = self.members.entry(member.clone()).or_insert_with(|| ConsumerMember::new(member));
                if let Some(old) = m.metadata.instance_id.take() {
                    if self.static_members.get(&old) == Some(member) {
                        self.static_members.remove(&old);
                    }
                }
                m.metadata = v.clone();
                if let Some(instance) = &v.instance_id {
                    self.static_members.insert(instance.clone(), member.clone());
                }
            }
            ConsumerRecord::Member { member, value: None, .. } => {
                self.release(member);
                if let Some(m) = self.members.remove(member) {
                    if let Some(instance) = m.metadata.instance_id {
                        if self.static_members.get(&instance) == Some(member) {
                            self.static_members.remove(&instance);
                        }
                    }
                }
                self.timers.remove(member);
            }
            ConsumerRecord::TargetMetadata { assignment_epoch, .. } => self.assignment_epoch = assignment_epoch.unwrap_or(0),
            ConsumerRecord::TargetMember { member, value: Some(v), .. } => {
                self.target.insert(member.clone(), v.clone());
            }
            ConsumerRecord::TargetMember { member, value: None, .. } => {
                self.target.remove(member);
            }
            ConsumerRecord::Current { member, value: Some(v), .. } => {
                self.release(member);
                let m = self.members.entry(member.clone()).or_insert_with(|| ConsumerMember::new(member));
                m.assignment = v.clone();
                self.claim(member);
            }
            ConsumerRecord::Current { member, value: None, .. } => {
                self.release(member);
                if let Some(m) = self.members.get_mut(member) {
                    m.assignment = Default::default();
                }
            }
            ConsumerRecord::Regex { regex, value: Some(v), .. } => {
                self.regexes.insert(regex.clone(), v.clone());
            }
            ConsumerRecord::Regex { regex, value: None, .. } => {
                self.regexes.remove(regex);
            }
        }
    }

    /// The records that remove `member_id` from the group (before a group epoch bump).
    pub fn removal_records(&self, group: &str, member_id: &str) -> Vec<ConsumerRecord> {
        let (g, m) = (group.to_string(), member_id.to_string());
        vec![
            ConsumerRecord::Current { group: g.clone(), member: m.clone(), value: None },
            ConsumerRecord::TargetMember { group: g.clone(), member: m.clone(), value: None },
            ConsumerRecord::Member { group: g, member: m, value: None },
        ]
    }

    /// The records that delete the whole (empty) group.
    pub fn deletion_records(&self, group: &str) -> Vec<ConsumerRecord> {
        let g = group.to_string();
        let mut out: Vec<ConsumerRecord> = self.members.keys().flat_map(|m| self.removal_records(group, m)).collect();
        out.extend(self.regexes.keys().map(|r| ConsumerRecord::Regex { group: g.clone(), regex: r.clone(), value: None }));
        out.push(ConsumerRecord::TargetMetadata { group: g.clone(), assignment_epoch: None });
        // Kafka before 4.1 wrote partition metadata: its tombstone goes too.
        out.push(ConsumerRecord::PartitionMetadata { group: g.clone() });
        out.push(ConsumerRecord::Metadata { group: g, value: None });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::consumer::member::{MemberAssignment, MemberMetadata};

    #[test]
    fn replay_tracks_owners_and_static_members() {
        let mut g = ConsumerGroup::default();
        let t = Uuid::from_u128(1);
        let meta = MemberMetadata { instance_id: Some("i1".into()), ..Default::default() };
        g.replay(&ConsumerRecord::Member { group: "g".into(), member: "m1".into(), value: Some(meta) });
        let a = MemberAssignment { member_epoch: 2, assigned: [(t, [(0, 2)].into())].into(), ..Default::default() };
        g.replay(&ConsumerRecord::Current { group: "g".into(), member: "m1".into(), value: Some(a) });
        assert_eq!(g.owner_epoch(&t, 0), Some(2));
        assert_eq!(g.static_members.get("i1").map(String::as_str), Some("m1"));
        for r in g.removal_records("g", "m1") {
            g.replay(&r);
        }
        assert_eq!(g.owner_epoch(&t, 0), None);
        assert!(g.members.is_empty() && g.static_members.is_empty());
        assert_eq!(g.state(), ConsumerGroupState::Empty);
    }
}
