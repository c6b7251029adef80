//! ApiVersions: the table of supported APIs, derived from the dispatcher's handler list,
//! and the feature levels this broker supports and has finalized (KIP-584).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

/// The first ApiVersions version whose response carries features.
const FIRST_FEATURES_VERSION: i16 = 3;

/// One feature: the levels this broker software supports, and the level finalized for
/// the cluster (0 is "off", and Kafka leaves such features out of the finalized list).
pub struct Feature {
    pub name: &'static str,
    pub min_level: i16,
    pub max_level: i16,
    pub finalized: i16,
}

/// Kafka 4.1's production features, at the levels Riffle implements. `metadata.version`
/// is 4.1-IV1 (27; the lowest Kafka 4 accepts is 3.3-IV3, 7). `transaction.version` 2
/// is KIP-890's transactions V2 (4.x clients bump the epoch at every transaction's end
/// and let partition leaders add partitions); older clients keep V1. `group.version` 1
/// is the KIP-848 consumer protocol. The others stay at 0 until their capability
/// lands: `kraft.version` 1 is a dynamic quorum (Riffle's voters are static),
/// `eligible.leader.replicas.version` 1 is KIP-966.
pub const FEATURES: &[Feature] = &[
    Feature { name: "metadata.version", min_level: 7, max_level: 27, finalized: 27 },
    Feature { name: "kraft.version", min_level: 0, max_level: 0, finalized: 0 },
    Feature { name: "transaction.version", min_level: 0, max_level: 2, finalized: 2 },
    Feature { name: "group.version", min_level: 0, max_level: 1, finalized: 1 },
    Feature { name: "eligible.leader.replicas.version", min_level: 0, max_level: 0, finalized: 0 },
];

/// Whether a supported feature is listed: not at all when its only level is 0 (there is
/// nothing to enable), and below v4 not when its range starts at 0, which Java clients
/// before 3.9 cannot parse (KAFKA-17011; Kafka leaves them out the same way).
fn advertised(f: &Feature, version: i16) -> bool {
    f.max_level > 0 && (version >= 4 || f.min_level > 0)
}

/// The finalized features' epoch: they are fixed when the cluster is formed and never
/// updated, so the epoch of that first (and only) change.
const FINALIZED_FEATURES_EPOCH: i64 = 0;

fn table(services: &super::Services) -> Vec<ApiVersion> {
    super::supported_apis()
        .into_iter()
        .filter(|(key, _)| super::served(*key, services))
        .map(|(key, range)| {
            let mut v = ApiVersion::default();
            v.api_key = key as i16;
            v.min_version = advertised_min(key, range.min);
            v.max_version = range.max;
            v
        })
        .collect()
}

/// Produce v0-v2 are advertised but refused (the dispatcher only takes v3+), as Kafka 4
/// does (KAFKA-18659): librdkafka before 2.10 sends compressed batches only to a broker
/// that lists Produce v0, and otherwise silently stores them uncompressed.
fn advertised_min(key: ApiKey, min: i16) -> i16 {
    if key == ApiKey::Produce {
        0
    } else {
        min
    }
}

pub async fn handle(ctx: &RequestContext<'_>, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = table(ctx.services);
    if ctx.version >= FIRST_FEATURES_VERSION {
        resp.supported_features = FEATURES
            .iter()
            .filter(|f| advertised(f, ctx.version))
            .map(|f| SupportedFeatureKey::default().with_name(StrBytes::from_static_str(f.name)).with_min_version(f.min_level).with_max_version(f.max_level))
            .collect();
        resp.finalized_features_epoch = FINALIZED_FEATURES_EPOCH;
        resp.finalized_features = FEATURES
            .iter()
            .filter(|f| f.finalized > 0)
            .map(|f| FinalizedFeatureKey::default().with_name(StrBytes::from_static_str(f.name)).with_min_version_level(f.finalized).with_max_version_level(f.finalized))
            .collect();
    }
    resp
}

/// The answer to an ApiVersions request at a version above ours (KIP-511).
pub fn unsupported_version_response(services: &super::Services) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    resp.api_keys = table(services);
    resp
}
