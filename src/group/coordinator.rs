//! The group coordinator of the classic consumer group protocol, as Kafka's: join and
//! sync phases with generations, heartbeats and session timeouts, static membership,
//! and committed offsets kept in the compacted internal topic `__consumer_offsets`.
//!
//! Each group sits behind its own mutex, never held across an await: a JoinGroup or
//! SyncGroup that must wait parks a oneshot sender in its member and awaits the
//! receiver after unlocking. Timers are tokio tasks that carry the join phase's epoch,
//! so a timer of an earlier phase does nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::records::Compression;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::group::{Group, GroupState, JoinOutcome, Member, Rebalance, SyncOutcome};
use super::records::{self, CommittedOffset, OffsetsRecord};
use crate::broker::{now_ms, Broker, NewTopic, Partition, TopicError};
use crate::config::BrokerConfig;
use crate::log::batch;
use crate::log::records::{raw_records, split_batches};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Coordinator settings, from Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_partitions: i32,
    pub offsets_segment_bytes: String,
    pub retention_ms: i64,
    pub retention_check_interval_ms: u64,
    pub metadata_max_bytes: usize,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        let num = |k: &str| c.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
        GroupConfig {
            initial_rebalance_delay_ms: num("group.initial.rebalance.delay.ms"),
            min_session_timeout_ms: num("group.min.session.timeout.ms") as i32,
            max_session_timeout_ms: num("group.max.session.timeout.ms") as i32,
            max_size: num("group.max.size") as usize,
            offsets_partitions: num("offsets.topic.num.partitions") as i32,
            offsets_segment_bytes: c.get("offsets.topic.segment.bytes").unwrap_or_default(),
            retention_ms: num("offsets.retention.minutes").saturating_mul(60_000),
            retention_check_interval_ms: num("offsets.retention.check.interval.ms") as u64,
            metadata_max_bytes: num("offset.metadata.max.bytes") as usize,
        }
    }
}

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

/// One partition's offset in an OffsetCommit.
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// What DescribeGroups reports of a group.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

pub struct GroupCoordinator {
    config: GroupConfig,
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    /// `__consumer_offsets` partitions whose groups are being loaded (this broker just
    /// became their leader): their groups get COORDINATOR_LOAD_IN_PROGRESS meanwhile.
    loading: Mutex<std::collections::HashSet<i32>>,
    epochs: AtomicU64,
}

fn code(e: E) -> i16 {
    e.code()
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

fn session(m: &Member) -> Duration {
    Duration::from_millis(m.session_timeout_ms.max(0) as u64)
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator { config, groups: Mutex::new(HashMap::new()), loading: Mutex::new(Default::default()), epochs: AtomicU64::new(1) }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn group(&self, id: &str) -> Option<Arc<Mutex<Group>>> {
        self.groups.lock().get(id).cloned()
    }

    fn group_or_create(&self, id: &str) -> Arc<Mutex<Group>> {
        self.groups.lock().entry(id.to_string()).or_insert_with(|| Arc::new(Mutex::new(Group::new(id, now_ms())))).clone()
    }

    /// Every group id with its state and protocol type (ListGroups).
    pub fn list(&self) -> Vec<(String, GroupState, String)> {
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let g = g.lock();
                (g.id.clone(), g.state, g.protocol_type.clone().unwrap_or_default())
            })
            .filter(|(_, s, _)| *s != GroupState::Dead)
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    // ----- membership -------------------------------------------------------------

    pub async fn join(&self, broker: &Arc<Broker>, req: JoinRequest) -> JoinOutcome {
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
            self.join_locked(broker, &mut g, req)
        };
        match reply {
            Reply::Now(o) => o,
            // A dropped sender means the member was removed while waiting.
            Reply::Wait(rx) => rx.await.unwrap_or_else(|_| JoinOutcome::error(code(E::UnknownMemberId), &member_id)),
        }
    }

    fn join_locked(&self, broker: &Arc<Broker>, g: &mut Group, req: JoinRequest) -> Reply<JoinOutcome> {
        let now = Instant::now();
        if g.state == GroupState::Dead {
            return Reply::Now(JoinOutcome::error(code(E::CoordinatorNotAvailable), &req.member_id));
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            return Reply::Now(JoinOutcome::error(code(E::InconsistentGroupProtocol), &req.member_id));
        }
        if req.member_id.is_empty() {
            if let Some(instance) = req.group_instance_id.clone() {
                if let Some(old_id) = g.static_members.get(&instance).cloned() {
                    return self.rejoin_static(broker, g, old_id, req);
                }
                // A new static member skips MEMBER_ID_REQUIRED: its instance id names it.
                let id = format!("{}-{}", instance, uuid::Uuid::new_v4());
                g.static_members.insert(instance, id.clone());
                return self.add_member(broker, g, id, req);
            }
            if g.members.len() + g.pending.len() >= self.config.max_size {
                return Reply::Now(JoinOutcome::error(code(E::GroupMaxSizeReached), ""));
            }
            let id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
            if req.require_known_member_id {
                g.pending.insert(id.clone(), now + Duration::from_millis(req.session_timeout_ms as u64));
                return Reply::Now(JoinOutcome::error(code(E::MemberIdRequired), &id));
            }
            return self.add_member(broker, g, id, req);
        }
        if g.pending.remove(&req.member_id).is_some() {
            let id = req.member_id.clone();
            return self.add_member(broker, g, id, req);
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
        m.deadline = now + session(m);
        match g.state {
            GroupState::PreparingRebalance => {
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.protocols = req.protocols;
                m.session_timeout_ms = req.session_timeout_ms;
                m.rebalance_timeout_ms = req.rebalance_timeout_ms;
                m.awaiting_join = Some(tx);
                self.maybe_complete_join(broker, g);
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
                self.prepare_rebalance(broker, g, "member rejoined with new metadata");
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

    fn add_member(&self, broker: &Arc<Broker>, g: &mut Group, id: String, req: JoinRequest) -> Reply<JoinOutcome> {
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
            deadline: Instant::now() + Duration::from_millis(req.session_timeout_ms as u64),
            awaiting_join: Some(tx),
            awaiting_sync: None,
        };
        g.members.insert(id, member);
        if let Some(r) = g.rebalance.as_mut() {
            r.joined_since_timer = true;
        }
        match g.state {
            GroupState::PreparingRebalance => self.maybe_complete_join(broker, g),
            _ => self.prepare_rebalance(broker, g, "member joined"),
        }
        Reply::Wait(rx)
    }

    /// A static member rejoining under a new member id (KIP-345): the old id is fenced;
    /// in a stable group with unchanged metadata no rebalance happens and the member
    /// keeps its assignment.
    fn rejoin_static(&self, broker: &Arc<Broker>, g: &mut Group, old_id: String, req: JoinRequest) -> Reply<JoinOutcome> {
        let Some(mut m) = g.members.shift_remove(&old_id) else {
            // Mapped but no longer a member (expired): join as new.
            let instance = req.group_instance_id.clone().expect("static");
            let id = format!("{}-{}", instance, uuid::Uuid::new_v4());
            g.static_members.insert(instance, id.clone());
            return self.add_member(broker, g, id, req);
        };
        let new_id = format!("{}-{}", req.group_instance_id.as_deref().unwrap_or_default(), uuid::Uuid::new_v4());
        // The fenced member's parked requests end with FENCED_INSTANCE_ID.
        answer_join(&mut m, JoinOutcome::error(code(E::FencedInstanceId), &old_id));
        answer_sync(&mut m, SyncOutcome { error: code(E::FencedInstanceId), ..Default::default() });
        m.member_id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.deadline = Instant::now() + session(&m);
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
                if let Err(e) = self.persist_group(broker, g) {
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
                self.maybe_complete_join(broker, g);
                Reply::Wait(rx)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                g.members.get_mut(&new_id).expect("member").awaiting_join = Some(tx);
                self.prepare_rebalance(broker, g, "static member rejoined with new metadata");
                Reply::Wait(rx)
            }
        }
    }

    fn prepare_rebalance(&self, broker: &Arc<Broker>, g: &mut Group, reason: &str) {
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
        g.set_state(GroupState::PreparingRebalance, now_ms());
        g.rebalance = Some(Rebalance { epoch, initial, remaining_ms: remaining, joined_since_timer: false });
        tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), reason, "preparing to rebalance");
        self.schedule_join(broker, &g.id, epoch, delay);
        if !initial {
            self.maybe_complete_join(broker, g);
        }
    }

    fn schedule_join(&self, broker: &Arc<Broker>, group_id: &str, epoch: u64, delay_ms: i64) {
        let broker = broker.clone();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms.max(0) as u64)).await;
            broker.groups.join_timer_fired(&broker, &group_id, epoch);
        });
    }

    fn join_timer_fired(&self, broker: &Arc<Broker>, group_id: &str, epoch: u64) {
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
            self.schedule_join(broker, group_id, epoch, delay);
            return;
        }
        self.complete_join(broker, &mut g);
    }

    fn maybe_complete_join(&self, broker: &Arc<Broker>, g: &mut Group) {
        if g.state == GroupState::PreparingRebalance && g.rebalance.is_some_and(|r| !r.initial) && g.all_joined() {
            self.complete_join(broker, g);
        }
    }

    fn complete_join(&self, broker: &Arc<Broker>, g: &mut Group) {
        // Members that did not rejoin in time leave the group.
        let gone: Vec<String> = g.members.values().filter(|m| m.awaiting_join.is_none()).map(|m| m.member_id.clone()).collect();
        for id in gone {
            self.remove_member(g, &id);
        }
        g.rebalance = None;
        g.generation += 1;
        let now = now_ms();
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.set_state(GroupState::Empty, now);
            if let Err(e) = self.persist_group(broker, g) {
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
            m.deadline = Instant::now() + session(m);
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
    fn members_removed(&self, broker: &Arc<Broker>, g: &mut Group, reason: &str) {
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(broker, g, reason),
            GroupState::PreparingRebalance => self.maybe_complete_join(broker, g),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    pub async fn sync(&self, broker: &Arc<Broker>, req: SyncRequest) -> SyncOutcome {
        let err = |e: E| SyncOutcome { error: e.code(), ..Default::default() };
        let Some(group) = self.group(&req.group_id) else {
            return err(E::UnknownMemberId);
        };
        let reply = {
            let mut g = group.lock();
            self.sync_locked(broker, &mut g, req)
        };
        match reply {
            Reply::Now(o) => o,
            Reply::Wait(rx) => rx.await.unwrap_or_else(|_| err(E::UnknownMemberId)),
        }
    }

    fn sync_locked(&self, broker: &Arc<Broker>, g: &mut Group, req: SyncRequest) -> Reply<SyncOutcome> {
        let err = |e: E| Reply::Now(SyncOutcome { error: e.code(), ..Default::default() });
        if g.state == GroupState::Dead {
            return err(E::CoordinatorNotAvailable);
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
                m.deadline = Instant::now() + session(m);
                let a = m.assignment.clone();
                Reply::Now(ok(g, a))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let m = g.members.get_mut(&req.member_id).expect("member");
                m.deadline = Instant::now() + session(m);
                m.awaiting_sync = Some(tx);
                if g.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut assigned: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in g.members.values_mut() {
                        m.assignment = assigned.remove(&m.member_id).unwrap_or_default();
                    }
                    if let Err(e) = self.persist_group(broker, g) {
                        tracing::warn!(group = %g.id, error = e, "could not store group assignment");
                        for m in g.members.values_mut() {
                            answer_sync(m, SyncOutcome { error: e, ..Default::default() });
                        }
                        self.prepare_rebalance(broker, g, "storing the assignment failed");
                        return Reply::Wait(rx);
                    }
                    g.set_state(GroupState::Stable, now_ms());
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
        m.deadline = Instant::now() + session(m);
        match state {
            GroupState::PreparingRebalance => code(E::RebalanceInProgress),
            _ => 0,
        }
    }

    /// LeaveGroup for (member id, group instance id) pairs; per-member errors.
    pub fn leave(&self, broker: &Arc<Broker>, group_id: &str, leaving: &[(String, Option<String>)]) -> Result<Vec<i16>, i16> {
        let Some(group) = self.group(group_id) else { return Err(code(E::UnknownMemberId)) };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return Err(code(E::CoordinatorNotAvailable));
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
            self.members_removed(broker, &mut g, "member left");
        }
        Ok(errors)
    }

    /// Expires members and handed-out member ids whose session timed out.
    fn expire_sessions(&self, broker: &Arc<Broker>) {
        let now = Instant::now();
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
                self.members_removed(broker, &mut g, "member session expired");
            } else if pending_expired {
                self.maybe_complete_join(broker, &mut g);
            }
        }
    }

    // ----- offsets ---------------------------------------------------------------

    /// OffsetCommit: one error code per partition, in request order.
    pub fn commit(&self, broker: &Arc<Broker>, group_id: &str, member_id: &str, group_instance_id: Option<&str>, generation: i32, offsets: Vec<OffsetToCommit>) -> Vec<i16> {
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
        if let Some(e) = Self::validate_commit(&mut g, member_id, group_instance_id, generation) {
            return all(e);
        }
        let now = now_ms();
        let mut errors = Vec::with_capacity(offsets.len());
        let mut accepted = Vec::new();
        for o in offsets {
            let topic_known = broker.topics.get(&o.topic).is_some_and(|t| t.partition(o.partition).is_some());
            let metadata = o.metadata.unwrap_or_default();
            if !topic_known {
                errors.push(code(E::UnknownTopicOrPartition));
            } else if metadata.len() > self.config.metadata_max_bytes {
                errors.push(code(E::OffsetMetadataTooLarge));
            } else {
                errors.push(0);
                accepted.push((o.topic, o.partition, CommittedOffset { offset: o.offset, leader_epoch: o.leader_epoch, metadata, commit_timestamp: now }));
            }
        }
        if accepted.is_empty() {
            return errors;
        }
        let recs: Vec<(Bytes, Option<Bytes>)> = accepted.iter().map(|(t, p, v)| (records::offset_key(group_id, t, *p), Some(records::offset_value(v)))).collect();
        if let Err(e) = self.persist(broker, group_id, &recs) {
            return errors.into_iter().map(|c| if c == 0 { e } else { c }).collect();
        }
        for (t, p, v) in accepted {
            g.offsets.insert((t, p), v);
        }
        errors
    }

    fn validate_commit(g: &mut Group, member_id: &str, group_instance_id: Option<&str>, generation: i32) -> Option<i16> {
        if g.state == GroupState::Dead {
            return Some(code(E::CoordinatorNotAvailable));
        }
        if generation < 0 && g.state == GroupState::Empty {
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
        if state == GroupState::CompletingRebalance {
            return Some(code(E::RebalanceInProgress));
        }
        // A commit counts as a sign of life.
        m.deadline = Instant::now() + session(m);
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

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let group = self.group(group_id)?;
        let g = group.lock();
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable { protocol.clone() } else { String::new() },
            members: g
                .members
                .values()
                .map(|m| {
                    // Kafka shares metadata and assignments only of a stable group.
                    let (meta, assignment) = if stable { (m.metadata(&protocol), m.assignment.clone()) } else { (Bytes::new(), Bytes::new()) };
                    (m.member_id.clone(), m.group_instance_id.clone(), m.client_id.clone(), m.client_host.clone(), meta, assignment)
                })
                .collect(),
        })
    }

    /// DeleteGroups: only empty groups; their offsets and metadata get tombstones.
    pub fn delete(&self, broker: &Arc<Broker>, group_id: &str) -> i16 {
        let Some(group) = self.group(group_id) else { return code(E::GroupIdNotFound) };
        let mut g = group.lock();
        match g.state {
            GroupState::Dead => return code(E::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return code(E::NonEmptyGroup),
        }
        let mut recs: Vec<(Bytes, Option<Bytes>)> = g.offsets.keys().map(|(t, p)| (records::offset_key(group_id, t, *p), None)).collect();
        recs.push((records::group_key(group_id), None));
        if let Err(e) = self.persist(broker, group_id, &recs) {
            return e;
        }
        g.offsets.clear();
        g.set_state(GroupState::Dead, now_ms());
        self.groups.lock().remove(group_id);
        tracing::info!(group = %group_id, "deleted group");
        0
    }

    /// OffsetDelete: (group error, per-partition errors).
    pub fn delete_offsets(&self, broker: &Arc<Broker>, group_id: &str, partitions: &[(String, i32)]) -> (i16, Vec<i16>) {
        let Some(group) = self.group(group_id) else { return (code(E::GroupIdNotFound), Vec::new()) };
        let mut g = group.lock();
        if g.state == GroupState::Dead {
            return (code(E::GroupIdNotFound), Vec::new());
        }
        let subscribed = if g.state == GroupState::Empty { Vec::new() } else { g.subscribed_topics().unwrap_or_default() };
        if g.state != GroupState::Empty && g.protocol_type.as_deref() != Some("consumer") {
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
            if let Err(e) = self.persist(broker, group_id, &recs) {
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
    pub fn on_topic_deleted(&self, broker: &Broker, topic: &str) {
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            let gone: Vec<(String, i32)> = g.offsets.keys().filter(|(t, _)| t == topic).cloned().collect();
            if gone.is_empty() {
                continue;
            }
            let recs: Vec<(Bytes, Option<Bytes>)> = gone.iter().map(|(t, p)| (records::offset_key(&g.id, t, *p), None)).collect();
            match self.persist(broker, &g.id, &recs) {
                Ok(()) => gone.iter().for_each(|k| {
                    g.offsets.remove(k);
                }),
                Err(e) => tracing::warn!(group = %g.id, %topic, error = e, "could not remove offsets of a deleted topic"),
            }
        }
    }

    /// Removes offsets past `offsets.retention.minutes`. An empty group left with
    /// nothing is deleted.
    pub fn expire_offsets(&self, broker: &Broker, now: i64) {
        let retention = self.config.retention_ms;
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        for group in groups {
            let mut g = group.lock();
            // Kafka's removeExpiredOffsets: an empty group's offsets expire `retention`
            // after it became empty (or, for a standalone group, after each commit); a
            // stable consumer group's offsets of topics it no longer subscribes to expire
            // `retention` after their commit.
            let managed = g.protocol_type.is_some();
            let unsubscribed_only = match g.state {
                GroupState::Empty => None,
                GroupState::Stable => match g.subscribed_topics() {
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
            let now_empty = g.state == GroupState::Empty && g.offsets.len() == expired.len();
            if now_empty {
                recs.push((records::group_key(&g.id), None));
            }
            if recs.is_empty() {
                continue;
            }
            if let Err(e) = self.persist(broker, &g.id, &recs) {
                tracing::warn!(group = %g.id, error = e, "could not expire offsets");
                continue;
            }
            for k in &expired {
                g.offsets.remove(k);
            }
            tracing::info!(group = %g.id, offsets = expired.len(), "expired committed offsets");
            if now_empty {
                g.set_state(GroupState::Dead, now);
                let id = g.id.clone();
                drop(g);
                self.groups.lock().remove(&id);
            }
        }
    }

    /// Starts the session and retention sweeps.
    pub fn start(broker: &Arc<Broker>) {
        let b = broker.clone();
        tokio::spawn(async move {
            // Session timeouts are at least group.min.session.timeout.ms; a 100 ms sweep
            // expires members close enough to their deadline.
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                b.groups.expire_sessions(&b);
            }
        });
        let b = broker.clone();
        let every = Duration::from_millis(broker.groups.config.retention_check_interval_ms.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                b.groups.expire_offsets(&b, now_ms());
            }
        });
    }

    // ----- __consumer_offsets ---------------------------------------------------------

    /// The `__consumer_offsets` partition that holds `group_id`, creating the topic on
    /// first use as Kafka does (compacted, `offsets.topic.num.partitions`).
    pub fn offsets_partition(&self, broker: &Broker, group_id: &str) -> Result<Arc<Partition>, i16> {
        let topic = match broker.topics.get(OFFSETS_TOPIC) {
            Some(t) => t,
            // A cluster creates it through the controller (FindCoordinator does).
            None if broker.cluster().is_some() => return Err(code(E::CoordinatorNotAvailable)),
            None => {
                let req = NewTopic { name: OFFSETS_TOPIC, partitions: self.config.offsets_partitions, replication_factor: 1, overrides: self.offsets_topic_configs() };
                match broker.topics.create(req) {
                    Ok(t) => t,
                    Err(TopicError::AlreadyExists(_)) => broker.topics.get(OFFSETS_TOPIC).ok_or(code(E::CoordinatorNotAvailable))?,
                    Err(e) => {
                        tracing::error!(error = %e, "could not create {OFFSETS_TOPIC}");
                        return Err(code(E::CoordinatorNotAvailable));
                    }
                }
            }
        };
        let n = topic.partitions.len() as i32;
        let index = records::partition_for(group_id, n);
        let p = topic.partition(index).cloned().ok_or(code(E::CoordinatorNotAvailable))?;
        // A group belongs to the leader of its partition, once its groups are loaded.
        if !p.is_leader() {
            return Err(code(E::NotCoordinator));
        }
        if self.loading.lock().contains(&index) {
            return Err(code(E::CoordinatorLoadInProgress));
        }
        Ok(p)
    }

    /// The configs `__consumer_offsets` is created with.
    pub fn offsets_topic_configs(&self) -> crate::config::TopicOverrides {
        [
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), self.config.offsets_segment_bytes.clone()),
        ]
        .into()
    }

    /// On a cluster node: the error for a group this broker does not coordinate.
    pub fn coordinator_error(&self, broker: &Broker, group_id: &str) -> Option<i16> {
        broker.cluster()?;
        self.offsets_partition(broker, group_id).err()
    }

    /// This broker now leads `__consumer_offsets` partition `index`: its groups are
    /// loaded from the log (Kafka's group loading on leader election).
    pub fn load_partition(&self, broker: &Broker, index: i32) {
        match self.load_where(broker, |i| i == index) {
            Ok(n) => tracing::info!(partition = index, groups = n, "loaded consumer groups: now their coordinator"),
            Err(e) => tracing::error!(partition = index, error = %e, "could not load consumer groups"),
        }
        self.loading.lock().remove(&index);
    }

    /// Marks partition `index` as loading, before this broker starts to lead it.
    pub fn begin_loading(&self, index: i32) {
        self.loading.lock().insert(index);
    }

    /// This broker no longer leads `__consumer_offsets` partition `index`: its groups
    /// are dropped from memory (their members will find the new coordinator).
    pub fn unload_partition(&self, broker: &Broker, index: i32) {
        let Some(topic) = broker.topics.get(OFFSETS_TOPIC) else { return };
        let n = topic.partitions.len() as i32;
        let mut groups = self.groups.lock();
        let before = groups.len();
        groups.retain(|id, _| records::partition_for(id, n) != index);
        if groups.len() != before {
            tracing::info!(partition = index, groups = before - groups.len(), "unloaded consumer groups: no longer their coordinator");
        }
    }

    /// Appends records to the group's `__consumer_offsets` partition as one batch.
    fn persist(&self, broker: &Broker, group_id: &str, recs: &[(Bytes, Option<Bytes>)]) -> Result<(), i16> {
        let partition = self.offsets_partition(broker, group_id)?;
        let now = now_ms();
        let records: Vec<(Option<Bytes>, Option<Bytes>)> = recs.iter().map(|(k, v)| (Some(k.clone()), v.clone())).collect();
        let (bytes, header) = batch::encode_records(&records, now, Compression::None).map_err(|e| {
            tracing::error!(error = %e, "could not encode {OFFSETS_TOPIC} records");
            code(E::UnknownServerError)
        })?;
        partition.append(&bytes, &header, now).map(|_| ()).map_err(|e| {
            tracing::error!(group = %group_id, error = %e, "could not append to {OFFSETS_TOPIC}");
            crate::api::errors::log_error_code(&e)
        })
    }

    /// Rebuilds every group from `__consumer_offsets` at start-up. Groups with stored
    /// members come back Stable, their members expiring unless they heartbeat within
    /// their session timeout, as in Kafka.
    pub fn load(&self, broker: &Broker) -> Result<usize, String> {
        self.load_where(broker, |_| true)
    }

    fn load_where(&self, broker: &Broker, wanted: impl Fn(i32) -> bool) -> Result<usize, String> {
        let Some(topic) = broker.topics.get(OFFSETS_TOPIC) else { return Ok(0) };
        let mut groups: HashMap<String, Group> = HashMap::new();
        let now = now_ms();
        for p in topic.partitions.iter().filter(|p| wanted(p.index)) {
            let log = p.log.read();
            let end = log.log_end_offset();
            let mut next = log.log_start_offset();
            while next < end {
                let data = log.read_bytes(next, 1 << 20, true, end).map_err(|e| e.to_string())?;
                if data.is_empty() {
                    break;
                }
                for batch in split_batches(data) {
                    let (h, bytes) = batch.map_err(|e| format!("{OFFSETS_TOPIC}-{}: {e}", p.index))?;
                    next = next.max(h.next_offset());
                    if h.is_control() {
                        continue;
                    }
                    let (_, recs) = raw_records(&h, &bytes).map_err(|e| format!("{OFFSETS_TOPIC}-{}: {e}", p.index))?;
                    for r in recs {
                        let Some(key) = r.key else { continue };
                        match records::decode(key, r.value) {
                            Ok(rec) => apply(&mut groups, rec, now),
                            Err(e) => tracing::warn!(partition = p.index, offset = r.offset, error = %e, "skipping record"),
                        }
                    }
                }
            }
        }
        let n = groups.len();
        let mut map = self.groups.lock();
        for (id, mut g) in groups {
            if g.offsets.is_empty() && g.members.is_empty() && g.protocol_type.is_none() {
                continue;
            }
            let state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
            g.state = state;
            map.insert(id, Arc::new(Mutex::new(g)));
        }
        Ok(n)
    }
}

/// Applies one `__consumer_offsets` record while loading.
fn apply(groups: &mut HashMap<String, Group>, rec: OffsetsRecord, now: i64) {
    match rec {
        OffsetsRecord::Offset { group, topic, partition, value } => {
            let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now));
            match value {
                Some(v) => {
                    g.offsets.insert((topic, partition), v);
                }
                None => {
                    g.offsets.remove(&(topic, partition));
                }
            }
        }
        OffsetsRecord::Group { group, value: None } => {
            groups.remove(&group);
        }
        OffsetsRecord::Group { group, value: Some(stored) } => {
            let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now));
            g.protocol_type = (!stored.protocol_type.is_empty()).then_some(stored.protocol_type);
            g.generation = stored.generation;
            g.protocol = stored.protocol.clone();
            g.leader = stored.leader;
            g.state_timestamp_ms = stored.current_state_timestamp;
            g.members.clear();
            g.static_members.clear();
            let protocol = stored.protocol.unwrap_or_default();
            for m in stored.members {
                if let Some(inst) = &m.group_instance_id {
                    g.static_members.insert(inst.clone(), m.member_id.clone());
                }
                g.members.insert(
                    m.member_id.clone(),
                    Member {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        protocols: vec![(protocol.clone(), m.subscription)],
                        assignment: m.assignment,
                        deadline: Instant::now() + Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                        awaiting_join: None,
                        awaiting_sync: None,
                    },
                );
            }
        }
    }
}

impl GroupCoordinator {
    /// Stores the group's current generation and members.
    fn persist_group(&self, broker: &Broker, g: &Group) -> Result<(), i16> {
        let value = records::group_value(&g.stored());
        self.persist(broker, &g.id, &[(records::group_key(&g.id), Some(value))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn open(dir: &std::path::Path) -> Arc<Broker> {
        let cfg = BrokerConfig::default()
            .with("log.dirs", dir.to_str().unwrap())
            .and_then(|c| c.with("offsets.retention.minutes", "1"))
            .and_then(|c| c.with("offsets.topic.num.partitions", "3"))
            .unwrap();
        Broker::open(cfg).unwrap()
    }

    #[test]
    fn standalone_offsets_expire_after_retention_and_stay_gone() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        broker.topics.create(NewTopic { name: "t", partitions: 2, replication_factor: 1, overrides: Default::default() }).unwrap();
        let offsets = |o| vec![OffsetToCommit { topic: "t".into(), partition: 0, offset: o, leader_epoch: -1, metadata: None }];
        assert_eq!(broker.groups.commit(&broker, "g", "", None, -1, offsets(5)), vec![0]);
        assert_eq!(broker.groups.commit(&broker, "other", "", None, -1, offsets(6)), vec![0]);
        let committed = |b: &Broker, g: &str| b.groups.fetch_offsets(g, None).into_iter().flat_map(|(_, ps)| ps).filter_map(|(_, c)| c).map(|c| c.offset).collect::<Vec<_>>();
        assert_eq!(committed(&broker, "g"), vec![5]);

        // Not yet past retention: kept.
        broker.groups.expire_offsets(&broker, now_ms() + 30_000);
        assert_eq!(committed(&broker, "g"), vec![5]);
        // Past retention (one minute after the commits).
        broker.groups.expire_offsets(&broker, now_ms() + 61_000);
        assert!(committed(&broker, "g").is_empty());
        assert!(broker.groups.list().iter().all(|(id, _, _)| id != "g"), "an expired standalone group is removed");
        drop(broker);

        // The tombstones were written: nothing comes back after a restart.
        let broker = open(dir.path());
        assert!(committed(&broker, "g").is_empty());
        assert!(committed(&broker, "other").is_empty());
    }

    #[test]
    fn deleting_a_topic_drops_its_committed_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        for t in ["a", "b"] {
            broker.topics.create(NewTopic { name: t, partitions: 1, replication_factor: 1, overrides: Default::default() }).unwrap();
        }
        let commit = |t: &str| vec![OffsetToCommit { topic: t.into(), partition: 0, offset: 9, leader_epoch: -1, metadata: None }];
        assert_eq!(broker.groups.commit(&broker, "g", "", None, -1, commit("a")), vec![0]);
        assert_eq!(broker.groups.commit(&broker, "g", "", None, -1, commit("b")), vec![0]);
        broker.topics.delete("a").unwrap();
        broker.groups.on_topic_deleted(&broker, "a");
        let topics = |b: &Broker| b.groups.fetch_offsets("g", None).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(topics(&broker), vec!["b"]);
        drop(broker);
        assert_eq!(topics(&open(dir.path())), vec!["b"]);
    }
}
