//! What every broker knows about security, kept in the metadata log (on a single broker,
//! in a file beside the logs): SCRAM credentials and ACLs. Changes are records applied
//! by one deterministic `apply`, as the controller's image is.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError as E;
use serde::{Deserialize, Serialize};

use super::acl::{AclBinding, AclFilter};
use super::quotas::{self, QuotaEntity, QuotaValue, Quotas};
use super::scram::{ScramCredential, ScramMechanism};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityImage {
    /// User → mechanism → credential.
    #[serde(default)]
    pub scram: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
    /// Client quotas by entity (a list in JSON, whose map keys must be strings).
    #[serde(default, with = "quotas::as_list")]
    pub quotas: Quotas,
}

/// A change to the security image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecurityRecord {
    /// AlterUserScramCredentials: deletions (user, mechanism type) and upsertions (user,
    /// mechanism type, credential), checked per user as Kafka's controller does.
    AlterScramCredentials { deletions: Vec<(String, i8)>, upsertions: Vec<(String, i8, ScramCredential)> },
    /// CreateAcls: each binding checked on its own.
    CreateAcls { bindings: Vec<AclBinding> },
    /// DeleteAcls: each filter removes the ACLs it matches.
    DeleteAcls { filters: Vec<AclFilter> },
    /// AlterClientQuotas: per entity, keys set (`Some`) or removed (`None`), each entity
    /// checked on its own.
    AlterClientQuotas { entries: Vec<(QuotaEntity, Vec<(String, Option<QuotaValue>)>)> },
}

/// The outcome for one user: error code and message.
pub type UserResult = (String, i16, Option<String>);
/// The outcome of one ACL creation or deletion filter: error code, message, and (for a
/// filter) the ACLs it removed.
pub type AclResult = (i16, Option<String>, Vec<AclBinding>);

/// What applying a record gives back, in the request's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityOutcome {
    pub users: Vec<UserResult>,
    pub acls: Vec<AclResult>,
    /// AlterClientQuotas: per entity, error code and message.
    #[serde(default)]
    pub quotas: Vec<(i16, Option<String>)>,
}

impl SecurityImage {
    pub fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.scram.get(user)?.get(&mechanism)
    }

    /// Applies a record; SCRAM results per user in the order Kafka lists them
    /// (successes, then failures), ACL results per binding or filter.
    pub fn apply(&mut self, record: &SecurityRecord) -> SecurityOutcome {
        match record {
            SecurityRecord::AlterScramCredentials { deletions, upsertions } => SecurityOutcome { users: self.alter_scram(deletions, upsertions), ..Default::default() },
            SecurityRecord::CreateAcls { bindings } => {
                let acls = bindings
                    .iter()
                    .map(|b| match b.validate() {
                        Ok(()) => {
                            self.acls.insert(b.clone());
                            (0, None, Vec::new())
                        }
                        Err(m) => (E::InvalidRequest.code(), Some(m), Vec::new()),
                    })
                    .collect();
                SecurityOutcome { acls, ..Default::default() }
            }
            SecurityRecord::AlterClientQuotas { entries } => {
                let mut seen: Vec<&QuotaEntity> = Vec::new();
                let results = entries
                    .iter()
                    .map(|(entity, ops)| {
                        let duplicate = seen.contains(&entity);
                        seen.push(entity);
                        match quotas::validate(entity, ops) {
                            _ if duplicate => (E::InvalidRequest.code(), Some(format!("Ignoring duplicate entity {entity:?}"))),
                            Err(m) => (E::InvalidRequest.code(), Some(m)),
                            Ok(()) => {
                                let values = self.quotas.entry(entity.clone()).or_default();
                                for (key, value) in ops {
                                    match value {
                                        Some(v) => values.0.insert(key.clone(), v.0),
                                        None => values.0.remove(key),
                                    };
                                }
                                if values.0.is_empty() {
                                    self.quotas.remove(entity);
                                }
                                (0, None)
                            }
                        }
                    })
                    .collect();
                SecurityOutcome { quotas: results, ..Default::default() }
            }
            SecurityRecord::DeleteAcls { filters } => {
                let acls = filters
                    .iter()
                    .map(|f| match f.validate() {
                        Ok(()) => {
                            let removed: Vec<AclBinding> = self.acls.iter().filter(|a| f.matches(a)).cloned().collect();
                            for a in &removed {
                                self.acls.remove(a);
                            }
                            (0, None, removed)
                        }
                        Err(m) => (E::InvalidRequest.code(), Some(m), Vec::new()),
                    })
                    .collect();
                SecurityOutcome { acls, ..Default::default() }
            }
        }
    }

    fn alter_scram(&mut self, deletions: &[(String, i8)], upsertions: &[(String, i8, ScramCredential)]) -> Vec<UserResult> {
        let duplicate = || (E::DuplicateResource.code(), "A user credential cannot be altered twice in the same request".to_string());
        let mut errors: BTreeMap<&str, (i16, String)> = BTreeMap::new();
        let mut to_delete: BTreeMap<&str, ScramMechanism> = BTreeMap::new();
        let mut to_upsert: BTreeMap<&str, (ScramMechanism, &ScramCredential)> = BTreeMap::new();
        for (user, code) in deletions {
            if errors.contains_key(user.as_str()) {
                continue;
            }
            if to_delete.remove(user.as_str()).is_some() {
                errors.insert(user, duplicate());
                continue;
            }
            match check_user_and_mechanism(user, *code) {
                Err(e) => {
                    errors.insert(user, e);
                }
                Ok(m) if self.scram_credential(user, m).is_none() => {
                    errors.insert(user, (E::ResourceNotFound.code(), "Attempt to delete a user credential that does not exist".into()));
                }
                Ok(m) => {
                    to_delete.insert(user, m);
                }
            }
        }
        for (user, code, credential) in upsertions {
            if errors.contains_key(user.as_str()) {
                continue;
            }
            if to_delete.remove(user.as_str()).is_some() || to_upsert.remove(user.as_str()).is_some() {
                errors.insert(user, duplicate());
                continue;
            }
            let checked = check_user_and_mechanism(user, *code).and_then(|m| {
                if credential.iterations < ScramMechanism::MIN_ITERATIONS {
                    Err((E::UnacceptableCredential.code(), "Too few iterations".to_string()))
                } else if credential.iterations > ScramMechanism::MAX_ITERATIONS {
                    Err((E::UnacceptableCredential.code(), "Too many iterations".to_string()))
                } else {
                    Ok(m)
                }
            });
            match checked {
                Ok(m) => {
                    to_upsert.insert(user, (m, credential));
                }
                Err(e) => {
                    errors.insert(user, e);
                }
            }
        }
        let mut results = Vec::new();
        for (user, m) in to_delete {
            if let Some(creds) = self.scram.get_mut(user) {
                creds.remove(&m);
                if creds.is_empty() {
                    self.scram.remove(user);
                }
            }
            results.push((user.to_string(), 0, None));
        }
        for (user, (m, c)) in to_upsert {
            self.scram.entry(user.to_string()).or_default().insert(m, c.clone());
            results.push((user.to_string(), 0, None));
        }
        results.extend(errors.into_iter().map(|(u, (code, msg))| (u.to_string(), code, Some(msg))));
        results
    }

    /// DescribeUserScramCredentials: every user when `users` is `None` or empty.
    pub fn describe_scram(&self, users: Option<&[String]>) -> Vec<(String, Result<Vec<(i8, i32)>, (i16, String)>)> {
        let mut seen: BTreeMap<&str, bool> = BTreeMap::new();
        match users {
            Some(list) if !list.is_empty() => {
                for u in list {
                    *seen.entry(u).or_insert(false) |= list.iter().filter(|x| *x == u).count() > 1;
                }
            }
            _ => seen.extend(self.scram.keys().map(|u| (u.as_str(), false))),
        }
        seen.into_iter()
            .map(|(user, duplicated)| {
                let r = if duplicated {
                    Err((E::DuplicateResource.code(), format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}")))
                } else {
                    match self.scram.get(user) {
                        Some(c) if !c.is_empty() => Ok(c.iter().map(|(m, c)| (m.type_code(), c.iterations)).collect()),
                        _ => Err((E::ResourceNotFound.code(), format!("Attempt to describe a user credential that does not exist: {user}"))),
                    }
                };
                (user.to_string(), r)
            })
            .collect()
    }

    /// Users with at least one credential.
    pub fn scram_users(&self) -> BTreeSet<&str> {
        self.scram.keys().map(String::as_str).collect()
    }
}

fn check_user_and_mechanism(user: &str, code: i8) -> Result<ScramMechanism, (i16, String)> {
    if user.is_empty() {
        return Err((E::UnacceptableCredential.code(), "Username must not be empty".into()));
    }
    ScramMechanism::from_type_code(code).ok_or((E::UnsupportedSaslMechanism.code(), "Unknown SCRAM mechanism".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(iterations: i32) -> ScramCredential {
        ScramCredential { salt: vec![1], stored_key: vec![2], server_key: vec![3], iterations }
    }

    #[test]
    fn alter_and_describe_as_kafka_checks_them() {
        let mut image = SecurityImage::default();
        let r = image.apply(&SecurityRecord::AlterScramCredentials {
            deletions: vec![("ghost".into(), 1)],
            upsertions: vec![("alice".into(), 2, cred(8192)), ("bob".into(), 1, cred(100)), ("".into(), 1, cred(4096)), ("carol".into(), 3, cred(4096)), ("dave".into(), 1, cred(4096)), ("dave".into(), 2, cred(4096))],
        });
        let codes: BTreeMap<_, _> = r.users.iter().map(|(u, c, _)| (u.as_str(), *c)).collect();
        assert_eq!(codes["alice"], 0);
        assert_eq!(codes["bob"], E::UnacceptableCredential.code());
        assert_eq!(codes[""], E::UnacceptableCredential.code());
        assert_eq!(codes["carol"], E::UnsupportedSaslMechanism.code());
        assert_eq!(codes["dave"], E::DuplicateResource.code());
        assert_eq!(codes["ghost"], E::ResourceNotFound.code());
        assert_eq!(image.scram_users().into_iter().collect::<Vec<_>>(), vec!["alice"]);
        let d = image.describe_scram(Some(&["alice".into(), "ghost".into(), "alice".into()]));
        assert!(matches!(&d[0], (u, Err((c, _))) if u == "alice" && *c == E::DuplicateResource.code()));
        assert!(matches!(&d[1], (u, Err((c, _))) if u == "ghost" && *c == E::ResourceNotFound.code()));
        assert_eq!(image.describe_scram(None), vec![("alice".to_string(), Ok(vec![(2, 8192)]))]);
        image.apply(&SecurityRecord::AlterScramCredentials { deletions: vec![("alice".into(), 2)], upsertions: vec![] });
        assert!(image.scram.is_empty());
    }
}
