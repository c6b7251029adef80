//! OffsetCommit, OffsetFetch (multi-group from v8) and OffsetDelete.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::group::records::CommittedOffset;
use crate::group::OffsetToCommit;

/// Waits until what the group coordinator wrote for `group_id` is on the followers of
/// its `__consumer_offsets` partition (acks=all), so that a coordinator failover never
/// loses an answered commit or heartbeat; the error if it is not in time. (A single
/// broker's high watermark is its log end: nothing to wait for.)
pub(super) async fn replicated(ctx: &RequestContext<'_>, group_id: &str) -> Option<i16> {
    let groups = &ctx.services.groups;
    let p = groups.offsets_partition(group_id).ok()?;
    ctx.services.coordinators.wait_committed(&p, groups.config().commit_timeout).await.err().map(|e| e.code())
}

pub async fn commit(ctx: &RequestContext<'_>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let v = ctx.version;
    let offsets: Vec<OffsetToCommit> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    // Partitions of topics the principal may not READ are not committed.
    let (offsets, denied) = split_denied(ctx, offsets, |o| &o.topic);
    let errors = match ctx.group_error(op::READ, &req.group_id) {
        Some(code) => vec![code; offsets.len()],
        // A member of the consumer protocol commits with its member epoch (v9+).
        None if v < 9 && ctx.services.groups.is_consumer_protocol_member(&req.group_id, &req.member_id) => vec![E::UnsupportedVersion.code(); offsets.len()],
        None => ctx.services.groups.commit(&req.group_id, &req.member_id, instance.as_deref(), req.generation_id_or_member_epoch, offsets),
    };
    let mut errors = merge_denied(errors, &denied);
    if errors.contains(&0) {
        if let Some(e) = replicated(ctx, &req.group_id).await {
            errors.iter_mut().filter(|c| **c == 0).for_each(|c| *c = e);
        }
    }
    let mut codes = errors.into_iter();
    let mut resp = OffsetCommitResponse::default();
    for t in req.topics {
        let mut out = OffsetCommitResponseTopic::default();
        out.name = t.name;
        for p in t.partitions {
            let mut r = OffsetCommitResponsePartition::default();
            r.partition_index = p.partition_index;
            r.error_code = codes.next().unwrap_or_default();
            out.partitions.push(r);
        }
        resp.topics.push(out);
    }
    resp
}

type Committed = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

/// Splits out the entries of topics the principal may not READ: the rest, and per
/// entry whether it was denied.
pub(super) fn split_denied<T>(ctx: &RequestContext<'_>, entries: Vec<T>, topic: impl Fn(&T) -> &str) -> (Vec<T>, Vec<bool>) {
    let denied: Vec<bool> = entries.iter().map(|e| !ctx.authorized(op::READ, TOPIC, topic(e))).collect();
    let kept = entries.into_iter().zip(&denied).filter(|(_, d)| !**d).map(|(e, _)| e).collect();
    (kept, denied)
}

/// Per entry of the request: TOPIC_AUTHORIZATION_FAILED where denied, else the next of
/// `codes` (the answers for the entries kept).
pub(super) fn merge_denied(codes: Vec<i16>, denied: &[bool]) -> Vec<i16> {
    let mut codes = codes.into_iter();
    denied.iter().map(|d| if *d { E::TopicAuthorizationFailed.code() } else { codes.next().unwrap_or_default() }).collect()
}

/// OffsetFetch: topics the principal may not DESCRIBE are left out of "all", and their
/// partitions answered TOPIC_AUTHORIZATION_FAILED when asked for by name.
fn authorize_committed(ctx: &RequestContext<'_>, committed: Committed, by_name: bool) -> Vec<(String, Vec<(i32, Option<CommittedOffset>)>, bool)> {
    committed
        .into_iter()
        .filter_map(|(name, parts)| {
            let denied = !ctx.authorized(op::DESCRIBE, TOPIC, &name);
            (by_name || !denied).then_some((name, parts, denied))
        })
        .collect()
}

/// (offset, leader epoch, metadata) as OffsetFetch reports them; -1 and "" when nothing
/// is committed.
fn fields(c: &Option<CommittedOffset>) -> (i64, i32, String) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, c.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

pub async fn fetch(ctx: &RequestContext<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let v = ctx.version;
    let groups = &ctx.services.groups;
    // A read_committed consumer asks for stable offsets (KIP-447): an offset committed in
    // a transaction still open is UNSTABLE_OFFSET_COMMIT, and the consumer retries.
    let require_stable = v >= 7 && req.require_stable;
    let unstable = |group: &str, topic: &str, p: i32| require_stable && groups.has_pending_offset(group, topic, p);
    let mut resp = OffsetFetchResponse::default();
    if v < 8 {
        if let Some(code) = ctx.group_error(op::DESCRIBE, &req.group_id) {
            if v >= 2 {
                resp.error_code = code;
            } else {
                // v0-1 have no top-level error: each requested partition carries it.
                resp.topics = req
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| {
                        let mut rt = OffsetFetchResponseTopic::default();
                        rt.name = t.name;
                        rt.partitions = t
                            .partition_indexes
                            .into_iter()
                            .map(|p| {
                                let mut r = OffsetFetchResponsePartition::default();
                                r.partition_index = p;
                                r.committed_offset = -1;
                                r.error_code = code;
                                r
                            })
                            .collect();
                        rt
                    })
                    .collect();
            }
            return resp;
        }
        let topics: Option<Vec<_>> = req.topics.map(|ts| ts.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
        let by_name = topics.is_some();
        let committed = authorize_committed(ctx, groups.fetch_offsets(&req.group_id, topics), by_name);
        resp.topics = committed
            .into_iter()
            .map(|(name, parts, denied)| {
                let mut t = OffsetFetchResponseTopic::default();
                t.name = TopicName(StrBytes::from_string(name.clone()));
                t.partitions = parts
                    .iter()
                    .map(|(p, c)| {
                        let (offset, epoch, metadata) = fields(c);
                        let mut r = OffsetFetchResponsePartition::default();
                        r.partition_index = *p;
                        if denied {
                            r.committed_offset = -1;
                            r.error_code = E::TopicAuthorizationFailed.code();
                            return r;
                        }
                        r.committed_offset = offset;
                        if v >= 5 {
                            r.committed_leader_epoch = epoch;
                        }
                        if unstable(&req.group_id, &name, *p) {
                            r.error_code = E::UnstableOffsetCommit.code();
                        }
                        r.metadata = Some(StrBytes::from_string(metadata));
                        r
                    })
                    .collect();
                t
            })
            .collect();
        return resp;
    }
    for g in req.groups {
        let mut out = OffsetFetchResponseGroup::default();
        if let Some(code) = ctx.group_error(op::DESCRIBE, &g.group_id) {
            out.error_code = code;
            out.group_id = g.group_id;
            resp.groups.push(out);
            continue;
        }
        // v9: a member of a consumer group fetches with its member id and epoch.
        if v >= 9 {
            if let Some(code) = groups.check_fetch(&g.group_id, g.member_id.as_deref(), g.member_epoch) {
                out.error_code = code;
                out.group_id = g.group_id;
                resp.groups.push(out);
                continue;
            }
        }
        let topics: Option<Vec<_>> = g.topics.map(|ts| ts.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
        let by_name = topics.is_some();
        let committed = authorize_committed(ctx, groups.fetch_offsets(&g.group_id, topics), by_name);
        let group_id = g.group_id.to_string();
        out.group_id = g.group_id;
        out.topics = committed
            .into_iter()
            .map(|(name, parts, denied)| {
                let mut t = OffsetFetchResponseTopics::default();
                t.name = TopicName(StrBytes::from_string(name.clone()));
                t.partitions = parts
                    .iter()
                    .map(|(p, c)| {
                        let (offset, epoch, metadata) = fields(c);
                        let mut r = OffsetFetchResponsePartitions::default();
                        r.partition_index = *p;
                        if denied {
                            r.committed_offset = -1;
                            r.error_code = E::TopicAuthorizationFailed.code();
                            return r;
                        }
                        r.committed_offset = offset;
                        r.committed_leader_epoch = epoch;
                        if unstable(&group_id, &name, *p) {
                            r.error_code = E::UnstableOffsetCommit.code();
                        }
                        r.metadata = Some(StrBytes::from_string(metadata));
                        r
                    })
                    .collect();
                t
            })
            .collect();
        resp.groups.push(out);
    }
    resp
}

pub async fn delete(ctx: &RequestContext<'_>, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = req.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), p.partition_index))).collect();
    let (partitions, denied) = split_denied(ctx, partitions, |(t, _)| t);
    let (error, codes) = match ctx.group_error(op::DELETE, &req.group_id) {
        Some(code) => (code, Vec::new()),
        None => ctx.services.groups.delete_offsets(&req.group_id, &partitions),
    };
    let codes = merge_denied(codes, &denied);
    let mut resp = OffsetDeleteResponse::default();
    resp.error_code = error;
    if error != 0 {
        return resp;
    }
    let mut codes = codes.into_iter();
    for t in req.topics {
        let mut out = OffsetDeleteResponseTopic::default();
        out.name = t.name;
        for p in t.partitions {
            let mut r = OffsetDeleteResponsePartition::default();
            r.partition_index = p.partition_index;
            r.error_code = codes.next().unwrap_or_default();
            out.partitions.push(r);
        }
        resp.topics.push(out);
    }
    resp
}
