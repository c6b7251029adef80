//! ConsumerGroupHeartbeat as Kafka's GroupMetadataManager handles it: join, rejoin and
//! leave; the group epoch bumped when subscriptions or the subscribed topics change;
//! the target assignment recomputed when the group epoch is ahead of it; the member
//! reconciled towards its target; session and rebalance timeouts fence members.
//!
//! Every change is a record: it is appended to `__consumer_offsets` and replayed into
//! the group, so the live state and a reloaded one cannot differ. A heartbeat works on
//! a copy of the group and installs it only once its records are written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::error::ResponseError as E;
use uuid::Uuid;

use super::assignor::{self, AssignorInput, AssignorMember};
use super::group::{ConsumerGroup, MemberTimers};
use super::member::{is_subset, ConsumerMember, MemberAssignment, MemberMetadata, MemberState, TargetPartitions, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH};
use super::reconcile::{reconcile, Reconciliation};
use super::records::{ConsumerRecord, GroupMetadata, ResolvedRegex};
use crate::group::classic::group::{Group, GroupState};
use crate::group::coordinator::GroupCoordinator;
use crate::group::records;

/// A ConsumerGroupHeartbeat request, version-independent.
#[derive(Debug, Clone, Default)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<TargetPartitions>,
    pub client_id: String,
    pub client_host: String,
    /// v1+: the client generates its member id (KIP-1082).
    pub member_id_required: bool,
}

#[derive(Debug, Clone, Default)]
pub struct HeartbeatOutcome {
    pub error: i16,
    pub error_message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    pub assignment: Option<TargetPartitions>,
    /// Records were written: the answer waits until they are replicated.
    pub wrote: bool,
}

pub(super) type Failure = (E, String);

pub(super) fn fail<T>(e: E, message: impl Into<String>) -> Result<T, Failure> {
    Err((e, message.into()))
}

/// Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid.
fn validate(req: &ConsumerHeartbeat, assignors: &[String]) -> Result<(), Failure> {
    if (req.member_id_required || req.member_epoch > 0 || req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH) && req.member_id.is_empty() {
        return fail(E::InvalidRequest, "MemberId can't be empty.");
    }
    if req.group_id.is_empty() {
        return fail(E::InvalidRequest, "GroupId can't be empty.");
    }
    // These go into record keys, whose strings are at most i16::MAX bytes.
    let too_long = |s: Option<&str>| s.is_some_and(|s| s.len() > i16::MAX as usize);
    if too_long(Some(&req.group_id)) || too_long(Some(&req.member_id)) || too_long(req.instance_id.as_deref()) || too_long(req.subscribed_topic_regex.as_deref()) {
        return fail(E::InvalidRequest, "GroupId, MemberId, InstanceId and SubscribedTopicRegex must be at most 32767 bytes.");
    }
    if req.instance_id.as_deref() == Some("") {
        return fail(E::InvalidRequest, "InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return fail(E::InvalidRequest, "RackId can't be empty.");
    }
    if req.member_epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return fail(E::InvalidRequest, "RebalanceTimeoutMs must be provided in first request.");
        }
        if req.owned.as_ref().is_none_or(|o| !o.is_empty()) {
            return fail(E::InvalidRequest, "TopicPartitions must be empty when (re-)joining.");
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return fail(E::InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.");
        }
    } else if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        if req.instance_id.is_none() {
            return fail(E::InvalidRequest, "InstanceId can't be null.");
        }
    } else if req.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH {
        return fail(E::InvalidRequest, "MemberEpoch is invalid.");
    }
    if let Some(a) = &req.server_assignor {
        if !assignors.iter().any(|x| x == a) {
            return fail(E::UnsupportedAssignor, format!("ServerAssignor {a} is not supported. Supported assignors: {}.", assignors.join(", ")));
        }
    }
    Ok(())
}

/// Compiles a subscription regex as Kafka does (RE2 syntax, matching whole names).
pub fn compile_regex(regex: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| e.to_string())
}

/// Kafka's throwIfConsumerGroupMemberEpochIsInvalid.
fn check_epoch(member: &ConsumerMember, received: i32, owned: Option<&TargetPartitions>) -> Result<(), Failure> {
    if received == 0 {
        return Ok(());
    }
    let epoch = member.epoch();
    if received > epoch {
        return fail(E::FencedMemberEpoch, format!("The consumer group member has a greater member epoch ({received}) than the one known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin."));
    }
    if received < epoch && (received != member.assignment.previous_member_epoch || !is_subset(owned, &member.assignment.assigned)) {
        return fail(E::FencedMemberEpoch, format!("The consumer group member has a smaller member epoch ({received}) than the one known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin."));
    }
    Ok(())
}

/// A change to a group being computed: the copy it applies to and the records so far.
pub(super) struct Change {
    pub(super) group_id: String,
    pub(super) cg: ConsumerGroup,
    pub(super) records: Vec<ConsumerRecord>,
    /// Records of the classic protocol's group (a conversion between the two kinds of
    /// group), in Kafka's order: the classic group's tombstone before the consumer
    /// group's records (an upgrade), its new value after them (a downgrade).
    pub(super) classic_before: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
    pub(super) classic_after: Vec<(bytes::Bytes, Option<bytes::Bytes>)>,
    /// The classic members are gone into this consumer group (an online upgrade).
    pub(super) clear_classic: bool,
    /// The group becomes this classic group (an online downgrade).
    pub(super) downgrade_to: Option<Box<Group>>,
}

impl Change {
    pub(super) fn new(group_id: &str, cg: ConsumerGroup) -> Self {
        Change { group_id: group_id.to_string(), cg, records: Vec::new(), classic_before: Vec::new(), classic_after: Vec::new(), clear_classic: false, downgrade_to: None }
    }

    /// A static member back under a new member id replaces its previous incarnation:
    /// same subscription, target and partitions, at epoch 0 (Kafka's replaceMember).
    pub(super) fn replace_static_member(&mut self, old: &ConsumerMember, member_id: &str) -> ConsumerMember {
        let group = self.group_id.clone();
        let target = self.cg.target.get(&old.member_id).cloned();
        let mut new = old.clone();
        new.member_id = member_id.to_string();
        new.assignment = new.assignment.with_epoch(0, 0);
        for rec in self.cg.removal_records(&group, &old.member_id) {
            self.emit(rec);
        }
        self.emit(ConsumerRecord::Member { group: group.clone(), member: new.member_id.clone(), value: Some(new.metadata.clone()) });
        if let Some(t) = target {
            self.emit(ConsumerRecord::TargetMember { group: group.clone(), member: new.member_id.clone(), value: Some(t) });
        }
        self.emit(ConsumerRecord::Current { group: group.clone(), member: new.member_id.clone(), value: Some(new.assignment.clone()) });
        tracing::info!(group = %group, instance_id = ?old.metadata.instance_id, member_id = %new.member_id, replaced = %old.member_id, "static member rejoined the group");
        new
    }

    pub(super) fn emit(&mut self, rec: ConsumerRecord) {
        self.cg.replay(&rec);
        self.records.push(rec);
    }
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat.
    pub fn consumer_heartbeat(&self, req: ConsumerHeartbeat) -> HeartbeatOutcome {
        tracing::trace!(?req, "consumer group heartbeat");
        let interval = self.config.consumer.heartbeat_interval_ms;
        let result = validate(&req, &self.config.consumer.assignors).and_then(|_| {
            if req.member_epoch < 0 {
                self.consumer_leave(&req)
            } else {
                self.consumer_join_or_heartbeat(&req)
            }
        });
        match result {
            Ok(mut out) => {
                out.heartbeat_interval_ms = interval;
                out
            }
            Err((e, message)) => {
                tracing::debug!(group = %req.group_id, member_id = %req.member_id, error = ?e, %message, "consumer group heartbeat refused");
                HeartbeatOutcome { error: e.code(), error_message: Some(message), member_id: req.member_id.clone(), member_epoch: req.member_epoch, ..Default::default() }
            }
        }
    }

    /// Writes the change's records and installs its group; `false` if nothing changed.
    pub(super) fn commit_change(&self, g: &mut Group, change: Change) -> Result<bool, Failure> {
        if change.records.is_empty() && change.classic_before.is_empty() && change.classic_after.is_empty() {
            g.consumer = Some(change.cg);
            return Ok(false);
        }
        let mut recs = change.classic_before.clone();
        recs.extend(change.records.iter().map(ConsumerRecord::encode));
        recs.extend(change.classic_after.iter().cloned());
        if let Err(code) = self.persist(&change.group_id, &recs) {
            // Kafka answers a change too big to write as an unknown server error.
            let e = match E::try_from_code(code) {
                Some(E::MessageTooLarge | E::RecordListTooLarge | E::InvalidFetchSize) | None => E::UnknownServerError,
                Some(e) => e,
            };
            return Err((e, "could not write the group's records".into()));
        }
        if change.clear_classic {
            self.drop_classic_members(g);
        }
        match change.downgrade_to {
            Some(classic) => {
                g.consumer = None;
                g.generation = classic.generation;
                g.protocol_type = classic.protocol_type;
                g.protocol = classic.protocol;
                g.leader = classic.leader;
                g.members = classic.members;
                g.static_members = classic.static_members;
                g.set_state(GroupState::Stable, self.clock.now_ms());
                // Its members rejoin with the classic protocol.
                self.prepare_rebalance(g, "downgraded from a consumer group");
            }
            None => g.consumer = Some(change.cg),
        }
        Ok(true)
    }

    fn consumer_join_or_heartbeat(&self, req: &ConsumerHeartbeat) -> Result<HeartbeatOutcome, Failure> {
        let joining = req.member_epoch == 0;
        // v0: the coordinator names a member that joins without an id.
        let generated;
        let req = if req.member_id.is_empty() {
            generated = ConsumerHeartbeat { member_id: crate::common::topic_id::to_string(&uuid::Uuid::new_v4()), ..req.clone() };
            &generated
        } else {
            req
        };
        let group = match self.group(&req.group_id) {
            Some(g) => g,
            None if joining => self.group_or_create(&req.group_id),
            None => return fail(E::GroupIdNotFound, format!("Consumer group {} not found.", req.group_id)),
        };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            // Deleted (or expired) while this heartbeat looked it up.
            return fail(E::CoordinatorNotAvailable, format!("Group {} is being deleted.", req.group_id));
        }
        let mut change = Change::new(&req.group_id, ConsumerGroup::default());
        match &g.consumer {
            Some(cg) => {
                if let Some(out) = self.steady_heartbeat(cg, req) {
                    let deadline = self.clock.monotonic_ms() + self.config.consumer.session_timeout_ms as i64;
                    if let Some(cg) = g.consumer.as_mut() {
                        cg.timers.entry(req.member_id.clone()).or_default().session_deadline = deadline;
                    }
                    return Ok(out);
                }
                change.cg = cg.clone();
            }
            None => {
                // A classic group becomes a consumer group: a live one with its
                // members (an online upgrade), an empty one (or one holding only
                // offsets) keeping just its offsets.
                let classic_empty = g.members.is_empty() && matches!(g.state, GroupState::Empty | GroupState::Dead);
                if !joining {
                    return fail(E::GroupIdNotFound, format!("Group {} is not a consumer group.", req.group_id));
                }
                if !classic_empty {
                    self.upgrade_classic_group(&g, &mut change)?;
                } else if g.protocol_type.is_some() {
                    // The classic group's metadata goes; its offsets stay.
                    change.classic_before.push((records::group_key(&req.group_id), None));
                    change.clear_classic = true;
                }
                tracing::info!(group = %req.group_id, "converting the classic group to a consumer group");
            }
        }
        let previous = change.cg.members.get(&req.member_id).cloned();
        let is_new = previous.is_none() && !req.instance_id.as_ref().is_some_and(|i| change.cg.static_members.contains_key(i));
        if is_new && change.cg.members.len() >= self.config.consumer.max_size {
            return fail(E::GroupMaxSizeReached, format!("The consumer group has reached its maximum capacity of {} members.", self.config.consumer.max_size));
        }
        let member = self.member_for(&mut change, req)?;
        let old_meta = member.metadata.clone();
        let mut meta = old_meta.clone();
        if let Some(i) = &req.instance_id {
            meta.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            meta.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            meta.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            meta.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            let set: BTreeSet<String> = names.iter().cloned().collect();
            meta.subscribed_topic_names = set.into_iter().collect();
        }
        if let Some(r) = &req.subscribed_topic_regex {
            meta.subscribed_topic_regex = Some(r.clone());
        }
        meta.client_id = req.client_id.clone();
        meta.client_host = req.client_host.clone();
        // A member heartbeating with this protocol uses it.
        meta.classic = None;
        let member_id = member.member_id.clone();
        let session_ms = self.config.consumer.session_timeout_ms as i64;
        let next = self.update_member(&mut change, &member, meta, req.owned.as_ref(), session_ms)?;
        let full = req.rebalance_timeout_ms != -1 && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some()) && req.owned.is_some();
        let assignment_changed = previous.as_ref().is_none_or(|p| p.assignment.assigned.iter().map(|(t, ps)| (t, ps.keys().collect::<Vec<_>>())).ne(next.assigned.iter().map(|(t, ps)| (t, ps.keys().collect::<Vec<_>>()))));
        let assignment = (joining || full || assignment_changed).then(|| next.assigned.iter().map(|(t, ps)| (*t, ps.keys().copied().collect())).collect());
        let epoch = next.member_epoch;
        let wrote = self.commit_change(&mut g, change)?;
        if joining && previous.is_none() {
            tracing::info!(group = %req.group_id, member_id = %member_id, instance_id = ?req.instance_id, "member joined the consumer group");
        }
        Ok(HeartbeatOutcome { member_id, member_epoch: epoch, assignment, wrote, ..Default::default() })
    }

    /// Writes a member's new metadata, and then what follows from it (Kafka's heartbeat
    /// steps 1-3): the group epoch bumped if its subscription or the subscribed topics
    /// changed, the target assignment recomputed if behind, the member reconciled. Also
    /// arms its session and rebalance timers. Returns its next assignment.
    pub(super) fn update_member(&self, change: &mut Change, member: &ConsumerMember, meta: MemberMetadata, owned: Option<&TargetPartitions>, session_ms: i64) -> Result<MemberAssignment, Failure> {
        let group_id = change.group_id.clone();
        let member_id = member.member_id.clone();
        let old_meta = &member.metadata;
        let is_new = !change.cg.members.contains_key(&member_id);
        let names_changed = meta.subscribed_topic_names != old_meta.subscribed_topic_names || is_new;
        let regex_changed = meta.subscribed_topic_regex != old_meta.subscribed_topic_regex;
        if regex_changed {
            if let Some(r) = meta.subscribed_topic_regex.as_deref().filter(|r| !r.is_empty()) {
                if let Err(e) = compile_regex(r) {
                    return fail(E::InvalidRegularExpression, format!("SubscribedTopicRegex `{r}` is not a valid regular expression: {e}."));
                }
            }
        }
        if meta != *old_meta || is_new {
            change.emit(ConsumerRecord::Member { group: group_id.clone(), member: member_id.clone(), value: Some(meta.clone()) });
        }
        let subscription_changed = names_changed || regex_changed;
        let topics_changed = self.refresh_regexes(change);
        if regex_changed {
            self.resolve_new_regex(change, meta.subscribed_topic_regex.as_deref());
            self.drop_unused_regexes(change);
        }
        if subscription_changed || topics_changed {
            let hash = self.metadata_hash(&change.cg);
            if subscription_changed || hash != change.cg.metadata.metadata_hash {
                let epoch = change.cg.group_epoch() + 1;
                change.emit(ConsumerRecord::Metadata { group: group_id.clone(), value: Some(GroupMetadata { epoch, metadata_hash: hash }) });
            }
        }
        if change.cg.group_epoch() > change.cg.assignment_epoch {
            self.update_target_assignment(change);
        }
        let member = change.cg.members.get(&member_id).cloned().expect("the member was just written");
        let reconciled = member.assignment.state == MemberState::Stable && member.epoch() == change.cg.assignment_epoch;
        let mut next = member.assignment.clone();
        if !reconciled || subscription_changed {
            let subscribed = self.subscribed_topic_ids(&change.cg, &member.metadata);
            let empty = BTreeMap::new();
            let target = change.cg.target.get(&member_id).unwrap_or(&empty);
            let cg = &change.cg;
            let owner = |t: &Uuid, p: i32| cg.owner_epoch(t, p);
            let r = Reconciliation { target_epoch: cg.assignment_epoch, target, subscribed: &subscribed, owned, subscription_changed, owner_epoch: &owner };
            next = reconcile(&member.assignment, &r).map_err(|_| (E::FencedMemberEpoch, "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin.".to_string()))?;
            if next != member.assignment {
                change.emit(ConsumerRecord::Current { group: group_id.clone(), member: member_id.clone(), value: Some(next.clone()) });
            }
        }
        let now = self.clock.monotonic_ms();
        let timers = change.cg.timers.entry(member_id).or_default();
        timers.session_deadline = now + session_ms;
        timers.rebalance_deadline = match (next.state, timers.rebalance_deadline) {
            (MemberState::UnrevokedPartitions, Some((at, epoch))) if epoch == next.member_epoch => Some((at, epoch)),
            (MemberState::UnrevokedPartitions, _) => Some((now + member.metadata.rebalance_timeout_ms.max(0) as i64, next.member_epoch)),
            _ => None,
        };
        Ok(next)
    }

    /// The common heartbeat of a reconciled member that changes nothing: answered
    /// without copying the group.
    fn steady_heartbeat(&self, cg: &ConsumerGroup, req: &ConsumerHeartbeat) -> Option<HeartbeatOutcome> {
        if req.member_epoch == 0 || req.instance_id.is_some() && cg.static_members.get(req.instance_id.as_deref()?) != Some(&req.member_id) {
            return None;
        }
        let m = cg.members.get(&req.member_id)?;
        let same = m.epoch() == req.member_epoch
            && m.assignment.state == MemberState::Stable
            && m.epoch() == cg.assignment_epoch
            && cg.group_epoch() == cg.assignment_epoch
            && cg.topics_version == Some(self.topics.version())
            && req.subscribed_topic_names.as_ref().is_none_or(|n| n.iter().cloned().collect::<BTreeSet<_>>().into_iter().eq(m.metadata.subscribed_topic_names.iter().cloned()))
            && req.subscribed_topic_regex.as_ref().is_none_or(|r| Some(r) == m.metadata.subscribed_topic_regex.as_ref())
            && req.rack_id.as_ref().is_none_or(|r| Some(r) == m.metadata.rack_id.as_ref())
            && (req.rebalance_timeout_ms == -1 || req.rebalance_timeout_ms == m.metadata.rebalance_timeout_ms)
            && req.server_assignor.as_ref().is_none_or(|a| Some(a) == m.metadata.server_assignor.as_ref())
            && req.client_id == m.metadata.client_id
            && req.client_host == m.metadata.client_host
            && req.owned.as_ref().is_none_or(|o| *o == m.assigned_sets());
        if !same {
            return None;
        }
        let full = req.rebalance_timeout_ms != -1 && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some()) && req.owned.is_some();
        Some(HeartbeatOutcome { member_id: m.member_id.clone(), member_epoch: m.epoch(), assignment: full.then(|| m.assigned_sets()), ..Default::default() })
    }

    /// Finds or creates the member a heartbeat is for, checking its epoch and instance
    /// id (Kafka's getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember). A static
    /// member rejoining under a new member id replaces its previous incarnation and
    /// keeps its partitions.
    fn member_for(&self, change: &mut Change, req: &ConsumerHeartbeat) -> Result<ConsumerMember, Failure> {
        let joining = req.member_epoch == 0;
        let Some(instance) = &req.instance_id else {
            return match change.cg.members.get(&req.member_id) {
                Some(m) => {
                    check_epoch(m, req.member_epoch, req.owned.as_ref())?;
                    Ok(m.clone())
                }
                None if joining => Ok(ConsumerMember::new(&req.member_id)),
                None => fail(E::UnknownMemberId, format!("Member {} is not a member of group {}.", req.member_id, req.group_id)),
            };
        };
        let existing = change.cg.static_members.get(instance).and_then(|id| change.cg.members.get(id)).cloned();
        if !joining {
            let Some(m) = existing else { return fail(E::UnknownMemberId, format!("Instance id {instance} is unknown.")) };
            if m.member_id != req.member_id {
                return fail(E::FencedInstanceId, format!("Static member {} with instance id {instance} was fenced by member {}.", req.member_id, m.member_id));
            }
            check_epoch(&m, req.member_epoch, req.owned.as_ref())?;
            return Ok(m);
        }
        let Some(old) = existing else { return Ok(ConsumerMember::new(&req.member_id)) };
        // A classic member's instance id is taken over at once (a rolling upgrade).
        if old.metadata.classic.is_none() && old.epoch() != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            return fail(E::UnreleasedInstanceId, format!("Static member {} with instance id {instance} cannot join the group because the instance id is owned by {} member.", req.member_id, old.member_id));
        }
        Ok(change.replace_static_member(&old, &req.member_id))
    }

    /// A member leaving (epoch -1), or a static member leaving for a while (-2).
    fn consumer_leave(&self, req: &ConsumerHeartbeat) -> Result<HeartbeatOutcome, Failure> {
        let not_found = || (E::GroupIdNotFound, format!("Consumer group {} not found.", req.group_id));
        let group = self.group(&req.group_id).ok_or_else(not_found)?;
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return Err(not_found());
        }
        let cg = g.consumer.as_ref().ok_or_else(not_found)?;
        let member = match &req.instance_id {
            None => cg.members.get(&req.member_id).ok_or_else(|| (E::UnknownMemberId, format!("Member {} is not a member of group {}.", req.member_id, req.group_id)))?,
            Some(instance) => {
                let m = cg.static_members.get(instance).and_then(|id| cg.members.get(id)).ok_or_else(|| (E::UnknownMemberId, format!("Instance id {instance} is unknown.")))?;
                if m.member_id != req.member_id {
                    return fail(E::FencedInstanceId, format!("Static member {} with instance id {instance} was fenced by member {}.", req.member_id, m.member_id));
                }
                m
            }
        };
        let member_id = member.member_id.clone();
        let mut change = Change::new(&req.group_id, cg.clone());
        if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH && req.instance_id.is_some() {
            // It keeps its partitions until its session expires or it comes back.
            let mut a = member.assignment.clone().with_epoch(LEAVE_GROUP_STATIC_MEMBER_EPOCH, member.epoch());
            a.pending_revocation.clear();
            change.emit(ConsumerRecord::Current { group: req.group_id.clone(), member: member_id.clone(), value: Some(a) });
            tracing::info!(group = %req.group_id, member_id = %member_id, "static member left the consumer group for now");
        } else {
            let g: &Group = &g;
            self.fence_members(g, &mut change, std::slice::from_ref(&member_id), "member left");
        }
        let wrote = self.commit_change(&mut g, change)?;
        Ok(HeartbeatOutcome { member_id, member_epoch: req.member_epoch, wrote, ..Default::default() })
    }

    /// Removes members and bumps the group epoch, so the others take their partitions;
    /// or, when only members of the classic protocol would remain, turns the group back
    /// into a classic group.
    pub(super) fn fence_members(&self, g: &Group, change: &mut Change, member_ids: &[String], reason: &str) {
        for id in member_ids {
            tracing::info!(group = %change.group_id, member_id = %id, reason, "removing consumer group member");
        }
        if self.maybe_downgrade(g, change, member_ids) {
            return;
        }
        for id in member_ids {
            for rec in change.cg.removal_records(&change.group_id, id) {
                change.emit(rec);
            }
        }
        self.drop_unused_regexes(change);
        let hash = self.metadata_hash(&change.cg);
        let epoch = change.cg.group_epoch() + 1;
        change.emit(ConsumerRecord::Metadata { group: change.group_id.clone(), value: Some(GroupMetadata { epoch, metadata_hash: hash }) });
    }

    /// Fences members whose session expired, or who did not revoke partitions within
    /// their rebalance timeout. Members loaded from the log get a full session first.
    pub(crate) fn expire_consumer_members(&self) {
        let now = self.clock.monotonic_ms();
        let session = self.config.consumer.session_timeout_ms as i64;
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            let group_id = g.id.clone();
            let Some(cg) = g.consumer.as_mut() else { continue };
            let mut expired = Vec::new();
            for (id, m) in &cg.members {
                let session = m.metadata.classic.as_ref().map_or(session, |c| c.session_timeout_ms.max(0) as i64);
                let t = cg.timers.entry(id.clone()).or_insert_with(|| MemberTimers { session_deadline: now + session, rebalance_deadline: None });
                if t.session_deadline <= now {
                    expired.push((id.clone(), "the member session expired"));
                } else if let Some((at, epoch)) = t.rebalance_deadline {
                    if at <= now && m.epoch() == epoch && m.assignment.state == MemberState::UnrevokedPartitions {
                        expired.push((id.clone(), "the member did not revoke its partitions within the rebalance timeout"));
                    }
                }
            }
            if expired.is_empty() {
                continue;
            }
            let mut change = Change::new(&group_id, cg.clone());
            let ids: Vec<String> = expired.iter().map(|(id, _)| id.clone()).collect();
            let reason = expired[0].1;
            self.fence_members(&g, &mut change, &ids, reason);
            let _ = self.commit_change(&mut g, change);
        }
    }

    /// The ids of the topics a member subscribes to (by name or regex) that exist.
    fn subscribed_topic_ids(&self, cg: &ConsumerGroup, meta: &MemberMetadata) -> BTreeSet<Uuid> {
        self.subscribed_names(cg, meta).filter_map(|n| self.topics.get(n).map(|t| t.id)).collect()
    }

    fn subscribed_names<'a>(&self, cg: &'a ConsumerGroup, meta: &'a MemberMetadata) -> impl Iterator<Item = &'a String> {
        let regex = meta.subscribed_topic_regex.as_deref().filter(|r| !r.is_empty()).and_then(|r| cg.regexes.get(r));
        meta.subscribed_topic_names.iter().chain(regex.into_iter().flat_map(|r| r.topics.iter()))
    }

    /// A digest of the subscribed topics (names, ids, partition counts), the same on
    /// every node and build (Kafka's own hash function is not reproduced: a group moving
    /// between Kafka and Riffle gets one epoch bump).
    pub(super) fn metadata_hash(&self, cg: &ConsumerGroup) -> i64 {
        let names: BTreeSet<&String> = cg.members.values().flat_map(|m| self.subscribed_names(cg, &m.metadata)).collect();
        let mut crc = 0u32;
        for n in names {
            if let Some(t) = self.topics.get(n) {
                crc = crc32c::crc32c_append(crc, n.as_bytes());
                crc = crc32c::crc32c_append(crc, t.id.as_bytes());
                crc = crc32c::crc32c_append(crc, &(t.partitions.len() as u32).to_be_bytes());
            }
        }
        i64::from(crc)
    }

    /// Resolves the group's regexes again when topics changed since they last were;
    /// returns whether topics changed.
    fn refresh_regexes(&self, change: &mut Change) -> bool {
        let version = self.topics.version();
        if change.cg.topics_version == Some(version) {
            return false;
        }
        change.cg.topics_version = Some(version);
        let regexes: Vec<(String, ResolvedRegex)> = change.cg.regexes.iter().map(|(r, v)| (r.clone(), v.clone())).collect();
        for (regex, old) in regexes {
            let topics = self.resolve(&regex);
            if topics != old.topics {
                let value = ResolvedRegex { topics, version: old.version + 1, timestamp: self.clock.now_ms() };
                change.emit(ConsumerRecord::Regex { group: change.group_id.clone(), regex, value: Some(value) });
            }
        }
        true
    }

    fn resolve_new_regex(&self, change: &mut Change, regex: Option<&str>) {
        let Some(regex) = regex.filter(|r| !r.is_empty()) else { return };
        if change.cg.regexes.contains_key(regex) {
            return;
        }
        let value = ResolvedRegex { topics: self.resolve(regex), version: 1, timestamp: self.clock.now_ms() };
        change.emit(ConsumerRecord::Regex { group: change.group_id.clone(), regex: regex.to_string(), value: Some(value) });
    }

    fn drop_unused_regexes(&self, change: &mut Change) {
        let used: BTreeSet<&str> = change.cg.members.values().filter_map(|m| m.metadata.subscribed_topic_regex.as_deref()).collect();
        let unused: Vec<String> = change.cg.regexes.keys().filter(|r| !used.contains(r.as_str())).cloned().collect();
        for regex in unused {
            change.emit(ConsumerRecord::Regex { group: change.group_id.clone(), regex, value: None });
        }
    }

    /// The topics whose whole name matches `regex` (internal topics included, as in
    /// Kafka).
    fn resolve(&self, regex: &str) -> BTreeSet<String> {
        let Ok(re) = compile_regex(regex) else { return BTreeSet::new() };
        self.topics.all().into_iter().filter(|t| re.is_match(&t.name)).map(|t| t.name.to_string()).collect()
    }

    /// Computes the target assignment for the group epoch and writes what changed.
    fn update_target_assignment(&self, change: &mut Change) {
        let cg = &change.cg;
        let mut partitions: HashMap<Uuid, i32> = HashMap::new();
        let mut members = Vec::with_capacity(cg.members.len());
        for m in cg.members.values() {
            let mut topics = BTreeSet::new();
            for n in self.subscribed_names(cg, &m.metadata) {
                if let Some(t) = self.topics.get(n) {
                    partitions.insert(t.id, t.partitions.len() as i32);
                    topics.insert(t.id);
                }
            }
            members.push(AssignorMember { member_id: &m.member_id, instance_id: m.metadata.instance_id.as_deref(), topics });
        }
        let assignor = self.preferred_assignor(cg);
        let target = assignor::assign(&assignor, &AssignorInput { members, partitions: &partitions, previous: &cg.target });
        let epoch = cg.group_epoch();
        let changed: Vec<(String, TargetPartitions)> = target.into_iter().filter(|(id, t)| cg.target.get(id) != Some(t)).collect();
        for (member, value) in changed {
            change.emit(ConsumerRecord::TargetMember { group: change.group_id.clone(), member, value: Some(value) });
        }
        change.emit(ConsumerRecord::TargetMetadata { group: change.group_id.clone(), assignment_epoch: Some(epoch) });
    }

    /// The assignor most members ask for, else the first configured one.
    pub(super) fn preferred_assignor(&self, cg: &ConsumerGroup) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in cg.members.values() {
            if let Some(a) = m.metadata.server_assignor.as_deref() {
                *counts.entry(a).or_default() += 1;
            }
        }
        let best = counts.iter().max_by_key(|(name, n)| (**n, std::cmp::Reverse(self.config.consumer.assignors.iter().position(|a| a == *name)))).map(|(name, _)| name.to_string());
        best.or_else(|| self.config.consumer.assignors.first().cloned()).unwrap_or_else(|| assignor::UNIFORM.to_string())
    }
}
