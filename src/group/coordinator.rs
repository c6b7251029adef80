//! The group coordinator: the groups this broker coordinates (those whose
//! `__consumer_offsets` partition it leads), their lookup, listing, description and
//! deletion, the periodic sweeps, and writing group records through the coordinator
//! runtime. Membership of the classic protocol is in `classic/`, committed offsets in
//! `offsets.rs`, loading from the log in `shard.rs`.
//!
//! Each group sits behind its own mutex, never held across an await: a JoinGroup or
//! SyncGroup that must wait parks a oneshot sender in its member and awaits the
//! receiver after unlocking. Timers are tokio tasks that carry the join phase's epoch,
//! so a timer of an earlier phase does nothing. Time comes from the injected clock.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::classic::group::{Group, GroupState};
use super::config::GroupConfig;
use super::records;
use crate::broker::{Partition, TopicRegistry};
use crate::common::{SharedClock, ShutdownSignal};
use crate::config::TopicOverrides;
use crate::coordinator::{CoordinatorError, CoordinatorRuntime, ShardTopic};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often member sessions are checked. Session timeouts are at least
/// `group.min.session.timeout.ms`; a 100 ms sweep expires members close enough to
/// their deadline.
const SESSION_SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// What ListGroups reports of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    /// "classic" or "consumer".
    pub group_type: &'static str,
}

/// What DescribeGroups reports of a group.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

pub(super) enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

pub struct GroupCoordinator {
    pub(super) config: GroupConfig,
    pub(super) clock: SharedClock,
    pub(super) topics: Arc<TopicRegistry>,
    pub(super) runtime: Arc<CoordinatorRuntime>,
    pub(super) groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    /// Identifies join phases, so that a stale timer does nothing.
    pub(super) epochs: AtomicU64,
    /// For timers, which outlive the call that armed them.
    pub(super) me: Weak<GroupCoordinator>,
}

pub(super) fn code(e: E) -> i16 {
    e.code()
}

impl GroupCoordinator {
    /// The coordinator, registered with `runtime` as the shard of `__consumer_offsets`.
    pub fn new(config: GroupConfig, clock: SharedClock, topics: Arc<TopicRegistry>, runtime: Arc<CoordinatorRuntime>) -> Arc<Self> {
        let coordinator = Arc::new_cyclic(|me| GroupCoordinator {
            config,
            clock,
            topics,
            runtime: runtime.clone(),
            groups: Mutex::new(HashMap::new()),
            epochs: AtomicU64::new(1),
            me: me.clone(),
        });
        let shard: Arc<dyn crate::coordinator::CoordinatorShard> = coordinator.clone();
        runtime.register(&shard);
        coordinator
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub(super) fn group(&self, id: &str) -> Option<Arc<Mutex<Group>>> {
        self.groups.lock().get(id).cloned()
    }

    pub(super) fn group_or_create(&self, id: &str) -> Arc<Mutex<Group>> {
        self.groups.lock().entry(id.to_string()).or_insert_with(|| Arc::new(Mutex::new(Group::new(id, self.clock.now_ms())))).clone()
    }

    /// Every group with its state, protocol type and group type (ListGroups).
    pub fn list(&self) -> Vec<GroupListing> {
        let groups: Vec<_> = self.groups.lock().values().cloned().collect();
        let mut out: Vec<_> = groups
            .iter()
            .filter_map(|g| {
                let g = g.lock();
                match &g.consumer {
                    Some(cg) => Some(GroupListing { group_id: g.id.clone(), state: cg.state().name(), protocol_type: "consumer".into(), group_type: "consumer" }),
                    None if g.state == GroupState::Dead => None,
                    None => Some(GroupListing { group_id: g.id.clone(), state: g.state.name(), protocol_type: g.protocol_type.clone().unwrap_or_default(), group_type: "classic" }),
                }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups: a classic group (`None` for a consumer group, as in Kafka).
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let group = self.group(group_id)?;
        let g = group.lock();
        if g.consumer.is_some() {
            return None;
        }
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
    pub fn delete(&self, group_id: &str) -> i16 {
        let Some(group) = self.group(group_id) else { return code(E::GroupIdNotFound) };
        let mut g = group.lock();
        match (&g.consumer, g.state) {
            (Some(cg), _) if !cg.members.is_empty() => return code(E::NonEmptyGroup),
            (Some(_), _) => {}
            (None, GroupState::Dead) => return code(E::GroupIdNotFound),
            (None, GroupState::Empty) => {}
            (None, _) => return code(E::NonEmptyGroup),
        }
        let mut recs: Vec<(Bytes, Option<Bytes>)> = g.offsets.keys().map(|(t, p)| (records::offset_key(group_id, t, *p), None)).collect();
        match &g.consumer {
            Some(cg) => recs.extend(cg.deletion_records(group_id).iter().map(|r| r.encode())),
            None => recs.push((records::group_key(group_id), None)),
        }
        if let Err(e) = self.persist(group_id, &recs) {
            return e;
        }
        g.offsets.clear();
        g.consumer = None;
        g.set_state(GroupState::Dead, self.clock.now_ms());
        self.groups.lock().remove(group_id);
        tracing::info!(group = %group_id, "deleted group");
        0
    }

    /// Runs the session and retention sweeps until shutdown.
    pub fn start(self: &Arc<Self>, shutdown: ShutdownSignal) -> Vec<tokio::task::JoinHandle<()>> {
        let me = self.clone();
        let mut stop = shutdown.clone();
        let sessions = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SESSION_SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        me.expire_sessions();
                        me.expire_consumer_members();
                    }
                    _ = stop.wait() => return,
                }
            }
        });
        let me = self.clone();
        let mut stop = shutdown;
        let every = Duration::from_millis(self.config.retention_check_interval_ms.max(1));
        let retention = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => me.expire_offsets(me.clock.now_ms()),
                    _ = stop.wait() => return,
                }
            }
        });
        vec![sessions, retention]
    }

    /// The `__consumer_offsets` partition that holds `group_id`, if this broker is the
    /// group's coordinator (a single broker creates the topic on first use).
    pub fn offsets_partition(&self, group_id: &str) -> Result<Arc<Partition>, i16> {
        self.runtime.partition_for(OFFSETS_TOPIC, group_id).map_err(|e| e.code())
    }

    /// How `__consumer_offsets` is created (compacted, `offsets.topic.num.partitions`).
    pub fn offsets_topic(&self) -> ShardTopic {
        let configs: TopicOverrides = [
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), self.config.offsets_segment_bytes.clone()),
        ]
        .into();
        ShardTopic { name: OFFSETS_TOPIC, partitions: self.config.offsets_partitions, configs }
    }

    /// The error for a group this broker does not coordinate, if it does not.
    pub fn coordinator_error(&self, group_id: &str) -> Option<i16> {
        self.runtime.check_coordinator(OFFSETS_TOPIC, group_id).err().map(|e| e.code())
    }

    /// Appends records to the group's `__consumer_offsets` partition as one batch.
    pub(super) fn persist(&self, group_id: &str, recs: &[(Bytes, Option<Bytes>)]) -> Result<(), i16> {
        let partition = self.offsets_partition(group_id)?;
        self.runtime.write(&partition, recs).map(|_| ()).map_err(|e: CoordinatorError| {
            tracing::error!(group = %group_id, error = %e, "could not write to {OFFSETS_TOPIC}");
            e.code()
        })
    }

    /// Stores the group's current generation and members.
    pub(super) fn persist_group(&self, g: &Group) -> Result<(), i16> {
        let value = records::group_value(&g.stored());
        self.persist(&g.id, &[(records::group_key(&g.id), Some(value))])
    }
}
