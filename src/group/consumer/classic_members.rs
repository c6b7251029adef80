//! Members of the classic protocol in a consumer group: Kafka's online migration
//! (`group.consumer.migration.policy`). A consumer-protocol member joining a classic
//! group converts it to a consumer group whose classic members keep their partitions
//! and go on with JoinGroup, SyncGroup and Heartbeat, reconciled as any member; when the
//! last consumer-protocol member leaves, the group goes back to the classic protocol
//! and rebalances.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::group::ConsumerGroup;
use super::heartbeat::{fail, Change, Failure};
use super::member::{ClassicMemberMetadata, ConsumerMember, MemberAssignment, MemberMetadata, MemberState, TargetPartitions};
use super::records::{ConsumerRecord, GroupMetadata};
use crate::group::classic::group::{Group, GroupState, JoinOutcome, Member, SyncOutcome};
use crate::group::classic::membership::{JoinRequest, SyncRequest};
use crate::group::coordinator::GroupCoordinator;
use crate::group::records;

const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The subscription a classic consumer sends in its JoinGroup metadata.
pub fn decode_subscription(metadata: &Bytes) -> Option<ConsumerProtocolSubscription> {
    let mut b = metadata.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16();
    ConsumerProtocolSubscription::decode(&mut b, version.clamp(0, 3)).ok()
}

fn decode_assignment(assignment: &Bytes) -> Option<ConsumerProtocolAssignment> {
    let mut b = assignment.clone();
    if b.remaining() < 2 {
        return None;
    }
    let version = b.get_i16();
    ConsumerProtocolAssignment::decode(&mut b, version.clamp(0, 3)).ok()
}

impl GroupCoordinator {
    /// Topic id → name, for the partitions told to a classic member.
    fn by_name(&self, parts: &TargetPartitions) -> Vec<TopicPartition> {
        parts
            .iter()
            .filter_map(|(id, ps)| {
                let t = self.topics.get_by_id(id)?;
                let mut tp = TopicPartition::default();
                tp.topic = TopicName(StrBytes::from_string(t.name.to_string()));
                tp.partitions = ps.iter().copied().collect();
                Some(tp)
            })
            .collect()
    }

    fn by_id<'a>(&self, parts: impl Iterator<Item = (&'a str, &'a [i32])>) -> TargetPartitions {
        let mut out = TargetPartitions::new();
        for (name, ps) in parts {
            if let Some(t) = self.topics.get(name) {
                out.entry(t.id).or_default().extend(ps.iter().copied());
            }
        }
        out
    }

    /// A classic member's assignment bytes, in the version of its first protocol.
    fn classic_assignment(&self, classic: &ClassicMemberMetadata, parts: &TargetPartitions) -> Bytes {
        let version = classic.protocols.first().and_then(|(_, m)| (m.len() >= 2).then(|| i16::from_be_bytes([m[0], m[1]]))).unwrap_or(0).clamp(0, 3);
        let mut a = ConsumerProtocolAssignment::default();
        a.assigned_partitions = self.by_name(parts);
        let mut b = BytesMut::new();
        b.put_i16(version);
        if a.encode(&mut b, version).is_err() {
            return Bytes::new();
        }
        b.freeze()
    }

    /// Kafka's validateOnlineUpgrade and ConsumerGroup.fromClassicGroup: the records that
    /// turn the live classic group `g` into a consumer group, each member keeping its
    /// generation as member epoch and its partitions.
    pub(super) fn upgrade_classic_group(&self, g: &Group, change: &mut Change) -> Result<(), Failure> {
        let refuse = |why: &str| fail(E::GroupIdNotFound, format!("Cannot upgrade classic group {} to consumer group because {why}.", g.id));
        if !self.config.consumer.migration_upgrade {
            return refuse("online upgrade is disabled");
        }
        if g.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return refuse("the group does not use the consumer embedded protocol");
        }
        if g.members.len() > self.config.consumer.max_size {
            return refuse("the group size exceeds the consumer group maximum size");
        }
        let protocol = g.protocol.clone().unwrap_or_default();
        let generation = g.generation;
        let mut members = Vec::new();
        for m in g.members.values() {
            let subscription = decode_subscription(&m.metadata(&protocol)).ok_or_else(|| (E::GroupIdNotFound, format!("Cannot upgrade classic group {} to consumer group because the embedded consumer protocol is malformed.", g.id)))?;
            let assigned = if m.assignment.is_empty() {
                TargetPartitions::new()
            } else {
                let a = decode_assignment(&m.assignment).ok_or_else(|| (E::GroupIdNotFound, format!("Cannot upgrade classic group {} to consumer group because the embedded consumer protocol is malformed.", g.id)))?;
                if a.user_data.as_ref().is_some_and(|u| !u.is_empty()) {
                    return refuse("an unsupported custom assignor is in use");
                }
                self.by_id(a.assigned_partitions.iter().map(|tp| (tp.topic.as_str(), tp.partitions.as_slice())))
            };
            let meta = MemberMetadata {
                instance_id: m.group_instance_id.clone(),
                rack_id: subscription.rack_id.map(|r| r.to_string()),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: subscription.topics.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>().into_iter().collect(),
                subscribed_topic_regex: None,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                server_assignor: None,
                classic: Some(ClassicMemberMetadata { session_timeout_ms: m.session_timeout_ms, protocols: m.protocols.clone() }),
            };
            members.push((m.member_id.clone(), meta, assigned));
        }
        let group = g.id.clone();
        for (id, meta, _) in &members {
            change.emit(ConsumerRecord::Member { group: group.clone(), member: id.clone(), value: Some(meta.clone()) });
        }
        let hash = self.metadata_hash(&change.cg);
        change.emit(ConsumerRecord::Metadata { group: group.clone(), value: Some(GroupMetadata { epoch: generation, metadata_hash: hash }) });
        for (id, _, assigned) in &members {
            change.emit(ConsumerRecord::TargetMember { group: group.clone(), member: id.clone(), value: Some(assigned.clone()) });
        }
        change.emit(ConsumerRecord::TargetMetadata { group: group.clone(), assignment_epoch: Some(generation) });
        let now = self.clock.monotonic_ms();
        for (id, meta, assigned) in members {
            let owned = assigned.into_iter().map(|(t, ps)| (t, ps.into_iter().map(|p| (p, generation)).collect())).collect();
            let a = MemberAssignment { member_epoch: generation, previous_member_epoch: generation, state: MemberState::Stable, assigned: owned, pending_revocation: BTreeMap::new() };
            change.emit(ConsumerRecord::Current { group: group.clone(), member: id.clone(), value: Some(a) });
            let session = meta.classic.as_ref().map_or(0, |c| c.session_timeout_ms) as i64;
            change.cg.timers.entry(id).or_default().session_deadline = now + session;
        }
        change.classic_before.push((records::group_key(&group), None));
        change.clear_classic = true;
        tracing::info!(group = %group, generation, "upgrading the classic group to a consumer group");
        Ok(())
    }

    /// The member a classic request names: by instance id for a static member.
    fn classic_member<'a>(cg: &'a ConsumerGroup, member_id: &str, instance: Option<&str>) -> Result<&'a ConsumerMember, E> {
        let m = match instance {
            Some(i) => {
                let m = cg.static_members.get(i).and_then(|id| cg.members.get(id)).ok_or(E::UnknownMemberId)?;
                if m.member_id != member_id {
                    return Err(E::FencedInstanceId);
                }
                m
            }
            None => cg.members.get(member_id).ok_or(E::UnknownMemberId)?,
        };
        if m.metadata.classic.is_none() {
            return Err(E::UnknownMemberId);
        }
        Ok(m)
    }

    /// Kafka's classicGroupJoinToConsumerGroup: a JoinGroup to a consumer group is
    /// answered at once, the member reconciled as any other, its generation being its
    /// member epoch; SyncGroup then hands it its partitions.
    pub(crate) fn classic_join_to_consumer_group(&self, g: &mut Group, req: &JoinRequest) -> JoinOutcome {
        match self.classic_join(g, req) {
            Ok(o) => o,
            Err((e, message)) => {
                tracing::debug!(group = %g.id, member_id = %req.member_id, error = ?e, %message, "classic join to a consumer group refused");
                JoinOutcome::error(e.code(), &req.member_id)
            }
        }
    }

    fn classic_join(&self, g: &mut Group, req: &JoinRequest) -> Result<JoinOutcome, Failure> {
        let cg = g.consumer.as_ref().expect("a consumer group");
        if !self.config.consumer.migration_upgrade && !self.config.consumer.migration_downgrade {
            return fail(E::InconsistentGroupProtocol, format!("Cannot join the consumer group {} with the classic protocol because the group migration is disabled.", g.id));
        }
        if req.member_id.len() > i16::MAX as usize || req.group_instance_id.as_ref().is_some_and(|i| i.len() > i16::MAX as usize) {
            return fail(E::InvalidRequest, "MemberId and GroupInstanceId must be at most 32767 bytes.");
        }
        let unknown = req.member_id.is_empty();
        let member_id = if unknown { crate::common::topic_id::to_string(&uuid::Uuid::new_v4()) } else { req.member_id.clone() };
        if cg.members.len() >= self.config.consumer.max_size && !cg.members.contains_key(&member_id) {
            return fail(E::GroupMaxSizeReached, "The consumer group has reached its maximum capacity.");
        }
        // Every classic member must support one of the protocols this one offers.
        let classic: Vec<&ClassicMemberMetadata> = cg.members.values().filter_map(|m| m.metadata.classic.as_ref()).collect();
        let supported = req.protocol_type == CONSUMER_PROTOCOL_TYPE
            && !req.protocols.is_empty()
            && (classic.is_empty() || req.protocols.iter().any(|(name, _)| classic.iter().all(|c| c.protocols.iter().any(|(n, _)| n == name))));
        if !supported {
            return fail(E::InconsistentGroupProtocol, format!("Member {member_id}'s protocols are not supported."));
        }
        if unknown && req.require_known_member_id && req.group_instance_id.is_none() {
            return Ok(JoinOutcome { error: E::MemberIdRequired.code(), generation: -1, member_id, ..Default::default() });
        }
        let mut change = Change::new(&g.id, cg.clone());
        let member = match &req.group_instance_id {
            None => change.cg.members.get(&member_id).cloned().unwrap_or_else(|| ConsumerMember::new(&member_id)),
            Some(instance) => {
                let existing = change.cg.static_members.get(instance).and_then(|id| change.cg.members.get(id)).cloned();
                match existing {
                    None if unknown => ConsumerMember::new(&member_id),
                    None => return fail(E::UnknownMemberId, format!("Instance id {instance} is unknown.")),
                    Some(old) if !unknown => {
                        if old.member_id != member_id {
                            return fail(E::FencedInstanceId, format!("Static member {member_id} with instance id {instance} was fenced by member {}.", old.member_id));
                        }
                        old
                    }
                    Some(old) => change.replace_static_member(&old, &member_id),
                }
            }
        };
        let subscription = decode_subscription(&req.protocols[0].1).ok_or_else(|| (E::InconsistentGroupProtocol, "malformed consumer protocol subscription".to_string()))?;
        let mut meta = member.metadata.clone();
        if let Some(i) = &req.group_instance_id {
            meta.instance_id = Some(i.clone());
        }
        if let Some(r) = &subscription.rack_id {
            meta.rack_id = Some(r.to_string());
        }
        if req.rebalance_timeout_ms != -1 {
            meta.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        meta.subscribed_topic_names = subscription.topics.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
        meta.subscribed_topic_regex = None;
        meta.client_id = req.client_id.clone();
        meta.client_host = req.client_host.clone();
        meta.classic = Some(ClassicMemberMetadata { session_timeout_ms: req.session_timeout_ms, protocols: req.protocols.clone() });
        // What it still owns (cooperative protocols say; eager ones revoked everything).
        let owned = self.by_id(subscription.owned_partitions.iter().map(|tp| (tp.topic.as_str(), tp.partitions.as_slice())));
        let next = self.update_member(&mut change, &member, meta, Some(&owned), req.session_timeout_ms.max(0) as i64)?;
        let protocol = req.protocols[0].0.clone();
        self.commit_change(g, change)?;
        Ok(JoinOutcome {
            error: 0,
            generation: next.member_epoch,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol: Some(protocol),
            leader: String::new(),
            member_id,
            members: Vec::new(),
            skip_assignment: false,
        })
    }

    /// Kafka's classicGroupSyncToConsumerGroup: the member's reconciled partitions.
    pub(crate) fn classic_sync_to_consumer_group(&self, g: &mut Group, req: &SyncRequest) -> SyncOutcome {
        let err = |e: E| SyncOutcome { error: e.code(), ..Default::default() };
        let cg = g.consumer.as_ref().expect("a consumer group");
        let m = match Self::classic_member(cg, &req.member_id, req.group_instance_id.as_deref()) {
            Ok(m) => m,
            Err(e) => return err(e),
        };
        let classic = m.metadata.classic.as_ref().expect("a classic member");
        if req.generation != m.epoch() {
            return err(E::IllegalGeneration);
        }
        let first = classic.protocols.first().map(|(n, _)| n.clone()).unwrap_or_default();
        if req.protocol_type.as_deref().is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE) || req.protocol.as_deref().is_some_and(|p| p != first) {
            return err(E::InconsistentGroupProtocol);
        }
        if cg.assignment_epoch > m.epoch() && m.assignment.state != MemberState::UnrevokedPartitions {
            return err(E::RebalanceInProgress);
        }
        let assignment = self.classic_assignment(classic, &m.assigned_sets());
        let session = classic.session_timeout_ms.max(0) as i64;
        let id = m.member_id.clone();
        let deadline = self.clock.monotonic_ms() + session;
        if let Some(cg) = g.consumer.as_mut() {
            cg.timers.entry(id).or_default().session_deadline = deadline;
        }
        SyncOutcome { error: 0, protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()), protocol: Some(first), assignment }
    }

    /// Kafka's classicGroupHeartbeatToConsumerGroup: REBALANCE_IN_PROGRESS tells the
    /// member to rejoin when its assignment has moved on.
    pub(crate) fn classic_heartbeat_to_consumer_group(&self, g: &mut Group, member_id: &str, instance: Option<&str>, generation: i32) -> i16 {
        let Some(cg) = g.consumer.as_mut() else { return E::UnknownMemberId.code() };
        let m = match Self::classic_member(cg, member_id, instance) {
            Ok(m) => m,
            Err(e) => return e.code(),
        };
        if generation != m.epoch() {
            return E::IllegalGeneration.code();
        }
        let waiting_on_unreleased = m.assignment.state == MemberState::UnreleasedPartitions
            && cg.target.get(&m.member_id).is_some_and(|t| t.iter().any(|(topic, ps)| ps.iter().any(|p| !m.assignment.assigned.get(topic).is_some_and(|a| a.contains_key(p)) && cg.owner_epoch(topic, *p).is_some())));
        let rejoin = m.epoch() < cg.assignment_epoch || m.assignment.state == MemberState::UnrevokedPartitions || (m.assignment.state == MemberState::UnreleasedPartitions && !waiting_on_unreleased);
        let session = m.metadata.classic.as_ref().map_or(0, |c| c.session_timeout_ms.max(0)) as i64;
        let id = m.member_id.clone();
        cg.timers.entry(id).or_default().session_deadline = self.clock.monotonic_ms() + session;
        if rejoin {
            E::RebalanceInProgress.code()
        } else {
            0
        }
    }

    /// LeaveGroup of classic members of a consumer group: each is fenced.
    pub(crate) fn classic_leave_consumer_group(&self, g: &mut Group, leaving: &[(String, Option<String>)]) -> Vec<i16> {
        let cg = g.consumer.as_ref().expect("a consumer group");
        let mut errors = Vec::with_capacity(leaving.len());
        let mut fenced = Vec::new();
        for (member_id, instance) in leaving {
            let found = match instance {
                Some(i) => match cg.static_members.get(i).and_then(|id| cg.members.get(id)) {
                    Some(m) if member_id.is_empty() || m.member_id == *member_id => Ok(m.member_id.clone()),
                    Some(_) => Err(E::FencedInstanceId),
                    None => Err(E::UnknownMemberId),
                },
                None => cg.members.get(member_id).map(|m| m.member_id.clone()).ok_or(E::UnknownMemberId),
            };
            match found {
                Ok(id) => {
                    errors.push(0);
                    fenced.push(id);
                }
                Err(e) => errors.push(e.code()),
            }
        }
        if !fenced.is_empty() {
            let mut change = Change::new(&g.id, cg.clone());
            self.fence_members(g, &mut change, &fenced, "member left");
            if let Err((e, _)) = self.commit_change(g, change) {
                return errors.iter().map(|c| if *c == 0 { e.code() } else { *c }).collect();
            }
        }
        errors
    }

    /// Kafka's validateOnlineDowngradeWithFencedMembers and ClassicGroup.fromConsumerGroup:
    /// when only classic members would remain, the records that turn the group back into
    /// a classic group (which then rebalances). Returns whether it did.
    pub(super) fn maybe_downgrade(&self, g: &Group, change: &mut Change, leaving: &[String]) -> bool {
        let cg = &change.cg;
        let remaining: Vec<&ConsumerMember> = cg.members.values().filter(|m| !leaving.contains(&m.member_id)).collect();
        if remaining.is_empty() || remaining.iter().any(|m| m.metadata.classic.is_none()) || !self.config.consumer.migration_downgrade || remaining.len() > self.config.max_size {
            return false;
        }
        let mut classic = Group::new(&g.id, self.clock.now_ms());
        classic.generation = cg.group_epoch();
        classic.protocol_type = Some(CONSUMER_PROTOCOL_TYPE.to_string());
        let now = self.clock.monotonic_ms();
        let mut members = IndexMap::new();
        for m in &remaining {
            let c = m.metadata.classic.as_ref().expect("a classic member");
            let target = cg.target.get(&m.member_id).cloned().unwrap_or_default();
            members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.metadata.instance_id.clone(),
                    client_id: m.metadata.client_id.clone(),
                    client_host: m.metadata.client_host.clone(),
                    rebalance_timeout_ms: m.metadata.rebalance_timeout_ms,
                    session_timeout_ms: c.session_timeout_ms,
                    protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                    protocols: c.protocols.clone(),
                    assignment: self.classic_assignment(c, &target),
                    deadline: now + c.session_timeout_ms.max(0) as i64,
                    awaiting_join: None,
                    awaiting_sync: None,
                },
            );
            if let Some(i) = &m.metadata.instance_id {
                classic.static_members.insert(i.clone(), m.member_id.clone());
            }
        }
        classic.members = members;
        classic.leader = classic.members.keys().next().cloned();
        classic.protocol = classic.select_protocol();
        classic.state = GroupState::Stable;
        let deletion = cg.deletion_records(&g.id);
        for rec in deletion {
            change.emit(rec);
        }
        change.classic_after.push((records::group_key(&g.id), Some(records::group_value(&classic.stored()))));
        change.downgrade_to = Some(Box::new(classic));
        tracing::info!(group = %g.id, "downgrading the consumer group to a classic group: only classic members remain");
        true
    }
}
