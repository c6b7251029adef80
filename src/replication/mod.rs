//! The replica manager of a cluster node: applies each new metadata image to the local
//! partitions (creating and deleting logs, becoming leader or follower), runs one
//! fetcher per leader it follows, heartbeats to the active controller, and, as a
//! leader, asks the controller to shrink or expand ISRs.

pub mod fetcher;
pub mod leader_client;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::partition::{ReplicaState, Role};
use crate::broker::{BrokerIdentity, Partition, TopicError, TopicRegistry};
use crate::common::{SharedClock, ShutdownSignal};
use crate::config::BrokerConfig;
use crate::controller::{BrokerEndpoint, Command, Controller, MetadataImage};
use crate::coordinator::CoordinatorRuntime;

/// How long an AlterPartition may take before the leader may ask again.
const ISR_CHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds of the ISR check's period (half of `replica.lag.time.max.ms`).
const ISR_CHECK_MIN: Duration = Duration::from_millis(50);
const ISR_CHECK_MAX: Duration = Duration::from_secs(5);
/// The shortest heartbeat timeout, whatever `broker.heartbeat.interval.ms` is.
const MIN_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often start-up logs that it still waits for the controller to register it.
const REGISTRATION_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Pause before an image that failed to apply is applied again.
const APPLY_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// The shortest high-watermark checkpoint period.
const MIN_HW_CHECKPOINT_INTERVAL_MS: u64 = 10;

/// Replication settings, from Kafka's broker keys.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    pub heartbeat_interval: Duration,
    pub lag_time_max_ms: i64,
    pub fetch_wait_max_ms: i32,
    pub fetch_min_bytes: i32,
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    pub fetch_backoff: Duration,
    pub hw_checkpoint_interval: Duration,
}

impl ReplicationConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        let num = |k: &str| c.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        ReplicationConfig {
            heartbeat_interval: Duration::from_millis(num("broker.heartbeat.interval.ms").max(1) as u64),
            lag_time_max_ms: num("replica.lag.time.max.ms"),
            fetch_wait_max_ms: num("replica.fetch.wait.max.ms") as i32,
            fetch_min_bytes: num("replica.fetch.min.bytes") as i32,
            fetch_max_bytes: num("replica.fetch.max.bytes") as i32,
            fetch_response_max_bytes: num("replica.fetch.response.max.bytes") as i32,
            fetch_backoff: Duration::from_millis(num("replica.fetch.backoff.ms").max(10) as u64),
            hw_checkpoint_interval: Duration::from_millis((num("replica.high.watermark.checkpoint.interval.ms").max(0) as u64).max(MIN_HW_CHECKPOINT_INTERVAL_MS)),
        }
    }
}

/// What a cluster node adds to a broker: the controller handle, the local partitions'
/// roles as the metadata says, and the fetchers.
pub struct ReplicaManager {
    pub controller: Arc<Controller>,
    pub config: ReplicationConfig,
    broker_config: Arc<BrokerConfig>,
    pub(crate) topics: Arc<TopicRegistry>,
    coordinators: Arc<CoordinatorRuntime>,
    identity: Arc<BrokerIdentity>,
    pub(crate) clock: SharedClock,
    /// Set at a controlled shutdown: heartbeats stop, so the broker is not registered
    /// again while it hands its leaderships over.
    stopping: AtomicBool,
    /// Leader id → its fetcher.
    fetchers: Mutex<HashMap<i32, JoinHandle<()>>>,
    /// The image last applied to the local partitions. Client-facing metadata is built
    /// from it rather than from the controller's newest image, so what a client is told
    /// (leader, ISR) never runs ahead of what this broker enforces. Requests waiting for
    /// their change to take effect here wait on it.
    applied: watch::Sender<Arc<MetadataImage>>,
    /// Where SASL finds the credentials of the metadata log.
    pub security: Arc<crate::security::SecurityStore>,
    /// What connections to other brokers' inter-broker listener need.
    pub peer_security: Arc<crate::security::client::PeerSecurity>,
}

impl ReplicaManager {
    pub fn new(
        controller: Arc<Controller>,
        broker_config: Arc<BrokerConfig>,
        topics: Arc<TopicRegistry>,
        coordinators: Arc<CoordinatorRuntime>,
        identity: Arc<BrokerIdentity>,
        clock: SharedClock,
        security: Arc<crate::security::SecurityStore>,
        peer_security: Arc<crate::security::client::PeerSecurity>,
    ) -> Arc<Self> {
        Arc::new(ReplicaManager {
            controller,
            config: ReplicationConfig::from_broker(&broker_config),
            broker_config,
            topics,
            coordinators,
            identity,
            clock,
            stopping: AtomicBool::new(false),
            fetchers: Mutex::new(HashMap::new()),
            applied: watch::channel(Arc::default()).0,
            security,
            peer_security,
        })
    }

    pub fn node_id(&self) -> i32 {
        self.broker_config.node_id
    }

    /// Whether this node serves clients (it has the broker role).
    fn is_broker(&self) -> bool {
        self.broker_config.cluster.as_ref().is_some_and(|c| c.broker)
    }

    /// Controlled shutdown: heartbeats stop, then the controller moves this broker's
    /// leaderships to other in-sync replicas, and this broker waits (within `timeout`)
    /// until it has applied that, so requests still in flight here learn the new leaders.
    pub async fn controlled_shutdown(&self, timeout: Duration) {
        self.stopping.store(true, Ordering::Release);
        let cmd = Command::FenceBroker { id: self.node_id(), defaults: self.controller.election_defaults() };
        match self.controller.write(cmd, timeout).await {
            Ok(r) if r.is_ok() => {
                if !self.wait_applied(timeout, || !self.registered(&self.image())).await {
                    tracing::warn!("controlled shutdown: the hand-over was not applied here in time");
                }
            }
            Ok(r) => tracing::warn!(code = r.error_code, message = ?r.message, "controlled shutdown refused"),
            Err(e) => tracing::warn!(error = %e, "controlled shutdown: could not hand over leaderships"),
        }
    }

    /// The metadata image as this broker has applied it.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.applied.borrow().clone()
    }

    /// Waits until `done` holds for the broker after an image has been applied, or the
    /// timeout passes. Returns whether it held.
    pub async fn wait_applied(&self, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let mut rx = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return done();
            }
        }
    }
}

/// Starts the cluster duties of this node: image application and, on a broker,
/// heartbeats, ISR checks and high-watermark checkpoints. They run until shutdown.
pub fn start(rm: &Arc<ReplicaManager>, shutdown: ShutdownSignal) -> Vec<JoinHandle<()>> {
    let mut images = rm.controller.subscribe();
    let me = rm.clone();
    let stop = shutdown.clone();
    let mut tasks = vec![tokio::spawn(async move {
        let mut stopped = stop.clone();
        loop {
            let image = images.borrow_and_update().clone();
            let (rm2, stop2) = (me.clone(), stop.clone());
            // Opening and deleting logs is blocking I/O.
            let failed = match tokio::task::spawn_blocking(move || apply_and_publish(&rm2, image, &stop2)).await {
                Ok(applied) => !applied,
                Err(e) => {
                    tracing::error!(error = %e, "applying the metadata image panicked; retrying");
                    true
                }
            };
            // An image that failed is not marked applied (what waits for it keeps
            // waiting); it is applied again (apply_image is idempotent) after a pause, or
            // its successor is as soon as it comes.
            let retry = async {
                if failed {
                    tokio::time::sleep(APPLY_RETRY_BACKOFF).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                changed = images.changed() => if changed.is_err() { return },
                _ = retry => {}
                _ = stopped.wait() => return,
            }
        }
    })];
    if rm.is_broker() {
        tasks.push(spawn_until(shutdown.clone(), heartbeats(rm.clone())));
        tasks.push(spawn_until(shutdown.clone(), isr_shrink(rm.clone())));
        tasks.push(spawn_until(shutdown, hw_checkpoints(rm.clone())));
    }
    tasks
}

/// Applies `image` to the local partitions and, only if every change took, publishes
/// it as the applied image. Returns whether it did.
fn apply_and_publish(rm: &Arc<ReplicaManager>, image: Arc<MetadataImage>, shutdown: &ShutdownSignal) -> bool {
    match apply_image(rm, &image, shutdown) {
        Ok(()) => {
            rm.applied.send_replace(image);
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not apply the metadata image; retrying");
            false
        }
    }
}

/// Runs `task` until it ends or shutdown fires.
fn spawn_until(mut shutdown: ShutdownSignal, task: impl std::future::Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            _ = task => {}
            _ = shutdown.wait() => {}
        }
    })
}

/// Writes the high watermarks every `replica.high.watermark.checkpoint.interval.ms`.
async fn hw_checkpoints(rm: Arc<ReplicaManager>) {
    let mut tick = tokio::time::interval(rm.config.hw_checkpoint_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let topics = rm.topics.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || topics.write_hw_checkpoint()).await {
            tracing::warn!(error = %e, "could not write the high-watermark checkpoint");
        }
    }
}

impl ReplicaManager {
    /// Whether the applied image has this process's registration, unfenced.
    fn registered(&self, image: &MetadataImage) -> bool {
        image.brokers.get(&self.node_id()).is_some_and(|b| !b.fenced && b.endpoint.incarnation == self.identity.incarnation)
    }

    /// This broker's registration, as heartbeats carry it.
    pub fn endpoint(&self) -> BrokerEndpoint {
        let c = &self.broker_config;
        let listeners = c.listeners.iter().map(|l| (l.name.clone(), l.advertised_host.clone(), l.advertised_port)).collect();
        BrokerEndpoint { id: c.node_id, host: c.advertised_host.clone(), port: c.advertised_port, rack: c.rack.clone(), incarnation: self.identity.incarnation.clone(), listeners }
    }
}

/// Waits until the controller has registered this broker (this incarnation, unfenced)
/// and the image saying so has been applied here. As a Kafka broker, it serves clients
/// only then: before, its metadata and partition roles are stale.
pub async fn wait_until_registered(rm: &ReplicaManager) {
    let started = rm.clock.monotonic_ms();
    while !rm.wait_applied(REGISTRATION_LOG_INTERVAL, || rm.registered(&rm.image())).await {
        let waited_s = (rm.clock.monotonic_ms() - started) / 1000;
        tracing::warn!(waited_s, "waiting for the controller to register this broker and for that metadata to be applied here (is a quorum of controllers up? see errors above)");
    }
}

async fn heartbeats(rm: Arc<ReplicaManager>) {
    let me = rm.endpoint();
    let mut tick = tokio::time::interval(rm.config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if rm.stopping.load(Ordering::Acquire) {
            return;
        }
        match rm.controller.heartbeat(me.clone(), rm.config.heartbeat_interval.max(MIN_HEARTBEAT_TIMEOUT)).await {
            Ok(r) if !r.is_ok() => tracing::warn!(code = r.error_code, message = ?r.message, "broker registration refused"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
    }
}

/// The leader's periodic ISR check: followers not caught up for
/// `replica.lag.time.max.ms` leave the ISR.
async fn isr_shrink(rm: Arc<ReplicaManager>) {
    let every = Duration::from_millis((rm.config.lag_time_max_ms / 2).max(0) as u64).clamp(ISR_CHECK_MIN, ISR_CHECK_MAX);
    loop {
        tokio::time::sleep(every).await;
        let now = rm.clock.now_ms();
        for topic in rm.topics.all() {
            for p in &topic.partitions {
                let lagging = p.lagging_followers(now, rm.config.lag_time_max_ms);
                if lagging.is_empty() {
                    continue;
                }
                let st = p.state();
                let isr: Vec<i32> = st.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
                tracing::info!(topic = %p.topic, partition = p.index, ?lagging, ?isr, "shrinking ISR");
                request_isr_change(&rm, p, isr);
            }
        }
    }
}

/// Sends an AlterPartition for `p` to the controller unless one is in flight; the
/// change takes effect when the controller's record comes back in the image.
pub fn request_isr_change(rm: &ReplicaManager, p: &Arc<Partition>, isr: Vec<i32>) {
    let now = rm.clock.monotonic_ms();
    {
        let mut pending = p.isr_change_pending.lock();
        if pending.as_ref().is_some_and(|(at, _)| now - at < ISR_CHANGE_TIMEOUT.as_millis() as i64) {
            return;
        }
        *pending = Some((now, isr.clone()));
    }
    let st = p.state();
    let cmd = Command::AlterPartition {
        topic: p.topic.to_string(),
        partition: p.index,
        leader: st.leader,
        leader_epoch: st.leader_epoch,
        partition_epoch: st.partition_epoch,
        isr,
    };
    let controller = rm.controller.clone();
    let p = p.clone();
    tokio::spawn(async move {
        match controller.write(cmd, ISR_CHANGE_TIMEOUT).await {
            Ok(r) if r.is_ok() => {}
            Ok(r) => {
                tracing::debug!(topic = %p.topic, partition = p.index, code = r.error_code, message = ?r.message, "ISR change refused");
                *p.isr_change_pending.lock() = None;
            }
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "ISR change failed");
                *p.isr_change_pending.lock() = None;
            }
        }
    });
}

/// Deletes a topic's logs here and, as Kafka's coordinators do, their state that
/// refers to it (committed offsets), so a re-created topic starts fresh. On a cluster
/// every node runs it when it applies the deletion; a single broker when asked.
pub fn delete_topic_locally(topics: &TopicRegistry, coordinators: &CoordinatorRuntime, name: &str) -> Result<(), TopicError> {
    topics.delete(name)?;
    coordinators.on_topic_deleted(name);
    Ok(())
}

/// Why an image could not be applied in full.
#[derive(Debug, thiserror::Error)]
#[error("{failures} change(s) of the metadata image failed; the first: {first}")]
pub struct ApplyError {
    failures: usize,
    first: String,
}

/// Makes the local partitions what `image` says: topics created, grown, reconfigured or
/// deleted; every partition's role, epoch and ISR set; fetchers started for leaders
/// this broker follows. Every change is tried; an error is returned if any failed.
fn apply_image(rm: &Arc<ReplicaManager>, image: &MetadataImage, shutdown: &ShutdownSignal) -> Result<(), ApplyError> {
    let me = rm.node_id();
    if image.cluster_id.is_empty() {
        // Nothing committed yet (a new quorum): no reason to touch local topics.
        return Ok(());
    }
    let mut failures: Vec<String> = Vec::new();
    rm.identity.set_cluster_id(&image.cluster_id);
    // Until the controller has this process's registration (a restart fences the old one
    // first, moving its leaderships away), the image's view of this broker is stale: it
    // leads and follows nothing.
    let registered = rm.registered(image);
    rm.security.replace(&image.security);
    // Dynamic broker configs first, so that topics opened below start with them.
    if rm.broker_config.set_dynamic(image.dynamic_configs(me)) {
        rm.topics.refresh_configs();
    }
    for local in rm.topics.all() {
        if image.topics.get(&*local.name).is_none_or(|t| t.id != local.id) {
            if let Err(e) = delete_topic_locally(&rm.topics, &rm.coordinators, &local.name) {
                tracing::warn!(topic = %local.name, error = %e, "could not delete a topic the metadata no longer has");
                failures.push(format!("deleting {}: {e}", local.name));
            }
        }
    }
    for (name, t) in &image.topics {
        // Every node opens every topic (partitions it does not replicate stay empty and
        // serve nothing), so that admin requests work on any broker.
        let topic = match rm.topics.ensure(name, t.id, t.partitions.len() as i32, &t.configs) {
            Ok(topic) => topic,
            Err(e) => {
                tracing::error!(topic = %name, error = %e, "could not open a topic from the metadata");
                failures.push(format!("opening {name}: {e}"));
                continue;
            }
        };
        for (i, pi) in t.partitions.iter().enumerate() {
            let Some(p) = topic.partition(i as i32) else { continue };
            let role = if !registered {
                Role::None
            } else if pi.leader == me {
                Role::Leader
            } else if pi.replicas.contains(&me) && pi.leader >= 0 {
                Role::Follower
            } else {
                Role::None
            };
            let new = ReplicaState { role, leader: pi.leader, leader_epoch: pi.leader_epoch, partition_epoch: pi.partition_epoch, replicas: pi.replicas.clone(), isr: pi.isr.clone() };
            let cur = p.state();
            if cur.role != new.role || cur.leader_epoch != new.leader_epoch || cur.partition_epoch != new.partition_epoch || cur.leader != new.leader || cur.isr != new.isr {
                if new.role != cur.role || new.leader_epoch != cur.leader_epoch {
                    tracing::info!(topic = %name, partition = i, role = ?new.role, leader = new.leader, leader_epoch = new.leader_epoch, isr = ?new.isr, "partition state changed");
                }
                let (was, now) = (cur.role == Role::Leader, new.role == Role::Leader);
                // Still the leader, of a new epoch (the image that took leadership away
                // and back was not seen): the coordinator epoch moved, so its state is
                // loaded again, as Kafka's coordinators do on every new epoch.
                let new_epoch = was && now && cur.leader_epoch != new.leader_epoch;
                // A coordinator moves with the leadership of its internal partition; it
                // answers COORDINATOR_LOAD_IN_PROGRESS from the moment it leads until its
                // state is replayed.
                if now && (!was || new_epoch) {
                    rm.coordinators.begin_loading(name, i as i32);
                }
                match p.set_state(new, rm.clock.now_ms()) {
                    Ok(()) if new_epoch => {
                        rm.coordinators.unload(name, i as i32);
                        rm.coordinators.load(name, i as i32);
                    }
                    Ok(()) if was != now && now => rm.coordinators.load(name, i as i32),
                    Ok(()) if was != now => rm.coordinators.unload(name, i as i32),
                    Ok(()) => {}
                    Err(e) => {
                        tracing::error!(topic = %name, partition = i, error = %e, "could not change partition state");
                        failures.push(format!("{name}-{i}: {e}"));
                        // Not leading after all: nothing to load (the next attempt begins again).
                        rm.coordinators.cancel_loading(name, i as i32);
                    }
                }
            }
            if registered && !pi.replicas.contains(&me) {
                match p.drop_replica_data(rm.clock.now_ms()) {
                    Ok(true) => tracing::info!(topic = %name, partition = i, "deleted the data of a replica reassigned away from this broker"),
                    Ok(false) => {}
                    Err(e) => failures.push(format!("{name}-{i}: deleting a reassigned replica: {e}")),
                }
            }
        }
    }
    let leaders: Vec<i32> = rm
        .topics
        .all()
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.state()).collect::<Vec<_>>())
        .filter(|s| s.role == Role::Follower)
        .map(|s| s.leader)
        .collect();
    let mut fetchers = rm.fetchers.lock();
    fetchers.retain(|_, task| !task.is_finished());
    for leader in leaders {
        if let std::collections::hash_map::Entry::Vacant(v) = fetchers.entry(leader) {
            // (Blocking-pool threads run inside the runtime, so spawning works here.)
            v.insert(tokio::spawn(fetcher::run(rm.clone(), leader, shutdown.clone())));
        }
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(ApplyError { failures: failures.len(), first: first.clone() }),
    }
}

#[cfg(test)]
mod tests;
