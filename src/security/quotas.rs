//! Client quotas as Kafka keeps and enforces them: values per entity (user, client id,
//! both, or ip; a `None` name is the entity's default), managed by AlterClientQuotas and
//! DescribeClientQuotas, and byte rates enforced per (user, client id) with Kafka's
//! precedence, its sampled rate (`quota.window.num` windows of
//! `quota.window.size.seconds`) and its throttle time (KIP-219: the response says how
//! long, and the connection is muted that long).

use std::collections::{BTreeMap, HashMap, VecDeque};

use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";

/// An entity: (type, name) sorted by type; a `None` name is the type's default.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// An entity's quota values by key. Compared bit for bit, so that images stay `Eq`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct QuotaValues(pub BTreeMap<String, f64>);

impl PartialEq for QuotaValues {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|((k1, v1), (k2, v2))| k1 == k2 && v1.to_bits() == v2.to_bits())
    }
}

impl Eq for QuotaValues {}

pub type Quotas = BTreeMap<QuotaEntity, QuotaValues>;

/// `Quotas` as a list of (entity, values): JSON map keys must be strings.
pub mod as_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{QuotaEntity, QuotaValues, Quotas};

    pub fn serialize<S: Serializer>(quotas: &Quotas, s: S) -> Result<S::Ok, S::Error> {
        quotas.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Quotas, D::Error> {
        Ok(Vec::<(QuotaEntity, QuotaValues)>::deserialize(d)?.into_iter().collect())
    }
}

/// One quota value in a record, compared bit for bit.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// Kafka's quota keys: whether each takes whole numbers only.
const USER_CLIENT_KEYS: &[(&str, bool)] = &[(PRODUCER_BYTE_RATE, true), (CONSUMER_BYTE_RATE, true), (REQUEST_PERCENTAGE, false), (CONTROLLER_MUTATION_RATE, false)];
const IP_KEYS: &[(&str, bool)] = &[("connection_creation_rate", true)];

/// Checks an entity and its changes as Kafka's ClientQuotaControlManager does.
pub fn validate(entity: &QuotaEntity, ops: &[(String, Option<QuotaValue>)]) -> Result<(), String> {
    if entity.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    let mut seen = Vec::new();
    for (t, _) in entity {
        if seen.contains(&t) {
            return Err(format!("Invalid client quota entity, duplicate entity entry {t}"));
        }
        if t != USER && t != CLIENT_ID && t != IP {
            return Err(format!("Unhandled client quota entity type: {t}"));
        }
        seen.push(t);
    }
    let has_ip = seen.iter().any(|t| *t == IP);
    if has_ip && seen.len() > 1 {
        return Err("Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId".into());
    }
    let keys = if has_ip { IP_KEYS } else { USER_CLIENT_KEYS };
    let mut names = Vec::new();
    for (key, value) in ops {
        if names.contains(&key) {
            return Err(format!("Duplicate quota key {key}"));
        }
        names.push(key);
        let Some(&(_, integral)) = keys.iter().find(|(k, _)| k == key) else {
            return Err(format!("Invalid configuration key {key}"));
        };
        if let Some(QuotaValue(v)) = value {
            if *v <= 0.0 {
                return Err(format!("Quota {key} must be greater than 0"));
            }
            if integral && (v % 1.0).abs() > 1e-6 {
                return Err(format!("{key} cannot be a fractional value."));
            }
        }
    }
    Ok(())
}

/// DescribeClientQuotas' filter: per entity type, an exact name (`Some(Some(n))`), the
/// default (`Some(None)`), or any name (`None`).
pub struct QuotaFilter {
    pub components: Vec<(String, Option<Option<String>>)>,
    pub strict: bool,
}

impl QuotaFilter {
    /// Kafka's checks of a filter (INVALID_REQUEST, or UNSUPPORTED_VERSION for an
    /// unknown entity type).
    pub fn validate(&self) -> Result<(), (i16, String)> {
        let mut seen = Vec::new();
        for (t, _) in &self.components {
            if seen.contains(&t) {
                return Err((E::InvalidRequest.code(), format!("Entity type {t} cannot appear more than once in the filter.")));
            }
            if t != USER && t != CLIENT_ID && t != IP {
                return Err((E::UnsupportedVersion.code(), format!("Unsupported entity type {t}")));
            }
            seen.push(t);
        }
        if seen.iter().any(|t| *t == IP) && seen.len() > 1 {
            return Err((E::InvalidRequest.code(), "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into()));
        }
        Ok(())
    }

    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.components.len() {
            return false;
        }
        self.components.iter().all(|(t, wanted)| match entity.iter().find(|(et, _)| et == t) {
            None => false,
            Some((_, name)) => wanted.as_ref().is_none_or(|w| w == name),
        })
    }
}

/// What is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Produce,
    Fetch,
    /// KIP-599: partitions created or deleted per second.
    ControllerMutation,
    /// Time spent handling the client's requests, in percent of one thread.
    Request,
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
            QuotaKind::ControllerMutation => CONTROLLER_MUTATION_RATE,
            QuotaKind::Request => REQUEST_PERCENTAGE,
        }
    }
}

/// The byte-rate quota of (user, client id): the first entity of Kafka's precedence
/// that sets the key, and the sensor it is measured on (a default entity is shared by
/// everyone it applies to under their own names, as Kafka tags its metrics).
pub fn resolve(quotas: &Quotas, kind: QuotaKind, user: &str, client_id: &str) -> Option<(f64, (String, String))> {
    let e = |u: Option<Option<&str>>, c: Option<Option<&str>>| -> QuotaEntity {
        let mut v = Vec::new();
        if let Some(c) = c {
            v.push((CLIENT_ID.to_string(), c.map(String::from)));
        }
        if let Some(u) = u {
            v.push((USER.to_string(), u.map(String::from)));
        }
        v
    };
    let (u, c) = (Some(user), Some(client_id));
    let order: [(QuotaEntity, (&str, &str)); 8] = [
        (e(Some(u), Some(c)), (user, client_id)),
        (e(Some(u), Some(None)), (user, client_id)),
        (e(Some(u), None), (user, "")),
        (e(Some(None), Some(c)), (user, client_id)),
        (e(Some(None), Some(None)), (user, client_id)),
        (e(Some(None), None), (user, "")),
        (e(None, Some(c)), ("", client_id)),
        (e(None, Some(None)), ("", client_id)),
    ];
    order.into_iter().find_map(|(entity, (su, sc))| quotas.get(&entity).and_then(|v| v.0.get(kind.key())).map(|q| (*q, (su.to_string(), sc.to_string()))))
}

/// A rate over `quota.window.num` samples of `quota.window.size.seconds`, as Kafka's
/// `Rate` measures it.
#[derive(Default)]
struct Sampled {
    /// (window start ms, bytes).
    samples: VecDeque<(i64, f64)>,
}

impl Sampled {
    fn record(&mut self, now_ms: i64, bytes: f64, window_ms: i64, windows: usize) {
        match self.samples.back_mut() {
            Some((start, total)) if now_ms - *start < window_ms => *total += bytes,
            _ => self.samples.push_back((now_ms, bytes)),
        }
        while self.samples.len() > windows || self.samples.front().is_some_and(|(s, _)| now_ms - s >= window_ms * windows as i64) {
            self.samples.pop_front();
        }
    }

    /// Bytes per second, and the window it was measured over (ms).
    fn rate(&self, now_ms: i64, window_ms: i64, windows: usize) -> (f64, i64) {
        let total: f64 = self.samples.iter().map(|(_, b)| b).sum();
        let oldest = self.samples.front().map_or(now_ms, |(s, _)| *s);
        // Kafka counts at least (windows - 1) full windows, so a new client's first
        // bytes are not a burst of infinite rate.
        let elapsed = (now_ms - oldest).max(window_ms * (windows as i64 - 1)).max(1);
        (total * 1000.0 / elapsed as f64, elapsed)
    }
}

/// Kafka's TokenBucket (KIP-599): credit refills at the quota's rate up to a burst of
/// `controller.quota.window.num` x `controller.quota.window.size.seconds` of it; each
/// mutation takes one, and the credit may go negative.
struct Bucket {
    credit: f64,
    at_ms: i64,
}

/// Measures byte rates and controller mutations against the quotas and says how long
/// to throttle.
pub struct QuotaManager {
    window_ms: i64,
    windows: usize,
    sensors: Mutex<HashMap<(QuotaKind, String, String), Sampled>>,
    /// The controller mutation burst, in seconds of the quota.
    mutation_burst_s: f64,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl QuotaManager {
    /// `window_ms` x `windows`: the byte rates' sample windows; `mutation_burst_ms`: the
    /// controller mutation quota's (`controller.quota.window.*`).
    pub fn new(window_ms: i64, windows: usize, mutation_burst_ms: i64) -> Self {
        QuotaManager {
            window_ms: window_ms.max(1),
            windows: windows.max(2),
            sensors: Mutex::default(),
            mutation_burst_s: mutation_burst_ms.max(1) as f64 / 1000.0,
            buckets: Mutex::default(),
        }
    }

    /// The controller mutation credit of (user, client id) now and its quota, or `None`
    /// without a quota.
    fn bucket<R>(&self, quotas: &Quotas, user: &str, client_id: &str, now_ms: i64, f: impl FnOnce(&mut Bucket, f64) -> R) -> Option<R> {
        let (quota, sensor) = resolve(quotas, QuotaKind::ControllerMutation, user, client_id)?;
        let burst = quota * self.mutation_burst_s;
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(sensor).or_insert(Bucket { credit: burst, at_ms: now_ms });
        b.credit = (b.credit + quota * (now_ms - b.at_ms).max(0) as f64 / 1000.0).min(burst);
        b.at_ms = now_ms;
        Some(f(b, quota))
    }

    /// Whether (user, client id) has used up its controller mutation credit: a strict
    /// request (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) then refuses
    /// further topics with THROTTLING_QUOTA_EXCEEDED.
    pub fn mutations_exceeded(&self, quotas: &Quotas, user: &str, client_id: &str, now_ms: i64) -> bool {
        self.bucket(quotas, user, client_id, now_ms, |b, _| b.credit < 0.0).unwrap_or(false)
    }

    /// Takes `partitions` mutations from the credit.
    pub fn record_mutations(&self, quotas: &Quotas, user: &str, client_id: &str, partitions: i64, now_ms: i64) {
        self.bucket(quotas, user, client_id, now_ms, |b, _| b.credit -= partitions as f64);
    }

    /// How long until the credit is back to zero (ms; 0 if it is not negative).
    pub fn mutation_throttle_ms(&self, quotas: &Quotas, user: &str, client_id: &str, now_ms: i64) -> i64 {
        self.bucket(quotas, user, client_id, now_ms, |b, quota| if b.credit < 0.0 { (-b.credit / quota * 1000.0).ceil() as i64 } else { 0 }).unwrap_or(0)
    }

    /// Records `value` (bytes; for request time, percent-seconds: seconds x 100) for
    /// (user, client id); the throttle time in ms (0 if within the quota or there is
    /// none).
    pub fn record(&self, quotas: &Quotas, kind: QuotaKind, user: &str, client_id: &str, value: f64, now_ms: i64) -> i64 {
        let Some((quota, (su, sc))) = resolve(quotas, kind, user, client_id) else { return 0 };
        let mut sensors = self.sensors.lock();
        let s = sensors.entry((kind, su, sc)).or_default();
        s.record(now_ms, value, self.window_ms, self.windows);
        let (rate, window) = s.rate(now_ms, self.window_ms, self.windows);
        if rate <= quota {
            return 0;
        }
        // Kafka: how long until the rate over the window falls back to the quota, at most
        // the whole window (quota.window.num x quota.window.size.seconds).
        let throttle = ((rate - quota) / quota * window as f64).round() as i64;
        throttle.min(self.window_ms * self.windows as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_validation_and_throttling() {
        let mut q = Quotas::new();
        q.insert(vec![(USER.into(), None)], QuotaValues(BTreeMap::from([(PRODUCER_BYTE_RATE.into(), 1000.0)])));
        q.insert(vec![(CLIENT_ID.into(), Some("c".into())), (USER.into(), Some("alice".into()))], QuotaValues(BTreeMap::from([(PRODUCER_BYTE_RATE.into(), 5000.0)])));
        assert_eq!(resolve(&q, QuotaKind::Produce, "alice", "c").map(|r| r.0), Some(5000.0));
        assert_eq!(resolve(&q, QuotaKind::Produce, "bob", "c"), Some((1000.0, ("bob".into(), "".into()))));
        assert_eq!(resolve(&q, QuotaKind::Fetch, "bob", "c"), None);
        assert!(validate(&vec![(USER.into(), None)], &[(PRODUCER_BYTE_RATE.into(), Some(QuotaValue(1.5)))]).is_err());
        assert!(validate(&vec![(IP.into(), None), (USER.into(), None)], &[]).is_err());
        assert!(validate(&vec![], &[]).is_err());
        assert!(validate(&vec![(USER.into(), Some("a".into()))], &[("bogus".into(), Some(QuotaValue(1.0)))]).is_err());
        let m = QuotaManager::new(1000, 11, 11_000);
        // 1000 B/s over a 10 s window: 20 kB at once is 1 s of throttle... per 1000 B over.
        assert_eq!(m.record(&q, QuotaKind::Produce, "bob", "x", 5_000.0, 0), 0);
        let t = m.record(&q, QuotaKind::Produce, "bob", "y", 15_000.0, 100);
        assert!(t > 0, "20 kB in a 10 s window is twice the quota: throttled");
        assert_eq!(m.record(&q, QuotaKind::Produce, "bob", "y", 1e9, 200), 11_000, "at most the whole window");
        assert_eq!(m.record(&q, QuotaKind::Produce, "carol", "x", 5_000.0, 100), 0, "carol has her own sensor");
        // 2 partitions a second, a burst of 22: the request that crosses it passes, the
        // next is refused until the credit is back.
        q.insert(vec![(USER.into(), Some("alice".into()))], QuotaValues(BTreeMap::from([(CONTROLLER_MUTATION_RATE.into(), 2.0)])));
        assert!(!m.mutations_exceeded(&q, "alice", "c", 0));
        m.record_mutations(&q, "alice", "c", 30, 0);
        assert!(m.mutations_exceeded(&q, "alice", "c", 0));
        assert_eq!(m.mutation_throttle_ms(&q, "alice", "c", 0), 4000, "8 partitions over at 2 a second");
        assert!(!m.mutations_exceeded(&q, "alice", "c", 4000));
        assert!(!m.mutations_exceeded(&q, "bob", "c", 0), "no mutation quota for bob");
    }
}
