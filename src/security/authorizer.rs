//! Kafka's StandardAuthorizer semantics over the ACLs of the security image: super
//! users pass; a matching DENY wins over any ALLOW; an ALLOW for READ, WRITE, DELETE or
//! ALTER implies DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS; a resource no
//! ACL covers is decided by `allow.everyone.if.no.acl.found` (deny by default).

use super::acl::{op, permission, AclBinding, WILDCARD};
use super::image::SecurityImage;
use crate::config::BrokerConfig;

/// Kafka's authorizer class names that turn ACLs on.
const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// The principal an ACL names to match every user.
const WILDCARD_USER: &str = "User:*";

#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    enabled: bool,
    /// `super.users`, principals separated by ';'.
    super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`
    allow_if_no_acl: bool,
}

/// Who asks.
pub struct Requester<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

impl Authorizer {
    pub fn from_config(config: &BrokerConfig) -> Result<Self, String> {
        let class = config.get("authorizer.class.name").unwrap_or_default();
        let enabled = match class.trim() {
            "" => false,
            STANDARD_AUTHORIZER => true,
            other => return Err(format!("authorizer.class.name: {other} is not supported (use {STANDARD_AUTHORIZER})")),
        };
        let super_users = config.get("super.users").unwrap_or_default().split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let allow_if_no_acl = config.get("allow.everyone.if.no.acl.found").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Authorizer { enabled, super_users, allow_if_no_acl })
    }

    /// An authorizer that checks ACLs (tests).
    pub fn standard(super_users: &[&str], allow_if_no_acl: bool) -> Self {
        Authorizer { enabled: true, super_users: super_users.iter().map(|s| s.to_string()).collect(), allow_if_no_acl }
    }

    /// Whether ACLs are checked at all (without an authorizer everything is allowed and
    /// the ACL APIs answer SECURITY_DISABLED).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.iter().any(|s| s == principal)
    }

    /// Whether `who` may perform `operation` on the resource `name` of `resource_type`.
    pub fn authorize(&self, image: &SecurityImage, who: &Requester<'_>, operation: i8, resource_type: i8, name: &str) -> bool {
        if !self.enabled || self.is_super_user(who.principal) {
            return true;
        }
        let mut covered = false;
        let mut allowed = false;
        for acl in image.acls.iter().filter(|a| a.covers(resource_type, name)) {
            covered = true;
            match applies(acl, who, operation) {
                Some(false) => return false,
                Some(true) => allowed = true,
                None => {}
            }
        }
        allowed || (!covered && self.allow_if_no_acl)
    }

    /// Whether `who` may perform `operation` on some resource of `resource_type` (Kafka's
    /// authorizeByResourceType: an ALLOW it holds that no DENY of the same or a wider
    /// pattern cancels).
    pub fn authorize_any(&self, image: &SecurityImage, who: &Requester<'_>, operation: i8, resource_type: i8) -> bool {
        if !self.enabled || self.is_super_user(who.principal) {
            return true;
        }
        let of_type: Vec<&AclBinding> = image.acls.iter().filter(|a| a.resource_type == resource_type).collect();
        if of_type.is_empty() {
            return self.allow_if_no_acl;
        }
        let denies: Vec<&&AclBinding> = of_type.iter().filter(|a| applies(a, who, operation) == Some(false)).collect();
        of_type.iter().filter(|a| applies(a, who, operation) == Some(true)).any(|allow| {
            !denies.iter().any(|deny| deny.covers(resource_type, &allow.resource_name) || (deny.pattern_type == super::acl::pattern::LITERAL && deny.resource_name == WILDCARD))
        })
    }
}

/// What one ACL says about `who` doing `operation`: allow, deny, or nothing.
fn applies(acl: &AclBinding, who: &Requester<'_>, operation: i8) -> Option<bool> {
    if acl.principal != who.principal && acl.principal != WILDCARD_USER {
        return None;
    }
    if acl.host != WILDCARD && acl.host != who.host {
        return None;
    }
    let allow = acl.permission_type == permission::ALLOW;
    if acl.operation != op::ALL {
        let matches = match operation {
            op::DESCRIBE if allow => [op::DESCRIBE, op::READ, op::WRITE, op::DELETE, op::ALTER].contains(&acl.operation),
            op::DESCRIBE_CONFIGS if allow => [op::DESCRIBE_CONFIGS, op::ALTER_CONFIGS].contains(&acl.operation),
            _ => acl.operation == operation,
        };
        if !matches {
            return None;
        }
    }
    Some(allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::{pattern, resource};

    fn acl(name: &str, pattern_type: i8, principal: &str, operation: i8, permission_type: i8) -> AclBinding {
        AclBinding { resource_type: resource::TOPIC, resource_name: name.into(), pattern_type, principal: principal.into(), host: "*".into(), operation, permission_type }
    }

    #[test]
    fn standard_authorizer_rules() {
        let a = Authorizer::standard(&["User:admin"], false);
        let mut image = SecurityImage::default();
        let alice = Requester { principal: "User:alice", host: "127.0.0.1" };
        let admin = Requester { principal: "User:admin", host: "127.0.0.1" };
        // Deny by default; super users pass.
        assert!(!a.authorize(&image, &alice, op::READ, resource::TOPIC, "t"));
        assert!(a.authorize(&image, &admin, op::READ, resource::TOPIC, "t"));
        assert!(Authorizer::standard(&[], true).authorize(&image, &alice, op::READ, resource::TOPIC, "t"));
        image.acls.insert(acl("orders-", pattern::PREFIXED, "User:alice", op::READ, permission::ALLOW));
        image.acls.insert(acl("orders-secret", pattern::LITERAL, "User:*", op::ALL, permission::DENY));
        assert!(a.authorize(&image, &alice, op::READ, resource::TOPIC, "orders-1"));
        assert!(a.authorize(&image, &alice, op::DESCRIBE, resource::TOPIC, "orders-1"), "READ implies DESCRIBE");
        assert!(!a.authorize(&image, &alice, op::WRITE, resource::TOPIC, "orders-1"));
        assert!(!a.authorize(&image, &alice, op::READ, resource::TOPIC, "orders-secret"), "DENY wins");
        assert!(!a.authorize(&image, &alice, op::READ, resource::TOPIC, "other"));
        // A covered resource is not decided by allow.everyone.if.no.acl.found.
        let open = Authorizer::standard(&[], true);
        assert!(!open.authorize(&image, &Requester { principal: "User:bob", host: "h" }, op::READ, resource::TOPIC, "orders-1"));
        assert!(open.authorize(&image, &Requester { principal: "User:bob", host: "h" }, op::READ, resource::TOPIC, "other"));
        assert!(a.authorize_any(&image, &alice, op::READ, resource::TOPIC));
        assert!(!a.authorize_any(&image, &alice, op::WRITE, resource::TOPIC));
        // A DENY on READ does not deny DESCRIBE.
        image.acls.insert(acl("x", pattern::LITERAL, "User:alice", op::DESCRIBE, permission::ALLOW));
        image.acls.insert(acl("x", pattern::LITERAL, "User:alice", op::READ, permission::DENY));
        assert!(a.authorize(&image, &alice, op::DESCRIBE, resource::TOPIC, "x"));
        assert!(!a.authorize(&image, &alice, op::READ, resource::TOPIC, "x"));
    }
}
