//! ApiVersions: the table of supported APIs, derived from the dispatcher's handler list.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;

fn table() -> Vec<ApiVersion> {
    super::supported_apis()
        .into_iter()
        .map(|(key, range)| {
            let mut v = ApiVersion::default();
            v.api_key = key as i16;
            v.min_version = range.min;
            v.max_version = range.max;
            v
        })
        .collect()
}

pub async fn handle(_ctx: &RequestContext<'_>, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = table();
    // Features are tagged fields: left at their defaults they are not written at all,
    // which old librdkafka (2.0.x) needs to parse the response.
    resp
}

/// The answer to an ApiVersions request at a version above ours (KIP-511).
pub fn unsupported_version_response() -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    resp.api_keys = table();
    resp
}
