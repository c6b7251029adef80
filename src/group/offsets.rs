//! Committed offsets (Kafka's OffsetMetadataManager): commits, fetches, deletions and
//! expiry. They belong to a group id but not to its membership protocol: the classic
//! protocol only gates commits by generation; other group types will gate them their
//! own way.

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;

use super::classic::group::{Group, GroupState};
use super::classic::membership::session_ms;
use super::consumer::offsets::CommitCheck;
use super::coordinator::{code, GroupCoordinator};
use super::records::{self, CommittedOffset};

/// One partition's offset in an OffsetCommit.
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

impl GroupCoordinator {
    /// OffsetCommit: one error code per partition, in request order.
    pub fn commit(&self, group_id: &str, member_id: &str, group_instance_id: Option<&str>, generation: i32, offsets: Vec<OffsetToCommit>) -> Vec<i16> {
        let all = |c: i16| vec![c; offsets.len()];
        if group_id.is_empty() {
            return all(code(E::InvalidGroupId));
        }
        // A commit outside group management (generation -1) may create the group.
        let group = if generation < 0 && member_id.is_empty() { Some(self.group_or_create(group_id)) } else { self.group(group_id) };
        let Some(group) = group else {
            return all(code(if generation < 0 { E::UnknownMemberId } else { E::IllegalGeneration }));
        };
        let mut g = group.lock();
        let check = match self.check_commit(&mut g, member_id, group_instance_id, generation, false) {
            Ok(check) => check,
            Err(e) => return all(e),
        };
        let (errors, accepted) = self.accept_offsets(offsets, &check);
        if accepted.is_empty() {
            return errors;
        }
        let recs = records_of(group_id, &accepted);
        if let Err(e) = self.persist(group_id, &recs) {
            return errors.into_iter().map(|c| if c == 0 { e } else { c }).collect();
        }
        for (t, p, v) in accepted {
            g.supersede_pending(&t, p);
            g.offsets.insert((t, p), v);
        }
        errors
    }

    /// Checks each offset of a commit: (one error code per offset, in order; the
    /// accepted ones, stamped now).
    pub(super) fn accept_offsets(&self, offsets: Vec<OffsetToCommit>, check: &CommitCheck) -> (Vec<i16>, Vec<(String, i32, CommittedOffset)>) {
        let now = self.clock.now_ms();
        let mut errors = Vec::with_capacity(offsets.len());
        let mut accepted = Vec::new();
        for o in offsets {
            let topic = self.topics.get(&o.topic);
            let topic_known = topic.as_ref().is_some_and(|t| t.partition(o.partition).is_some());
            let metadata = o.metadata.unwrap_or_default();
            if !topic_known {
                errors.push(code(E::UnknownTopicOrPartition));
            } else if let Some(e) = check.partition_error(topic.map(|t| t.id), o.partition) {
                errors.push(e);
            } else if metadata.len() > self.config.metadata_max_bytes {
                errors.push(code(E::OffsetMetadataTooLarge));
            } else {
                errors.push(0);
                accepted.push((o.topic, o.partition, CommittedOffset { offset: o.offset, leader_epoch: o.leader_epoch, metadata, commit_timestamp: now }));
            }
        }
        (errors, accepted)
    }

    /// Checks a commit against the group's members: by generation for a classic group,
    /// by member epoch for a consumer group.
    pub(super) fn check_commit(&self, g: &mut Group, member_id: &str, group_instance_id: Option<&str>, generation: i32, transactional: bool) -> Result<CommitCheck, i16> {
        match &g.consumer {
            Some(cg) => cg.validate_offset_commit(member_id, generation, transactional),
            None => match self.validate_commit(g, member_id, group_instance_id, generation, transactional) {
                Some(e) => Err(e),
                None => Ok(CommitCheck::Accept),
            },
        }
    }

    /// Whether `member_id` is a member of the consumer group `group_id` that uses the
    /// consumer protocol (its commits carry a member epoch: OffsetCommit v9+).
    pub fn is_consumer_protocol_member(&self, group_id: &str, member_id: &str) -> bool {
        self.group(group_id).is_some_and(|g| g.lock().consumer.as_ref().is_some_and(|cg| cg.members.get(member_id).is_some_and(|m| m.metadata.classic.is_none())))
    }

    /// OffsetFetch of a group member (v9+: member id and epoch): a consumer group
    /// checks them; `None` when the fetch may go on.
    pub fn check_fetch(&self, group_id: &str, member_id: Option<&str>, member_epoch: i32) -> Option<i16> {
        let group = self.group(group_id)?;
        let g = group.lock();
        g.consumer.as_ref()?.validate_offset_fetch(member_id, member_epoch).err()
    }

    /// Kafka's ClassicGroup.validateOffsetCommit. A transactional commit without member
    /// and generation (TxnOffsetCommit before v3) is accepted in any state, and is not
    /// held up by a rebalance.
    pub(super) fn validate_commit(&self, g: &mut Group, member_id: &str, group_instance_id: Option<&str>, generation: i32, transactional: bool) -> Option<i16> {
        if g.state == GroupState::Dead {
            return Some(code(E::CoordinatorNotAvailable));
        }
        if generation < 0 && g.state == GroupState::Empty {
            return None;
        }
        if transactional && generation < 0 && member_id.is_empty() && group_instance_id.is_none() {
            return None;
        }
        if let Some(instance) = group_instance_id {
            if g.static_members.get(instance).is_some_and(|id| id != member_id) {
                return Some(code(E::FencedInstanceId));
            }
        }
        let state = g.state;
        let current = g.generation;
        let Some(m) = g.members.get_mut(member_id) else { return Some(code(E::UnknownMemberId)) };
        if generation != current {
            return Some(code(E::IllegalGeneration));
        }
        if state == GroupState::CompletingRebalance && !transactional {
            return Some(code(E::RebalanceInProgress));
        }
        // A commit counts as a sign of life.
        m.deadline = self.clock.monotonic_ms() + session_ms(m);
        None
    }

    /// OffsetFetch: committed offsets of `topics` (all committed ones when `None`).
    pub fn fetch_offsets(&self, group_id: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Vec<(String, Vec<(i32, Option<CommittedOffset>)>)> {
        let group = self.group(group_id);
        let g = group.as_ref().map(|g| g.lock());
        let committed = |t: &str, p: i32| g.as_ref().and_then(|g| g.offsets.get(&(t.to_string(), p)).cloned());
        match topics {
            Some(topics) => topics.into_iter().map(|(t, ps)| {
                let parts = ps.into_iter().map(|p| (p, committed(&t, p))).collect();
                (t, parts)
            }).collect(),
            None => {
                let mut by_topic: IndexMap<String, Vec<(i32, Option<CommittedOffset>)>> = IndexMap::new();
                if let Some(g) = g.as_ref() {
                    let mut all: Vec<_> = g.offsets.iter().collect();
                    all.sort_by(|a, b| a.0.cmp(b.0));
                    for ((t, p), v) in all {
                        by_topic.entry(t.clone()).or_default().push((*p, Some(v.clone())));
                    }
                }
                by_topic.into_iter().collect()
            }
        }
    }
    /// OffsetDelete: (group error, per-partition errors).
    pub fn delete_offsets(&self, group_id: &str, partitions: &[(String, i32)]) -> (i16, Vec<i16>) {
        let Some(group) = self.group(group_id) else { return (code(E::GroupIdNotFound), Vec::new()) };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return (code(E::GroupIdNotFound), Vec::new());
        }
        let subscribed: Vec<String> = match &g.consumer {
            Some(cg) => cg.subscribed_topic_names().into_iter().collect(),
            None if g.state == GroupState::Empty => Vec::new(),
            None => g.subscribed_topics().unwrap_or_default(),
        };
        if g.consumer.is_none() && g.state != GroupState::Empty && g.protocol_type.as_deref() != Some("consumer") {
            return (code(E::NonEmptyGroup), Vec::new());
        }
        let mut errors = Vec::new();
        let mut recs = Vec::new();
        for (t, p) in partitions {
            if subscribed.contains(t) {
                errors.push(code(E::GroupSubscribedToTopic));
            } else {
                errors.push(0);
                if g.offsets.contains_key(&(t.clone(), *p)) {
                    recs.push((records::offset_key(group_id, t, *p), None));
                }
            }
        }
        if !recs.is_empty() {
            if let Err(e) = self.persist(group_id, &recs) {
                return (e, Vec::new());
            }
            for (t, p) in partitions {
                if !subscribed.contains(t) {
                    g.offsets.remove(&(t.clone(), *p));
                }
            }
        }
        (0, errors)
    }

    /// Drops every group's committed offsets of a deleted topic, with tombstones, as
    /// Kafka's onPartitionsDeleted does: a topic re-created under the same name starts
    /// with no committed offsets.
    pub fn drop_offsets_of_topic(&self, topic: &str) {
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            let gone: Vec<(String, i32)> = g.offsets.keys().filter(|(t, _)| t == topic).cloned().collect();
            if gone.is_empty() {
                continue;
            }
            let recs: Vec<(Bytes, Option<Bytes>)> = gone.iter().map(|(t, p)| (records::offset_key(&g.id, t, *p), None)).collect();
            match self.persist(&g.id, &recs) {
                Ok(()) => gone.iter().for_each(|k| {
                    g.offsets.remove(k);
                }),
                Err(e) => tracing::warn!(group = %g.id, %topic, error = e, "could not remove offsets of a deleted topic"),
            }
        }
    }

    /// Removes offsets past `offsets.retention.minutes`. An empty group left with
    /// nothing is deleted.
    pub fn expire_offsets(&self, now: i64) {
        let retention = self.config.retention_ms;
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            // Kafka's removeExpiredOffsets: an empty group's offsets expire `retention`
            // after it became empty (or, for a standalone group, after each commit); a
            // stable consumer group's offsets of topics it no longer subscribes to expire
            // `retention` after their commit.
            // A consumer group's offsets expire by their commit time; while it has
            // members, only those of topics none of them subscribes to.
            let managed = g.protocol_type.is_some() && g.consumer.is_none();
            let unsubscribed_only = match (&g.consumer, g.state) {
                (Some(cg), _) if !cg.members.is_empty() => Some(cg.subscribed_topic_names().into_iter().collect()),
                (Some(_), _) => None,
                (None, GroupState::Empty) => None,
                (None, GroupState::Stable) => match g.subscribed_topics() {
                    Some(topics) => Some(topics),
                    None => continue,
                },
                _ => continue,
            };
            let expired: Vec<(String, i32)> = g
                .offsets
                .iter()
                .filter(|((topic, _), v)| match &unsubscribed_only {
                    Some(subscribed) => !subscribed.contains(topic) && now - v.commit_timestamp > retention,
                    None if managed => now - g.state_timestamp_ms > retention,
                    None => now - v.commit_timestamp > retention,
                })
                .map(|(k, _)| k.clone())
                .collect();
            let mut recs: Vec<(Bytes, Option<Bytes>)> = expired.iter().map(|(t, p)| (records::offset_key(&g.id, t, *p), None)).collect();
            // A group with offsets waiting for a transaction's marker stays (Kafka keeps
            // groups with open transactions).
            let members_gone = g.consumer.as_ref().map_or(g.state == GroupState::Empty, |cg| cg.members.is_empty());
            let now_empty = members_gone && g.offsets.len() == expired.len() && g.pending_txn_offsets.is_empty();
            if now_empty {
                match &g.consumer {
                    Some(cg) => recs.extend(cg.deletion_records(&g.id).iter().map(|r| r.encode())),
                    None => recs.push((records::group_key(&g.id), None)),
                }
            }
            if recs.is_empty() {
                continue;
            }
            if let Err(e) = self.persist(&g.id, &recs) {
                tracing::warn!(group = %g.id, error = e, "could not expire offsets");
                continue;
            }
            for k in &expired {
                g.offsets.remove(k);
            }
            tracing::info!(group = %g.id, offsets = expired.len(), "expired committed offsets");
            if now_empty {
                g.consumer = None;
                g.set_state(GroupState::Dead, now);
                let id = g.id.clone();
                drop(g);
                self.groups.lock().remove(&id);
            }
        }
    }

}

/// The `__consumer_offsets` records of accepted offsets.
pub(super) fn records_of(group_id: &str, accepted: &[(String, i32, CommittedOffset)]) -> Vec<(Bytes, Option<Bytes>)> {
    accepted.iter().map(|(t, p, v)| (records::offset_key(group_id, t, *p), Some(records::offset_value(v)))).collect()
}
