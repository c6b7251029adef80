//! The metadata image: what the metadata log says the cluster is (brokers, topics,
//! partition assignments, leaders, ISRs, configs). Every node builds it by applying the
//! committed records in order; [`MetadataImage::apply`] is the controller's decision
//! logic (placement, elections, ISR changes) and is deterministic, so all nodes agree.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::{BrokerEndpoint, Command, CommandResult, ElectionDefaults};
use super::placement;
use crate::common::names::{validate_topic_name, MAX_PARTITIONS};

/// No leader: the partition is offline.
pub const NO_LEADER: i32 = -1;
/// Producer ids a broker reserves at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub endpoint: BrokerEndpoint,
    /// Fenced brokers lead nothing, are in no ISR (unless the last member) and are left
    /// out of Metadata responses.
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped by every change of this partition (Kafka's partition epoch); AlterPartition
    /// names the one it saw.
    pub partition_epoch: i32,
    /// An ongoing reassignment (KIP-455): the replicas being added (not yet all in the
    /// ISR) and those that leave when it completes. `replicas` holds both meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicImage>,
    /// Rotates the first replica of each new topic.
    pub placement_counter: u64,
    /// The first producer id not yet handed to a broker.
    pub next_producer_id: i64,
    /// Dynamic broker configs by resource: "" for the cluster-wide defaults, a broker id
    /// for that broker's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// SCRAM credentials and ACLs.
    #[serde(default)]
    pub security: crate::security::SecurityImage,
}

pub(super) fn fail(e: E, message: impl Into<String>) -> CommandResult {
    CommandResult::error(e.code(), message)
}

impl MetadataImage {
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<(&String, &TopicImage)> {
        self.topics.iter().find(|(_, t)| t.id == *id)
    }

    /// The dynamic configs in force on broker `id`.
    pub fn dynamic_configs(&self, id: i32) -> crate::config::DynamicConfigs {
        crate::config::DynamicConfigs {
            cluster_default: self.broker_configs.get("").cloned().unwrap_or_default(),
            per_broker: self.broker_configs.get(&id.to_string()).cloned().unwrap_or_default(),
        }
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<&PartitionImage> {
        self.topics.get(topic).and_then(|t| usize::try_from(index).ok().and_then(|i| t.partitions.get(i)))
    }

    pub(super) fn unclean_for(&self, topic: &TopicImage, defaults: ElectionDefaults) -> bool {
        match topic.configs.get("unclean.leader.election.enable") {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => defaults.unclean,
        }
    }

    /// Applies one committed record.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        let result = self.apply_record(cmd);
        if matches!(cmd, Command::RegisterBroker { .. } | Command::FenceBroker { .. } | Command::UnregisterBroker { .. } | Command::ElectLeaders { .. }) {
            self.complete_reassignments();
        }
        result
    }

    fn apply_record(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::InitCluster { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
                CommandResult::ok()
            }
            Command::RegisterBroker { broker, defaults } => {
                let restarted = self.brokers.get(&broker.id).is_some_and(|b| !b.fenced && b.endpoint.incarnation != broker.incarnation);
                if restarted {
                    self.fence(broker.id, *defaults);
                }
                self.brokers.insert(broker.id, BrokerRegistration { endpoint: broker.clone(), fenced: false });
                self.elect_offline(*defaults);
                CommandResult::ok()
            }
            Command::FenceBroker { id, defaults } => self.fence(*id, *defaults),
            Command::UnregisterBroker { id, defaults } => {
                if !self.brokers.contains_key(id) {
                    return fail(E::BrokerIdNotRegistered, format!("Broker ID {id} is not currently registered"));
                }
                self.fence(*id, *defaults);
                self.brokers.remove(id);
                CommandResult::ok()
            }
            Command::CreateTopic { name, id, partitions, replication_factor, assignment, configs, validate_only } => {
                self.create_topic(name, *id, *partitions, *replication_factor, assignment.as_deref(), configs, *validate_only)
            }
            Command::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => CommandResult::ok(),
                None => fail(E::UnknownTopicOrPartition, format!("topic '{name}' does not exist")),
            },
            Command::CreatePartitions { name, count, assignment, validate_only } => {
                self.create_partitions(name, *count, assignment.as_deref(), *validate_only)
            }
            Command::SetTopicConfigs { name, configs, validate_only } => {
                let Some(topic) = self.topics.get_mut(name) else {
                    return fail(E::UnknownTopicOrPartition, format!("topic '{name}' does not exist"));
                };
                if let Err(e) = crate::config::topic::validate(configs) {
                    return fail(E::InvalidConfig, e.to_string());
                }
                if !validate_only {
                    topic.configs = configs.clone();
                }
                CommandResult::ok()
            }
            Command::SetBrokerConfigs { resource, configs, validate_only } => {
                if !validate_only {
                    if configs.is_empty() {
                        self.broker_configs.remove(resource);
                    } else {
                        self.broker_configs.insert(resource.clone(), configs.clone());
                    }
                }
                CommandResult::ok()
            }
            Command::AlterPartition { topic, partition, leader, leader_epoch, partition_epoch, isr } => {
                self.alter_partition(topic, *partition, *leader, *leader_epoch, *partition_epoch, isr)
            }
            Command::Security(record) => CommandResult { security: self.security.apply(record), ..CommandResult::ok() },
            Command::ElectLeaders { unclean, partitions, defaults } => self.elect_leaders(*unclean, partitions.as_deref(), *defaults),
            Command::AlterPartitionReassignments { partitions, allow_replication_factor_change, defaults } => {
                self.alter_reassignments(partitions, *allow_replication_factor_change, *defaults)
            }
            Command::AllocateProducerIds { .. } => {
                let start = self.next_producer_id;
                self.next_producer_id += PRODUCER_ID_BLOCK;
                CommandResult { value: start, ..CommandResult::ok() }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_topic(&mut self, name: &str, id: Uuid, partitions: i32, rf: i32, assignment: Option<&[Vec<i32>]>, configs: &BTreeMap<String, String>, validate_only: bool) -> CommandResult {
        if let Err(e) = validate_topic_name(name) {
            return fail(E::InvalidTopicException, e.to_string());
        }
        if self.topics.contains_key(name) {
            return fail(E::TopicAlreadyExists, format!("topic '{name}' already exists"));
        }
        let normalized = name.replace('.', "_");
        if self.topics.keys().any(|k| k.replace('.', "_") == normalized) {
            return fail(E::InvalidTopicException, format!("topic '{name}' collides with an existing topic ('.' and '_' are interchangeable)"));
        }
        if let Err(e) = crate::config::topic::validate(configs) {
            return fail(E::InvalidConfig, e.to_string());
        }
        let replicas = match assignment {
            Some(a) => match self.check_assignment(a) {
                Ok(()) => a.to_vec(),
                Err((e, message)) => return fail(e, message),
            },
            None => {
                if !(1..=MAX_PARTITIONS).contains(&partitions) {
                    return fail(E::InvalidPartitions, format!("number of partitions {partitions} is invalid (1..={MAX_PARTITIONS})"));
                }
                let live: Vec<placement::Candidate> = self.live_brokers().map(|b| (b.endpoint.id, b.endpoint.rack.clone())).collect();
                match placement::assign(&live, 0, partitions, rf, self.placement_counter) {
                    Ok(a) => a,
                    Err(msg) => return fail(E::InvalidReplicationFactor, msg),
                }
            }
        };
        if validate_only {
            return CommandResult::ok();
        }
        self.placement_counter += 1;
        let partitions = replicas.into_iter().map(|r| self.new_partition(r)).collect();
        self.topics.insert(name.to_string(), TopicImage { id, configs: configs.clone(), partitions });
        CommandResult::ok()
    }

    pub(super) fn check_assignment(&self, a: &[Vec<i32>]) -> Result<(), (E, String)> {
        if a.is_empty() || a.len() > MAX_PARTITIONS as usize {
            return Err((E::InvalidPartitions, "an assignment needs 1 or more partitions".into()));
        }
        let rf = a[0].len();
        for r in a {
            // Kafka's messages, word for word: tools and users match on them.
            if r.is_empty() {
                return Err((E::InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.".into()));
            }
            if let Some(b) = r.iter().find(|b| !self.brokers.contains_key(b)) {
                return Err((E::InvalidReplicaAssignment, format!("The manual partition assignment includes broker {b}, but no such broker is registered.")));
            }
            if let Some(b) = r.iter().enumerate().find(|(i, b)| r[..*i].contains(b)).map(|(_, b)| b) {
                return Err((E::InvalidReplicaAssignment, format!("The manual partition assignment includes the broker {b} more than once.")));
            }
            if r.len() != rf {
                let message = format!(
                    "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
                    r.len()
                );
                return Err((E::InvalidReplicaAssignment, message));
            }
        }
        Ok(())
    }

    /// A new partition's leader is its first live replica; all live replicas are in sync
    /// (the log is empty).
    fn new_partition(&self, replicas: Vec<i32>) -> PartitionImage {
        let isr: Vec<i32> = replicas.iter().copied().filter(|r| self.is_live(*r)).collect();
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        PartitionImage { replicas, isr, leader, leader_epoch: 0, partition_epoch: 0, adding_replicas: Vec::new(), removing_replicas: Vec::new() }
    }

    fn create_partitions(&mut self, name: &str, count: i32, assignment: Option<&[Vec<i32>]>, validate_only: bool) -> CommandResult {
        let Some(topic) = self.topics.get(name) else {
            return fail(E::UnknownTopicOrPartition, format!("topic '{name}' does not exist"));
        };
        let current = topic.partitions.len() as i32;
        if count <= current {
            return fail(E::InvalidPartitions, format!("topic has {current} partitions; it can only grow, not to {count}"));
        }
        if count > MAX_PARTITIONS {
            return fail(E::InvalidPartitions, format!("number of partitions {count} is invalid (1..={MAX_PARTITIONS})"));
        }
        let rf = topic.partitions[0].replicas.len() as i32;
        let added = match assignment {
            Some(a) => {
                if a.len() as i32 != count - current {
                    return fail(E::InvalidReplicaAssignment, format!("{} assignments for {} new partitions", a.len(), count - current));
                }
                if let Err((e, message)) = self.check_assignment(a) {
                    return fail(e, message);
                }
                if a[0].len() as i32 != rf {
                    return fail(E::InvalidReplicaAssignment, format!("the topic's replication factor is {rf}, the assignment's {}", a[0].len()));
                }
                a.to_vec()
            }
            None => {
                let live: Vec<placement::Candidate> = self.live_brokers().map(|b| (b.endpoint.id, b.endpoint.rack.clone())).collect();
                match placement::assign(&live, current, count - current, rf, self.placement_counter) {
                    Ok(a) => a,
                    Err(msg) => return fail(E::InvalidReplicationFactor, msg),
                }
            }
        };
        if validate_only {
            return CommandResult::ok();
        }
        let new: Vec<PartitionImage> = added.into_iter().map(|r| self.new_partition(r)).collect();
        self.topics.get_mut(name).expect("checked above").partitions.extend(new);
        CommandResult::ok()
    }

    fn fence(&mut self, id: i32, defaults: ElectionDefaults) -> CommandResult {
        let Some(b) = self.brokers.get_mut(&id) else {
            return fail(E::BrokerNotAvailable, format!("broker {id} is not registered"));
        };
        b.fenced = true;
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        let uncleans: Vec<bool> = self.topics.values().map(|t| self.unclean_for(t, defaults)).collect();
        for (topic, unclean) in self.topics.values_mut().zip(uncleans) {
            for p in &mut topic.partitions {
                if !p.replicas.contains(&id) {
                    continue;
                }
                let mut changed = false;
                // The last ISR member stays: it is the only one known to have everything.
                if p.isr.contains(&id) && p.isr.len() > 1 {
                    p.isr.retain(|r| *r != id);
                    changed = true;
                }
                if p.leader == id {
                    let next = p.replicas.iter().copied().find(|r| *r != id && p.isr.contains(r) && live.contains(r));
                    let next = next.or_else(|| if unclean { p.replicas.iter().copied().find(|r| live.contains(r)) } else { None });
                    match next {
                        Some(l) => {
                            if !p.isr.contains(&l) {
                                // Unclean: the new leader's log is the truth now.
                                p.isr = vec![l];
                            }
                            p.leader = l;
                        }
                        None => p.leader = NO_LEADER,
                    }
                    p.leader_epoch += 1;
                    changed = true;
                }
                if changed {
                    p.partition_epoch += 1;
                }
            }
        }
        CommandResult::ok()
    }

    /// Gives offline partitions a leader where one is allowed: an ISR member that is
    /// live, or (unclean election on) any live replica.
    fn elect_offline(&mut self, defaults: ElectionDefaults) {
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        let uncleans: Vec<bool> = self.topics.values().map(|t| self.unclean_for(t, defaults)).collect();
        for (topic, unclean) in self.topics.values_mut().zip(uncleans) {
            for p in &mut topic.partitions {
                if p.leader != NO_LEADER {
                    continue;
                }
                if let Some(l) = p.replicas.iter().copied().find(|r| p.isr.contains(r) && live.contains(r)) {
                    p.leader = l;
                } else if unclean {
                    let Some(l) = p.replicas.iter().copied().find(|r| live.contains(r)) else { continue };
                    p.leader = l;
                    p.isr = vec![l];
                } else {
                    continue;
                }
                p.leader_epoch += 1;
                p.partition_epoch += 1;
            }
        }
    }

    fn alter_partition(&mut self, topic: &str, index: i32, leader: i32, leader_epoch: i32, partition_epoch: i32, isr: &[i32]) -> CommandResult {
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        let Some(p) = self.topics.get_mut(topic).and_then(|t| usize::try_from(index).ok().and_then(|i| t.partitions.get_mut(i))) else {
            return fail(E::UnknownTopicOrPartition, format!("{topic}-{index} does not exist"));
        };
        if p.leader != leader {
            return fail(E::NotLeaderOrFollower, format!("broker {leader} does not lead {topic}-{index} (leader {})", p.leader));
        }
        if p.leader_epoch != leader_epoch {
            return fail(E::FencedLeaderEpoch, format!("leader epoch {leader_epoch}, current {}", p.leader_epoch));
        }
        if p.partition_epoch != partition_epoch {
            return fail(E::InvalidUpdateVersion, format!("partition epoch {partition_epoch}, current {}", p.partition_epoch));
        }
        if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
            return fail(E::InvalidRequest, format!("ISR {isr:?} must hold the leader and only replicas {:?}", p.replicas));
        }
        if let Some(r) = isr.iter().find(|r| !live.contains(r) && !p.isr.contains(r)) {
            return fail(E::IneligibleReplica, format!("replica {r} is fenced"));
        }
        p.isr = p.replicas.iter().copied().filter(|r| isr.contains(r)).collect();
        p.partition_epoch += 1;
        // The ISR change that brings the last added replica in completes a reassignment.
        super::reassignment::try_complete(p, &live);
        CommandResult::ok()
    }

    fn elect_leaders(&mut self, unclean: bool, which: Option<&[(String, i32)]>, defaults: ElectionDefaults) -> CommandResult {
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        let targets: Vec<(String, i32)> = match which {
            Some(w) => w.to_vec(),
            None => self.topics.iter().flat_map(|(n, t)| (0..t.partitions.len() as i32).map(move |i| (n.clone(), i))).collect(),
        };
        let mut result = CommandResult::ok();
        for (name, index) in targets {
            let Some(p) = self.topics.get_mut(&name).and_then(|t| usize::try_from(index).ok().and_then(|i| t.partitions.get_mut(i))) else {
                result.partitions.push((name, index, E::UnknownTopicOrPartition.code()));
                continue;
            };
            let code = if unclean {
                if p.leader != NO_LEADER && live.contains(&p.leader) {
                    E::ElectionNotNeeded.code()
                } else if let Some(l) = p.replicas.iter().copied().find(|r| p.isr.contains(r) && live.contains(r)) {
                    p.leader = l;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                    0
                } else if let Some(l) = p.replicas.iter().copied().find(|r| live.contains(r)) {
                    p.leader = l;
                    p.isr = vec![l];
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                    0
                } else {
                    E::EligibleLeadersNotAvailable.code()
                }
            } else {
                let preferred = p.replicas[0];
                if p.leader == preferred {
                    E::ElectionNotNeeded.code()
                } else if p.isr.contains(&preferred) && live.contains(&preferred) {
                    p.leader = preferred;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                    0
                } else {
                    E::PreferredLeaderNotAvailable.code()
                }
            };
            result.partitions.push((name, index, code));
        }
        let _ = defaults;
        result
    }

    /// Partitions whose leader is not their preferred (first) replica although it could
    /// lead: what the automatic rebalance moves back.
    pub fn imbalanced(&self) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for (name, t) in &self.topics {
            for (i, p) in t.partitions.iter().enumerate() {
                let preferred = p.replicas[0];
                if p.leader != preferred && p.isr.contains(&preferred) && self.is_live(preferred) {
                    out.push((name.clone(), i as i32));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: i32) -> BrokerEndpoint {
        BrokerEndpoint { id, host: "127.0.0.1".into(), port: 9091 + id, rack: None, incarnation: "a".into(), listeners: vec![] }
    }

    fn cluster(n: i32) -> MetadataImage {
        let mut img = MetadataImage::default();
        for id in 1..=n {
            img.apply(&Command::RegisterBroker { broker: endpoint(id), defaults: Default::default() });
        }
        img
    }

    fn create(img: &mut MetadataImage, name: &str, partitions: i32, rf: i32) -> CommandResult {
        img.apply(&Command::CreateTopic {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions,
            replication_factor: rf,
            assignment: None,
            configs: BTreeMap::new(),
            validate_only: false,
        })
    }

    #[test]
    fn creation_checks_the_replication_factor_against_live_brokers() {
        let mut img = cluster(3);
        assert!(create(&mut img, "t", 3, 3).is_ok());
        assert_eq!(create(&mut img, "t", 3, 3).error_code, E::TopicAlreadyExists.code());
        img.apply(&Command::FenceBroker { id: 3, defaults: Default::default() });
        assert_eq!(create(&mut img, "u", 1, 3).error_code, E::InvalidReplicationFactor.code());
        assert!(create(&mut img, "u", 1, 2).is_ok());
    }

    #[test]
    fn added_partitions_take_an_explicit_assignment_or_are_placed() {
        let mut img = cluster(3);
        create(&mut img, "t", 1, 2);
        let grow = |img: &mut MetadataImage, count: i32, assignment: Option<Vec<Vec<i32>>>| {
            img.apply(&Command::CreatePartitions { name: "t".into(), count, assignment, validate_only: false }).error_code
        };
        let bad = E::InvalidReplicaAssignment.code();
        assert_eq!(grow(&mut img, 2, Some(vec![vec![3]])), bad, "replication factor differs from the topic's");
        assert_eq!(grow(&mut img, 2, Some(vec![vec![3, 9]])), bad, "broker 9 is not registered");
        assert_eq!(grow(&mut img, 3, Some(vec![vec![3, 1]])), bad, "one assignment for two new partitions");
        assert_eq!(grow(&mut img, 2, Some(vec![vec![3, 1]])), 0);
        let p1 = img.partition("t", 1).unwrap();
        assert_eq!((p1.replicas.clone(), p1.leader), (vec![3, 1], 3));
        assert_eq!(grow(&mut img, 3, None), 0);
        assert_eq!(img.partition("t", 2).unwrap().replicas.len(), 2);
    }

    #[test]
    fn fencing_moves_leadership_to_the_isr_and_back_on_return() {
        let mut img = cluster(3);
        create(&mut img, "t", 1, 3);
        let p = img.partition("t", 0).unwrap().clone();
        let leader = p.leader;
        img.apply(&Command::FenceBroker { id: leader, defaults: Default::default() });
        let q = img.partition("t", 0).unwrap().clone();
        assert_ne!(q.leader, leader);
        assert!(!q.isr.contains(&leader));
        assert_eq!(q.leader_epoch, p.leader_epoch + 1);
        // Rejoining the ISR goes through the new leader's AlterPartition.
        img.apply(&Command::RegisterBroker { broker: endpoint(leader), defaults: Default::default() });
        let mut isr = q.isr.clone();
        isr.push(leader);
        let r = img.apply(&Command::AlterPartition { topic: "t".into(), partition: 0, leader: q.leader, leader_epoch: q.leader_epoch, partition_epoch: q.partition_epoch, isr });
        assert!(r.is_ok(), "{r:?}");
        let stale = img.apply(&Command::AlterPartition { topic: "t".into(), partition: 0, leader: q.leader, leader_epoch: q.leader_epoch, partition_epoch: q.partition_epoch, isr: vec![q.leader] });
        assert_eq!(stale.error_code, E::InvalidUpdateVersion.code());
        // Preferred leader election restores the first replica.
        let r = img.apply(&Command::ElectLeaders { unclean: false, partitions: None, defaults: Default::default() });
        assert_eq!(r.partitions[0].2, 0);
        assert_eq!(img.partition("t", 0).unwrap().leader, p.replicas[0]);
    }

    #[test]
    fn an_unregistered_broker_is_forgotten_until_it_registers_again() {
        let mut img = cluster(3);
        create(&mut img, "t", 1, 3);
        let leader = img.partition("t", 0).unwrap().leader;
        assert!(img.apply(&Command::UnregisterBroker { id: leader, defaults: Default::default() }).is_ok());
        assert!(!img.brokers.contains_key(&leader));
        let p = img.partition("t", 0).unwrap();
        assert!(p.leader != leader && !p.isr.contains(&leader) && p.replicas.contains(&leader));
        let again = img.apply(&Command::UnregisterBroker { id: leader, defaults: Default::default() });
        assert_eq!(again.error_code, E::BrokerIdNotRegistered.code());
        img.apply(&Command::RegisterBroker { broker: endpoint(leader), defaults: Default::default() });
        assert!(img.is_live(leader));
    }

    #[test]
    fn the_last_isr_member_keeps_the_partition_offline_unless_unclean() {
        for unclean in [false, true] {
            let mut img = cluster(2);
            create(&mut img, "t", 1, 2);
            let p = img.partition("t", 0).unwrap().clone();
            let (leader, follower) = (p.replicas[0], p.replicas[1]);
            // The follower drops out of the ISR, then the leader dies.
            img.apply(&Command::AlterPartition { topic: "t".into(), partition: 0, leader, leader_epoch: 0, partition_epoch: 0, isr: vec![leader] });
            img.apply(&Command::FenceBroker { id: leader, defaults: ElectionDefaults { unclean } });
            let q = img.partition("t", 0).unwrap();
            if unclean {
                assert_eq!((q.leader, q.isr.clone()), (follower, vec![follower]));
            } else {
                assert_eq!((q.leader, q.isr.clone()), (NO_LEADER, vec![leader]));
                img.apply(&Command::RegisterBroker { broker: endpoint(leader), defaults: Default::default() });
                assert_eq!(img.partition("t", 0).unwrap().leader, leader);
            }
        }
    }
}
