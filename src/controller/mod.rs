//! The controller: a metadata quorum on openraft (the role KRaft plays in Kafka). The
//! voters (`controller.quorum.voters`) replicate the metadata log; every node applies it
//! to its [`MetadataImage`]. The active controller (the raft leader) also watches broker
//! heartbeats, fences brokers silent past `broker.session.timeout.ms`, and moves
//! leaders back to their preferred replicas (`auto.leader.rebalance.enable`).
//! Brokers send it metadata writes (topic creation, ISR changes) from any node: a write
//! reaching a controller that is not active is sent on to the active one.

pub mod command;
pub mod image;
pub mod network;
pub mod placement;
pub mod quorum;
pub mod reassignment;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use parking_lot::Mutex;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::net::peer::PeerSession;
use crate::security::acl::{op, resource, CLUSTER_NAME};
use crate::security::authorizer::Requester;
use crate::security::ListenerSecurity;
use tokio::sync::watch;

pub use command::{BrokerEndpoint, Command, CommandResult, ElectionDefaults};
pub use image::{MetadataImage, PartitionImage, TopicImage, NO_LEADER};
use network::{read_frame, write_frame, RpcClient, RpcRequest, RpcResponse, WriteOutcome};

openraft::declare_raft_types!(
    /// The metadata quorum's types: records are [`Command`]s.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = BasicNode,
);

#[derive(Debug, Error)]
pub enum ControllerError {
    #[error("metadata storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error("metadata quorum: {0}")]
    Raft(String),
    #[error("no active controller answered within {0:?}: {1}")]
    Unavailable(Duration, String),
}

/// How long start-up waits for the image to replay what was committed before the stop.
const STARTUP_REPLAY_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll period while waiting for that replay.
const STARTUP_REPLAY_POLL: Duration = Duration::from_millis(5);
/// Pause between attempts to reach the active controller while the quorum elects one.
const ROUTE_RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// The shortest bound of one routed attempt.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(10);
/// Longest wait for a forwarded write or heartbeat.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait of a new controller to catch up before serving an image.
const LINEARIZABLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait of FetchImage for an image newer than the follower's.
const IMAGE_WAIT: Duration = Duration::from_secs(1);
/// Longest wait for the quorum to commit a record.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept on the controller listener.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait of a broker-only node's image fetch.
const FETCH_IMAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause of a broker-only node before asking another voter for the image.
const FETCH_IMAGE_BACKOFF: Duration = Duration::from_millis(200);
/// How often the active controller checks sessions and leader balance.
const DUTY_INTERVAL: Duration = Duration::from_millis(200);

/// The controller's settings, from Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    pub node_id: i32,
    /// Voter id → controller listener address.
    pub voters: BTreeMap<u64, String>,
    pub session_timeout: Duration,
    pub election_timeout: Duration,
    /// `unclean.leader.election.enable` is read from it when an election is proposed,
    /// so a dynamic change of the key takes effect.
    pub broker_config: Arc<crate::config::BrokerConfig>,
    pub auto_rebalance: bool,
    pub imbalance_check_interval: Duration,
    /// Broker sessions are judged by this clock.
    pub clock: crate::common::SharedClock,
    /// What connections to the controller listener need (`controller.listener.names`,
    /// `sasl.mechanism.controller.protocol`).
    pub peer_security: Arc<crate::security::client::PeerSecurity>,
    /// Who may send controller RPCs when ACLs are on: principals with CLUSTER_ACTION on
    /// the cluster (super users, as Kafka's brokers usually are).
    pub authorizer: crate::security::Authorizer,
}

impl ControllerSettings {
    fn rpc_security(&self) -> network::RpcSecurity {
        network::RpcSecurity { peer: self.peer_security.clone(), clock: self.clock.clone() }
    }
}

/// A quorum member's own state: its raft node and state machine.
struct Quorum {
    raft: Raft<TypeConfig>,
    state_machine: store::StateMachine,
}

/// The controller side of a node. On a voter it runs the quorum; on a broker without
/// the controller role it is a client of the quorum that follows the metadata image.
pub struct Controller {
    settings: ControllerSettings,
    quorum: Option<Quorum>,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// Broker-only nodes: the active controller last heard of (-1: none).
    known_leader: std::sync::atomic::AtomicI64,
    /// Active controller only: when each broker was last heard from (the clock's
    /// monotonic ms).
    heartbeats: Mutex<HashMap<i32, i64>>,
    /// Idle connections to other controllers, for forwarded writes.
    clients: Mutex<HashMap<u64, RpcClient>>,
}

impl Controller {
    /// Opens the metadata log in `log_dir`, joins the quorum and serves controller RPCs on
    /// `listener`. On first start the lowest voter id proposes the initial membership.
    pub async fn start(
        settings: ControllerSettings,
        files: &crate::storage::SharedStorage,
        log_dir: &std::path::Path,
        listener: TcpListener,
        security: Arc<ListenerSecurity>,
    ) -> Result<Arc<Controller>, ControllerError> {
        let log_store = store::LogStore::open(files, log_dir)?;
        let (state_machine, image) = store::StateMachine::open(files, log_dir)?;
        let et = settings.election_timeout.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "riffle".into(),
            election_timeout_min: et,
            election_timeout_max: et * 2,
            heartbeat_interval: (et / 5).max(20),
            install_snapshot_timeout: 10_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let node_id = settings.node_id as u64;
        let committed = log_store.committed_index();
        let applied = state_machine.clone();
        let raft = Raft::new(node_id, Arc::new(config), network::Network(settings.rpc_security()), log_store, state_machine.clone())
            .await
            .map_err(|e| ControllerError::Raft(e.to_string()))?;
        // The image must hold everything committed before the last stop before the broker
        // acts on it: an image still replaying would look like deleted topics.
        let deadline = Instant::now() + STARTUP_REPLAY_TIMEOUT;
        while committed.is_some() && applied.last_applied_index() < committed && Instant::now() < deadline {
            tokio::time::sleep(STARTUP_REPLAY_POLL).await;
        }
        let controller = Arc::new(Controller {
            settings,
            quorum: Some(Quorum { raft: raft.clone(), state_machine }),
            image,
            known_leader: (-1).into(),
            heartbeats: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        });
        tokio::spawn(serve(listener, security, controller.clone()));
        let initialized = raft.is_initialized().await.map_err(|e| ControllerError::Raft(e.to_string()))?;
        let first = controller.settings.voters.keys().next().copied();
        if !initialized && first == Some(node_id) {
            let members: BTreeMap<u64, BasicNode> = controller.settings.voters.iter().map(|(id, addr)| (*id, BasicNode::new(addr))).collect();
            match raft.initialize(members).await {
                Ok(()) => {
                    // The users of `riffle format --add-scram` go into the new metadata log.
                    let records = crate::security::bootstrap::read(files, log_dir)?.unwrap_or_default();
                    if !records.is_empty() {
                        tokio::spawn(commit_bootstrap(controller.clone(), records));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "metadata quorum initialization"),
            }
        }
        tokio::spawn(active_controller_duties(controller.clone()));
        Ok(controller)
    }

    /// A broker without the controller role: follows the image the quorum publishes
    /// (fetched from the active controller) and sends its writes there.
    pub fn connect(settings: ControllerSettings) -> Arc<Controller> {
        let (tx, image) = watch::channel(Arc::new(MetadataImage::default()));
        let controller = Arc::new(Controller {
            settings,
            quorum: None,
            image,
            known_leader: (-1).into(),
            heartbeats: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        });
        tokio::spawn(follow_image(controller.clone(), tx));
        controller
    }

    /// The raft leader as this quorum member sees it.
    fn raft_leader(&self) -> Option<u64> {
        self.quorum.as_ref().and_then(|q| q.raft.metrics().borrow().current_leader)
    }

    fn is_active(&self) -> bool {
        self.raft_leader() == Some(self.settings.node_id as u64)
    }

    /// Stops this node's part in the quorum (a voter's raft core), at shutdown.
    pub async fn shutdown(&self) {
        if let Some(q) = &self.quorum {
            if let Err(e) = q.raft.shutdown().await {
                tracing::warn!(error = %e, "stopping the metadata quorum member");
            }
        }
    }

    pub fn node_id(&self) -> i32 {
        self.settings.node_id
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// Changes of the image, for the broker's replica manager.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// The active controller's node id, if one is known.
    pub fn active_controller(&self) -> Option<i32> {
        match &self.quorum {
            Some(_) => self.raft_leader().map(|l| l as i32),
            None => Some(self.known_leader.load(std::sync::atomic::Ordering::Relaxed) as i32).filter(|l| *l >= 0),
        }
    }

    pub fn election_defaults(&self) -> ElectionDefaults {
        let unclean = self.settings.broker_config.get("unclean.leader.election.enable").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        ElectionDefaults { unclean }
    }

    /// Commits a record through the active controller and returns its outcome.
    pub async fn write(&self, cmd: Command, timeout: Duration) -> Result<CommandResult, ControllerError> {
        self.route(RpcRequest::Write(cmd), timeout).await
    }

    /// Tells the active controller this broker is alive (registering it if needed).
    pub async fn heartbeat(&self, endpoint: BrokerEndpoint, timeout: Duration) -> Result<CommandResult, ControllerError> {
        self.route(RpcRequest::Heartbeat(endpoint), timeout).await
    }

    /// Sends a write or heartbeat to the active controller — this node when it is the
    /// one — retrying while the quorum elects one.
    async fn route(&self, req: RpcRequest, timeout: Duration) -> Result<CommandResult, ControllerError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no active controller");
        let mut hint: Option<u64> = None;
        let mut attempt = 0usize;
        loop {
            // A broker-only node tries the voters in turn until one names the leader.
            let fallback = || self.settings.voters.keys().nth(attempt % self.settings.voters.len().max(1)).copied();
            let leader = hint.take().or(self.raft_leader()).or(self.active_controller().map(|l| l as u64)).or_else(|| self.quorum.is_none().then(fallback).flatten());
            attempt += 1;
            // openraft waits for a quorum without limit: bound every attempt by the deadline.
            let left = deadline.saturating_duration_since(Instant::now()).max(MIN_ATTEMPT_TIMEOUT);
            let outcome = match leader {
                Some(l) if l == self.settings.node_id as u64 && self.quorum.is_some() => {
                    Some(tokio::time::timeout(left, self.handle_locally(&req)).await.unwrap_or_else(|_| WriteOutcome::Failed("no quorum answered in time".into())))
                }
                Some(l) => match self.settings.voters.get(&l) {
                    Some(addr) => Some(self.forward(l, addr, &req, left).await),
                    None => None,
                },
                None => None,
            };
            match outcome {
                Some(WriteOutcome::Done(r)) => {
                    if let Some(l) = leader {
                        self.known_leader.store(l as i64, std::sync::atomic::Ordering::Relaxed);
                    }
                    return Ok(r);
                }
                Some(WriteOutcome::NotLeader(h)) => {
                    hint = h.filter(|h| Some(*h) != leader);
                    self.known_leader.store(hint.map_or(-1, |h| h as i64), std::sync::atomic::Ordering::Relaxed);
                    last = format!("node {leader:?} is not the active controller");
                }
                Some(WriteOutcome::Failed(e)) => {
                    self.known_leader.store(-1, std::sync::atomic::Ordering::Relaxed);
                    last = e;
                }
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::Unavailable(timeout, last));
            }
            if hint.is_none() {
                tokio::time::sleep(ROUTE_RETRY_BACKOFF).await;
            }
        }
    }

    async fn forward(&self, id: u64, addr: &str, req: &RpcRequest, timeout: Duration) -> WriteOutcome {
        let mut client = self.clients.lock().remove(&id).unwrap_or_else(|| RpcClient::new(addr.to_string(), self.settings.rpc_security()));
        let result = client.call(req, timeout.min(FORWARD_TIMEOUT)).await;
        self.clients.lock().insert(id, client);
        match result {
            Ok(RpcResponse::Write(o)) => o,
            Ok(_) => WriteOutcome::Failed("unexpected controller response".into()),
            Err(e) => WriteOutcome::Failed(format!("controller {id} at {addr}: {e}")),
        }
    }

    /// A write, heartbeat or quorum description arriving at this controller.
    async fn handle_locally(&self, req: &RpcRequest) -> WriteOutcome {
        match req {
            RpcRequest::Write(cmd) => self.commit(cmd.clone()).await,
            RpcRequest::Heartbeat(ep) => self.on_heartbeat(ep).await,
            RpcRequest::DescribeQuorum => self.quorum_state(),
            _ => WriteOutcome::Failed("not a write".into()),
        }
    }

    /// The quorum's state, as only the active controller knows it.
    fn quorum_state(&self) -> WriteOutcome {
        let Some(q) = &self.quorum else { return WriteOutcome::Failed("not a controller".into()) };
        let metrics = q.raft.metrics().borrow().clone();
        match quorum::from_metrics(&metrics, self.settings.node_id as u64, self.settings.clock.now_ms()) {
            Some(state) => WriteOutcome::Done(CommandResult { quorum: Some(state), ..CommandResult::ok() }),
            None => WriteOutcome::NotLeader(metrics.current_leader),
        }
    }

    /// DescribeQuorum: the state of the metadata quorum, from the active controller.
    pub async fn describe_quorum(&self, timeout: Duration) -> Result<quorum::QuorumState, ControllerError> {
        let r = self.route(RpcRequest::DescribeQuorum, timeout).await?;
        r.quorum.ok_or_else(|| ControllerError::Unavailable(timeout, "the active controller sent no quorum state".into()))
    }

    /// The voters and their controller listeners (`controller.quorum.voters`).
    pub fn voters(&self) -> &BTreeMap<u64, String> {
        &self.settings.voters
    }

    /// FetchImage: the image once it is past `after` (waiting up to a second for it).
    async fn image_after(&self, after: u64) -> RpcResponse {
        let Some(q) = &self.quorum else { return RpcResponse::Image(None) };
        // Only the active controller answers: another voter may not have applied
        // everything committed, and an image missing a topic reads as its deletion.
        if !self.is_active() {
            return RpcResponse::Write(WriteOutcome::NotLeader(self.raft_leader()));
        }
        // A newly elected controller may still be applying what earlier ones committed.
        match tokio::time::timeout(LINEARIZABLE_TIMEOUT, q.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            _ => return RpcResponse::Write(WriteOutcome::NotLeader(self.raft_leader())),
        }
        let mut rx = self.image.clone();
        let deadline = Instant::now() + IMAGE_WAIT;
        loop {
            let index = q.state_machine.last_applied_index().unwrap_or(0);
            if index > after {
                return RpcResponse::Image(Some((index, (*rx.borrow_and_update().clone()).clone())));
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return RpcResponse::Image(None);
            }
        }
    }

    async fn commit(&self, cmd: Command) -> WriteOutcome {
        let Some(q) = &self.quorum else { return WriteOutcome::Failed("not a controller".into()) };
        let Ok(result) = tokio::time::timeout(COMMIT_TIMEOUT, q.raft.client_write(cmd)).await else {
            return WriteOutcome::Failed("no quorum answered in time".into());
        };
        match result {
            Ok(resp) => WriteOutcome::Done(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => WriteOutcome::NotLeader(f.leader_id),
            Err(e) => WriteOutcome::Failed(e.to_string()),
        }
    }

    async fn on_heartbeat(&self, ep: &BrokerEndpoint) -> WriteOutcome {
        if !self.is_active() {
            return WriteOutcome::NotLeader(self.raft_leader());
        }
        self.heartbeats.lock().insert(ep.id, self.settings.clock.monotonic_ms());
        let image = self.image();
        let registered = image.brokers.get(&ep.id).is_some_and(|b| !b.fenced && b.endpoint == *ep);
        if registered {
            return WriteOutcome::Done(CommandResult::ok());
        }
        tracing::info!(broker = ep.id, host = %ep.host, port = ep.port, "registering broker");
        self.commit(Command::RegisterBroker { broker: ep.clone(), defaults: self.election_defaults() }).await
    }
}

/// Commits the bootstrap security records once the new quorum has a leader.
async fn commit_bootstrap(controller: Arc<Controller>, records: Vec<crate::security::SecurityRecord>) {
    for record in records {
        let mut attempt = 0u32;
        loop {
            match controller.write(Command::Security(record.clone()), COMMIT_TIMEOUT).await {
                Ok(r) if r.is_ok() => break,
                Ok(r) => {
                    tracing::error!(code = r.error_code, message = r.message.as_deref().unwrap_or(""), "a bootstrap SCRAM user was refused");
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    if attempt % 10 == 0 {
                        tracing::warn!(error = %e, "committing the bootstrap SCRAM users: the quorum is not ready; retrying");
                    }
                    tokio::time::sleep(ROUTE_RETRY_BACKOFF * 4).await;
                }
            }
        }
    }
    tracing::info!("committed the SCRAM users of riffle format --add-scram to the metadata log");
}

/// Accepts controller RPC connections: each passes the listener's TLS and SASL, and
/// with ACLs on needs CLUSTER_ACTION, before its first RPC.
async fn serve(listener: TcpListener, security: Arc<ListenerSecurity>, controller: Arc<Controller>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (security, controller) = (security.clone(), controller.clone());
                tokio::spawn(async move {
                    let clock = controller.settings.clock.clone();
                    let Some(session) = crate::net::peer::accept(stream, peer, &security, || clock.now_ms()).await else { return };
                    let who = Requester { principal: &session.principal, host: &peer.ip().to_string() };
                    if !controller.settings.authorizer.authorize(&security.store.image(), &who, op::CLUSTER_ACTION, resource::CLUSTER, CLUSTER_NAME) {
                        tracing::warn!(%peer, principal = %session.principal, "controller connection without CLUSTER_ACTION on the cluster; closing it");
                        return;
                    }
                    connection(session, peer, controller).await
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn connection(session: PeerSession, peer: SocketAddr, controller: Arc<Controller>) {
    let PeerSession { mut stream, expires_at, .. } = session;
    loop {
        let req: RpcRequest = match read_frame(&mut stream).await {
            Ok(r) => r,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    tracing::debug!(%peer, error = %e, "closing controller connection");
                }
                return;
            }
        };
        // KIP-368: an expired SASL session serves nothing more; the peer reconnects.
        if expires_at.is_some_and(|t| tokio::time::Instant::now() >= t) {
            tracing::debug!(%peer, "controller connection's SASL session expired; closing it");
            return;
        }
        let Some(q) = &controller.quorum else { return };
        let resp = match req {
            RpcRequest::AppendEntries(r) => RpcResponse::AppendEntries(q.raft.append_entries(r).await),
            RpcRequest::Vote(r) => RpcResponse::Vote(q.raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => RpcResponse::InstallSnapshot(q.raft.install_snapshot(r).await),
            RpcRequest::FetchImage { after } => controller.image_after(after).await,
            other => RpcResponse::Write(
                tokio::time::timeout(FORWARD_TIMEOUT, controller.handle_locally(&other))
                    .await
                    .unwrap_or_else(|_| WriteOutcome::Failed("no quorum answered in time".into())),
            ),
        };
        if let Err(e) = write_frame(&mut stream, &resp).await {
            tracing::debug!(%peer, error = %e, "controller response failed");
            return;
        }
    }
}

/// A broker-only node: fetches each new image from the quorum (any voter answers with
/// what it has applied; the active one is asked first).
async fn follow_image(c: Arc<Controller>, tx: watch::Sender<Arc<MetadataImage>>) {
    let mut after = 0u64;
    let mut attempt = 0usize;
    let mut clients: HashMap<u64, RpcClient> = HashMap::new();
    loop {
        let voters: Vec<(u64, String)> = c.settings.voters.iter().map(|(i, a)| (*i, a.clone())).collect();
        let (id, addr) = match c.active_controller() {
            Some(l) => match c.settings.voters.get(&(l as u64)) {
                Some(a) => (l as u64, a.clone()),
                None => voters[attempt % voters.len()].clone(),
            },
            None => voters[attempt % voters.len()].clone(),
        };
        let client = clients.entry(id).or_insert_with(|| RpcClient::new(addr.clone(), c.settings.rpc_security()));
        match client.call(&RpcRequest::FetchImage { after }, FETCH_IMAGE_TIMEOUT).await {
            Ok(RpcResponse::Image(Some((index, image)))) => {
                after = index;
                tx.send_replace(Arc::new(image));
            }
            Ok(RpcResponse::Write(WriteOutcome::NotLeader(hint))) => {
                c.known_leader.store(hint.map_or(-1, |h| h as i64), std::sync::atomic::Ordering::Relaxed);
                if hint.is_none() {
                    attempt += 1;
                    tokio::time::sleep(FETCH_IMAGE_BACKOFF).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(controller = id, %addr, error = %e, "cannot fetch metadata");
                attempt += 1;
                tokio::time::sleep(FETCH_IMAGE_BACKOFF).await;
            }
        }
    }
}

/// What only the active controller does: set the cluster id, fence silent brokers,
/// rebalance leaders.
async fn active_controller_duties(c: Arc<Controller>) {
    let me = c.settings.node_id as u64;
    let clock = c.settings.clock.clone();
    let session_ms = c.settings.session_timeout.as_millis() as i64;
    let rebalance_every_ms = c.settings.imbalance_check_interval.as_millis() as i64;
    let mut active_since: Option<i64> = None;
    let mut last_rebalance = clock.monotonic_ms();
    let mut tick = tokio::time::interval(DUTY_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !c.is_active() {
            active_since = None;
            continue;
        }
        let now = clock.monotonic_ms();
        let since = *active_since.get_or_insert_with(|| {
            tracing::info!(node_id = me, "this node is the active controller");
            now
        });
        let image = c.image();
        if image.cluster_id.is_empty() {
            let id = crate::common::topic_id::to_string(&crate::common::topic_id::generate());
            let _ = c.commit(Command::InitCluster { cluster_id: id }).await;
            continue;
        }
        // Brokers not heard from since this controller became active get a full session
        // from then.
        let silent: Vec<i32> = {
            let hb = c.heartbeats.lock();
            image
                .live_brokers()
                .map(|b| b.endpoint.id)
                .filter(|id| now - hb.get(id).copied().unwrap_or(since).max(since) > session_ms)
                .collect()
        };
        for id in silent {
            tracing::warn!(broker = id, timeout_ms = c.settings.session_timeout.as_millis() as u64, "fencing broker: no heartbeat within its session timeout");
            let _ = c.commit(Command::FenceBroker { id, defaults: c.election_defaults() }).await;
        }
        if c.settings.auto_rebalance && now - last_rebalance >= rebalance_every_ms {
            last_rebalance = now;
            let moves = image.imbalanced();
            if !moves.is_empty() {
                tracing::info!(partitions = moves.len(), "moving leaders back to their preferred replicas");
                let _ = c.commit(Command::ElectLeaders { unclean: false, partitions: Some(moves), defaults: c.election_defaults() }).await;
            }
        }
    }
}
