//! DescribeConfigs for topics and brokers: values, sources, synonyms, types and
//! documentation, all derived from the declared config tables.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC};
use super::RequestContext;
use crate::config::broker::{all_keys, Source};
use crate::config::dynamic::is_dynamic;
use crate::config::topic::{resolve, TopicKey, INTERNAL_TOPIC_CONFIGS, TOPIC_CONFIGS};
use crate::config::{BrokerConfig, ConfigDef, ConfigType, TopicOverrides};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// Kafka's ConfigSource codes.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;
pub const SOURCE_DYNAMIC_BROKER_LOGGER: i8 = 6;

fn source_code(source: Source) -> i8 {
    match source {
        Source::DynamicBroker => SOURCE_DYNAMIC_BROKER,
        Source::DynamicDefault => SOURCE_DYNAMIC_DEFAULT_BROKER,
        Source::Static => SOURCE_STATIC_BROKER,
        Source::Default => SOURCE_DEFAULT,
    }
}

/// A broker key's set values in precedence order, as synonyms: this broker's dynamic
/// value, the dynamic cluster default, the static value.
fn set_values(broker: &BrokerConfig, name: &str) -> Vec<DescribeConfigsSynonym> {
    let dynamic = broker.dynamic();
    let mut out = Vec::new();
    if let Some(v) = dynamic.per_broker.get(name) {
        out.push(synonym(name, Some(v.clone()), SOURCE_DYNAMIC_BROKER));
    }
    if let Some(v) = dynamic.cluster_default.get(name) {
        out.push(synonym(name, Some(v.clone()), SOURCE_DYNAMIC_DEFAULT_BROKER));
    }
    if let Some(v) = broker.static_value(name) {
        out.push(synonym(name, Some(v.to_string()), SOURCE_STATIC_BROKER));
    }
    out
}

/// What to include for each entry.
#[derive(Clone, Copy)]
pub struct Detail {
    pub synonyms: bool,
    pub documentation: bool,
    /// v3+ carries config types and documentation.
    pub v3: bool,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    let mut syn = DescribeConfigsSynonym::default();
    syn.name = s(name);
    syn.value = value.map(StrBytes::from_string);
    syn.source = source;
    syn
}

fn entry(def: &ConfigDef, value: Option<String>, source: i8, read_only: bool, mut synonyms: Vec<DescribeConfigsSynonym>, detail: Detail) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default();
    // Passwords are never shown, as Kafka hides them: sensitive, without a value.
    let sensitive = def.ty == ConfigType::Password;
    e.name = s(def.name);
    e.value = if sensitive { None } else { value.map(StrBytes::from_string) };
    e.read_only = read_only;
    e.config_source = source;
    e.is_sensitive = sensitive;
    if sensitive {
        synonyms.iter_mut().for_each(|syn| syn.value = None);
    }
    if detail.v3 {
        e.config_type = def.ty as i8;
    }
    if detail.synonyms {
        e.synonyms = synonyms;
    }
    if detail.documentation && detail.v3 {
        e.documentation = Some(s(def.doc));
    }
    e
}

/// The configs of a topic, optionally only `keys`: every public key, and an internal
/// one (`internal.segment.bytes`) only where the topic sets it, as Kafka lists them.
pub fn topic_entries(overrides: &TopicOverrides, broker: &BrokerConfig, keys: Option<&[String]>, detail: Detail) -> Vec<DescribeConfigsResourceResult> {
    TOPIC_CONFIGS
        .iter()
        .chain(INTERNAL_TOPIC_CONFIGS.iter().filter(|k| overrides.contains_key(k.def.name)))
        .filter(|k| keys.is_none_or(|ks| ks.iter().any(|n| n == k.def.name)))
        .map(|k| {
            let (value, _) = resolve(k, overrides, broker);
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(k.def.name) {
                synonyms.push(synonym(k.def.name, Some(v.clone()), SOURCE_TOPIC));
            }
            synonyms.extend(broker_synonyms(k, broker));
            // Kafka reports the first synonym's source, or the default when there is none
            // (also when the value comes from a later synonym such as log.retention.hours).
            let code = synonyms.first().map_or(SOURCE_DEFAULT, |syn| syn.source);
            entry(&k.def, Some(value), code, false, synonyms, detail)
        })
        .collect()
}

/// A topic key's broker synonyms as Kafka's ConfigHelper lists them: every set value
/// of each synonym, layer by layer (this broker's dynamic values, the dynamic cluster
/// defaults, the static values, the defaults), then everything before the first entry
/// naming the key's own broker key dropped. `retention.ms` therefore lists
/// `log.retention.ms` and what follows it, and nothing when only the default
/// `log.retention.hours=168` is there.
fn broker_synonyms(k: &TopicKey, broker: &BrokerConfig) -> Vec<DescribeConfigsSynonym> {
    let Some(&(primary, _)) = k.synonyms.first() else { return Vec::new() };
    let dynamic = broker.dynamic();
    let mut all = Vec::new();
    for &(syn, _) in k.synonyms {
        if let Some(v) = dynamic.per_broker.get(syn) {
            all.push(synonym(syn, Some(v.clone()), SOURCE_DYNAMIC_BROKER));
        }
    }
    for &(syn, _) in k.synonyms {
        if let Some(v) = dynamic.cluster_default.get(syn) {
            all.push(synonym(syn, Some(v.clone()), SOURCE_DYNAMIC_DEFAULT_BROKER));
        }
    }
    for &(syn, _) in k.synonyms {
        if let Some(v) = broker.static_value(syn) {
            all.push(synonym(syn, Some(v.to_string()), SOURCE_STATIC_BROKER));
        }
    }
    for &(syn, _) in k.synonyms {
        if let Some(d) = crate::config::broker::find_key(syn).and_then(|d| d.default) {
            all.push(synonym(syn, Some(d.to_string()), SOURCE_DEFAULT));
        }
    }
    let first = all.iter().position(|s| s.name.as_str() == primary).unwrap_or(all.len());
    all.split_off(first)
}

/// The configs of the broker, optionally only `keys`. The keys Riffle changes at run
/// time are not read-only, as in Kafka.
pub fn broker_entries(broker: &BrokerConfig, keys: Option<&[String]>, detail: Detail) -> Vec<DescribeConfigsResourceResult> {
    all_keys()
        .filter(|d| keys.is_none_or(|ks| ks.iter().any(|n| n == d.name)))
        .map(|d| {
            let mut synonyms = set_values(broker, d.name);
            if let Some(default) = d.default {
                synonyms.push(synonym(d.name, Some(default.to_string()), SOURCE_DEFAULT));
            }
            entry(d, broker.get(d.name), source_code(broker.source(d.name)), !is_dynamic(d.name), synonyms, detail)
        })
        .collect()
}

/// The cluster-wide default resource (broker ""): only the dynamic defaults set, as
/// Kafka describes it.
pub fn broker_default_entries(broker: &BrokerConfig, keys: Option<&[String]>, detail: Detail) -> Vec<DescribeConfigsResourceResult> {
    let defaults = broker.dynamic().cluster_default;
    all_keys()
        .filter(|d| defaults.contains_key(d.name) && keys.is_none_or(|ks| ks.iter().any(|n| n == d.name)))
        .map(|d| {
            let value = defaults.get(d.name).cloned();
            let synonyms = vec![synonym(d.name, value.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER)];
            entry(d, value, SOURCE_DYNAMIC_DEFAULT_BROKER, false, synonyms, detail)
        })
        .collect()
}

/// The loggers and their levels (BROKER_LOGGER), as Kafka lists its log4j loggers.
fn logger_entries(keys: Option<&[String]>) -> Vec<DescribeConfigsResourceResult> {
    crate::common::log_levels::loggers()
        .into_iter()
        .filter(|(name, _)| keys.is_none_or(|ks| ks.iter().any(|k| k == name)))
        .map(|(name, level)| {
            let mut e = DescribeConfigsResourceResult::default();
            e.name = StrBytes::from_string(name);
            e.value = Some(StrBytes::from_string(level));
            e.config_source = SOURCE_DYNAMIC_BROKER_LOGGER;
            e.read_only = false;
            e
        })
        .collect()
}

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let broker = ctx.services;
    let detail = Detail { synonyms: req.include_synonyms, documentation: req.include_documentation, v3: ctx.version >= 3 };
    let mut resp = DescribeConfigsResponse::default();
    for r in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = r.resource_type;
        out.resource_name = r.resource_name.clone();
        // Null (or, as Kafka also treats it, empty) means every key.
        let keys: Option<Vec<String>> = r.configuration_keys.filter(|ks| !ks.is_empty()).map(|ks| ks.iter().map(|k| k.to_string()).collect());
        let name = r.resource_name.as_str();
        // DESCRIBE_CONFIGS on the topic, or on the cluster for broker resources.
        let denied = match r.resource_type {
            RESOURCE_TOPIC => (!ctx.authorized(op::DESCRIBE_CONFIGS, TOPIC, name)).then_some(E::TopicAuthorizationFailed),
            RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => (!ctx.cluster_authorized(op::DESCRIBE_CONFIGS)).then_some(E::ClusterAuthorizationFailed),
            _ => None,
        };
        match r.resource_type {
            _ if denied.is_some() => {
                out.error_code = denied.map_or(0, |e| e.code());
                out.error_message = Some(s("Authorization failed."));
            }
            RESOURCE_TOPIC => match broker.topics.get(name) {
                Some(t) => out.configs = topic_entries(&t.overrides.read(), &broker.config, keys.as_deref(), detail),
                None => {
                    out.error_code = E::UnknownTopicOrPartition.code();
                    out.error_message = Some(s(&format!("topic '{name}' does not exist")));
                }
            },
            // "" addresses the cluster-wide dynamic defaults.
            RESOURCE_BROKER if name.is_empty() => out.configs = broker_default_entries(&broker.config, keys.as_deref(), detail),
            RESOURCE_BROKER if name.parse::<i32>().ok() == Some(broker.config.node_id) => {
                out.configs = broker_entries(&broker.config, keys.as_deref(), detail);
            }
            RESOURCE_BROKER => {
                out.error_code = E::InvalidRequest.code();
                out.error_message = Some(s(&format!("unknown broker '{name}'")));
            }
            RESOURCE_BROKER_LOGGER if name.parse::<i32>().ok() == Some(broker.config.node_id) => out.configs = logger_entries(keys.as_deref()),
            RESOURCE_BROKER_LOGGER => {
                out.error_code = E::InvalidRequest.code();
                out.error_message = Some(s(&format!("Unexpected broker id, expected {} but received {name}", broker.config.node_id)));
            }
            other => {
                out.error_code = E::InvalidRequest.code();
                out.error_message = Some(s(&format!("unsupported resource type {other}")));
            }
        }
        resp.results.push(out);
    }
    resp
}
