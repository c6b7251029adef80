//! A node, built and owned in one place: the services in the order they depend on each
//! other, the shape the node's roles call for (a single broker, a cluster broker, a
//! controller), their background tasks, and one shutdown signal. `main` only parses
//! the command line and waits for a signal.
//!
//! Shutdown, in Kafka's order: a cluster broker first hands its leaderships over while
//! it still serves (its followers and clients then move on and learn of the change
//! through the replication and connections still running); then the signal fires:
//! listeners stop accepting, connections close once the request in hand is answered
//! (open ones get [`CONNECTION_DRAIN_TIMEOUT`]), background tasks stop; logs are
//! flushed last.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api::{ApiHandler, Services};
use crate::broker::meta::{self, LogDirMeta};
use crate::broker::{log_manager, BrokerIdentity, TopicError, TopicRegistry};
use crate::common::shutdown::{self, ShutdownTrigger};
use crate::common::SharedClock;
use crate::config::{BrokerConfig, ClusterConfig, ListenerConfig};
use crate::controller::{Controller, ControllerError, ControllerSettings};
use crate::coordinator::CoordinatorRuntime;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::txn::{TransactionCoordinator, TxnConfig};
use crate::net::connection::ConnectionLimits;
use crate::net::memory_pool::MemoryPool;
use crate::net::server::{BoundListener, ServeShared};
use crate::producer::ProducerIdManager;
use crate::replication::{self, ReplicaManager};
use crate::security::quotas::QuotaManager;
use crate::security::client::PeerSecurity;
use crate::security::{Authorizer, ListenerSecurity, SecurityStore};
use crate::storage::SharedStorage;

/// How long open connections get to finish the request in hand at shutdown.
pub const CONNECTION_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a controlled shutdown may take to move leaderships away.
pub const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long background tasks get to stop before they are aborted.
pub const TASK_STOP_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding a listener: {0}")]
    Bind(std::io::Error),
    #[error("log directory {dir}: {source}")]
    LogDir { dir: String, source: std::io::Error },
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("starting the controller: {0}")]
    Controller(#[from] ControllerError),
    #[error("loading coordinator state: {0}")]
    Coordinators(String),
    #[error("security settings: {0}")]
    Security(#[from] crate::security::SecurityConfigError),
    #[error("{0}")]
    Authorizer(String),
}

/// A running node.
pub struct Server {
    services: Arc<Services>,
    listeners: Vec<(BoundListener, Arc<ListenerSecurity>)>,
    tasks: Vec<JoinHandle<()>>,
    trigger: ShutdownTrigger,
    /// The log directory's lock, held for the node's lifetime.
    _meta: LogDirMeta,
}

impl Server {
    /// Opens the log directory, recovers the logs, builds the services and starts their
    /// tasks. A cluster broker returns once the controller has registered it.
    pub async fn start(mut config: BrokerConfig, storage: SharedStorage, clock: SharedClock) -> Result<Server, StartError> {
        let serves_clients = config.cluster.as_ref().is_none_or(|c| c.broker);
        let listeners = if serves_clients {
            crate::net::server::bind(&config.listeners).await.map_err(StartError::Bind)?
        } else {
            Vec::new()
        };
        // Port 0 binds any free port: publish the one we got.
        if let Some(first) = listeners.first() {
            config.advertised_port = first.config.advertised_port;
            config.listeners = listeners.iter().map(|l| (*l.config).clone()).collect();
        }
        let controller_listener = match config.cluster.as_ref().and_then(|c| c.controller_listener) {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(StartError::Bind)?),
            None => None,
        };
        let config = Arc::new(config);
        let dir = config.log_dir.clone();
        let dir_err = |source| StartError::LogDir { dir: dir.display().to_string(), source };
        let meta = meta::open(&storage, &dir, config.node_id).map_err(dir_err)?;
        // A single broker keeps its dynamic configs beside its logs (a cluster node gets
        // them from the metadata image); topics open with them in force.
        if config.cluster.is_none() {
            config.set_dynamic(crate::broker::dynamic_configs::load(&storage, &dir).map_err(dir_err)?);
        }
        let (trigger, signal) = shutdown::channel();
        let topics = Arc::new(TopicRegistry::load(&storage, &clock, &dir, config.clone())?);
        let producer_ids = ProducerIdManager::open(&storage, &dir).map_err(dir_err)?;
        let security = if config.cluster.is_none() { SecurityStore::open(&storage, &dir).map_err(dir_err)? } else { SecurityStore::replicated() };
        let mut secured = Vec::new();
        for l in listeners {
            let s = ListenerSecurity::from_config(&config, &l.config, security.clone())?;
            secured.push((l, Arc::new(s)));
        }
        let listeners = secured;
        let authorizer = Authorizer::from_config(&config).map_err(StartError::Authorizer)?;
        let int = |k: &str| config.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
        let quotas = QuotaManager::new(
            int("quota.window.size.seconds") * 1000,
            int("quota.window.num").max(0) as usize,
            int("controller.quota.window.size.seconds") * 1000 * int("controller.quota.window.num"),
        );
        let identity = Arc::new(BrokerIdentity::new(config.node_id, meta.cluster_id.clone()));
        let coordinators = CoordinatorRuntime::new(topics.clone(), clock.clone(), config.cluster.is_none());
        let groups = GroupCoordinator::new(GroupConfig::from_broker(&config), clock.clone(), topics.clone(), coordinators.clone());
        let txn = TransactionCoordinator::new(TxnConfig::from_broker(&config), clock.clone(), topics.clone(), coordinators.clone(), groups.clone(), config.node_id);
        let mut tasks = Vec::new();
        let replicas = match config.cluster.clone() {
            None => {
                let loaded = coordinators.load_all().map_err(StartError::Coordinators)?;
                if loaded > 0 {
                    tracing::info!(loaded, "loaded consumer groups and transactions from the internal topics");
                }
                None
            }
            Some(cluster) => {
                let controller_peers = PeerSecurity::from_config(&config, &cluster.controller_listener_name, cluster.controller_security_protocol, "sasl.mechanism.controller.protocol")?;
                let settings = controller_settings(&config, &cluster, clock.clone(), Arc::new(controller_peers), authorizer.clone());
                let controller = match (controller_listener, cluster.controller_listener) {
                    (Some(socket), Some(bind)) => {
                        let listener = ListenerConfig {
                            name: cluster.controller_listener_name.clone(),
                            security_protocol: cluster.controller_security_protocol,
                            bind,
                            advertised_host: bind.ip().to_string(),
                            advertised_port: bind.port() as i32,
                            advertised_explicitly: false,
                        };
                        let listener_security = Arc::new(ListenerSecurity::from_config(&config, &listener, security.clone())?);
                        Controller::start(settings, &storage, &dir, socket, listener_security).await?
                    }
                    // A broker without the controller role follows the quorum's metadata.
                    _ => Controller::connect(settings),
                };
                // Replicas fetch from, and transaction markers go to, the inter-broker
                // listener (the first).
                let inter_broker = match config.listeners.first() {
                    Some(l) if cluster.broker => PeerSecurity::from_config(&config, &l.name, l.security_protocol, "sasl.mechanism.inter.broker.protocol")?,
                    _ => PeerSecurity::plaintext("PLAINTEXT"),
                };
                let rm = ReplicaManager::new(controller, config.clone(), topics.clone(), coordinators.clone(), identity.clone(), clock.clone(), security.clone(), Arc::new(inter_broker));
                txn.peers.set_cluster(rm.clone());
                if cluster.broker {
                    tasks.extend(replication::start(&rm, signal.clone()));
                    replication::wait_until_registered(&rm).await;
                } else {
                    tasks.push(follow_security(&rm, signal.clone()));
                }
                Some(rm)
            }
        };
        tasks.extend(groups.start(signal.clone()));
        tasks.extend(txn.start(signal.clone()));
        tasks.push(log_manager::start(&config, topics.clone(), clock.clone(), signal.clone()));
        log_manager::start_cleaner(&config, topics.clone(), clock.clone(), signal);
        let services = Arc::new(Services {
            config,
            clock,
            identity,
            topics,
            producer_ids,
            cluster_producer_ids: Default::default(),
            coordinators,
            groups,
            txn,
            replicas,
            security,
            authorizer,
            quotas,
        });
        Ok(Server { services, listeners, tasks, trigger, _meta: meta })
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Where the client listeners are bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|(l, _)| l.socket.local_addr().ok()).collect()
    }

    /// Serves clients until `stop` completes, then shuts down.
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        let Server { services, listeners, tasks, trigger, _meta } = self;
        let c = &services.config;
        let limits = ConnectionLimits { max_request_bytes: c.socket_request_max_bytes, pool: MemoryPool::new(c.queued_max_request_bytes) };
        let shared = ServeShared::new(c.max_connections, limits);
        let handler = Arc::new(ApiHandler { services: services.clone() });
        let accepting: Vec<JoinHandle<()>> = listeners
            .into_iter()
            .map(|(l, security)| tokio::spawn(crate::net::server::serve(l, security, handler.clone(), shared.clone(), trigger.signal())))
            .collect();
        stop.await;
        if let Some(rm) = services.cluster().filter(|_| services.config.cluster.as_ref().is_some_and(|c| c.broker)) {
            // Controlled shutdown: leaderships move to other in-sync replicas first.
            tracing::info!("shutting down: handing over leaderships");
            rm.controlled_shutdown(CONTROLLED_SHUTDOWN_TIMEOUT).await;
        }
        tracing::info!("shutting down: closing connections");
        trigger.fire();
        for a in accepting {
            let _ = a.await;
        }
        let left = shared.open.drained(CONNECTION_DRAIN_TIMEOUT).await;
        if left > 0 {
            tracing::warn!(connections = left, "shutting down with connections still open");
        }
        if let Some(rm) = services.cluster() {
            rm.controller.shutdown().await;
        }
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(TASK_STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
        tracing::info!("shutting down: flushing logs");
        let topics = services.topics.clone();
        let _ = tokio::task::spawn_blocking(move || topics.close_all()).await;
    }
}

/// A controller-only node applies no partitions, but checks SCRAM credentials and ACLs
/// on its listener: its security store follows the metadata image.
fn follow_security(rm: &Arc<ReplicaManager>, mut shutdown: crate::common::ShutdownSignal) -> JoinHandle<()> {
    let mut images = rm.controller.subscribe();
    let store = rm.security.clone();
    tokio::spawn(async move {
        loop {
            store.replace(&images.borrow_and_update().security);
            tokio::select! {
                changed = images.changed() => if changed.is_err() { return },
                _ = shutdown.wait() => return,
            }
        }
    })
}

fn controller_settings(c: &Arc<BrokerConfig>, cluster: &ClusterConfig, clock: SharedClock, peer_security: Arc<PeerSecurity>, authorizer: Authorizer) -> ControllerSettings {
    let ms = |k: &str| Duration::from_millis(c.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0));
    let yes = |k: &str| c.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ControllerSettings {
        node_id: c.node_id,
        voters: cluster.voters.iter().map(|(id, a)| (*id as u64, a.clone())).collect(),
        session_timeout: ms("broker.session.timeout.ms"),
        election_timeout: ms("controller.quorum.election.timeout.ms"),
        broker_config: c.clone(),
        auto_rebalance: yes("auto.leader.rebalance.enable"),
        imbalance_check_interval: ms("leader.imbalance.check.interval.seconds") * 1000,
        clock,
        peer_security,
        authorizer,
    }
}

#[cfg(test)]
mod tests;
