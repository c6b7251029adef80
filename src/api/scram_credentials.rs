//! DescribeUserScramCredentials and AlterUserScramCredentials: SCRAM users, kept in the
//! metadata log (a single broker's security file). Clients send salted passwords; the
//! broker keeps only what SCRAM needs to check them (salt, stored key, server key).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{CredentialInfo, DescribeUserScramCredentialsResult};
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;
use super::security_records;
use crate::security::image::{SecurityImage, SecurityOutcome, UserResult};
use crate::security::scram::{ScramCredential, ScramMechanism};
use crate::security::SecurityRecord;

pub async fn describe(ctx: &RequestContext<'_>, req: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    if !ctx.cluster_authorized(op::DESCRIBE) {
        return DescribeUserScramCredentialsResponse::default().with_error_code(kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code());
    }
    let users: Option<Vec<String>> = req.users.map(|u| u.into_iter().map(|u| u.name.to_string()).collect());
    let results = ctx
        .services
        .security
        .image()
        .describe_scram(users.as_deref())
        .into_iter()
        .map(|(user, r)| {
            let result = DescribeUserScramCredentialsResult::default().with_user(StrBytes::from_string(user));
            match r {
                Ok(infos) => result.with_credential_infos(infos.into_iter().map(|(m, i)| CredentialInfo::default().with_mechanism(m).with_iterations(i)).collect()),
                Err((code, message)) => result.with_error_code(code).with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

pub async fn alter(ctx: &RequestContext<'_>, req: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<(String, i8)> = req.deletions.iter().map(|d| (d.name.to_string(), d.mechanism)).collect();
    // The salted password becomes stored and server keys here; an unknown mechanism is
    // refused by the record's checks (its credential is never used).
    let upsertions: Vec<(String, i8, ScramCredential)> = req
        .upsertions
        .iter()
        .map(|u| {
            let credential = match ScramMechanism::from_type_code(u.mechanism) {
                Some(m) => ScramCredential::from_salted_password(m, &u.salt, &u.salted_password, u.iterations),
                None => ScramCredential { salt: Vec::new(), stored_key: Vec::new(), server_key: Vec::new(), iterations: u.iterations },
            };
            (u.name.to_string(), u.mechanism, credential)
        })
        .collect();
    let record = SecurityRecord::AlterScramCredentials { deletions: deletions.clone(), upsertions: upsertions.clone() };
    let users = || deletions.iter().map(|(u, _)| u.clone()).chain(upsertions.iter().map(|(u, _, _)| u.clone())).collect::<std::collections::BTreeSet<_>>();
    let failed_all = |code: i16, message: String| users().into_iter().map(|u| (u, code, Some(message.clone()))).collect::<Vec<UserResult>>();
    let denied = !ctx.cluster_authorized(op::ALTER);
    let applied = |image: &SecurityImage, outcome: &SecurityOutcome| {
        outcome.users.iter().filter(|(_, code, _)| *code == 0).all(|(user, _, _)| {
            let deleted = deletions.iter().filter(|(u, _)| u == user).all(|(u, m)| ScramMechanism::from_type_code(*m).is_none_or(|m| image.scram_credential(u, m).is_none()));
            let upserted = upsertions.iter().filter(|(u, _, _)| u == user).all(|(u, m, c)| ScramMechanism::from_type_code(*m).is_none_or(|m| image.scram_credential(u, m) == Some(c)));
            deleted && upserted
        })
    };
    let results = if denied {
        failed_all(E::ClusterAuthorizationFailed.code(), "Authorization failed.".into())
    } else {
        match security_records::commit(ctx, record, applied).await {
            Ok(outcome) => outcome.users,
            Err((code, message)) => failed_all(code, message),
        }
    };
    let results = results
        .into_iter()
        .map(|(user, code, message)| AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(user)).with_error_code(code).with_error_message(message.map(StrBytes::from_string)))
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}
