//! ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848).

use kafka_protocol::messages::consumer_group_describe_response::{self as describe_response, DescribedGroup};
use kafka_protocol::messages::consumer_group_heartbeat_response::{self as heartbeat_response};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, GROUP};
use super::metadata::OPERATIONS_NOT_REQUESTED;
use super::RequestContext;
use crate::group::consumer::describe::DescribedPartitions;
use crate::group::consumer::member::TargetPartitions;
use crate::group::ConsumerHeartbeat;

/// Group operations anyone may do while there are no ACLs: READ, DELETE, DESCRIBE.

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

pub async fn heartbeat(ctx: &RequestContext<'_>, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
    let groups = &ctx.services.groups;
    let mut resp = ConsumerGroupHeartbeatResponse::default();
    // `group.coordinator.rebalance.protocols` without `consumer` turns the protocol off.
    if !groups.config().consumer.enabled {
        resp.error_code = kafka_protocol::error::ResponseError::UnsupportedVersion.code();
        return resp;
    }
    if let Some(code) = ctx.group_error(op::READ, &req.group_id) {
        resp.error_code = code;
        return resp;
    }
    let owned: Option<TargetPartitions> = req.topic_partitions.map(|tps| {
        let mut out = TargetPartitions::new();
        for tp in tps {
            out.entry(tp.topic_id).or_default().extend(tp.partitions);
        }
        out
    });
    let hb = ConsumerHeartbeat {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|i| i.to_string()),
        rack_id: req.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req.subscribed_topic_names.map(|ns| ns.into_iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: req.server_assignor.map(|a| a.to_string()),
        owned,
        client_id: ctx.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: format!("/{}", ctx.session.peer.ip()),
        member_id_required: ctx.version >= 1,
    };
    let out = groups.consumer_heartbeat(hb);
    // What the heartbeat changed is answered once the followers have it, so that a new
    // coordinator knows the epochs the member was told.
    if out.wrote {
        if let Some(e) = super::offsets::replicated(ctx, &req.group_id).await {
            resp.error_code = e;
            return resp;
        }
    }
    resp.error_code = out.error;
    resp.error_message = out.error_message.map(s);
    resp.member_id = Some(s(out.member_id));
    resp.member_epoch = out.member_epoch;
    resp.heartbeat_interval_ms = out.heartbeat_interval_ms;
    resp.assignment = out.assignment.map(|a| {
        let mut assignment = heartbeat_response::Assignment::default();
        assignment.topic_partitions = a
            .into_iter()
            .map(|(topic_id, parts)| {
                let mut tp = heartbeat_response::TopicPartitions::default();
                tp.topic_id = topic_id;
                tp.partitions = parts.into_iter().collect();
                tp
            })
            .collect();
        assignment
    });
    resp
}

fn described(parts: DescribedPartitions) -> describe_response::Assignment {
    let mut a = describe_response::Assignment::default();
    a.topic_partitions = parts
        .into_iter()
        .map(|(id, name, ps)| {
            let mut tp = describe_response::TopicPartitions::default();
            tp.topic_id = id;
            tp.topic_name = TopicName(s(name));
            tp.partitions = ps;
            tp
        })
        .collect();
    a
}

pub async fn describe(ctx: &RequestContext<'_>, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let groups = &ctx.services.groups;
    let mut resp = ConsumerGroupDescribeResponse::default();
    for id in req.group_ids {
        let mut g = DescribedGroup::default();
        g.authorized_operations = if req.include_authorized_operations { ctx.authorized_operations(GROUP, &id) } else { OPERATIONS_NOT_REQUESTED };
        if let Some(code) = ctx.group_error(op::DESCRIBE, &id) {
            g.error_code = code;
            g.group_id = id;
            resp.groups.push(g);
            continue;
        }
        match groups.describe_consumer_group(&id) {
            Ok(d) => {
                g.group_state = StrBytes::from_static_str(d.state);
                g.group_epoch = d.group_epoch;
                g.assignment_epoch = d.assignment_epoch;
                g.assignor_name = s(d.assignor_name);
                g.members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut out = describe_response::Member::default();
                        out.member_id = s(m.member_id);
                        out.instance_id = m.instance_id.map(s);
                        out.rack_id = m.rack_id.map(s);
                        out.member_epoch = m.member_epoch;
                        out.client_id = s(m.client_id);
                        out.client_host = s(m.client_host);
                        out.subscribed_topic_names = m.subscribed_topic_names.into_iter().map(|n| TopicName(s(n))).collect();
                        out.subscribed_topic_regex = m.subscribed_topic_regex.map(s);
                        out.assignment = described(m.assignment);
                        out.target_assignment = described(m.target_assignment);
                        // v1: 0 is a member of the classic protocol, 1 of the consumer one.
                        out.member_type = if m.classic { 0 } else { 1 };
                        out
                    })
                    .collect();
            }
            Err((code, message)) => {
                g.error_code = code;
                g.error_message = Some(s(message));
            }
        }
        g.group_id = id;
        resp.groups.push(g);
    }
    resp
}
