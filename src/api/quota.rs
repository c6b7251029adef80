//! Client byte-rate quotas on the produce and fetch paths: the bytes of a request (or
//! response) are recorded against the client's quota, and when it is over, the
//! response carries the throttle time and the connection is muted that long (KIP-219).
//! Without any quota configured nothing is recorded.

use super::RequestContext;
use crate::security::quotas::QuotaKind;

impl RequestContext<'_> {
    /// Records `bytes` for this connection's user and client id; the throttle time (ms).
    pub fn throttle(&self, kind: QuotaKind, bytes: usize) -> i32 {
        let image = self.services.security.image();
        if image.quotas.is_empty() {
            return 0;
        }
        let principal = self.session.principal();
        let user = principal.split_once(':').map_or(principal.as_str(), |(_, name)| name);
        let client_id = self.header.client_id.as_deref().unwrap_or("");
        let ms = self.services.quotas.record(&image.quotas, kind, user, client_id, bytes, self.services.clock.now_ms());
        if ms > 0 {
            self.session.mute_for_ms(ms as u64);
        }
        ms.clamp(0, i32::MAX as i64) as i32
    }
}
