//! DescribeGroups, ListGroups and DeleteGroups.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, GROUP};
use super::metadata::OPERATIONS_NOT_REQUESTED;
use super::RequestContext;

/// Group operations anyone may do while there are no ACLs: READ, DELETE, DESCRIBE.

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

pub async fn describe(ctx: &RequestContext<'_>, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let v = ctx.version;
    let mut resp = DescribeGroupsResponse::default();
    for id in req.groups {
        let mut g = DescribedGroup::default();
        g.authorized_operations = if req.include_authorized_operations && v >= 3 { ctx.authorized_operations(GROUP, &id) } else { OPERATIONS_NOT_REQUESTED };
        if let Some(code) = ctx.group_error(op::DESCRIBE, &id) {
            g.error_code = code;
            g.group_id = id;
            resp.groups.push(g);
            continue;
        }
        match ctx.services.groups.describe(&id) {
            Some(d) => {
                g.group_state = StrBytes::from_static_str(d.state.name());
                g.protocol_type = s(d.protocol_type);
                g.protocol_data = s(d.protocol);
                g.members = d
                    .members
                    .into_iter()
                    .map(|(member_id, instance, client_id, client_host, metadata, assignment)| {
                        let mut m = DescribedGroupMember::default();
                        m.member_id = s(member_id);
                        if v >= 4 {
                            m.group_instance_id = instance.map(s);
                        }
                        m.client_id = s(client_id);
                        m.client_host = s(client_host);
                        m.member_metadata = metadata;
                        m.member_assignment = assignment;
                        m
                    })
                    .collect();
            }
            // Kafka 4 (v6, KIP-1043) reports a missing group as an error; older
            // versions as a group in state Dead.
            None if v >= 6 => {
                g.error_code = E::GroupIdNotFound.code();
                g.error_message = Some(s(format!("group {} not found", id.as_str())));
                g.group_state = StrBytes::from_static_str("Dead");
            }
            None => g.group_state = StrBytes::from_static_str("Dead"),
        }
        g.group_id = id;
        resp.groups.push(g);
    }
    resp
}

pub async fn list(ctx: &RequestContext<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let v = ctx.version;
    let mut resp = ListGroupsResponse::default();
    // DESCRIBE on the cluster lists every group; otherwise those the principal may describe.
    let all_groups = ctx.cluster_authorized(op::DESCRIBE);
    for listed in ctx.services.groups.list() {
        if !all_groups && !ctx.authorized(op::DESCRIBE, GROUP, &listed.group_id) {
            continue;
        }
        if v >= 5 && !req.types_filter.is_empty() && !req.types_filter.iter().any(|t| t.eq_ignore_ascii_case(listed.group_type)) {
            continue;
        }
        if v >= 4 && !req.states_filter.is_empty() && !req.states_filter.iter().any(|f| f.eq_ignore_ascii_case(listed.state)) {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(s(listed.group_id));
        g.protocol_type = s(listed.protocol_type);
        if v >= 4 {
            g.group_state = StrBytes::from_static_str(listed.state);
        }
        if v >= 5 {
            g.group_type = StrBytes::from_static_str(listed.group_type);
        }
        resp.groups.push(g);
    }
    resp
}

pub async fn delete(ctx: &RequestContext<'_>, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut resp = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let mut r = DeletableGroupResult::default();
        r.error_code = match ctx.group_error(op::DELETE, &id) {
            Some(code) => code,
            None => ctx.services.groups.delete(&id),
        };
        r.group_id = id;
        resp.results.push(r);
    }
    resp
}
