//! The services request handlers use. The server builds them once (`server/`), in the
//! shape the node's roles call for; handlers never see the tasks, files or controller
//! start-up behind them.

use std::sync::Arc;

use crate::broker::{BrokerIdentity, TopicError, TopicRegistry};
use crate::common::SharedClock;
use crate::config::BrokerConfig;
use crate::coordinator::CoordinatorRuntime;
use crate::group::GroupCoordinator;
use crate::producer::id_manager::ClusterProducerIds;
use crate::producer::ProducerIdManager;
use crate::replication::ReplicaManager;
use crate::security::quotas::QuotaManager;
use crate::security::{Authorizer, SecurityStore};
use crate::txn::TransactionCoordinator;

pub struct Services {
    pub config: Arc<BrokerConfig>,
    pub clock: SharedClock,
    pub identity: Arc<BrokerIdentity>,
    pub topics: Arc<TopicRegistry>,
    pub producer_ids: ProducerIdManager,
    /// On a cluster node, producer ids come from blocks the controller reserves.
    pub cluster_producer_ids: ClusterProducerIds,
    pub coordinators: Arc<CoordinatorRuntime>,
    pub groups: Arc<GroupCoordinator>,
    pub txn: Arc<TransactionCoordinator>,
    /// Credentials SASL checks: a file of the single broker's, or the metadata log's.
    pub security: Arc<SecurityStore>,
    /// `authorizer.class.name`: ACL checks, or none.
    pub authorizer: Authorizer,
    /// Byte rates measured against client quotas.
    pub quotas: QuotaManager,
    /// Set on a node of a cluster: the controller and the replica fetchers.
    pub replicas: Option<Arc<ReplicaManager>>,
}

impl Services {
    /// The cluster side of this broker, on a node of a cluster.
    pub fn cluster(&self) -> Option<&Arc<ReplicaManager>> {
        self.replicas.as_ref()
    }

    pub fn cluster_id(&self) -> String {
        self.identity.cluster_id()
    }

    /// Deletes a topic on this broker, with the coordinators' state that refers to it.
    pub fn delete_topic_locally(&self, name: &str) -> Result<(), TopicError> {
        crate::replication::delete_topic_locally(&self.topics, &self.coordinators, name)
    }
}
