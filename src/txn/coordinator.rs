//! The transaction coordinator (Kafka's TransactionCoordinator): the transactional ids
//! whose `__transaction_state` partition this broker leads. Each request validates
//! against the id's metadata (`state.rs`), marks the transition pending, writes it to
//! the log and waits until it is committed, then applies it; a commit or abort then
//! sends its markers (`markers.rs`) and completes once all are written. Timed-out
//! transactions are aborted and expired ids removed by periodic sweeps.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;

use super::config::TxnConfig;
use super::markers::MarkerSender;
use super::peers::Peers;
use super::records;
use super::state::{EndV2, TxnMetadata, TxnState};
use crate::broker::{Partition, TopicRegistry};
use crate::common::{SharedClock, ShutdownSignal};
use crate::config::TopicOverrides;
use crate::coordinator::runtime::partition_for;
use crate::coordinator::{CoordinatorError, CoordinatorRuntime, ShardTopic};
use crate::group::GroupCoordinator;
use crate::log::control::Marker;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Why InitProducerId could not answer with an id.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// A new producer id is needed: allocate one and call again with it.
    NeedsProducerId,
    Code(E),
}

pub struct TransactionCoordinator {
    pub(super) config: TxnConfig,
    pub(super) clock: SharedClock,
    pub(super) topics: Arc<TopicRegistry>,
    pub(super) runtime: Arc<CoordinatorRuntime>,
    pub markers: MarkerSender,
    /// Other brokers, for markers and produce verification.
    pub peers: Arc<Peers>,
    pub(super) node_id: i32,
    pub(super) txns: Mutex<HashMap<String, Arc<Mutex<TxnMetadata>>>>,
    pub(super) me: Weak<TransactionCoordinator>,
}

/// The error a client gets when the transaction log could not be written, as Kafka's
/// TransactionStateManager maps them.
fn write_error(e: &CoordinatorError) -> E {
    match e {
        CoordinatorError::NotCoordinator | CoordinatorError::Log(crate::log::LogError::NotLeader) => E::NotCoordinator,
        CoordinatorError::LoadInProgress => E::CoordinatorLoadInProgress,
        CoordinatorError::NotAvailable | CoordinatorError::NotCommitted(_) => E::CoordinatorNotAvailable,
        _ => E::UnknownServerError,
    }
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig, clock: SharedClock, topics: Arc<TopicRegistry>, runtime: Arc<CoordinatorRuntime>, groups: Arc<GroupCoordinator>, node_id: i32) -> Arc<Self> {
        let peers = Arc::new(Peers::default());
        let markers = MarkerSender::new(topics.clone(), groups, clock.clone(), node_id, config.write_timeout, peers.clone());
        let coordinator = Arc::new_cyclic(|me| TransactionCoordinator {
            config,
            clock,
            topics,
            runtime: runtime.clone(),
            markers,
            peers,
            node_id,
            txns: Mutex::new(HashMap::new()),
            me: me.clone(),
        });
        let shard: Arc<dyn crate::coordinator::CoordinatorShard> = coordinator.clone();
        runtime.register(&shard);
        coordinator
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// How `__transaction_state` is created (compacted, `transaction.state.log.*`).
    pub fn state_topic(&self) -> ShardTopic {
        let configs: TopicOverrides = [
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "uncompressed".to_string()),
            ("segment.bytes".to_string(), self.config.segment_bytes.clone()),
            ("min.insync.replicas".to_string(), self.config.min_isr.to_string()),
            ("unclean.leader.election.enable".to_string(), "false".to_string()),
        ]
        .into();
        ShardTopic { name: TRANSACTION_STATE_TOPIC, partitions: self.config.partitions, configs }
    }

    /// The error for a transactional id this broker does not coordinate, if it does not.
    pub fn coordinator_error(&self, transactional_id: &str) -> Option<E> {
        self.runtime.check_coordinator(TRANSACTION_STATE_TOPIC, transactional_id).err().map(|e| write_error(&e))
    }

    fn state_partition(&self, transactional_id: &str) -> Result<Arc<Partition>, E> {
        self.runtime.partition_for(TRANSACTION_STATE_TOPIC, transactional_id).map_err(|e| write_error(&e))
    }

    pub(super) fn get(&self, transactional_id: &str) -> Option<Arc<Mutex<TxnMetadata>>> {
        self.txns.lock().get(transactional_id).cloned()
    }

    /// Writes `next` to the id's partition and waits until the in-sync replicas have it;
    /// returns the coordinator epoch (the partition's leader epoch) it was written in.
    /// With `expected`, only in that coordinator epoch (a completion started by an
    /// earlier leadership must not land after the next coordinator's writes).
    async fn persist(&self, next: &TxnMetadata, expected: Option<i32>) -> Result<i32, E> {
        let p = self.state_partition(&next.transactional_id)?;
        let epoch = p.leader_epoch();
        if expected.is_some_and(|e| e != epoch) {
            return Err(E::NotCoordinator);
        }
        let rec = (records::key(&next.transactional_id), Some(records::value(&next.stored())));
        self.runtime.write(&p, &[rec]).map_err(|e| write_error(&e))?;
        self.runtime.wait_committed(&p, self.config.write_timeout).await.map_err(|e| write_error(&e))?;
        Ok(epoch)
    }

    /// Persists `next` (which the caller marked pending on `meta` under the lock it
    /// validated it with), then applies it, or clears the pending mark if the write
    /// failed.
    async fn transition(&self, meta: &Arc<Mutex<TxnMetadata>>, next: TxnMetadata) -> Result<i32, E> {
        self.transition_at(meta, next, None).await
    }

    async fn transition_at(&self, meta: &Arc<Mutex<TxnMetadata>>, next: TxnMetadata, expected: Option<i32>) -> Result<i32, E> {
        match self.persist(&next, expected).await {
            Ok(epoch) => {
                meta.lock().apply(next);
                Ok(epoch)
            }
            Err(e) => {
                meta.lock().pending = None;
                tracing::warn!(transactional_id = %next.transactional_id, state = next.state.name(), error = ?e, "could not write a transaction state");
                Err(e)
            }
        }
    }

    /// InitProducerId for a transactional id: (producer id, epoch).
    pub async fn init_producer_id(&self, transactional_id: &str, timeout_ms: i32, expected: Option<(i64, i16)>, fresh_id: Option<i64>) -> Result<(i64, i16), InitError> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(InitError::Code(E::InvalidTransactionTimeout));
        }
        self.state_partition(transactional_id).map_err(InitError::Code)?;
        let now = self.clock.now_ms();
        let meta = {
            let mut txns = self.txns.lock();
            match txns.get(transactional_id) {
                Some(m) => m.clone(),
                None => {
                    let id = fresh_id.ok_or(InitError::NeedsProducerId)?;
                    let m = Arc::new(Mutex::new(TxnMetadata::new(transactional_id, id, timeout_ms, now)));
                    txns.insert(transactional_id.to_string(), m.clone());
                    m
                }
            }
        };
        let (next, abort_first) = {
            let mut m = meta.lock();
            let (next, abort_first) = m.init_producer_id(timeout_ms, expected, fresh_id, now).map_err(|e| e.map_or(InitError::NeedsProducerId, InitError::Code))?;
            m.pending = Some(if abort_first { TxnState::PrepareEpochFence } else { next.state });
            (next, abort_first)
        };
        if abort_first {
            // The producer of the open transaction is fenced and its transaction aborted;
            // the new one retries (CONCURRENT_TRANSACTIONS) until that is done.
            self.abort_fenced(&meta, next).await.map_err(InitError::Code)?;
            return Err(InitError::Code(E::ConcurrentTransactions));
        }
        let answer = (next.producer_id, next.producer_epoch);
        self.transition(&meta, next).await.map_err(InitError::Code)?;
        tracing::info!(%transactional_id, producer_id = answer.0, producer_epoch = answer.1, "initialized transactional producer");
        Ok(answer)
    }

    /// Aborts the transaction in flight with the fenced (bumped) epoch of `fenced`
    /// (`meta` is marked PrepareEpochFence meanwhile).
    async fn abort_fenced(&self, meta: &Arc<Mutex<TxnMetadata>>, fenced: TxnMetadata) -> Result<(), E> {
        let next = match fenced.end(fenced.producer_id, fenced.producer_epoch, false, false, self.clock.now_ms()) {
            Ok(Some(next)) => next,
            other => {
                meta.lock().pending = None;
                return other.map(|_| ());
            }
        };
        let epoch = self.transition(meta, next.clone()).await?;
        self.spawn_completion(meta.clone(), next, epoch);
        Ok(())
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets partition);
    /// `client_transaction_version` 2 when a partition leader adds for a producer of
    /// transactions V2.
    pub async fn add_partitions(&self, transactional_id: &str, producer_id: i64, producer_epoch: i16, partitions: &[(String, i32)], client_transaction_version: i16) -> Result<(), E> {
        if transactional_id.is_empty() {
            return Err(E::InvalidRequest);
        }
        self.state_partition(transactional_id)?;
        let meta = self.get(transactional_id).ok_or(E::InvalidProducerIdMapping)?;
        let next = {
            let mut m = meta.lock();
            let next = m.add_partitions(producer_id, producer_epoch, partitions, client_transaction_version, self.clock.now_ms())?;
            if let Some(n) = &next {
                m.pending = Some(n.state);
            }
            next
        };
        match next {
            None => Ok(()),
            Some(next) => self.transition(&meta, next).await.map(|_| ()),
        }
    }

    /// Whether `partition` is in the producer's open transaction (a partition leader
    /// verifying a transactional produce, KIP-890).
    pub fn verify(&self, transactional_id: &str, producer_id: i64, producer_epoch: i16, partition: &(String, i32)) -> Result<(), E> {
        self.state_partition(transactional_id)?;
        let meta = self.get(transactional_id).ok_or(E::InvalidProducerIdMapping)?;
        let m = meta.lock();
        m.verify_partition(producer_id, producer_epoch, partition)
    }

    /// EndTxn from a client: answered once the prepare state is written; the markers
    /// follow.
    pub async fn end_txn(&self, transactional_id: &str, producer_id: i64, producer_epoch: i16, commit: bool) -> Result<(), E> {
        if transactional_id.is_empty() {
            return Err(E::InvalidRequest);
        }
        self.state_partition(transactional_id)?;
        let meta = self.get(transactional_id).ok_or(E::InvalidProducerIdMapping)?;
        let next = {
            let mut m = meta.lock();
            let Some(next) = m.end(producer_id, producer_epoch, commit, true, self.clock.now_ms())? else { return Ok(()) };
            m.pending = Some(next.state);
            next
        };
        let epoch = self.transition(&meta, next.clone()).await?;
        self.spawn_completion(meta, next, epoch);
        Ok(())
    }

    /// EndTxn v5+ (transactions V2): the epoch is bumped at every end; answers the
    /// producer id and epoch to go on with. `fresh_id` as for InitProducerId.
    pub async fn end_txn_v2(&self, transactional_id: &str, producer_id: i64, producer_epoch: i16, commit: bool, fresh_id: Option<i64>) -> Result<(i64, i16), InitError> {
        if transactional_id.is_empty() {
            return Err(InitError::Code(E::InvalidRequest));
        }
        self.state_partition(transactional_id).map_err(InitError::Code)?;
        let meta = self.get(transactional_id).ok_or(InitError::Code(E::InvalidProducerIdMapping))?;
        let next = {
            let mut m = meta.lock();
            match m.end_v2(producer_id, producer_epoch, commit, fresh_id, self.clock.now_ms()).map_err(InitError::Code)? {
                EndV2::Done(id, epoch) => return Ok((id, epoch)),
                EndV2::NeedsProducerId => return Err(InitError::NeedsProducerId),
                EndV2::Prepare(next) => {
                    m.pending = Some(next.state);
                    next
                }
            }
        };
        let answer = next.completed(self.clock.now_ms()).map_or((next.producer_id, next.producer_epoch), |c| (c.producer_id, c.producer_epoch));
        let epoch = self.transition(&meta, next.clone()).await.map_err(InitError::Code)?;
        self.spawn_completion(meta, next, epoch);
        Ok(answer)
    }

    /// Sends the markers of a prepared transaction, then writes its completion; stops if
    /// this broker stops coordinating it (the next coordinator finishes it on load).
    pub(super) fn spawn_completion(&self, meta: Arc<Mutex<TxnMetadata>>, prepared: TxnMetadata, coordinator_epoch: i32) {
        let Some(me) = self.me.upgrade() else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::error!(transactional_id = %prepared.transactional_id, "no runtime to send transaction markers on");
            return;
        };
        handle.spawn(async move { me.complete(meta, prepared, coordinator_epoch).await });
    }

    fn still_coordinating(&self, transactional_id: &str, coordinator_epoch: i32) -> bool {
        match self.runtime.partition_for(TRANSACTION_STATE_TOPIC, transactional_id) {
            Ok(p) => p.leader_epoch() == coordinator_epoch,
            Err(CoordinatorError::LoadInProgress) => true,
            Err(_) => false,
        }
    }

    async fn complete(&self, meta: Arc<Mutex<TxnMetadata>>, prepared: TxnMetadata, coordinator_epoch: i32) {
        let id = prepared.transactional_id.clone();
        let commit = prepared.state == TxnState::PrepareCommit;
        let started = std::time::Instant::now();
        let marker = Marker { commit, coordinator_epoch };
        let all = self.markers.send_all(prepared.producer_id, prepared.producer_epoch, marker, &prepared.partitions, || self.still_coordinating(&id, coordinator_epoch)).await;
        if !all {
            tracing::info!(transactional_id = %id, "no longer the transaction's coordinator: its markers are left to the next one");
            return;
        }
        // The completion is written once the state is what the markers were for.
        let mut backoff = Duration::from_millis(100);
        loop {
            let next = {
                let mut m = meta.lock();
                if m.producer_id != prepared.producer_id || m.producer_epoch != prepared.producer_epoch || m.state != prepared.state {
                    return;
                }
                match m.completed(self.clock.now_ms()) {
                    Some(next) if m.pending.is_none() => {
                        m.pending = Some(next.state);
                        next
                    }
                    _ => return,
                }
            };
            match self.transition_at(&meta, next, Some(coordinator_epoch)).await {
                Ok(_) => {
                    tracing::debug!(transactional_id = %id, commit, producer_epoch = prepared.producer_epoch, transaction_version = prepared.client_transaction_version, partitions = prepared.partitions.len(), elapsed_ms = started.elapsed().as_millis() as u64, "transaction completed");
                    return;
                }
                // Whatever failed, a coordinator that still is one keeps trying: nothing
                // else would complete the transaction.
                Err(e) if self.still_coordinating(&id, coordinator_epoch) => {
                    tracing::debug!(transactional_id = %id, error = ?e, "could not complete a transaction yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(_) => return,
            }
        }
    }

    /// A copy of the id's metadata (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Result<TxnMetadata, E> {
        if transactional_id.is_empty() {
            return Err(E::InvalidRequest);
        }
        self.state_partition(transactional_id)?;
        let meta = self.get(transactional_id).ok_or(E::TransactionalIdNotFound)?;
        let m = meta.lock().clone();
        if m.state == TxnState::Dead {
            return Err(E::TransactionalIdNotFound);
        }
        Ok(m)
    }

    /// Every transactional id this broker coordinates (ListTransactions), filtered.
    pub fn list(&self, states: &[String], producer_ids: &[i64], min_duration_ms: i64) -> Vec<TxnMetadata> {
        let now = self.clock.now_ms();
        let all: Vec<_> = self.txns.lock().values().cloned().collect();
        let mut out: Vec<TxnMetadata> = all
            .iter()
            .map(|m| m.lock().clone())
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| states.is_empty() || states.iter().any(|s| s == m.state.name()))
            .filter(|m| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|m| min_duration_ms < 0 || (m.state == TxnState::Ongoing && now - m.start_ms >= min_duration_ms))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// Aborts the transactions open past their timeout, fencing their producers (Kafka's
    /// abortTimedOutTransactions).
    pub async fn abort_timed_out(&self) {
        let now = self.clock.now_ms();
        let candidates: Vec<_> = self.txns.lock().values().cloned().collect();
        for meta in candidates {
            let fenced = {
                let mut m = meta.lock();
                if !m.is_timed_out(now) || self.coordinator_error(&m.transactional_id).is_some() {
                    continue;
                }
                tracing::info!(transactional_id = %m.transactional_id, producer_id = m.producer_id, timeout_ms = m.timeout_ms, "aborting a transaction past its timeout");
                let fenced = m.fenced(now);
                m.pending = Some(TxnState::PrepareEpochFence);
                fenced
            };
            if let Err(e) = self.abort_fenced(&meta, fenced).await {
                tracing::warn!(error = ?e, "could not abort a timed-out transaction");
            }
        }
    }

    /// Removes ids idle past `transactional.id.expiration.ms` (tombstones in the log).
    pub async fn expire_ids(&self) {
        let now = self.clock.now_ms();
        let all: Vec<(String, Arc<Mutex<TxnMetadata>>)> = self.txns.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (id, meta) in all {
            let Ok(p) = self.state_partition(&id) else { continue };
            {
                // Checked and marked under one lock: no transition starts in between.
                let mut m = meta.lock();
                if !m.state.is_expirable() || m.pending.is_some() || now - m.last_update_ms <= self.config.id_expiration_ms {
                    continue;
                }
                m.pending = Some(TxnState::Dead);
            }
            let written = self.runtime.write(&p, &[(records::key(&id), None)]).is_ok() && self.runtime.wait_committed(&p, self.config.write_timeout).await.is_ok();
            if written {
                meta.lock().state = TxnState::Dead;
                self.txns.lock().remove(&id);
                tracing::info!(transactional_id = %id, "expired transactional id");
            } else {
                meta.lock().pending = None;
            }
        }
    }

    /// Runs the timeout and expiration sweeps until shutdown.
    pub fn start(self: &Arc<Self>, shutdown: ShutdownSignal) -> Vec<tokio::task::JoinHandle<()>> {
        let sweep = |every_ms: i64, expire: bool| {
            let me = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(every_ms.max(1) as u64));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => if expire { me.expire_ids().await } else { me.abort_timed_out().await },
                        _ = stop.wait() => return,
                    }
                }
            })
        };
        vec![sweep(self.config.abort_interval_ms, false), sweep(self.config.expiration_interval_ms, true)]
    }

    /// The `__transaction_state` partition index of an id.
    pub fn partition_of(&self, transactional_id: &str) -> i32 {
        let n = self.topics.get(TRANSACTION_STATE_TOPIC).map_or(self.config.partitions, |t| t.partitions.len() as i32);
        partition_for(transactional_id, n)
    }
}
