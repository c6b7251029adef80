//! Writing a security record (SCRAM credentials, ACLs): on a single broker into its
//! security file, on a cluster through the metadata log, answered once this broker
//! checks clients against the change.

use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use super::RequestContext;
use crate::controller::command::Command;
use crate::security::image::{SecurityImage, SecurityOutcome};
use crate::security::SecurityRecord;

/// How long a change may take to reach this broker's image.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies `record`; `applied` tells, from this broker's image and the outcome, whether
/// the change has reached it.
pub async fn commit(ctx: &RequestContext<'_>, record: SecurityRecord, applied: impl Fn(&SecurityImage, &SecurityOutcome) -> bool) -> Result<SecurityOutcome, (i16, String)> {
    let store = &ctx.services.security;
    let Some(rm) = ctx.services.cluster() else {
        return store.apply_locally(&record).map_err(|e| {
            tracing::error!(error = %e, "could not persist a security change");
            (E::UnknownServerError.code(), format!("could not persist the change: {e}"))
        });
    };
    let r = rm.controller.write(Command::Security(record), APPLY_TIMEOUT).await.map_err(|e| (E::RequestTimedOut.code(), e.to_string()))?;
    if !r.is_ok() {
        return Err((r.error_code, r.message.unwrap_or_default()));
    }
    if !rm.wait_applied(APPLY_TIMEOUT, || applied(&store.image(), &r.security)).await {
        return Err((E::RequestTimedOut.code(), "the change was committed but not yet applied on this broker".into()));
    }
    Ok(r.security)
}
