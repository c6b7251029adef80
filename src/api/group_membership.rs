//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the classic group protocol.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use crate::group::{JoinRequest, SyncRequest};

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

pub async fn join(ctx: &RequestContext<'_>, req: JoinGroupRequest) -> JoinGroupResponse {
    let v = ctx.version;
    if let Some(code) = ctx.group_error(op::READ, &req.group_id) {
        let mut resp = JoinGroupResponse::default();
        resp.error_code = code;
        resp.generation_id = -1;
        resp.member_id = req.member_id;
        return resp;
    }
    let join = JoinRequest {
        group_id: req.group_id.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|i| i.to_string()),
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if v >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        client_id: ctx.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: format!("/{}", ctx.session.peer.ip()),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
    };
    let out = ctx.services.groups.join(join).await;
    let mut resp = JoinGroupResponse::default();
    resp.error_code = out.error;
    resp.generation_id = out.generation;
    if v >= 7 {
        resp.protocol_type = out.protocol_type.map(s);
        resp.protocol_name = out.protocol.map(s);
    } else {
        resp.protocol_name = Some(s(out.protocol.unwrap_or_default()));
    }
    resp.leader = s(out.leader);
    resp.member_id = s(out.member_id);
    if v >= 9 {
        resp.skip_assignment = out.skip_assignment;
    }
    resp.members = out
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let mut m = JoinGroupResponseMember::default();
            m.member_id = s(id);
            if v >= 5 {
                m.group_instance_id = instance.map(s);
            }
            m.metadata = metadata;
            m
        })
        .collect();
    resp
}

pub async fn sync(ctx: &RequestContext<'_>, req: SyncGroupRequest) -> SyncGroupResponse {
    if let Some(code) = ctx.group_error(op::READ, &req.group_id) {
        let mut resp = SyncGroupResponse::default();
        resp.error_code = code;
        return resp;
    }
    let sync = SyncRequest {
        group_id: req.group_id.to_string(),
        generation: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|i| i.to_string()),
        protocol_type: req.protocol_type.map(|p| p.to_string()),
        protocol: req.protocol_name.map(|p| p.to_string()),
        assignments: req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let out = ctx.services.groups.sync(sync).await;
    let mut resp = SyncGroupResponse::default();
    resp.error_code = out.error;
    resp.assignment = out.assignment;
    if ctx.version >= 5 {
        resp.protocol_type = out.protocol_type.map(s);
        resp.protocol_name = out.protocol.map(s);
    }
    resp
}

pub async fn heartbeat(ctx: &RequestContext<'_>, req: HeartbeatRequest) -> HeartbeatResponse {
    let mut resp = HeartbeatResponse::default();
    if let Some(code) = ctx.group_error(op::READ, &req.group_id) {
        resp.error_code = code;
        return resp;
    }
    let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
    resp.error_code = ctx.services.groups.heartbeat(&req.group_id, &req.member_id, instance.as_deref(), req.generation_id);
    resp
}

pub async fn leave(ctx: &RequestContext<'_>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let mut resp = LeaveGroupResponse::default();
    let leaving: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members.iter().map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string()))).collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let result = match ctx.group_error(op::READ, &req.group_id) {
        Some(code) => Err(code),
        None => ctx.services.groups.leave(&req.group_id, &leaving),
    };
    match result {
        Err(code) => resp.error_code = code,
        Ok(errors) if ctx.version < 3 => resp.error_code = errors[0],
        Ok(errors) => {
            resp.members = req
                .members
                .into_iter()
                .zip(errors)
                .map(|(m, code)| {
                    let mut r = MemberResponse::default();
                    r.member_id = m.member_id;
                    r.group_instance_id = m.group_instance_id;
                    r.error_code = code;
                    r
                })
                .collect();
        }
    }
    resp
}
