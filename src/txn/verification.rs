//! A partition leader's question to the transaction coordinator before the first
//! transactional batch of a producer's transaction (KIP-890): is this partition in the
//! transaction (`verify_only`), or, for transactions V2, add it. Without it a late or
//! retried batch could open a transaction no marker will ever close (a hanging
//! transaction that holds the last stable offset back for good).

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::coordinator::{TransactionCoordinator, TRANSACTION_STATE_TOPIC};

/// AddPartitionsToTxn v4 is the first broker-to-broker version; v5 adds partitions for
/// transactions V2 (the coordinator only verifies below it).
const VERIFY_VERSION: i16 = 4;
const ADD_VERSION: i16 = 5;
const TIMEOUT: Duration = Duration::from_secs(10);

impl TransactionCoordinator {
    /// One result per partition of `partitions`, in order: whether the partition is in
    /// (or, with `add`, was added to) the producer's open transaction.
    pub async fn verify_partitions(&self, transactional_id: &str, producer_id: i64, producer_epoch: i16, partitions: &[(String, i32)], add: bool) -> Vec<Result<(), E>> {
        let all = |e: E| partitions.iter().map(|_| Err(e)).collect::<Vec<_>>();
        if transactional_id.is_empty() {
            return all(E::InvalidRequest);
        }
        if self.coordinator_error(transactional_id).is_none_or(|e| e == E::CoordinatorLoadInProgress) {
            // This broker is (or is becoming) the coordinator: ask it directly.
            if add {
                let r = self.add_partitions(transactional_id, producer_id, producer_epoch, partitions, 2).await;
                return partitions.iter().map(|_| r).collect();
            }
            return partitions.iter().map(|p| self.verify(transactional_id, producer_id, producer_epoch, p)).collect();
        }
        let index = self.partition_of(transactional_id);
        let leader = self.topics.get(TRANSACTION_STATE_TOPIC).and_then(|t| t.partition(index).map(|p| p.state().leader)).unwrap_or(-1);
        if leader < 0 || leader == self.node_id {
            return all(E::CoordinatorNotAvailable);
        }
        let mut txn = AddPartitionsToTxnTransaction::default();
        txn.transactional_id = TransactionalId(StrBytes::from_string(transactional_id.to_string()));
        txn.producer_id = ProducerId(producer_id);
        txn.producer_epoch = producer_epoch;
        txn.verify_only = !add;
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (t, p) in partitions {
            match topics.iter_mut().find(|x| x.name.as_str() == t) {
                Some(x) => x.partitions.push(*p),
                None => {
                    let mut x = AddPartitionsToTxnTopic::default();
                    x.name = TopicName(StrBytes::from_string(t.clone()));
                    x.partitions = vec![*p];
                    topics.push(x);
                }
            }
        }
        txn.topics = topics;
        let mut req = AddPartitionsToTxnRequest::default();
        req.transactions = vec![txn];
        let version = if add { ADD_VERSION } else { VERIFY_VERSION };
        let resp = match self.peers.call(leader, version, &req, TIMEOUT).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%transactional_id, coordinator = leader, error = %e, "could not verify a transactional produce");
                return all(E::NetworkException);
            }
        };
        if resp.error_code != 0 {
            return all(E::try_from_code(resp.error_code).unwrap_or(E::UnknownServerError));
        }
        let codes: Vec<((String, i32), i16)> = resp
            .results_by_transaction
            .iter()
            .flat_map(|r| r.topic_results.iter().flat_map(|t| t.results_by_partition.iter().map(move |p| ((t.name.to_string(), p.partition_index), p.partition_error_code))))
            .collect();
        partitions
            .iter()
            .map(|p| match codes.iter().find(|(k, _)| k == p).map(|(_, c)| *c) {
                Some(0) => Ok(()),
                Some(c) => Err(E::try_from_code(c).unwrap_or(E::UnknownServerError)),
                None => Err(E::UnknownServerError),
            })
            .collect()
    }
}
