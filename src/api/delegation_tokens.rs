//! Create/Renew/Expire/DescribeDelegationToken. Kafka accepts token requests only on
//! authenticated (SASL) connections and answers every other with
//! DELEGATION_TOKEN_REQUEST_NOT_ALLOWED; Riffle's listeners are all PLAINTEXT for now,
//! so that is every answer (its admin client reports `DelegationTokenDisabledException`
//! / `UnsupportedByAuthenticationException` rather than an unknown API).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{
    CreateDelegationTokenRequest, CreateDelegationTokenResponse, DescribeDelegationTokenRequest, DescribeDelegationTokenResponse, ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse, RenewDelegationTokenRequest, RenewDelegationTokenResponse,
};

use super::RequestContext;

fn not_allowed() -> i16 {
    E::DelegationTokenRequestNotAllowed.code()
}

pub async fn create(_ctx: &RequestContext<'_>, _req: CreateDelegationTokenRequest) -> CreateDelegationTokenResponse {
    CreateDelegationTokenResponse::default().with_error_code(not_allowed())
}

pub async fn renew(_ctx: &RequestContext<'_>, _req: RenewDelegationTokenRequest) -> RenewDelegationTokenResponse {
    RenewDelegationTokenResponse::default().with_error_code(not_allowed())
}

pub async fn expire(_ctx: &RequestContext<'_>, _req: ExpireDelegationTokenRequest) -> ExpireDelegationTokenResponse {
    ExpireDelegationTokenResponse::default().with_error_code(not_allowed())
}

pub async fn describe(_ctx: &RequestContext<'_>, _req: DescribeDelegationTokenRequest) -> DescribeDelegationTokenResponse {
    DescribeDelegationTokenResponse::default().with_error_code(not_allowed())
}
