//! UpdateFeatures (KIP-584): changing finalized feature levels. Riffle's levels are
//! those of its software (see `api_versions::FEATURES`): an update to the finalized
//! level is a no-op that succeeds, and every other is refused with Kafka's error and
//! words — a level outside the supported range, a downgrade without a downgrade type,
//! or a `metadata.version` downgrade, which Kafka 4 refuses as well.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};
use kafka_protocol::protocol::StrBytes;

use super::api_versions::FEATURES;
use super::authz::op;
use super::RequestContext;

/// Kafka's upgrade types (UpdateFeatures v1+); v0's `allow_downgrade` means SAFE_DOWNGRADE.
const UPGRADE: i8 = 1;
const SAFE_DOWNGRADE: i8 = 2;
const UNSAFE_DOWNGRADE: i8 = 3;
/// From v2 on, the response has no per-feature results: the first failure is the
/// request's error.
const FIRST_TOP_LEVEL_ONLY_VERSION: i16 = 2;

pub async fn handle(ctx: &RequestContext<'_>, req: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    let mut resp = UpdateFeaturesResponse::default();
    if !ctx.cluster_authorized(op::ALTER) {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        resp.error_message = Some(StrBytes::from_static_str("Authorization failed."));
        return resp;
    }
    let mut names: Vec<&str> = req.feature_updates.iter().map(|u| u.feature.as_str()).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        resp.error_code = E::InvalidRequest.code();
        resp.error_message = Some(StrBytes::from_string(format!("Feature {} appears more than once in the request.", w[0])));
        return resp;
    }
    let node = ctx.services.config.node_id;
    let outcomes: Vec<(&FeatureUpdateKey, Checked)> = req.feature_updates.iter().map(|u| (u, check(u, ctx.version, node))).collect();
    if ctx.version >= FIRST_TOP_LEVEL_ONLY_VERSION {
        if let Some((_, Err((e, message)))) = outcomes.iter().find(|(_, r)| r.is_err()) {
            resp.error_code = e.code();
            resp.error_message = Some(StrBytes::from_string(message.clone()));
        }
        return resp;
    }
    resp.results = outcomes
        .into_iter()
        .map(|(u, r)| {
            let (code, message) = match r {
                Ok(()) => (0, None),
                Err((e, m)) => (e.code(), Some(StrBytes::from_string(m))),
            };
            UpdatableFeatureResult::default().with_feature(u.feature.clone()).with_error_code(code).with_error_message(message)
        })
        .collect();
    resp
}

/// Whether an update may be applied, or the error and message refusing it.
type Checked = Result<(), (E, String)>;

/// Whether `u` may be applied (only when it asks for the level already finalized), with
/// Kafka's checks in Kafka's order: the upgrade type, a negative level, the supported
/// range, the direction against the upgrade type, then metadata.version's own rules.
fn check(u: &FeatureUpdateKey, version: i16, node: i32) -> Checked {
    let (name, level) = (u.feature.as_str(), u.max_version_level);
    let invalid = |why: String| Err((E::InvalidUpdateVersion, format!("Invalid update version {level} for feature {name}. {why}")));
    let upgrade_type = match version {
        0 if u.allow_downgrade => SAFE_DOWNGRADE,
        0 => UPGRADE,
        _ => u.upgrade_type,
    };
    if !(UPGRADE..=UNSAFE_DOWNGRADE).contains(&upgrade_type) {
        return invalid("The controller does not support the given upgrade type.".into());
    }
    if level < 0 {
        return invalid("A feature version cannot be less than 0.".into());
    }
    let Some(f) = FEATURES.iter().find(|f| f.name == name) else {
        return invalid("The controller does not support the given feature.".into());
    };
    if !(f.min_level..=f.max_level).contains(&level) {
        return invalid(format!("Local controller {node} only supports versions {}-{}", f.min_level, f.max_level));
    }
    if level < f.finalized && upgrade_type == UPGRADE {
        return invalid("Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.".into());
    }
    if level > f.finalized && upgrade_type != UPGRADE {
        return invalid("Can't downgrade to a newer version.".into());
    }
    if level == f.finalized {
        return Ok(());
    }
    if f.name == "metadata.version" {
        let why = if upgrade_type == SAFE_DOWNGRADE {
            "Refusing to perform the requested downgrade because it might delete metadata information."
        } else {
            "Unsafe metadata.version downgrades are not supported."
        };
        return Err((E::InvalidUpdateVersion, format!("Invalid metadata.version {level}. {why}")));
    }
    // Unreachable with today's table (the other features have only their finalized
    // level), but a feature that gains levels is not silently changed.
    invalid(format!("Feature {name} stays at level {} on Riffle.", f.finalized))
}
