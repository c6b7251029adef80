//! DescribeAcls, CreateAcls, DeleteAcls. ACLs are records of the metadata log (a single
//! broker's security file); describing needs DESCRIBE on the cluster, changing them
//! ALTER. Without an authorizer Kafka answers SECURITY_DISABLED ("no authorizer is
//! configured"), which its admin client reports as `SecurityDisabledException`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::security_records;
use super::RequestContext;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::SecurityRecord;

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Why an ACL request is refused as a whole: no authorizer, or not allowed.
fn refused(ctx: &RequestContext<'_>, operation: i8) -> Option<(i16, &'static str)> {
    if !ctx.services.authorizer.enabled() {
        return Some((E::SecurityDisabled.code(), NO_AUTHORIZER));
    }
    (!ctx.cluster_authorized(operation)).then_some((E::ClusterAuthorizationFailed.code(), "Authorization failed."))
}

pub async fn describe(ctx: &RequestContext<'_>, req: DescribeAclsRequest) -> DescribeAclsResponse {
    if let Some((code, message)) = refused(ctx, op::DESCRIBE) {
        return DescribeAclsResponse::default().with_error_code(code).with_error_message(Some(s(message)));
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter.map(|n| n.to_string()),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.map(|p| p.to_string()),
        host: req.host_filter.map(|h| h.to_string()),
        operation: req.operation,
        permission_type: req.permission_type,
    };
    if let Err(m) = filter.validate() {
        return DescribeAclsResponse::default().with_error_code(E::InvalidRequest.code()).with_error_message(Some(s(&m)));
    }
    let image = ctx.services.security.image();
    let mut by_resource: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in image.acls.iter().filter(|a| filter.matches(a)) {
        by_resource.entry((acl.resource_type, &acl.resource_name, acl.pattern_type)).or_default().push(
            AclDescription::default().with_principal(s(&acl.principal)).with_host(s(&acl.host)).with_operation(acl.operation).with_permission_type(acl.permission_type),
        );
    }
    let resources = by_resource
        .into_iter()
        .map(|((t, name, p), acls)| DescribeAclsResource::default().with_resource_type(t).with_resource_name(s(name)).with_pattern_type(p).with_acls(acls))
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn create(ctx: &RequestContext<'_>, req: CreateAclsRequest) -> CreateAclsResponse {
    let failed = |code: i16, message: String| {
        let results = req.creations.iter().map(|_| AclCreationResult::default().with_error_code(code).with_error_message(Some(s(&message)))).collect();
        CreateAclsResponse::default().with_results(results)
    };
    if let Some((code, message)) = refused(ctx, op::ALTER) {
        return failed(code, message.to_string());
    }
    let bindings: Vec<AclBinding> = req
        .creations
        .iter()
        .map(|c| AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission_type: c.permission_type,
        })
        .collect();
    let record = SecurityRecord::CreateAcls { bindings: bindings.clone() };
    let applied = |image: &crate::security::SecurityImage, _: &_| bindings.iter().filter(|b| b.validate().is_ok()).all(|b| image.acls.contains(b));
    match security_records::commit(ctx, record, applied).await {
        Ok(outcome) => {
            let results = outcome.acls.into_iter().map(|(code, message, _)| AclCreationResult::default().with_error_code(code).with_error_message(message.map(|m| s(&m)))).collect();
            CreateAclsResponse::default().with_results(results)
        }
        Err((code, message)) => failed(code, message),
    }
}

pub async fn delete(ctx: &RequestContext<'_>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |code: i16, message: String| {
        let results = req.filters.iter().map(|_| DeleteAclsFilterResult::default().with_error_code(code).with_error_message(Some(s(&message)))).collect();
        DeleteAclsResponse::default().with_filter_results(results)
    };
    if let Some((code, message)) = refused(ctx, op::ALTER) {
        return failed(code, message.to_string());
    }
    let filters: Vec<AclFilter> = req
        .filters
        .iter()
        .map(|f| AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.as_ref().map(|n| n.to_string()),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.as_ref().map(|p| p.to_string()),
            host: f.host_filter.as_ref().map(|h| h.to_string()),
            operation: f.operation,
            permission_type: f.permission_type,
        })
        .collect();
    let record = SecurityRecord::DeleteAcls { filters };
    let applied = |image: &crate::security::SecurityImage, outcome: &crate::security::image::SecurityOutcome| outcome.acls.iter().flat_map(|(_, _, removed)| removed).all(|a| !image.acls.contains(a));
    match security_records::commit(ctx, record, applied).await {
        Ok(outcome) => {
            let results = outcome
                .acls
                .into_iter()
                .map(|(code, message, removed)| {
                    let matching = removed
                        .iter()
                        .map(|a| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(a.resource_type)
                                .with_resource_name(s(&a.resource_name))
                                .with_pattern_type(a.pattern_type)
                                .with_principal(s(&a.principal))
                                .with_host(s(&a.host))
                                .with_operation(a.operation)
                                .with_permission_type(a.permission_type)
                        })
                        .collect();
                    DeleteAclsFilterResult::default().with_error_code(code).with_error_message(message.map(|m| s(&m))).with_matching_acls(matching)
                })
                .collect();
            DeleteAclsResponse::default().with_filter_results(results)
        }
        Err((code, message)) => failed(code, message),
    }
}
