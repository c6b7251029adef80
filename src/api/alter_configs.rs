//! AlterConfigs (replace a resource's configs) and IncrementalAlterConfigs (SET, DELETE,
//! APPEND, SUBTRACT), on topics and on brokers' dynamic configs (a broker's own, or the
//! cluster-wide defaults). Both take effect at once.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::config::topic::find_key;
use crate::config::TopicOverrides;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Failure = (i16, String);

/// ALTER_CONFIGS on the topic, or on the cluster for broker resources.
fn authorize(ctx: &RequestContext<'_>, resource_type: i8, name: &str) -> Result<(), Failure> {
    let denied = match resource_type {
        RESOURCE_TOPIC => (!ctx.authorized(op::ALTER_CONFIGS, TOPIC, name)).then_some(E::TopicAuthorizationFailed),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => (!ctx.cluster_authorized(op::ALTER_CONFIGS)).then_some(E::ClusterAuthorizationFailed),
        _ => None,
    };
    denied.map_or(Ok(()), |e| Err((e.code(), "Authorization failed.".to_string())))
}

/// Applies new overrides to a topic resource (or refuses a broker resource).
async fn apply(ctx: &RequestContext<'_>, resource_type: i8, name: &str, build: impl FnOnce(&TopicOverrides) -> Result<TopicOverrides, Failure>, validate_only: bool) -> Result<(), Failure> {
    authorize(ctx, resource_type, name)?;
    match resource_type {
        RESOURCE_TOPIC => {
            let topic = ctx.services.topics.get(name).ok_or((E::UnknownTopicOrPartition.code(), format!("topic '{name}' does not exist")))?;
            let current = topic.overrides.read().clone();
            let next = build(&current)?;
            crate::api::topic_admin::set_topic_configs(ctx.services, name, next, validate_only).await.map_err(|e| e.failure())
        }
        RESOURCE_BROKER => {
            let me = ctx.services.config.node_id;
            let per_broker = !name.is_empty();
            if per_broker && name != me.to_string() {
                return Err((E::InvalidRequest.code(), format!("Unexpected broker id, expected {me} or empty string, but received {name}")));
            }
            let dynamic = ctx.services.config.dynamic();
            let current = if per_broker { dynamic.per_broker } else { dynamic.cluster_default };
            let next = build(&current)?;
            crate::config::dynamic::validate(&next, per_broker).map_err(|m| (E::InvalidRequest.code(), m))?;
            crate::api::topic_admin::set_broker_configs(ctx.services, name, next, validate_only).await.map_err(|e| e.failure())
        }
        // Broker loggers change only incrementally, as in Kafka.
        RESOURCE_BROKER_LOGGER => Err((E::InvalidRequest.code(), "AlterConfigs does not support the resource type BROKER_LOGGER".into())),
        other => Err((E::InvalidRequest.code(), format!("unsupported resource type {other}"))),
    }
}

/// Whether a key of the resource's kind is a list, and its value in force (what APPEND
/// and SUBTRACT start from when the resource does not set it).
fn key_info(ctx: &RequestContext<'_>, resource_type: i8, name: &str, current: &TopicOverrides) -> Result<(bool, String), Failure> {
    let unknown = || (E::InvalidConfig.code(), format!("unknown configuration '{name}'"));
    if resource_type == RESOURCE_BROKER {
        let def = crate::config::broker::find_key(name).ok_or_else(unknown)?;
        return Ok((def.ty == crate::config::ConfigType::List, ctx.services.config.get(name).unwrap_or_default()));
    }
    let key = find_key(name).ok_or_else(unknown)?;
    Ok((key.def.ty == crate::config::ConfigType::List, crate::config::topic::resolve(key, current, &ctx.services.config).0))
}

fn result(r: Result<(), Failure>) -> (i16, Option<StrBytes>) {
    match r {
        Ok(()) => (0, None),
        Err((code, message)) => (code, Some(StrBytes::from_string(message))),
    }
}

pub async fn alter(ctx: &RequestContext<'_>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for r in req.resources {
        // Non-incremental: the given set replaces every override.
        let build = |_: &TopicOverrides| -> Result<TopicOverrides, Failure> {
            r.configs
                .iter()
                .map(|c| match &c.value {
                    Some(v) => Ok((c.name.to_string(), v.to_string())),
                    None => Err((E::InvalidConfig.code(), format!("null value for '{}'", c.name.as_str()))),
                })
                .collect()
        };
        let (code, message) = result(apply(ctx, r.resource_type, &r.resource_name, build, req.validate_only).await);
        let mut out = alter_configs_response::AlterConfigsResourceResponse::default();
        out.error_code = code;
        out.error_message = message;
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        resp.responses.push(out);
    }
    resp
}

/// IncrementalAlterConfigs of the BROKER_LOGGER resource: log levels, set (SET) or back
/// to their parent's (DELETE), on this broker only.
fn alter_loggers(ctx: &RequestContext<'_>, r: &incremental_alter_configs_request::AlterConfigsResource, validate_only: bool) -> Result<(), Failure> {
    authorize(ctx, RESOURCE_BROKER_LOGGER, &r.resource_name)?;
    let me = ctx.services.config.node_id;
    if r.resource_name.as_str() != me.to_string() {
        return Err((E::InvalidRequest.code(), format!("Unexpected broker id, expected {me} but received {}", r.resource_name.as_str())));
    }
    let mut changes = Vec::new();
    for c in &r.configs {
        let level = match (c.config_operation, &c.value) {
            (SET, Some(v)) => Some(v.to_string()),
            (SET, None) => return Err((E::InvalidConfig.code(), format!("null value for '{}'", c.name.as_str()))),
            (DELETE, _) => None,
            (op, _) => return Err((E::InvalidRequest.code(), format!("{op} is not a valid operation for a broker logger (only SET and DELETE)"))),
        };
        changes.push((c.name.to_string(), level));
    }
    crate::common::log_levels::change(&changes, validate_only).map_err(|e| (E::InvalidConfig.code(), e.to_string()))
}

pub async fn incremental(ctx: &RequestContext<'_>, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for r in req.resources {
        let build = |current: &TopicOverrides| -> Result<TopicOverrides, Failure> {
            let mut next = current.clone();
            for c in &r.configs {
                let name = c.name.to_string();
                let value = c.value.as_ref().map(|v| v.to_string());
                let (is_list, effective) = key_info(ctx, r.resource_type, &name, current)?;
                match (c.config_operation, value) {
                    (SET, Some(v)) => {
                        next.insert(name, v);
                    }
                    (DELETE, _) => {
                        next.remove(&name);
                    }
                    (APPEND | SUBTRACT, Some(v)) if is_list => {
                        let base = next.get(&name).cloned().unwrap_or(effective);
                        let mut items: Vec<String> = base.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                        for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if c.config_operation == APPEND {
                                if !items.iter().any(|i| i == item) {
                                    items.push(item.to_string());
                                }
                            } else {
                                items.retain(|i| i != item);
                            }
                        }
                        next.insert(name, items.join(","));
                    }
                    (APPEND | SUBTRACT, _) => return Err((E::InvalidConfig.code(), format!("'{name}' is not a list config"))),
                    (SET, None) => return Err((E::InvalidConfig.code(), format!("null value for '{name}'"))),
                    (op, _) => return Err((E::InvalidRequest.code(), format!("unknown config operation {op}"))),
                }
            }
            Ok(next)
        };
        let outcome = match r.resource_type {
            RESOURCE_BROKER_LOGGER => alter_loggers(ctx, &r, req.validate_only),
            _ => apply(ctx, r.resource_type, &r.resource_name, build, req.validate_only).await,
        };
        let (code, message) = result(outcome);
        let mut out = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        out.error_code = code;
        out.error_message = message;
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name;
        resp.responses.push(out);
    }
    resp
}
