//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98/KIP-447): written to
//! `__consumer_offsets` as records of the producer's transaction, pending until its
//! marker: a COMMIT makes them the group's committed offsets, an ABORT drops them. A
//! consumer asking for stable offsets (`require_stable`) is told to retry while any are
//! pending for its partitions.

use kafka_protocol::error::ResponseError as E;

use super::classic::group::Group;
use super::coordinator::{code, GroupCoordinator, OFFSETS_TOPIC};
use super::offsets::{records_of, OffsetToCommit};
use crate::coordinator::runtime::partition_for;

/// A TxnOffsetCommit, as the coordinator sees it.
pub struct TxnOffsetCommit {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
    pub offsets: Vec<OffsetToCommit>,
}

impl Group {
    /// The marker of `producer_id`'s transaction reached this group's partition.
    pub fn complete_transaction(&mut self, producer_id: i64, commit: bool) {
        if let Some(pending) = self.pending_txn_offsets.remove(&producer_id) {
            if commit {
                self.offsets.extend(pending);
            }
        }
    }

    /// A plain commit of `topic`-`partition` written after a transaction's offset
    /// supersedes it: Kafka keeps the offset written last (by its record's position).
    pub fn supersede_pending(&mut self, topic: &str, partition: i32) {
        if self.pending_txn_offsets.is_empty() {
            return;
        }
        for pending in self.pending_txn_offsets.values_mut() {
            pending.retain(|(t, p), _| !(t == topic && *p == partition));
        }
        self.pending_txn_offsets.retain(|_, p| !p.is_empty());
    }

    /// Whether an offset of `topic`-`partition` waits for a transaction's marker.
    pub fn has_pending_offset(&self, topic: &str, partition: i32) -> bool {
        self.pending_txn_offsets.values().any(|p| p.keys().any(|(t, i)| t == topic && *i == partition))
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit: one error code per partition, in request order.
    pub fn txn_commit(&self, req: TxnOffsetCommit) -> Vec<i16> {
        let all = |c: i16| vec![c; req.offsets.len()];
        if req.group_id.is_empty() {
            return all(code(E::InvalidGroupId));
        }
        // Outside group management (generation -1) a missing group is created (a simple
        // group), as Kafka's validateTransactionalOffsetCommit does.
        let group = match self.group(&req.group_id) {
            Some(g) => g,
            None if req.generation < 0 => self.group_or_create(&req.group_id),
            None => return all(code(E::IllegalGeneration)),
        };
        let mut g = group.lock();
        let check = match self.check_commit(&mut g, &req.member_id, req.group_instance_id.as_deref(), req.generation, true) {
            Ok(check) => check,
            Err(e) => return all(e),
        };
        let (errors, accepted) = self.accept_offsets(req.offsets, &check);
        if accepted.is_empty() {
            return errors;
        }
        let recs = records_of(&req.group_id, &accepted);
        let written = self.offsets_partition(&req.group_id).and_then(|p| {
            self.runtime.write_transactional(&p, &recs, req.producer_id, req.producer_epoch).map_err(|e| {
                tracing::error!(group = %req.group_id, error = %e, "could not write transactional offsets to {OFFSETS_TOPIC}");
                e.code()
            })
        });
        if let Err(e) = written {
            return errors.into_iter().map(|c| if c == 0 { e } else { c }).collect();
        }
        let pending = g.pending_txn_offsets.entry(req.producer_id).or_default();
        for (t, p, v) in accepted {
            pending.insert((t, p), v);
        }
        errors
    }

    /// A transaction's marker was written to partition `offsets_partition` of
    /// `__consumer_offsets`: its offsets there are committed or dropped.
    pub fn complete_transaction(&self, offsets_partition: i32, producer_id: i64, commit: bool) {
        let n = self.topics.get(OFFSETS_TOPIC).map_or(self.config.offsets_partitions, |t| t.partitions.len() as i32);
        let groups: Vec<_> = self.groups.lock().iter().filter(|(id, _)| partition_for(id, n) == offsets_partition).map(|(_, g)| g.clone()).collect();
        for group in groups {
            group.lock().complete_transaction(producer_id, commit);
        }
    }

    /// Whether the groups of `__consumer_offsets` partition `index` are being loaded: a
    /// transaction's marker waits until they are (the load would miss its effect).
    pub fn is_loading(&self, offsets_partition: i32) -> bool {
        self.runtime.is_loading(OFFSETS_TOPIC, offsets_partition)
    }

    /// Whether `group_id`'s offset of `topic`-`partition` waits for a transaction.
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.group(group_id).is_some_and(|g| g.lock().has_pending_offset(topic, partition))
    }
}
