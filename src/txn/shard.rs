//! The transaction coordinator as a shard of the coordinator runtime: the
//! `__transaction_state` records of a partition replayed into transactional ids when this
//! broker becomes its leader; transactions found prepared get their markers sent again
//! and are completed, as Kafka's coordinator does after a failover.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::coordinator::{TransactionCoordinator, TRANSACTION_STATE_TOPIC};
use super::records;
use super::state::{TxnMetadata, TxnState};
use crate::coordinator::runtime::partition_for;
use crate::coordinator::{CoordinatorShard, ShardLoader, ShardTopic};

struct TxnLoader<'a> {
    coordinator: &'a TransactionCoordinator,
    partition: i32,
    txns: HashMap<String, TxnMetadata>,
}

impl ShardLoader for TxnLoader<'_> {
    fn replay(&mut self, offset: i64, _producer_id: Option<i64>, key: Bytes, value: Option<Bytes>) {
        let id = match records::decode_key(key) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(partition = self.partition, offset, error = %e, "skipping record");
                return;
            }
        };
        match value.map(records::decode_value) {
            None => {
                self.txns.remove(&id);
            }
            Some(Ok(stored)) => {
                self.txns.insert(id.clone(), TxnMetadata::from_stored(&id, stored));
            }
            Some(Err(e)) => tracing::warn!(partition = self.partition, offset, error = %e, "skipping record"),
        }
    }

    fn finish(self: Box<Self>) -> usize {
        let n = self.txns.len();
        let epoch = self
            .coordinator
            .topics
            .get(TRANSACTION_STATE_TOPIC)
            .and_then(|t| t.partition(self.partition).map(|p| p.leader_epoch()))
            .unwrap_or(0);
        let mut prepared = Vec::new();
        {
            let mut map = self.coordinator.txns.lock();
            for (id, m) in self.txns {
                let is_prepared = matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
                let meta = Arc::new(Mutex::new(m.clone()));
                if is_prepared {
                    prepared.push((meta.clone(), m));
                }
                map.insert(id, meta);
            }
        }
        for (meta, m) in prepared {
            tracing::info!(transactional_id = %m.transactional_id, state = m.state.name(), "completing a transaction prepared by the previous coordinator");
            self.coordinator.spawn_completion(meta, m, epoch);
        }
        n
    }
}

impl CoordinatorShard for TransactionCoordinator {
    fn topic(&self) -> ShardTopic {
        self.state_topic()
    }

    fn begin_load(&self, partition: i32) -> Box<dyn ShardLoader + '_> {
        Box::new(TxnLoader { coordinator: self, partition, txns: HashMap::new() })
    }

    fn unload(&self, partition: i32) {
        let Some(topic) = self.topics.get(TRANSACTION_STATE_TOPIC) else { return };
        let n = topic.partitions.len() as i32;
        let mut txns = self.txns.lock();
        let before = txns.len();
        txns.retain(|id, _| partition_for(id, n) != partition);
        if txns.len() != before {
            tracing::info!(partition, transactions = before - txns.len(), "unloaded transactional ids: no longer their coordinator");
        }
    }
}
