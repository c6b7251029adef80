//! DescribeClientQuotas and AlterClientQuotas: quota values per user, client id, both or
//! ip, kept in the metadata log (a single broker's security file). Describing needs
//! DESCRIBE_CONFIGS on the cluster, changing ALTER_CONFIGS.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData as AlteredEntity, EntryData as AlteredEntry};
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::security_records;
use super::RequestContext;
use crate::security::quotas::{QuotaEntity, QuotaFilter, QuotaValue};
use crate::security::SecurityRecord;

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn error(code: i16, message: String) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse::default().with_error_code(code).with_error_message(Some(s(&message))).with_entries(None)
}

pub async fn describe(ctx: &RequestContext<'_>, req: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse {
    if !ctx.cluster_authorized(op::DESCRIBE_CONFIGS) {
        return error(E::ClusterAuthorizationFailed.code(), "Authorization failed.".into());
    }
    let mut components = Vec::new();
    for c in &req.components {
        let wanted = match (c.match_type, &c._match) {
            (MATCH_EXACT, Some(m)) => Some(Some(m.to_string())),
            (MATCH_EXACT, None) => return error(E::InvalidRequest.code(), "Request specified MATCH_TYPE_EXACT, but set match string to null.".into()),
            (MATCH_DEFAULT, None) => Some(None),
            (MATCH_DEFAULT, Some(_)) => return error(E::InvalidRequest.code(), "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into()),
            (MATCH_SPECIFIED, None) => None,
            (MATCH_SPECIFIED, Some(_)) => return error(E::InvalidRequest.code(), "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into()),
            (other, _) => return error(E::InvalidRequest.code(), format!("Unknown match type {other}")),
        };
        components.push((c.entity_type.to_string(), wanted));
    }
    let filter = QuotaFilter { components, strict: req.strict };
    if let Err((code, message)) = filter.validate() {
        return error(code, message);
    }
    let image = ctx.services.security.image();
    let entries = image
        .quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(entity.iter().map(|(t, n)| EntityData::default().with_entity_type(s(t)).with_entity_name(n.as_deref().map(s))).collect())
                .with_values(values.0.iter().map(|(k, v)| ValueData::default().with_key(s(k)).with_value(*v)).collect())
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

pub async fn alter(ctx: &RequestContext<'_>, req: AlterClientQuotasRequest) -> AlterClientQuotasResponse {
    let entries: Vec<(QuotaEntity, Vec<(String, Option<QuotaValue>)>)> = req
        .entries
        .iter()
        .map(|e| {
            let mut entity: QuotaEntity = e.entity.iter().map(|d| (d.entity_type.to_string(), d.entity_name.as_ref().map(|n| n.to_string()))).collect();
            entity.sort();
            let ops = e.ops.iter().map(|o| (o.key.to_string(), (!o.remove).then_some(QuotaValue(o.value)))).collect();
            (entity, ops)
        })
        .collect();
    let answer = |results: Vec<(i16, Option<String>)>| {
        let entries = req
            .entries
            .iter()
            .zip(results)
            .map(|(e, (code, message))| {
                AlteredEntry::default()
                    .with_error_code(code)
                    .with_error_message(message.map(|m| s(&m)))
                    .with_entity(e.entity.iter().map(|d| AlteredEntity::default().with_entity_type(d.entity_type.clone()).with_entity_name(d.entity_name.clone())).collect())
            })
            .collect();
        AlterClientQuotasResponse::default().with_entries(entries)
    };
    let all_failed = |code: i16, message: &str| vec![(code, Some(message.to_string())); req.entries.len()];
    if !ctx.cluster_authorized(op::ALTER_CONFIGS) {
        return answer(all_failed(E::ClusterAuthorizationFailed.code(), "Authorization failed."));
    }
    // An ip entity names an address or a host that resolves (checked here, once: the
    // record's checks must not depend on DNS).
    let mut unresolvable = Vec::new();
    for (entity, _) in &entries {
        let bad = match entity.iter().find(|(t, _)| t == crate::security::quotas::IP).and_then(|(_, n)| n.as_ref()) {
            Some(name) if name.parse::<std::net::IpAddr>().is_err() => tokio::net::lookup_host((name.as_str(), 0)).await.is_err(),
            _ => false,
        };
        unresolvable.push(bad.then(|| entity.iter().find_map(|(t, n)| (t == crate::security::quotas::IP).then(|| n.clone().unwrap_or_default())).unwrap_or_default()));
    }
    let merge = |results: Vec<(i16, Option<String>)>| {
        let mut results = results.into_iter();
        unresolvable.iter().map(|bad| match bad {
            Some(name) => (E::InvalidRequest.code(), Some(format!("{name} is not a valid IP or resolvable host."))),
            None => results.next().unwrap_or((0, None)),
        }).collect::<Vec<_>>()
    };
    let entries: Vec<_> = entries.into_iter().zip(&unresolvable).filter(|(_, bad)| bad.is_none()).map(|(e, _)| e).collect();
    let record = SecurityRecord::AlterClientQuotas { entries: entries.clone() };
    if req.validate_only {
        // Checked against a copy: nothing is written.
        return answer(merge((*ctx.services.security.image()).clone().apply(&record).quotas));
    }
    let applied = |image: &crate::security::SecurityImage, outcome: &crate::security::image::SecurityOutcome| {
        entries.iter().zip(&outcome.quotas).filter(|(_, (code, _))| *code == 0).all(|((entity, ops), _)| {
            ops.iter().all(|(k, v)| image.quotas.get(entity).and_then(|q| q.0.get(k)).map(|x| x.to_bits()) == v.map(|v| v.0.to_bits()))
        })
    };
    match security_records::commit(ctx, record, applied).await {
        Ok(outcome) => answer(merge(outcome.quotas)),
        Err((code, message)) => answer(all_failed(code, &message)),
    }
}
