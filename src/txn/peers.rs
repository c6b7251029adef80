//! Requests from this broker to another one on the transaction path: markers to
//! partition leaders (WriteTxnMarkers) and a leader's questions to a transaction
//! coordinator (AddPartitionsToTxn v4+). Connections are kept per broker and reused,
//! one request at a time each; one that fails is dropped.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kafka_protocol::protocol::Request;
use parking_lot::Mutex;

use crate::replication::leader_client::LeaderClient;
use crate::replication::ReplicaManager;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per broker.
const IDLE_PER_BROKER: usize = 4;

#[derive(Default)]
pub struct Peers {
    cluster: OnceLock<Arc<ReplicaManager>>,
    idle: Mutex<HashMap<(i32, String), Vec<LeaderClient>>>,
}

impl Peers {
    pub fn set_cluster(&self, rm: Arc<ReplicaManager>) {
        let _ = self.cluster.set(rm);
    }

    pub fn cluster(&self) -> Option<&Arc<ReplicaManager>> {
        self.cluster.get()
    }

    /// Sends `req` to broker `node` and waits up to `timeout` for its answer.
    pub async fn call<R: Request>(&self, node: i32, version: i16, req: &R, timeout: Duration) -> io::Result<R::Response> {
        let rm = self.cluster.get().ok_or_else(|| io::Error::other("not a cluster node"))?;
        let addr = {
            let image = rm.image();
            let b = image.brokers.get(&node).filter(|b| !b.fenced).ok_or_else(|| io::Error::other(format!("broker {node} is not available")))?;
            format!("{}:{}", b.endpoint.host, b.endpoint.port)
        };
        let key = (node, addr.clone());
        let pooled = self.idle.lock().get_mut(&key).and_then(Vec::pop).filter(|c| !c.expiring());
        let mut client = match pooled {
            Some(c) => c,
            None => LeaderClient::connect(&addr, &rm.peer_security, CONNECT_TIMEOUT, rm.clock.now_ms()).await?,
        };
        let resp = client.call(version, req, timeout).await?;
        let mut idle = self.idle.lock();
        let slot = idle.entry(key).or_default();
        if slot.len() < IDLE_PER_BROKER {
            slot.push(client);
        }
        Ok(resp)
    }
}
