//! One consumer group of the classic protocol: its state, generation, members and
//! committed offsets. The coordinator drives the transitions; this module holds the
//! data and the rules that need no I/O.

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use crate::group::records::{CommittedOffset, StoredGroup, StoredMember};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The names DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup request is answered with.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, group instance id, metadata): only the leader gets these.
    pub members: Vec<(String, Option<String>, Bytes)>,
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(code: i16, member_id: &str) -> Self {
        JoinOutcome { error: code, generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

/// What a SyncGroup request is answered with.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported assignors with this member's metadata for each, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// When the member expires unless it heartbeats (or is waiting on a join or sync),
    /// in the clock's monotonic milliseconds.
    pub deadline: i64,
    pub awaiting_join: Option<oneshot::Sender<JoinOutcome>>,
    pub awaiting_sync: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn stored(&self, protocol: Option<&str>) -> StoredMember {
        StoredMember {
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            session_timeout_ms: self.session_timeout_ms,
            subscription: protocol.map(|p| self.metadata(p)).unwrap_or_default(),
            assignment: self.assignment.clone(),
        }
    }
}

/// The join phase in progress.
#[derive(Debug, Clone, Copy)]
pub struct Rebalance {
    /// Identifies this join phase, so that a stale timer does nothing.
    pub epoch: u64,
    /// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms`.
    pub initial: bool,
    /// Time left to extend an initial delay by, up to the rebalance timeout.
    pub remaining_ms: i64,
    /// A member joined since the initial delay was last (re)armed.
    pub joined_since_timer: bool,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub state_timestamp_ms: i64,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394), with their deadline.
    pub pending: HashMap<String, i64>,
    /// group.instance.id → member id (static membership, KIP-345).
    pub static_members: HashMap<String, String>,
    pub offsets: HashMap<(String, i32), CommittedOffset>,
    /// Offsets committed in a transaction, by producer id: they take effect when its
    /// COMMIT marker reaches `__consumer_offsets`, and go at its ABORT.
    pub pending_txn_offsets: HashMap<i64, HashMap<(String, i32), CommittedOffset>>,
    pub rebalance: Option<Rebalance>,
    /// Set when this is a consumer group of the KIP-848 protocol; the classic fields
    /// above are then unused (the offsets are shared by both kinds).
    pub consumer: Option<crate::group::consumer::ConsumerGroup>,
}

impl Group {
    pub fn new(id: &str, now_ms: i64) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            offsets: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
            rebalance: None,
            consumer: None,
        }
    }

    /// Forgets the classic protocol's generation and members (not the offsets).
    pub fn clear_classic_membership(&mut self) {
        self.state = GroupState::Empty;
        self.generation = 0;
        self.protocol_type = None;
        self.protocol = None;
        self.leader = None;
        self.members.clear();
        self.pending.clear();
        self.static_members.clear();
        self.rebalance = None;
    }

    pub fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    /// Whether every member has rejoined and no handed-out member id is outstanding.
    pub fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The longest rebalance timeout of the members: how long a join phase may last.
    pub fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| m.rebalance_timeout_ms as i64).max().unwrap_or(0)
    }

    /// Whether a member with these protocols can join: same protocol type, and at least
    /// one protocol every member supports.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type) && protocols.iter().any(|(p, _)| self.members.values().all(|m| m.protocols.iter().any(|(q, _)| q == p)))
    }

    /// Picks the protocol all members support that most members rank first, as
    /// Kafka's vote does (ties go to the first candidate).
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(p, _)| p)
            .filter(|p| self.members.values().all(|m| m.protocols.iter().any(|(q, _)| q == *p)))
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0usize, *c)).collect();
        for m in self.members.values() {
            if let Some((p, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == p) {
                    v.0 += 1;
                }
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes.iter().find(|(n, _)| *n == best).map(|(_, c)| (*c).clone())
    }

    /// The state stored in `__consumer_offsets` after a generation completes.
    pub fn stored(&self) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self.members.values().map(|m| m.stored(self.protocol.as_deref())).collect(),
        }
    }

    /// Topics the members subscribe to, read from their consumer-protocol metadata.
    pub fn subscribed_topics(&self) -> Option<Vec<String>> {
        use kafka_protocol::messages::ConsumerProtocolSubscription;
        use kafka_protocol::protocol::Decodable;
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = Vec::new();
        for m in self.members.values() {
            let mut meta = m.metadata(protocol);
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]);
            bytes::Buf::advance(&mut meta, 2);
            let sub = ConsumerProtocolSubscription::decode(&mut meta, version).ok()?;
            topics.extend(sub.topics.into_iter().map(|t| t.to_string()));
        }
        Some(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 1000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::new())).collect(),
            assignment: Bytes::new(),
            deadline: 0,
            awaiting_join: None,
            awaiting_sync: None,
        }
    }

    #[test]
    fn protocol_vote_and_support() {
        let mut g = Group::new("g", 0);
        g.protocol_type = Some("consumer".into());
        g.members.insert("a".into(), member("a", &["range", "roundrobin"]));
        g.members.insert("b".into(), member("b", &["roundrobin", "range"]));
        g.members.insert("c".into(), member("c", &["roundrobin"]));
        assert_eq!(g.select_protocol().as_deref(), Some("roundrobin"));
        assert!(g.supports("consumer", &[("roundrobin".into(), Bytes::new())]));
        assert!(!g.supports("consumer", &[("sticky".into(), Bytes::new())]));
        assert!(!g.supports("connect", &[("roundrobin".into(), Bytes::new())]));
    }
}
