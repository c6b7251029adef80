//! The transaction APIs a producer uses (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! TxnOffsetCommit), the one the coordinator sends to partition leaders
//! (WriteTxnMarkers), and the admin ones (DescribeTransactions, ListTransactions).
//! InitProducerId is in `init_producer_id.rs`.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kafka_protocol::messages::add_partitions_to_txn_response::{AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState as DescribedTxn};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTxn;
use kafka_protocol::messages::txn_offset_commit_response::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use kafka_protocol::messages::write_txn_markers_response::{WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, GROUP, TOPIC, TRANSACTIONAL_ID};
use super::RequestContext;
use crate::group::{OffsetToCommit, TxnOffsetCommit, OFFSETS_TOPIC};
use crate::log::control::Marker;
use crate::txn::InitError;

/// AddPartitionsToTxn v4+ is the broker-to-broker form (KIP-890): batched transactions,
/// `verify_only`.
const FIRST_BROKER_VERSION: i16 = 4;
/// EndTxn v5 is transactions V2 (KIP-890): the epoch is bumped at every end.
const FIRST_V2_END_TXN_VERSION: i16 = 5;
/// TxnOffsetCommit v5 is transactions V2: the offsets partition is added implicitly.
const FIRST_V2_TXN_OFFSET_COMMIT_VERSION: i16 = 5;

/// Clients before these versions do not know PRODUCER_FENCED (KIP-588): Kafka answers
/// them INVALID_PRODUCER_EPOCH instead.
fn fenced_for(r: Result<(), E>, version: i16, first_fenced_version: i16) -> i16 {
    match r {
        Ok(()) => 0,
        Err(E::ProducerFenced) if version < first_fenced_version => E::InvalidProducerEpoch.code(),
        Err(e) => e.code(),
    }
}

fn result_code(r: Result<(), E>) -> i16 {
    r.err().map_or(0, |e| e.code())
}

pub async fn add_partitions(ctx: &RequestContext<'_>, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    let mut resp = AddPartitionsToTxnResponse::default();
    if ctx.version < FIRST_BROKER_VERSION {
        let mut txn = AddPartitionsToTxnTransaction::default();
        txn.transactional_id = req.v3_and_below_transactional_id;
        txn.producer_id = req.v3_and_below_producer_id;
        txn.producer_epoch = req.v3_and_below_producer_epoch;
        txn.topics = req.v3_and_below_topics;
        let result = add_one(ctx, txn).await;
        resp.results_by_topic_v3_and_below = result.topic_results;
        return resp;
    }
    // v4+ comes from partition leaders: a broker's request.
    if !ctx.cluster_authorized(op::CLUSTER_ACTION) {
        resp.error_code = E::ClusterAuthorizationFailed.code();
        return resp;
    }
    for txn in req.transactions {
        resp.results_by_transaction.push(add_one(ctx, txn).await);
    }
    resp
}

/// One transaction of an AddPartitionsToTxn: every partition gets the same code, or
/// (unknown partitions) UNKNOWN_TOPIC_OR_PARTITION for those and OPERATION_NOT_ATTEMPTED
/// for the rest, as Kafka answers.
async fn add_one(ctx: &RequestContext<'_>, txn: AddPartitionsToTxnTransaction) -> AddPartitionsToTxnResult {
    let s = ctx.services;
    let partitions: Vec<(String, i32)> = txn.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), *p))).collect();
    let unknown: Vec<bool> = partitions.iter().map(|(t, p)| s.topics.get(t).and_then(|t| t.partition(*p).cloned()).is_none()).collect();
    // WRITE on the transactional id, then on each topic (the others not attempted).
    let topic_denied: Vec<bool> = partitions.iter().map(|(t, _)| !ctx.authorized(op::WRITE, TOPIC, t)).collect();
    let codes: Vec<i16> = if !ctx.authorized(op::WRITE, TRANSACTIONAL_ID, &txn.transactional_id) {
        vec![E::TransactionalIdAuthorizationFailed.code(); partitions.len()]
    } else if topic_denied.iter().any(|d| *d) {
        topic_denied.iter().map(|d| if *d { E::TopicAuthorizationFailed.code() } else { E::OperationNotAttempted.code() }).collect()
    } else if unknown.iter().any(|u| *u) {
        unknown.iter().map(|u| if *u { E::UnknownTopicOrPartition.code() } else { E::OperationNotAttempted.code() }).collect()
    } else if txn.verify_only {
        partitions
            .iter()
            .map(|p| result_code(s.txn.verify(&txn.transactional_id, txn.producer_id.0, txn.producer_epoch, p)))
            .collect()
    } else {
        // v4+ comes from a partition leader adding for a producer of transactions V2.
        let tv = if ctx.version >= FIRST_BROKER_VERSION { 2 } else { 1 };
        let r = s.txn.add_partitions(&txn.transactional_id, txn.producer_id.0, txn.producer_epoch, &partitions, tv).await;
        vec![fenced_for(r, ctx.version, 2); partitions.len()]
    };
    let mut out = AddPartitionsToTxnResult::default();
    out.transactional_id = txn.transactional_id;
    let mut codes = codes.into_iter();
    for t in txn.topics {
        let mut tr = AddPartitionsToTxnTopicResult::default();
        tr.name = t.name;
        for p in t.partitions {
            let mut pr = AddPartitionsToTxnPartitionResult::default();
            pr.partition_index = p;
            pr.partition_error_code = codes.next().unwrap_or_default();
            tr.results_by_partition.push(pr);
        }
        out.topic_results.push(tr);
    }
    out
}

pub async fn add_offsets(ctx: &RequestContext<'_>, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let s = ctx.services;
    let denied = if !ctx.authorized(op::WRITE, TRANSACTIONAL_ID, &req.transactional_id) {
        Some(E::TransactionalIdAuthorizationFailed)
    } else if !ctx.authorized(op::READ, GROUP, &req.group_id) {
        Some(E::GroupAuthorizationFailed)
    } else {
        None
    };
    if let Some(e) = denied {
        return AddOffsetsToTxnResponse::default().with_error_code(e.code());
    }
    // The group's offsets partition (a single broker creates the topic on first use).
    let _ = s.groups.offsets_partition(&req.group_id);
    let r = match s.topics.get(OFFSETS_TOPIC) {
        None => Err(E::CoordinatorNotAvailable),
        Some(t) => {
            let partition = (OFFSETS_TOPIC.to_string(), crate::coordinator::runtime::partition_for(&req.group_id, t.partitions.len() as i32));
            s.txn.add_partitions(&req.transactional_id, req.producer_id.0, req.producer_epoch, &[partition], 1).await
        }
    };
    let mut resp = AddOffsetsToTxnResponse::default();
    resp.error_code = fenced_for(r, ctx.version, 2);
    resp
}

pub async fn end_txn(ctx: &RequestContext<'_>, req: EndTxnRequest) -> EndTxnResponse {
    let mut resp = EndTxnResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if !ctx.authorized(op::WRITE, TRANSACTIONAL_ID, &req.transactional_id) {
        resp.error_code = E::TransactionalIdAuthorizationFailed.code();
        return resp;
    }
    if ctx.version < FIRST_V2_END_TXN_VERSION {
        let r = ctx.services.txn.end_txn(&req.transactional_id, req.producer_id.0, req.producer_epoch, req.committed).await;
        resp.error_code = fenced_for(r, ctx.version, 2);
        return resp;
    }
    // Transactions V2: the answer carries the producer id and epoch to go on with.
    let mut fresh = None;
    loop {
        match ctx.services.txn.end_txn_v2(&req.transactional_id, req.producer_id.0, req.producer_epoch, req.committed, fresh).await {
            Ok((id, epoch)) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = epoch;
            }
            Err(InitError::NeedsProducerId) if fresh.is_none() => match super::init_producer_id::allocate(ctx).await {
                Ok(id) => {
                    fresh = Some(id);
                    continue;
                }
                Err(code) => resp.error_code = code,
            },
            Err(InitError::NeedsProducerId) => resp.error_code = E::UnknownServerError.code(),
            Err(InitError::Code(e)) => resp.error_code = e.code(),
        }
        return resp;
    }
}

pub async fn write_markers(ctx: &RequestContext<'_>, req: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut resp = WriteTxnMarkersResponse::default();
    // Markers come from transaction coordinators: CLUSTER_ACTION.
    let denied = !ctx.cluster_authorized(op::CLUSTER_ACTION);
    for m in req.markers {
        let marker = Marker { commit: m.transaction_result, coordinator_epoch: m.coordinator_epoch };
        let mut out = WritableTxnMarkerResult::default();
        out.producer_id = m.producer_id;
        let partitions: Vec<(String, i32)> = m.topics.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.to_string(), *p))).collect();
        let codes = if denied { vec![E::ClusterAuthorizationFailed.code(); partitions.len()] } else { ctx.services.txn.markers.write_local(m.producer_id.0, m.producer_epoch, marker, &partitions).await };
        let mut codes = codes.into_iter();
        for t in m.topics {
            let mut tr = WritableTxnMarkerTopicResult::default();
            for p in t.partition_indexes {
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = p;
                pr.error_code = codes.next().unwrap_or_default();
                tr.partitions.push(pr);
            }
            tr.name = t.name;
            out.topics.push(tr);
        }
        resp.markers.push(out);
    }
    resp
}

pub async fn txn_offset_commit(ctx: &RequestContext<'_>, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let groups = &ctx.services.groups;
    let v = ctx.version;
    let offsets: Vec<OffsetToCommit> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    // WRITE on the transactional id, READ on the group, READ on each topic.
    let (offsets, denied) = super::offsets::split_denied(ctx, offsets, |o| &o.topic);
    let txn_denied = (!ctx.authorized(op::WRITE, TRANSACTIONAL_ID, &req.transactional_id)).then_some(E::TransactionalIdAuthorizationFailed.code());
    let errors = match txn_denied.or_else(|| ctx.group_error(op::READ, &req.group_id)) {
        Some(code) => vec![code; offsets.len()],
        None if !offsets.is_empty() => match in_transaction(ctx, &req).await {
            Some(code) => vec![code; offsets.len()],
            None => groups.txn_commit(TxnOffsetCommit {
                group_id: req.group_id.to_string(),
                producer_id: req.producer_id.0,
                producer_epoch: req.producer_epoch,
                member_id: req.member_id.to_string(),
                group_instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
                generation: if v >= 3 { req.generation_id } else { -1 },
                offsets,
            }),
        },
        None => Vec::new(),
    };
    let mut errors = super::offsets::merge_denied(errors, &denied);
    // Answered once the followers have the records, as OffsetCommit.
    if errors.contains(&0) {
        if let Some(e) = super::offsets::replicated(ctx, &req.group_id).await {
            errors.iter_mut().filter(|c| **c == 0).for_each(|c| *c = e);
        }
    }
    let mut codes = errors.into_iter();
    let mut resp = TxnOffsetCommitResponse::default();
    for t in req.topics {
        let mut out = TxnOffsetCommitResponseTopic::default();
        out.name = t.name;
        for p in t.partitions {
            let mut r = TxnOffsetCommitResponsePartition::default();
            r.partition_index = p.partition_index;
            r.error_code = codes.next().unwrap_or_default();
            out.partitions.push(r);
        }
        resp.topics.push(out);
    }
    resp
}

/// The group's offsets partition must be in the producer's transaction: added there by
/// a producer of transactions V2 (v5+), checked for the others (KIP-890).
async fn in_transaction(ctx: &RequestContext<'_>, req: &TxnOffsetCommitRequest) -> Option<i16> {
    let s = ctx.services;
    let add = ctx.version >= FIRST_V2_TXN_OFFSET_COMMIT_VERSION;
    if !add && !crate::txn::verification_enabled(&s.config) {
        return None;
    }
    let partitions = s.topics.get(OFFSETS_TOPIC)?.partitions.len() as i32;
    let partition = (OFFSETS_TOPIC.to_string(), crate::coordinator::runtime::partition_for(&req.group_id, partitions));
    let r = s.txn.verify_partitions(&req.transactional_id, req.producer_id.0, req.producer_epoch, &[partition], add).await;
    match r.into_iter().next()? {
        Ok(()) => None,
        // As Kafka's group coordinator answers a failed verification.
        Err(E::TransactionAbortable) if !add => Some(E::InvalidTxnState.code()),
        Err(E::NetworkException) => Some(E::CoordinatorNotAvailable.code()),
        Err(e) => Some(e.code()),
    }
}

pub async fn describe(ctx: &RequestContext<'_>, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let mut resp = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let mut out = DescribedTxn::default();
        let described = if ctx.authorized(op::DESCRIBE, TRANSACTIONAL_ID, &id) { ctx.services.txn.describe(&id) } else { Err(E::TransactionalIdAuthorizationFailed) };
        match described {
            Ok(m) => {
                out.transaction_state = StrBytes::from_static_str(m.state.name());
                out.transaction_timeout_ms = m.timeout_ms;
                out.transaction_start_time_ms = m.start_ms;
                out.producer_id = ProducerId(m.producer_id);
                out.producer_epoch = m.producer_epoch;
                let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
                for (t, p) in m.partitions {
                    by_topic.entry(t).or_default().push(p);
                }
                out.topics = by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        let mut td = TopicData::default();
                        td.topic = TopicName(StrBytes::from_string(t));
                        td.partitions = ps;
                        td
                    })
                    .collect();
            }
            Err(e) => {
                out.error_code = e.code();
                out.producer_id = ProducerId(-1);
                out.producer_epoch = -1;
                out.transaction_start_time_ms = -1;
            }
        }
        out.transactional_id = id;
        resp.transaction_states.push(out);
    }
    resp
}

pub async fn list(ctx: &RequestContext<'_>, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    let known = ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "PrepareEpochFence"];
    let states: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    resp.unknown_state_filters = req.state_filters.iter().filter(|s| !known.contains(&s.as_str())).cloned().collect();
    let pattern = match req.transactional_id_pattern.as_ref().filter(|p| !p.is_empty()).map(|p| regex::Regex::new(&format!("^(?:{})$", p.as_str()))) {
        Some(Err(_)) => {
            resp.error_code = E::InvalidRegularExpression.code();
            return resp;
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let duration = if ctx.version >= 1 { req.duration_filter } else { -1 };
    for m in ctx.services.txn.list(&states, &pids, duration) {
        if pattern.as_ref().is_some_and(|r| !r.is_match(&m.transactional_id)) || !ctx.authorized(op::DESCRIBE, TRANSACTIONAL_ID, &m.transactional_id) {
            continue;
        }
        let mut t = ListedTxn::default();
        t.transactional_id = TransactionalId(StrBytes::from_string(m.transactional_id));
        t.producer_id = ProducerId(m.producer_id);
        t.transaction_state = StrBytes::from_static_str(m.state.name());
        resp.transaction_states.push(t);
    }
    resp
}
