//! Client quotas. Byte rates on the produce and fetch paths: the bytes of a request (or
//! response) are recorded against the client's quota, and when it is over, the
//! response carries the throttle time and the connection is muted that long (KIP-219).
//! Controller mutations (KIP-599) on CreateTopics, CreatePartitions and DeleteTopics:
//! partitions created or deleted are taken from the client's credit; once it is used up
//! a strict request refuses the rest of its topics with THROTTLING_QUOTA_EXCEEDED, an
//! older one is only throttled. Request time (request_percentage): the time a request
//! keeps a thread busy (its handler's polls, not its waits), in percent of one thread,
//! throttled like a byte rate. Without any quota configured nothing is recorded.

use kafka_protocol::error::ResponseError as E;

use super::RequestContext;
use crate::security::quotas::QuotaKind;

/// A request's controller mutations, topic by topic.
pub struct MutationQuota<'a, 'c> {
    ctx: &'a RequestContext<'c>,
    /// Refuses topics once the credit is used up (newer versions); else only throttles.
    strict: bool,
    /// Off for validate-only requests and without any quota.
    active: bool,
}

impl MutationQuota<'_, '_> {
    /// Before a topic that would create or delete `partitions`: refused with
    /// THROTTLING_QUOTA_EXCEEDED if the credit is already used up (strict), else taken.
    pub fn admit(&self, partitions: i64) -> Result<(), (i16, String)> {
        if !self.active {
            return Ok(());
        }
        let (image, (user, client_id), now) = (self.ctx.services.security.image(), self.ctx.quota_identity(), self.ctx.services.clock.now_ms());
        let quotas = &self.ctx.services.quotas;
        if self.strict && quotas.mutations_exceeded(&image.quotas, &user, &client_id, now) {
            return Err((E::ThrottlingQuotaExceeded.code(), "The throttling quota has been exceeded.".into()));
        }
        quotas.record_mutations(&image.quotas, &user, &client_id, partitions, now);
        Ok(())
    }

    /// The response's throttle time (ms); the connection is muted that long.
    pub fn throttle_time_ms(&self) -> i32 {
        if !self.active {
            return 0;
        }
        let (image, (user, client_id)) = (self.ctx.services.security.image(), self.ctx.quota_identity());
        let ms = self.ctx.services.quotas.mutation_throttle_ms(&image.quotas, &user, &client_id, self.ctx.services.clock.now_ms());
        if ms > 0 {
            self.ctx.session.mute_for_ms(ms as u64);
        }
        ms.clamp(0, i32::MAX as i64) as i32
    }
}

impl<'c> RequestContext<'c> {
    /// The controller mutation quota of this request; `strict_from`: the first version
    /// that refuses rather than only throttles.
    pub fn mutation_quota(&self, strict_from: i16, validate_only: bool) -> MutationQuota<'_, 'c> {
        let active = !validate_only && !self.services.security.image().quotas.is_empty();
        MutationQuota { ctx: self, strict: self.version >= strict_from, active }
    }

    /// Records the time this request kept a thread busy against the client's
    /// request_percentage; the throttle time (ms). Requests of other nodes (a follower's
    /// Fetch, transaction markers) and those before authentication are exempt, as in Kafka.
    pub fn request_throttle(&self, api: kafka_protocol::messages::ApiKey, busy: std::time::Duration, follower: bool) -> i32 {
        use kafka_protocol::messages::ApiKey as K;
        if follower || matches!(api, K::ApiVersions | K::SaslHandshake | K::SaslAuthenticate | K::WriteTxnMarkers) {
            return 0;
        }
        let image = self.services.security.image();
        if image.quotas.is_empty() {
            return 0;
        }
        let (user, client_id) = self.quota_identity();
        let ms = self.services.quotas.record(&image.quotas, QuotaKind::Request, &user, &client_id, busy.as_secs_f64() * 100.0, self.services.clock.now_ms());
        if ms > 0 {
            self.session.mute_for_ms(ms as u64);
        }
        ms.clamp(0, i32::MAX as i64) as i32
    }

    /// The user (principal name) and client id quotas are looked up by.
    fn quota_identity(&self) -> (String, String) {
        let principal = self.session.principal();
        let user = principal.split_once(':').map_or(principal.as_str(), |(_, name)| name).to_string();
        (user, self.header.client_id.as_deref().unwrap_or("").to_string())
    }

    /// Records `bytes` for this connection's user and client id; the throttle time (ms).
    pub fn throttle(&self, kind: QuotaKind, bytes: usize) -> i32 {
        let image = self.services.security.image();
        if image.quotas.is_empty() {
            return 0;
        }
        let (user, client_id) = self.quota_identity();
        let ms = self.services.quotas.record(&image.quotas, kind, &user, &client_id, bytes as f64, self.services.clock.now_ms());
        if ms > 0 {
            self.session.mute_for_ms(ms as u64);
        }
        ms.clamp(0, i32::MAX as i64) as i32
    }
}
