//! Who this broker is: its node id, the cluster it belongs to and this process's
//! incarnation.

use parking_lot::RwLock;

use crate::common::topic_id;

#[derive(Debug)]
pub struct BrokerIdentity {
    pub node_id: i32,
    cluster_id: RwLock<String>,
    /// Differs at every start, so the controller can tell a restarted broker.
    pub incarnation: String,
}

impl BrokerIdentity {
    pub fn new(node_id: i32, cluster_id: String) -> Self {
        BrokerIdentity { node_id, cluster_id: RwLock::new(cluster_id), incarnation: topic_id::to_string(&topic_id::generate()) }
    }

    /// The cluster id: the log directory's, or the metadata quorum's on a cluster node.
    pub fn cluster_id(&self) -> String {
        self.cluster_id.read().clone()
    }

    /// Takes the cluster id from the metadata (a cluster's nodes all report the quorum's).
    pub fn set_cluster_id(&self, id: &str) {
        if !id.is_empty() && *self.cluster_id.read() != id {
            *self.cluster_id.write() = id.to_string();
        }
    }
}
