//! The group coordinator as a shard of the coordinator runtime: `__consumer_offsets`
//! records replayed into groups when this broker becomes leader of a partition, and
//! dropped when it stops being one.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::classic::group::{Group, GroupState, Member};
use super::coordinator::{GroupCoordinator, OFFSETS_TOPIC};
use super::consumer::records::ConsumerRecord;
use super::records::{self, OffsetsRecord};
use crate::coordinator::runtime::partition_for;
use crate::coordinator::{CoordinatorShard, ShardLoader, ShardTopic};

/// Groups rebuilt from one partition's records. Groups with stored members come back
/// Stable, their members expiring unless they heartbeat within their session timeout,
/// as in Kafka.
struct GroupLoader<'a> {
    coordinator: &'a GroupCoordinator,
    partition: i32,
    groups: HashMap<String, Group>,
}

impl ShardLoader for GroupLoader<'_> {
    fn replay(&mut self, offset: i64, producer_id: Option<i64>, key: Bytes, value: Option<Bytes>) {
        match records::decode(key, value) {
            Ok(OffsetsRecord::Offset { group, topic, partition, value: Some(v) }) if producer_id.is_some() => {
                let g = self.groups.entry(group.clone()).or_insert_with(|| Group::new(&group, self.coordinator.clock.now_ms()));
                g.pending_txn_offsets.entry(producer_id.unwrap_or_default()).or_default().insert((topic, partition), v);
            }
            Ok(rec) => apply(&mut self.groups, rec, self.coordinator.clock.now_ms(), self.coordinator.clock.monotonic_ms()),
            Err(e) => tracing::warn!(partition = self.partition, offset, error = %e, "skipping record"),
        }
    }

    fn replay_marker(&mut self, producer_id: i64, commit: bool) {
        for g in self.groups.values_mut() {
            g.complete_transaction(producer_id, commit);
        }
    }

    fn finish(self: Box<Self>) -> usize {
        let n = self.groups.len();
        let mut map = self.coordinator.groups.lock();
        for (id, mut g) in self.groups {
            if g.offsets.is_empty() && g.members.is_empty() && g.protocol_type.is_none() && g.pending_txn_offsets.is_empty() && g.consumer.is_none() {
                continue;
            }
            g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
            map.insert(id, Arc::new(Mutex::new(g)));
        }
        n
    }
}

impl CoordinatorShard for GroupCoordinator {
    fn topic(&self) -> ShardTopic {
        self.offsets_topic()
    }

    fn begin_load(&self, partition: i32) -> Box<dyn ShardLoader + '_> {
        Box::new(GroupLoader { coordinator: self, partition, groups: HashMap::new() })
    }

    /// The groups of `partition` are dropped from memory (their members will find the
    /// new coordinator).
    fn unload(&self, partition: i32) {
        let Some(topic) = self.topics.get(OFFSETS_TOPIC) else { return };
        let n = topic.partitions.len() as i32;
        let mut groups = self.groups.lock();
        let before = groups.len();
        groups.retain(|id, _| partition_for(id, n) != partition);
        if groups.len() != before {
            tracing::info!(partition, groups = before - groups.len(), "unloaded consumer groups: no longer their coordinator");
        }
    }

    fn on_topic_deleted(&self, topic: &str) {
        self.drop_offsets_of_topic(topic);
    }
}

/// Applies one `__consumer_offsets` record while loading.
fn apply(groups: &mut HashMap<String, Group>, rec: OffsetsRecord, now: i64, monotonic_now: i64) {
    match rec {
        OffsetsRecord::Consumer(rec) => {
            let id = rec.group().to_string();
            let creates = rec.creates_group();
            if !creates && groups.get(&id).is_none_or(|g| g.consumer.is_none()) {
                // A tombstone (or legacy partition metadata) of a group not loaded.
                return;
            }
            let g = groups.entry(id.clone()).or_insert_with(|| Group::new(&id, now));
            if let ConsumerRecord::Metadata { value: None, .. } = rec {
                // The consumer group was deleted (or became a classic group).
                g.consumer = None;
            } else {
                g.consumer.get_or_insert_with(Default::default).replay(&rec);
            }
        }
        OffsetsRecord::Offset { group, topic, partition, value } => {
            let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now));
            g.supersede_pending(&topic, partition);
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
            // The classic group's metadata goes (deleted, or converted to a consumer
            // group); its offsets have records of their own.
            if let Some(g) = groups.get_mut(&group) {
                g.clear_classic_membership();
            }
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
                        deadline: monotonic_now + m.session_timeout_ms.max(0) as i64,
                        awaiting_join: None,
                        awaiting_sync: None,
                    },
                );
            }
        }
    }
}
