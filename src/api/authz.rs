//! The authorizer, as handlers ask it: what the connection's principal may do, from its
//! address, under the ACLs of the security image. Without an authorizer everything is
//! allowed and nothing is looked up.

use super::RequestContext;
use crate::security::acl::{resource, CLUSTER_NAME};
use crate::security::authorizer::Requester;

pub use crate::security::acl::op;
pub use crate::security::acl::resource::{CLUSTER, GROUP, TOPIC, TRANSACTIONAL_ID};

impl RequestContext<'_> {
    /// Whether the principal may perform `operation` on the named resource.
    pub fn authorized(&self, operation: i8, resource_type: i8, name: &str) -> bool {
        let authorizer = &self.services.authorizer;
        if !authorizer.enabled() {
            return true;
        }
        let (principal, host) = (self.session.principal(), self.session.peer.ip().to_string());
        authorizer.authorize(&self.services.security.image(), &Requester { principal: &principal, host: &host }, operation, resource_type, name)
    }

    /// Whether the principal may perform `operation` on the cluster.
    pub fn cluster_authorized(&self, operation: i8) -> bool {
        self.authorized(operation, resource::CLUSTER, CLUSTER_NAME)
    }

    /// Whether the principal may perform `operation` on some resource of the type.
    pub fn authorized_on_any(&self, operation: i8, resource_type: i8) -> bool {
        let authorizer = &self.services.authorizer;
        if !authorizer.enabled() {
            return true;
        }
        let (principal, host) = (self.session.principal(), self.session.peer.ip().to_string());
        authorizer.authorize_any(&self.services.security.image(), &Requester { principal: &principal, host: &host }, operation, resource_type)
    }

    /// Kafka's authorized-operations bit field for a resource (Metadata, DescribeCluster,
    /// DescribeGroups, ... when asked): bit `op` set for each operation allowed.
    pub fn authorized_operations(&self, resource_type: i8, name: &str) -> i32 {
        let ops: &[i8] = match resource_type {
            resource::TOPIC => &[op::READ, op::WRITE, op::CREATE, op::DELETE, op::ALTER, op::DESCRIBE, op::DESCRIBE_CONFIGS, op::ALTER_CONFIGS],
            resource::GROUP => &[op::READ, op::DELETE, op::DESCRIBE],
            resource::CLUSTER => &[op::CREATE, op::ALTER, op::DESCRIBE, op::CLUSTER_ACTION, op::DESCRIBE_CONFIGS, op::ALTER_CONFIGS, op::IDEMPOTENT_WRITE],
            resource::TRANSACTIONAL_ID => &[op::WRITE, op::DESCRIBE],
            _ => &[],
        };
        ops.iter().filter(|o| self.authorized(**o, resource_type, name)).fold(0, |bits, o| bits | (1 << *o))
    }
}

impl RequestContext<'_> {
    /// What a group request is answered before the coordinator sees it:
    /// GROUP_AUTHORIZATION_FAILED without `operation` on the group, else the
    /// coordinator's refusal (NOT_COORDINATOR, ...), if any.
    pub fn group_error(&self, operation: i8, group: &str) -> Option<i16> {
        if !self.authorized(operation, resource::GROUP, group) {
            return Some(kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code());
        }
        self.services.groups.coordinator_error(group)
    }
}
