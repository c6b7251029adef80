//! A transactional id's state, as Kafka's TransactionMetadata keeps it, and the
//! transitions of its state machine. Every decision is a function of the metadata and
//! the request: no I/O here; the coordinator persists a transition, then applies it.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError as E;

use super::records::StoredTxn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    /// The id stored in TransactionLogValue.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions report (Kafka's stateName).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// States in which the transactional id may expire (nothing in flight).
    pub fn is_expirable(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }
}

/// A producer epoch at this value is exhausted: the next bump takes a new producer id.
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (KIP-360: a producer retrying with it is
    /// not fenced).
    pub prev_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so that a retried InitProducerId gets the same answer.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// A transition written to the log but not applied yet: requests meanwhile get
    /// CONCURRENT_TRANSACTIONS.
    pub pending: Option<TxnState>,
    /// The producer id the completion of this transaction moves to (transactions V2,
    /// the epoch exhausted).
    pub next_producer_id: i64,
    /// The transaction version of the producer's current transaction (2: the epoch is
    /// bumped at every transaction's end, KIP-890).
    pub client_transaction_version: i16,
}

/// What EndTxn under transactions V2 comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndV2 {
    /// Nothing to write (a retried end): answer this producer id and epoch.
    Done(i64, i16),
    /// Write this prepare state, then send its markers.
    Prepare(TxnMetadata),
    /// A new producer id is needed (the epoch is exhausted): call again with one.
    NeedsProducerId,
}

pub type TxnResult<T> = Result<T, E>;

impl TxnMetadata {
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            prev_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            pending: None,
            next_producer_id: -1,
            client_transaction_version: 0,
        }
    }

    pub fn from_stored(transactional_id: &str, s: StoredTxn) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: s.producer_id,
            prev_producer_id: s.previous_producer_id,
            producer_epoch: s.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: s.timeout_ms,
            state: s.state,
            partitions: s.partitions.into_iter().flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p))).collect(),
            start_ms: s.start_ms,
            last_update_ms: s.last_update_ms,
            pending: None,
            next_producer_id: s.next_producer_id,
            client_transaction_version: s.client_transaction_version,
        }
    }

    pub fn stored(&self) -> StoredTxn {
        let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in &self.partitions {
            partitions.entry(t.clone()).or_default().push(*p);
        }
        StoredTxn {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions,
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
            previous_producer_id: self.prev_producer_id,
            next_producer_id: self.next_producer_id,
            client_transaction_version: self.client_transaction_version,
        }
    }

    fn pending_or_prepare(&self) -> TxnResult<()> {
        if self.pending.is_some() || matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(E::ConcurrentTransactions);
        }
        Ok(())
    }

    /// InitProducerId on an existing id. `Ok((next, fence))`: the metadata to write; with
    /// `fence` the transaction in flight must be aborted first (the answer is then
    /// CONCURRENT_TRANSACTIONS and the client retries). `fresh_id` is a producer id for a
    /// rotation: `Err(None)` asks for one.
    pub fn init_producer_id(&self, timeout_ms: i32, expected: Option<(i64, i16)>, fresh_id: Option<i64>, now_ms: i64) -> Result<(TxnMetadata, bool), Option<E>> {
        if self.pending.is_some() {
            return Err(Some(E::ConcurrentTransactions));
        }
        if let Some((pid, epoch)) = expected {
            let valid = self.producer_epoch < 0 || pid == self.producer_id || (pid == self.prev_producer_id && epoch >= EPOCH_EXHAUSTED);
            if !valid {
                return Err(Some(E::ProducerFenced));
            }
        }
        let mut next = self.clone();
        next.last_update_ms = now_ms;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(Some(E::ConcurrentTransactions)),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let current = expected.is_none_or(|(_, e)| self.producer_epoch < 0 || e == self.producer_epoch);
                if self.producer_epoch >= EPOCH_EXHAUSTED && current {
                    let id = fresh_id.ok_or(None)?;
                    next.prev_producer_id = self.producer_id;
                    next.producer_id = id;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = -1;
                } else {
                    match expected {
                        None => {
                            next.producer_epoch = self.producer_epoch + 1;
                            next.last_producer_epoch = -1;
                        }
                        Some(_) if current => {
                            next.producer_epoch = self.producer_epoch + 1;
                            next.last_producer_epoch = self.producer_epoch;
                        }
                        // The answer to this producer's earlier InitProducerId was lost:
                        // the same epoch again, no new bump.
                        Some((_, e)) if e == self.last_producer_epoch => {}
                        Some(_) => return Err(Some(E::ProducerFenced)),
                    }
                }
                next.timeout_ms = timeout_ms;
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.start_ms = -1;
                Ok((next, false))
            }
            TxnState::Ongoing => Ok((self.fenced(now_ms), true)),
            TxnState::Dead | TxnState::PrepareEpochFence => Err(Some(E::ConcurrentTransactions)),
        }
    }

    /// The metadata with the epoch bumped to fence the producer of the transaction in
    /// flight (Kafka's prepareFenceProducerEpoch): its abort is written with this epoch.
    pub fn fenced(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        // Up to i16::MAX, as Kafka: the producer at the last usable epoch is fenced too
        // (its next InitProducerId rotates the producer id).
        next.producer_epoch = self.producer_epoch.saturating_add(1);
        next.last_producer_epoch = -1;
        next.last_update_ms = now_ms;
        next
    }

    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> TxnResult<()> {
        if self.producer_id != producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if self.producer_epoch != producer_epoch {
            return Err(E::ProducerFenced);
        }
        Ok(())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn. `Ok(None)`: nothing to write (all there).
    pub fn add_partitions(&self, producer_id: i64, producer_epoch: i16, partitions: &[(String, i32)], client_transaction_version: i16, now_ms: i64) -> TxnResult<Option<TxnMetadata>> {
        if self.pending.is_some() {
            return Err(E::ConcurrentTransactions);
        }
        self.check_producer(producer_id, producer_epoch)?;
        self.pending_or_prepare()?;
        if self.state == TxnState::Ongoing && partitions.iter().all(|p| self.partitions.contains(p)) {
            return Ok(None);
        }
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.partitions.clear();
            next.start_ms = now_ms;
        }
        next.state = TxnState::Ongoing;
        next.client_transaction_version = client_transaction_version;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// Verification of a transactional produce (AddPartitionsToTxn v4+ verify-only).
    pub fn verify_partition(&self, producer_id: i64, producer_epoch: i16, partition: &(String, i32)) -> TxnResult<()> {
        self.check_producer(producer_id, producer_epoch)?;
        if matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
            return Err(E::ConcurrentTransactions);
        }
        if self.state == TxnState::Ongoing && self.partitions.contains(partition) {
            Ok(())
        } else {
            Err(E::TransactionAbortable)
        }
    }

    /// EndTxn from the client (`from_client`) or from the coordinator itself (a timeout
    /// or a fence, with the bumped epoch). `Ok(None)`: already done, answer success.
    pub fn end(&self, producer_id: i64, producer_epoch: i16, commit: bool, from_client: bool, now_ms: i64) -> TxnResult<Option<TxnMetadata>> {
        if self.producer_id != producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if (from_client && producer_epoch != self.producer_epoch) || producer_epoch < self.producer_epoch {
            return Err(E::ProducerFenced);
        }
        if self.pending.is_some() {
            return Err(E::ConcurrentTransactions);
        }
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = self.clone();
                next.producer_epoch = producer_epoch;
                next.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                next.last_update_ms = now_ms;
                Ok(Some(next))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(E::ConcurrentTransactions),
            _ => Err(E::InvalidTxnState),
        }
    }

    /// EndTxn under transactions V2 (Kafka's table for Empty, CompleteAbort and
    /// CompleteCommit): the epoch is bumped at every end, so a retried EndTxn comes with
    /// the epoch before the bump.
    pub fn end_v2(&self, producer_id: i64, producer_epoch: i16, commit: bool, fresh_id: Option<i64>, now_ms: i64) -> TxnResult<EndV2> {
        if self.pending.is_some() {
            return Err(E::ConcurrentTransactions);
        }
        let retry_on_overflow = self.prev_producer_id == producer_id && producer_epoch == EPOCH_EXHAUSTED && self.producer_epoch == 0;
        let retry_on_bump = self.producer_epoch == producer_epoch.saturating_add(1);
        if self.producer_id != producer_id && !retry_on_overflow {
            return Err(E::InvalidProducerIdMapping);
        }
        let valid_epoch = match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => retry_on_bump || retry_on_overflow || producer_epoch == self.producer_epoch,
            _ => producer_epoch == self.producer_epoch,
        };
        if !valid_epoch {
            return Err(E::ProducerFenced);
        }
        let retry = retry_on_bump || retry_on_overflow;
        let prepare = |state: TxnState, no_partitions: bool| -> TxnResult<EndV2> {
            let mut next = self.clone();
            if self.producer_epoch >= EPOCH_EXHAUSTED {
                // The bumped epoch would be the last: the completion moves to a new id.
                match fresh_id {
                    Some(id) => next.next_producer_id = id,
                    None => return Ok(EndV2::NeedsProducerId),
                }
            }
            next.last_producer_epoch = self.producer_epoch;
            next.producer_epoch = self.producer_epoch.saturating_add(1);
            next.state = state;
            next.client_transaction_version = 2;
            if no_partitions {
                next.start_ms = now_ms;
            }
            next.last_update_ms = now_ms;
            Ok(EndV2::Prepare(next))
        };
        match (self.state, commit) {
            (TxnState::Ongoing, _) => prepare(if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort }, false),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if retry => Ok(EndV2::Done(self.producer_id, self.producer_epoch)),
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false) if !retry => prepare(TxnState::PrepareAbort, true),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(E::ConcurrentTransactions),
            _ => Err(E::InvalidTxnState),
        }
    }

    /// Every marker is written: CompleteCommit or CompleteAbort, no partitions left; under
    /// transactions V2 with the epoch exhausted, the producer moves to its next id.
    pub fn completed(&self, now_ms: i64) -> Option<TxnMetadata> {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        let mut next = self.clone();
        next.state = state;
        next.last_update_ms = now_ms;
        // Kafka writes a completed transaction without its partitions.
        next.partitions.clear();
        if self.client_transaction_version >= 2 && self.next_producer_id >= 0 {
            next.prev_producer_id = self.producer_id;
            next.producer_id = self.next_producer_id;
            next.producer_epoch = 0;
        }
        next.next_producer_id = -1;
        Some(next)
    }

    /// Applies a persisted transition.
    pub fn apply(&mut self, next: TxnMetadata) {
        *self = TxnMetadata { pending: None, ..next };
    }

    pub fn is_timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.pending.is_none() && self.start_ms >= 0 && now_ms > self.start_ms.saturating_add(self.timeout_ms as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TxnMetadata {
        let m = TxnMetadata::new("t", 7, 60_000, 0);
        let (m, _) = m.init_producer_id(60_000, None, None, 1).unwrap();
        assert_eq!((m.producer_epoch, m.state), (0, TxnState::Empty));
        m.add_partitions(7, 0, &[("a".into(), 0)], 0, 2).unwrap().unwrap()
    }

    #[test]
    fn a_transaction_runs_through_kafkas_states() {
        let m = ongoing();
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 2));
        assert_eq!(m.add_partitions(7, 0, &[("a".into(), 0)], 0, 3), Ok(None), "already in the transaction");
        assert_eq!(m.add_partitions(8, 0, &[], 0, 3), Err(E::InvalidProducerIdMapping));
        assert_eq!(m.add_partitions(7, 1, &[], 0, 3), Err(E::ProducerFenced));
        let prepared = m.end(7, 0, true, true, 4).unwrap().unwrap();
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        assert_eq!(prepared.end(7, 0, true, true, 5), Err(E::ConcurrentTransactions));
        assert_eq!(prepared.end(7, 0, false, true, 5), Err(E::InvalidTxnState));
        assert_eq!(prepared.add_partitions(7, 0, &[("b".into(), 0)], 0, 5), Err(E::ConcurrentTransactions));
        let mut done = prepared.clone();
        done.apply(prepared.completed(6).unwrap());
        assert_eq!((done.state, done.partitions.len()), (TxnState::CompleteCommit, 0));
        assert_eq!(done.end(7, 0, true, true, 7), Ok(None), "a retried commit succeeds");
        assert_eq!(done.end(7, 0, false, true, 7), Err(E::InvalidTxnState));
        let fresh = TxnMetadata::new("t", 7, 60_000, 0).init_producer_id(60_000, None, None, 1).unwrap().0;
        assert_eq!(fresh.end(7, 0, true, true, 2), Err(E::InvalidTxnState), "nothing to end");
    }

    #[test]
    fn init_fences_an_open_transaction_and_bumps_the_epoch() {
        let m = ongoing();
        let (fenced, abort_first) = m.init_producer_id(60_000, None, None, 10).unwrap();
        assert!(abort_first);
        assert_eq!(fenced.producer_epoch, 1);
        // The abort is written with the bumped epoch; the old producer is fenced.
        let aborting = fenced.end(7, fenced.producer_epoch, false, false, 11).unwrap().unwrap();
        assert_eq!((aborting.state, aborting.producer_epoch), (TxnState::PrepareAbort, 1));
        assert_eq!(m.end(7, 0, true, true, 11).map(|_| ()), Ok(()), "the old metadata is not what is stored");
        let mut stored = aborting.clone();
        stored.apply(aborting.completed(12).unwrap());
        assert_eq!(stored.end(7, 0, true, true, 13), Err(E::ProducerFenced));
        let (next, again) = stored.init_producer_id(60_000, None, None, 13).unwrap();
        assert!(!again);
        assert_eq!((next.producer_epoch, next.state), (2, TxnState::Empty));
        // KIP-360: the producer with the current id and epoch re-initialises; another is fenced.
        assert!(next.init_producer_id(60_000, Some((7, 2)), None, 14).is_ok());
        assert_eq!(next.init_producer_id(60_000, Some((99, 0)), None, 14).err(), Some(Some(E::ProducerFenced)));
        // An exhausted epoch rotates the producer id.
        let mut old = next.clone();
        old.producer_epoch = EPOCH_EXHAUSTED;
        assert_eq!(old.init_producer_id(60_000, None, None, 15).err(), Some(None));
        let (rotated, _) = old.init_producer_id(60_000, None, Some(8), 15).unwrap();
        assert_eq!((rotated.producer_id, rotated.producer_epoch, rotated.prev_producer_id), (8, 0, 7));
    }

    #[test]
    fn timeouts_and_verification() {
        let m = ongoing();
        assert!(!m.is_timed_out(60_002) && m.is_timed_out(60_003));
        assert_eq!(m.verify_partition(7, 0, &("a".into(), 0)), Ok(()));
        assert_eq!(m.verify_partition(7, 0, &("a".into(), 1)), Err(E::TransactionAbortable));
        assert_eq!(m.verify_partition(7, 1, &("a".into(), 0)), Err(E::ProducerFenced));
    }

    #[test]
    fn transactions_v2_bump_the_epoch_at_every_end() {
        let m = TxnMetadata::new("t", 7, 60_000, 0).init_producer_id(60_000, None, None, 1).unwrap().0;
        let m = m.add_partitions(7, 0, &[("a".into(), 0)], 2, 2).unwrap().unwrap();
        let EndV2::Prepare(prepared) = m.end_v2(7, 0, true, None, 3).unwrap() else { panic!() };
        assert_eq!((prepared.state, prepared.producer_epoch), (TxnState::PrepareCommit, 1));
        assert_eq!(prepared.end_v2(7, 0, true, None, 4), Err(E::ConcurrentTransactions), "a retry while markers are out");
        let mut done = prepared.clone();
        done.apply(prepared.completed(5).unwrap());
        assert_eq!(done.end_v2(7, 0, true, None, 6), Ok(EndV2::Done(7, 1)), "a retried commit: the bumped epoch");
        assert_eq!(done.end_v2(7, 0, false, None, 6), Err(E::InvalidTxnState));
        assert!(matches!(done.end_v2(7, 1, false, None, 6), Ok(EndV2::Prepare(p)) if p.state == TxnState::PrepareAbort && p.producer_epoch == 2));
        assert_eq!(done.end_v2(7, 1, true, None, 6), Err(E::InvalidTxnState));
        assert_eq!(done.end_v2(7, 5, true, None, 6), Err(E::ProducerFenced));
        // The last epoch: the completion moves the producer to a new id.
        let mut old = m.clone();
        old.producer_epoch = EPOCH_EXHAUSTED;
        assert_eq!(old.end_v2(7, EPOCH_EXHAUSTED, true, None, 7), Ok(EndV2::NeedsProducerId));
        let EndV2::Prepare(p) = old.end_v2(7, EPOCH_EXHAUSTED, true, Some(9), 7).unwrap() else { panic!() };
        let c = p.completed(8).unwrap();
        assert_eq!((c.producer_id, c.producer_epoch, c.prev_producer_id), (9, 0, 7));
    }
}
