//! Partition reassignment (KIP-455), as Kafka's controller does it: the replica set
//! first grows to the union of the current and the target replicas; the added replicas
//! fetch from the leader like any follower; the ISR change that brings the last of them
//! in sync also shrinks the replica set to the target (moving the leadership if the
//! leader leaves). A reassignment that only removes or reorders replicas completes at
//! once. Cancelling reverts to the replicas from before.

use kafka_protocol::error::ResponseError as E;

use super::command::{CommandResult, ElectionDefaults};
use super::image::{MetadataImage, PartitionImage, NO_LEADER};

/// Why a partition's reassignment was refused: a Kafka error code and message.
type Refusal = (i16, String);

fn refuse(e: E, message: impl Into<String>) -> Refusal {
    (e.code(), message.into())
}

impl PartitionImage {
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas before the ongoing reassignment (all of them if none is ongoing).
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.adding_replicas.contains(r)).collect()
    }

    /// The replicas once the ongoing reassignment completes.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.removing_replicas.contains(r)).collect()
    }

    /// Ends the reassignment with `replicas` and `isr` in force: the leader moves if it
    /// left them. The leader epoch moves only with the leadership: removed replicas are
    /// fenced by leaving the replica set, and produce requests waiting on an unchanged
    /// leader are not failed.
    fn settle(&mut self, replicas: Vec<i32>, isr: Vec<i32>, live: &[i32]) {
        self.replicas = replicas;
        self.isr = isr;
        self.adding_replicas.clear();
        self.removing_replicas.clear();
        self.reelect_if_gone(live);
        self.partition_epoch += 1;
    }

    /// Keeps the leader if it is still a replica in the ISR; otherwise the first
    /// replica in the ISR that is live leads (none: the partition is offline), in a new
    /// leader epoch.
    fn reelect_if_gone(&mut self, live: &[i32]) -> bool {
        if self.replicas.contains(&self.leader) && self.isr.contains(&self.leader) {
            return false;
        }
        self.leader = self.replicas.iter().copied().find(|r| self.isr.contains(r) && live.contains(r)).unwrap_or(NO_LEADER);
        self.leader_epoch += 1;
        true
    }
}

/// Completes `p`'s reassignment if every added replica is in the ISR and the ISR keeps
/// a member once the removed replicas leave it. Returns whether it did.
pub fn try_complete(p: &mut PartitionImage, live: &[i32]) -> bool {
    if !p.is_reassigning() || p.adding_replicas.iter().any(|r| !p.isr.contains(r)) {
        return false;
    }
    let target = p.target_replicas();
    let isr: Vec<i32> = target.iter().copied().filter(|r| p.isr.contains(r)).collect();
    if isr.is_empty() {
        return false;
    }
    p.settle(target, isr, live);
    true
}

impl MetadataImage {
    pub(super) fn alter_reassignments(&mut self, partitions: &[(String, i32, Option<Vec<i32>>)], allow_rf_change: bool, defaults: ElectionDefaults) -> CommandResult {
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        let mut result = CommandResult::ok();
        for (topic, index, target) in partitions {
            let outcome = match target {
                // An unknown partition is reported as such before its target is checked.
                Some(target) => match self.check_assignment(std::slice::from_ref(target)) {
                    Ok(()) => self.partition_mut(topic, *index).and_then(|p| reassign(p, target, allow_rf_change, &live)),
                    Err((e, message)) => self.partition_mut(topic, *index).and(Err(refuse(e, message))),
                },
                None => {
                    let unclean = self.topics.get(topic).is_some_and(|t| self.unclean_for(t, defaults));
                    self.partition_mut(topic, *index).and_then(|p| cancel(p, unclean, &live))
                }
            };
            let (code, message) = outcome.err().map_or((0, None), |(code, message)| (code, Some(message)));
            result.partitions.push((topic.clone(), *index, code));
            result.partition_messages.push(message);
        }
        result
    }

    /// Completes every reassignment whose added replicas are all in sync: after any
    /// change of ISRs or leaders (fencing, registration, elections), as Kafka checks on
    /// every partition change.
    pub(super) fn complete_reassignments(&mut self) {
        let live: Vec<i32> = self.live_brokers().map(|b| b.endpoint.id).collect();
        for topic in self.topics.values_mut() {
            for p in topic.partitions.iter_mut().filter(|p| p.is_reassigning()) {
                try_complete(p, &live);
            }
        }
    }

    fn partition_mut(&mut self, topic: &str, index: i32) -> Result<&mut PartitionImage, Refusal> {
        self.topics
            .get_mut(topic)
            .and_then(|t| usize::try_from(index).ok().and_then(|i| t.partitions.get_mut(i)))
            .ok_or_else(|| refuse(E::UnknownTopicOrPartition, format!("{topic}-{index} does not exist")))
    }
}

fn reassign(p: &mut PartitionImage, target: &[i32], allow_rf_change: bool, live: &[i32]) -> Result<(), Refusal> {
    let original = p.original_replicas();
    // Compared with the replicas the partition is heading to, as Kafka does.
    let heading = p.target_replicas().len();
    if !allow_rf_change && target.len() != heading {
        return Err(refuse(E::InvalidReplicationFactor, format!("The replication factor is changed from {heading} to {}", target.len())));
    }
    let adding: Vec<i32> = target.iter().copied().filter(|r| !original.contains(r)).collect();
    let removing: Vec<i32> = original.iter().copied().filter(|r| !target.contains(r)).collect();
    let replicas: Vec<i32> = target.iter().copied().chain(removing.iter().copied()).collect();
    // Replicas a replaced reassignment was adding leave the ISR with the replica set.
    let isr: Vec<i32> = replicas.iter().copied().filter(|r| p.isr.contains(r)).collect();
    if isr.is_empty() {
        return Err(refuse(E::InvalidReplicaAssignment, format!("no replica of {target:?} or of the current {original:?} is in sync")));
    }
    if p.replicas == replicas && p.isr == isr && p.adding_replicas == adding && p.removing_replicas == removing {
        return Ok(());
    }
    p.replicas = replicas;
    p.isr = isr;
    p.adding_replicas = adding;
    p.removing_replicas = removing;
    p.reelect_if_gone(live);
    p.partition_epoch += 1;
    try_complete(p, live);
    Ok(())
}

fn cancel(p: &mut PartitionImage, unclean: bool, live: &[i32]) -> Result<(), Refusal> {
    if !p.is_reassigning() {
        return Err(refuse(E::NoReassignmentInProgress, "no reassignment is in progress"));
    }
    let original = p.original_replicas();
    let mut isr: Vec<i32> = original.iter().copied().filter(|r| p.isr.contains(r)).collect();
    if isr.is_empty() {
        // Only added replicas are in sync: going back loses data unless unclean
        // election is allowed, as in Kafka.
        match original.iter().copied().find(|r| live.contains(r)) {
            Some(r) if unclean => isr = vec![r],
            _ => return Err(refuse(E::InvalidReplicaAssignment, format!("reverting to {original:?} would leave the partition without an in-sync replica"))),
        }
    }
    p.settle(original, isr, live);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;
    use crate::controller::command::{BrokerEndpoint, Command};

    fn cluster(n: i32) -> MetadataImage {
        let mut img = MetadataImage::default();
        for id in 1..=n {
            let broker = BrokerEndpoint { id, host: "127.0.0.1".into(), port: 9091 + id, rack: None, incarnation: "a".into(), listeners: vec![] };
            img.apply(&Command::RegisterBroker { broker, defaults: Default::default() });
        }
        img.apply(&Command::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 1,
            replication_factor: 1,
            assignment: Some(vec![vec![1]]),
            configs: BTreeMap::new(),
            validate_only: false,
        });
        img
    }

    fn reassign(img: &mut MetadataImage, target: Option<Vec<i32>>, allow_rf_change: bool) -> i16 {
        let cmd = Command::AlterPartitionReassignments { partitions: vec![("t".into(), 0, target)], allow_replication_factor_change: allow_rf_change, defaults: Default::default() };
        img.apply(&cmd).partitions[0].2
    }

    fn caught_up(img: &mut MetadataImage, isr: Vec<i32>) {
        let p = img.partition("t", 0).unwrap().clone();
        let r = img.apply(&Command::AlterPartition { topic: "t".into(), partition: 0, leader: p.leader, leader_epoch: p.leader_epoch, partition_epoch: p.partition_epoch, isr });
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn a_move_grows_then_completes_when_the_added_replicas_are_in_sync() {
        let mut img = cluster(3);
        assert_eq!(reassign(&mut img, Some(vec![2, 3]), true), 0);
        let p = img.partition("t", 0).unwrap().clone();
        assert_eq!((p.replicas.clone(), p.adding_replicas.clone(), p.removing_replicas.clone()), (vec![2, 3, 1], vec![2, 3], vec![1]));
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
        caught_up(&mut img, vec![1, 2]);
        assert!(img.partition("t", 0).unwrap().is_reassigning(), "3 is not in sync yet");
        caught_up(&mut img, vec![1, 2, 3]);
        let q = img.partition("t", 0).unwrap();
        assert_eq!((q.replicas.clone(), q.isr.clone(), q.leader), (vec![2, 3], vec![2, 3], 2));
        assert!(!q.is_reassigning());
        assert!(q.leader_epoch > p.leader_epoch);
    }

    #[test]
    fn removing_or_reordering_completes_at_once_and_unknown_brokers_are_refused() {
        let mut img = cluster(3);
        assert_eq!(reassign(&mut img, Some(vec![1, 2]), true), 0);
        caught_up(&mut img, vec![1, 2]);
        assert_eq!(reassign(&mut img, Some(vec![2, 1]), true), 0);
        assert_eq!(img.partition("t", 0).unwrap().replicas, vec![2, 1]);
        assert_eq!(reassign(&mut img, Some(vec![2]), true), 0);
        let p = img.partition("t", 0).unwrap();
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.leader), (vec![2], vec![2], 2));
        assert_eq!(reassign(&mut img, Some(vec![2, 9]), true), E::InvalidReplicaAssignment.code());
        assert_eq!(reassign(&mut img, Some(vec![2, 2]), true), E::InvalidReplicaAssignment.code());
        assert_eq!(reassign(&mut img, Some(vec![]), true), E::InvalidReplicaAssignment.code());
        assert_eq!(reassign(&mut img, Some(vec![1, 3]), false), E::InvalidReplicationFactor.code());
        assert_eq!(reassign(&mut img, Some(vec![3]), false), 0);
    }

    #[test]
    fn cancelling_reverts_and_needs_an_ongoing_reassignment() {
        let mut img = cluster(3);
        assert_eq!(reassign(&mut img, None, true), E::NoReassignmentInProgress.code());
        assert_eq!(reassign(&mut img, Some(vec![2, 3]), true), 0);
        caught_up(&mut img, vec![1, 2]);
        assert_eq!(reassign(&mut img, None, true), 0);
        let p = img.partition("t", 0).unwrap();
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.leader), (vec![1], vec![1], 1));
        assert!(!p.is_reassigning());
    }
}
