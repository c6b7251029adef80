//! Membership of the classic protocol, as Kafka's: join and sync phases with
//! generations, heartbeats and session timeouts, static membership (KIP-345).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use tokio::sync::oneshot;

use super::group::{Group, GroupState, JoinOutcome, Member, Rebalance, SyncOutcome};
use crate::group::coordinator::{code, GroupCoordinator, Reply};

/// A JoinGroup request, version-independent.
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader may be told to skip assignment (KIP-814).
    pub supports_skip_assignment: bool,
}

pub struct SyncRequest {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// Completes a member's parked JoinGroup, if any.
fn answer_join(m: &mut Member, outcome: JoinOutcome) {
    if let Some(tx) = m.awaiting_join.take() {
        let _ = tx.send(outcome);
    }
}

fn answer_sync(m: &mut Member, outcome: SyncOutcome) {
    if let Some(tx) = m.awaiting_sync.take() {
        let _ = tx.send(outcome);
    }
}

/// A member's session timeout: how long it lives without a heartbeat.
pub(crate) fn session_ms(m: &Member) -> i64 {
    m.session_timeout_ms.max(0) as i64
}

impl GroupCoordinator {
    pub async fn join(&self, req: JoinRequest) -> JoinOutcome {
        let member_id = req.member_id.clone();
        if req.group_id.is_empty() {
            return JoinOutcome::error(code(E::InvalidGroupId), &member_id);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms || req.session_timeout_ms > self.config.max_session_timeout_ms {
            return JoinOutcome::error(code(E::InvalidSessionTimeout), &member_id);
        }
        let group = if req.member_id.is_empty() {
            self.group_or_create(&req.group_id)
        } else {
            match self.group(&req.group_id) {
                Some(g) => g,
                None => return JoinOutcome::error(code(E::UnknownMemberId), &member_id),
            }
        };
        let reply = {
            let mut g = group.lock();
            self.join_locked(&mut g, req)
        };
        match reply {
            Reply::Now(o) => o,
            // A dropped sender means the member was removed while waiting.
            Reply::Wait(rx) => rx.await.unwrap_or_else(|_| JoinOutcome::error(code(E::UnknownMemberId), &member_id)),
        }
    }

    fn join_locked(&self, g: &mut Group, req: JoinRequest) -> Reply<JoinOutcome> {
        let now = self.clock.monotonic_ms();
        if g.state == GroupState::Dead {
            return Reply::Now(JoinOutcome::error(code(E::CoordinatorNotAvailable), &req.member_id));
        }
        if g.consumer.as_ref().is_some_and(|cg| !cg.members.is_empty()) {
            return Reply::Now(self.classic_join_to_consumer_group(g, &req));
        }
        if let Some(e) = self.leave_consumer_protocol(g) {
            return Reply::Now(JoinOutcome::error(e, &req.member_id));
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            return Reply::Now(JoinOutcome::error(code(E::InconsistentGroupProtocol), &req.member_id));
        }
        if req.member_id.is_empty() {
            if let Some(instance) = req.group_instance_id.clone() {
                if let Some(old_id) = g.static_members.get(&instance).cloned() {
                    return self.rejoin_static(g, old_id, req);
                }
                // A new static member skips MEMBER_ID_REQUIRED: its instance id names it.
                let id = format!("{}-{}", instance, uuid::Uuid::new_v4());
                g.static_members.insert(instance, id.clone());
                return self.add_member(g, id, req);
            }
            if g.members.len() + g.pending.len() >= self.config.max_size {
                return Reply::Now(JoinOutcome::error(code(E::GroupMaxSizeReached), ""));
            }
            let id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
            if req.require_known_member_id {
                g.pending.insert(id.clone(), now + req.session_timeout_ms as i64);
                return Reply::Now(JoinOutcome::error(code(E::MemberIdRequired), &id));
            }
            return self.add_member(g, id, req);
        }
        if g.pending.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            return self.add_member(g, id, req);
        }
        if let Some(instance) = &req.group_instance_id {
            if g.static_members.get(instance).is_some_and(|id| *id != req.member_id) {
                return Reply::Now(JoinOutcome::error(code(E::FencedInstanceId), &req.member_id));
            }
        }
        if !g.members.contains_key(&req.member_id) {
            return Reply::Now(JoinOutcome::error(code(E::UnknownMemberId), &req.member_id));
        }
        // A known member rejoining.
        let is_leader = g.leader.as_deref() == Some(req.member_id.as_str());
        let (tx, rx) = oneshot::channel();
        let m = g.members.get_mut(&req.member_id).expect("checked above");
        let unchanged = m.same_protocols(&req.protocols);
        m.deadline = now + session_ms(m);
        match g.state {
            GroupState::PreparingRebalance => {
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.protocols = req.protocols;
                m.session_timeout_ms = req.session_timeout_ms;
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
                m.awaiting_join = Some(tx);
                self.maybe_complete_join(g);
                Reply::Wait(rx)
            }
            GroupState::CompletingRebalance | GroupState::Stable if unchanged && !(g.state == GroupState::Stable && is_leader) => {
                // A retry after a lost response, or a follower that did not change:
                // the current generation stands.
                Reply::Now(self.join_result(g, &req.member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.protocols = req.protocols;
                m.awaiting_join = Some(tx);
                self.prepare_rebalance(g, "member rejoined with new metadata");
                Reply::Wait(rx)
            }
            GroupState::Empty | GroupState::Dead => Reply::Now(JoinOutcome::error(code(E::UnknownMemberId), &req.member_id)),
        }
    }

    /// The JoinGroup answer for the current generation (the leader gets the members).
    fn join_result(&self, g: &Group, member_id: &str) -> JoinOutcome {
        let leader = g.leader.clone().unwrap_or_default();
        let protocol = g.protocol.clone().unwrap_or_default();
        let members = if leader == member_id {
            g.members.values().map(|m| (m.member_id.clone(), m.group_instance_id.clone(), m.metadata(&protocol))).collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: 0,
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    fn add_member(&self, g: &mut Group, id: String, req: JoinRequest) -> Reply<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if g.members.is_empty() {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        let member = Member {
            member_id: id.clone(),
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            deadline: self.clock.monotonic_ms() + req.session_timeout_ms as i64,
            awaiting_join: Some(tx),
            awaiting_sync: None,
        };
        g.members.insert(id, member);
        if let Some(r) = g.rebalance.as_mut() {
            r.joined_since_timer = true;
        }
        match g.state {
            GroupState::PreparingRebalance => self.maybe_complete_join(g),
            _ => self.prepare_rebalance(g, "member joined"),
        }
        Reply::Wait(rx)
    }

    /// A static member rejoining under a new member id (KIP-345): the old id is fenced;
    /// in a stable group with unchanged metadata no rebalance happens and the member
    /// keeps its assignment.
    fn rejoin_static(&self, g: &mut Group, old_id: String, req: JoinRequest) -> Reply<JoinOutcome> {
        let Some(mut m) = g.members.shift_remove(&old_id) else {
            // Mapped but no longer a member (expired): join as new.
            let instance = req.group_instance_id.clone().expect("static");
            let id = format!("{}-{}", instance, uuid::Uuid::new_v4());
            g.static_members.insert(instance, id.clone());
            return self.add_member(g, id, req);
        };
        let new_id = format!("{}-{}", req.group_instance_id.as_deref().unwrap_or_default(), uuid::Uuid::new_v4());
        // The fenced member's parked requests end with FENCED_INSTANCE_ID.
        answer_join(&mut m, JoinOutcome::error(code(E::FencedInstanceId), &old_id));
        answer_sync(&mut m, SyncOutcome { error: code(E::FencedInstanceId), ..Default::default() });
        m.member_id = new_id.clone();
        // The client id and host stay those recorded at the instance's first join, as
        // Kafka's ClassicGroup.replaceStaticMember keeps them (DescribeGroups shows them).
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.deadline = self.clock.monotonic_ms() + session_ms(&m);
        m.protocols = req.protocols.clone();
        g.members.insert(new_id.clone(), m);
        g.static_members.insert(req.group_instance_id.clone().expect("static"), new_id.clone());
        let previous_leader = g.leader.clone().unwrap_or_default();
        if previous_leader == old_id {
            g.leader = Some(new_id.clone());
        }
        // New metadata alone does not rebalance a stable group, unless it would change
        // the protocol the group selects (Kafka's updateStaticMemberAndRebalance).
        let protocol_unchanged = g.select_protocol() == g.protocol;
        match g.state {
            GroupState::Stable if protocol_unchanged => {
                if let Err(e) = self.persist_group(g) {
                    tracing::warn!(group = %g.id, error = e, "could not store static member replacement");
                }
                let mut out = self.join_result(g, &new_id);
                if req.supports_skip_assignment && out.leader == new_id {
                    // v9+: the leader learns it leads, but must not reassign (KIP-814).
                    out.skip_assignment = true;
                } else {
                    // Older versions get the previous leader id and no members, so that a
                    // returning leader acts as a follower and keeps its assignment.
                    out.leader = previous_leader;
                    out.members = Vec::new();
                }
                Reply::Now(out)
            }
            GroupState::PreparingRebalance => {
                let (tx, rx) = oneshot::channel();
                g.members.get_mut(&new_id).expect("member").awaiting_join = Some(tx);
                self.maybe_complete_join(g);
                Reply::Wait(rx)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                g.members.get_mut(&new_id).expect("member").awaiting_join = Some(tx);
                self.prepare_rebalance(g, "static member rejoined with new metadata");
                Reply::Wait(rx)
            }
        }
    }

    pub(crate) fn prepare_rebalance(&self, g: &mut Group, reason: &str) {
        if g.state == GroupState::CompletingRebalance {
            for m in g.members.values_mut() {
                answer_sync(m, SyncOutcome { error: code(E::RebalanceInProgress), ..Default::default() });
            }
        }
        let initial = g.state == GroupState::Empty;
        let epoch = self.epochs.fetch_add(1, Ordering::Relaxed);
        let timeout = g.max_rebalance_timeout_ms();
        let (delay, remaining) = if initial {
            let d = self.config.initial_rebalance_delay_ms.min(timeout);
            (d, (timeout - d).max(0))
        } else {
            (timeout, 0)
        };
        g.set_state(GroupState::PreparingRebalance, self.clock.now_ms());
        g.rebalance = Some(Rebalance { epoch, initial, remaining_ms: remaining, joined_since_timer: false });
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), reason, "preparing to rebalance");
        self.schedule_join(&g.id, epoch, delay);
        if !initial {
            self.maybe_complete_join(g);
        }
    }

    fn schedule_join(&self, group_id: &str, epoch: u64, delay_ms: i64) {
        let Some(me) = self.me.upgrade() else { return };
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms.max(0) as u64)).await;
            me.join_timer_fired(&group_id, epoch);
        });
    }

    fn join_timer_fired(&self, group_id: &str, epoch: u64) {
        let Some(group) = self.group(group_id) else { return };
        let mut g = group.lock();
        let Some(r) = g.rebalance else { return };
        if r.epoch != epoch || g.state != GroupState::PreparingRebalance {
            return;
        }
        // The initial delay is extended while members keep arriving, up to the
        // rebalance timeout (Kafka's InitialDelayedJoin).
        if r.initial && r.joined_since_timer && r.remaining_ms > 0 {
            let delay = self.config.initial_rebalance_delay_ms.min(r.remaining_ms);
            g.rebalance = Some(Rebalance { remaining_ms: r.remaining_ms - delay, joined_since_timer: false, ..r });
            self.schedule_join(group_id, epoch, delay);
            return;
        }
        self.complete_join(&mut g);
    }

    fn maybe_complete_join(&self, g: &mut Group) {
        if g.state == GroupState::PreparingRebalance && g.rebalance.is_some_and(|r| !r.initial) && g.all_joined() {
            self.complete_join(g);
        }
    }

    fn complete_join(&self, g: &mut Group) {
        // Members that did not rejoin in time leave the group.
        let gone: Vec<String> = g.members.values().filter(|m| m.awaiting_join.is_none()).map(|m| m.member_id.clone()).collect();
        for id in gone {
            self.remove_member(g, &id);
        }
        g.rebalance = None;
        g.generation += 1;
        let now = self.clock.now_ms();
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.set_state(GroupState::Empty, now);
            if let Err(e) = self.persist_group(g) {
                tracing::warn!(group = %g.id, error = e, "could not store empty group");
            }
            tracing::info!(group = %g.id, generation = g.generation, "group is empty");
            return;
        }
        g.protocol = g.select_protocol();
        if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
            g.leader = g.members.keys().next().cloned();
        }
        g.set_state(GroupState::CompletingRebalance, now);
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), protocol = ?g.protocol, "rebalance: join phase complete");
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let outcome = self.join_result(g, &id);
            let m = g.members.get_mut(&id).expect("member");
            m.deadline = self.clock.monotonic_ms() + session_ms(m);
            answer_join(m, outcome);
        }
    }

    fn remove_member(&self, g: &mut Group, id: &str) {
        if let Some(mut m) = g.members.shift_remove(id) {
            if let Some(instance) = &m.group_instance_id {
                if g.static_members.get(instance).is_some_and(|v| v == id) {
                    g.static_members.remove(instance);
                }
            }
            answer_join(&mut m, JoinOutcome::error(code(E::UnknownMemberId), id));
            answer_sync(&mut m, SyncOutcome { error: code(E::UnknownMemberId), ..Default::default() });
        }
        if g.leader.as_deref() == Some(id) {
            g.leader = g.members.keys().next().cloned();
        }
    }

    /// After members left or expired: rebalance the rest, as Kafka does.
    fn members_removed(&self, g: &mut Group, reason: &str) {
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(g, reason),
            GroupState::PreparingRebalance => self.maybe_complete_join(g),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    pub async fn sync(&self, req: SyncRequest) -> SyncOutcome {
        let err = |e: E| SyncOutcome { error: e.code(), ..Default::default() };
        let Some(group) = self.group(&req.group_id) else {
            return err(E::UnknownMemberId);
        };
        let reply = {
            let mut g = group.lock();
            self.sync_locked(&mut g, req)
        };
        match reply {
            Reply::Now(o) => o,
            Reply::Wait(rx) => rx.await.unwrap_or_else(|_| err(E::UnknownMemberId)),
        }
    }

    fn sync_locked(&self, g: &mut Group, req: SyncRequest) -> Reply<SyncOutcome> {
        let err = |e: E| Reply::Now(SyncOutcome { error: e.code(), ..Default::default() });
        if g.state == GroupState::Dead {
            return err(E::CoordinatorNotAvailable);
        }
        if g.consumer.is_some() {
            return Reply::Now(self.classic_sync_to_consumer_group(g, &req));
        }
        if let Some(instance) = &req.group_instance_id {
            if g.static_members.get(instance).is_some_and(|id| *id != req.member_id) {
                return err(E::FencedInstanceId);
            }
        }
        if !g.members.contains_key(&req.member_id) {
            return err(E::UnknownMemberId);
        }
        if req.generation != g.generation {
            return err(E::IllegalGeneration);
        }
        if req.protocol_type.as_ref().is_some_and(|t| Some(t) != g.protocol_type.as_ref()) || req.protocol.as_ref().is_some_and(|p| Some(p) != g.protocol.as_ref()) {
            return err(E::InconsistentGroupProtocol);
        }
        let ok = |g: &Group, assignment: Bytes| SyncOutcome { error: 0, protocol_type: g.protocol_type.clone(), protocol: g.protocol.clone(), assignment };
        match g.state {
            GroupState::Empty | GroupState::Dead => err(E::UnknownMemberId),
            GroupState::PreparingRebalance => err(E::RebalanceInProgress),
            GroupState::Stable => {
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.deadline = self.clock.monotonic_ms() + session_ms(m);
                let a = m.assignment.clone();
                Reply::Now(ok(g, a))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.deadline = self.clock.monotonic_ms() + session_ms(m);
                m.awaiting_sync = Some(tx);
                if g.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut assigned: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in g.members.values_mut() {
                        m.assignment = assigned.remove(&m.member_id).unwrap_or_default();
                    }
                    if let Err(e) = self.persist_group(g) {
                        tracing::warn!(group = %g.id, error = e, "could not store group assignment");
                        for m in g.members.values_mut() {
                            answer_sync(m, SyncOutcome { error: e, ..Default::default() });
                        }
                        self.prepare_rebalance(g, "storing the assignment failed");
                        return Reply::Wait(rx);
                    }
                    g.set_state(GroupState::Stable, self.clock.now_ms());
                    tracing::info!(group = %g.id, generation = g.generation, "group is stable");
                    let answers: Vec<(String, SyncOutcome)> = g.members.values().map(|m| (m.member_id.clone(), ok(g, m.assignment.clone()))).collect();
                    for (id, outcome) in answers {
                        answer_sync(g.members.get_mut(&id).expect("member"), outcome);
                    }
                }
                Reply::Wait(rx)
            }
        }
    }

    pub fn heartbeat(&self, group_id: &str, member_id: &str, group_instance_id: Option<&str>, generation: i32) -> i16 {
        let Some(group) = self.group(group_id) else { return code(E::UnknownMemberId) };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return code(E::CoordinatorNotAvailable);
        }
        if g.consumer.is_some() {
            return self.classic_heartbeat_to_consumer_group(&mut g, member_id, group_instance_id, generation);
        }
        if let Some(instance) = group_instance_id {
            if g.static_members.get(instance).is_some_and(|id| id != member_id) {
                return code(E::FencedInstanceId);
            }
        }
        let state = g.state;
        let current = g.generation;
        let Some(m) = g.members.get_mut(member_id) else { return code(E::UnknownMemberId) };
        if state == GroupState::Empty {
            return code(E::UnknownMemberId);
        }
        if generation != current {
            return code(E::IllegalGeneration);
        }
        m.deadline = self.clock.monotonic_ms() + session_ms(m);
        match state {
            GroupState::PreparingRebalance => code(E::RebalanceInProgress),
            _ => 0,
        }
    }

    /// LeaveGroup for (member id, group instance id) pairs; per-member errors.
    pub fn leave(&self, group_id: &str, leaving: &[(String, Option<String>)]) -> Result<Vec<i16>, i16> {
        let Some(group) = self.group(group_id) else { return Err(code(E::UnknownMemberId)) };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return Err(code(E::CoordinatorNotAvailable));
        }
        if g.consumer.is_some() {
            return Ok(self.classic_leave_consumer_group(&mut g, leaving));
        }
        let mut errors = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for (member_id, instance) in leaving {
            let target = match instance {
                Some(inst) => match g.static_members.get(inst) {
                    Some(id) if member_id.is_empty() || id == member_id => Some(id.clone()),
                    Some(_) => {
                        errors.push(code(E::FencedInstanceId));
                        continue;
                    }
                    None => None,
                },
                None => Some(member_id.clone()),
            };
            match target {
                Some(id) if g.pending.remove(&id).is_some() => {
                    errors.push(0);
                    removed = true;
                }
                Some(id) if g.members.contains_key(&id) => {
                    self.remove_member(&mut g, &id);
                    errors.push(0);
                    removed = true;
                }
                _ => errors.push(code(E::UnknownMemberId)),
            }
        }
        if removed {
            self.members_removed(&mut g, "member left");
        }
        Ok(errors)
    }

    /// A classic member joining an empty consumer group: it becomes a classic group (its
    /// records deleted, its offsets kept).
    fn leave_consumer_protocol(&self, g: &mut Group) -> Option<i16> {
        let cg = g.consumer.as_ref()?;
        let recs: Vec<_> = cg.deletion_records(&g.id).iter().map(|r| r.encode()).collect();
        if let Err(e) = self.persist(&g.id, &recs) {
            return Some(e);
        }
        g.consumer = None;
        tracing::info!(group = %g.id, "converted an empty consumer group to a classic group");
        None
    }

    /// The classic members of a group that became a consumer group: their parked
    /// JoinGroup and SyncGroup are told to rejoin, and the classic state goes.
    pub(crate) fn drop_classic_members(&self, g: &mut Group) {
        for m in g.members.values_mut() {
            answer_join(m, JoinOutcome::error(code(E::RebalanceInProgress), &m.member_id.clone()));
            answer_sync(m, SyncOutcome { error: code(E::RebalanceInProgress), ..Default::default() });
        }
        g.clear_classic_membership();
    }

    /// Expires members and handed-out member ids whose session timed out.
    pub(crate) fn expire_sessions(&self) {
        let now = self.clock.monotonic_ms();
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            let before = g.pending.len();
            g.pending.retain(|_, deadline| *deadline > now);
            let pending_expired = g.pending.len() != before;
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none() && m.deadline <= now)
                .map(|m| m.member_id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %g.id, member_id = %id, "member session expired");
                self.remove_member(&mut g, id);
            }
            if !expired.is_empty() {
                self.members_removed(&mut g, "member session expired");
            } else if pending_expired {
                self.maybe_complete_join(&mut g);
            }
        }
    }

}
