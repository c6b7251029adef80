//! DescribeAcls, CreateAcls, DeleteAcls on a broker without an authorizer: Kafka answers
//! them with SECURITY_DISABLED ("no authorizer is configured"), which is what its admin
//! client reports as `SecurityDisabledException`.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

fn message() -> Option<StrBytes> {
    Some(StrBytes::from_static_str(NO_AUTHORIZER))
}

pub async fn describe(_ctx: &RequestContext<'_>, _req: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default().with_error_code(E::SecurityDisabled.code()).with_error_message(message())
}

pub async fn create(_ctx: &RequestContext<'_>, req: CreateAclsRequest) -> CreateAclsResponse {
    let results = req.creations.iter().map(|_| AclCreationResult::default().with_error_code(E::SecurityDisabled.code()).with_error_message(message())).collect();
    CreateAclsResponse::default().with_results(results)
}

pub async fn delete(_ctx: &RequestContext<'_>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let results = req.filters.iter().map(|_| DeleteAclsFilterResult::default().with_error_code(E::SecurityDisabled.code()).with_error_message(message())).collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
