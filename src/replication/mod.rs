//! The replica manager of a cluster node: applies each new metadata image to the local
//! partitions (creating and deleting logs, becoming leader or follower), runs one
//! fetcher per leader it follows, heartbeats to the active controller, and, as a
//! leader, asks the controller to shrink or expand ISRs.

pub mod fetcher;
pub mod leader_client;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::broker::partition::{ReplicaState, Role};
use crate::broker::{now_ms, Broker, Partition};
use crate::config::BrokerConfig;
use crate::controller::{BrokerEndpoint, Command, Controller, MetadataImage};
use crate::group::OFFSETS_TOPIC;

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
        }
    }
}

/// What a cluster node adds to a broker: the controller handle and the fetchers.
pub struct ReplicaManager {
    pub controller: Arc<Controller>,
    pub config: ReplicationConfig,
    /// Leader id → its fetcher's stop signal.
    fetchers: Mutex<HashMap<i32, watch::Sender<bool>>>,
    /// The image last applied to the local partitions. Client-facing metadata is built
    /// from it rather than from the controller's newest image, so what a client is told
    /// (leader, ISR) never runs ahead of what this broker enforces. Requests waiting for
    /// their change to take effect here wait on it.
    applied: watch::Sender<Arc<MetadataImage>>,
}

impl ReplicaManager {
    pub fn new(controller: Arc<Controller>, config: ReplicationConfig) -> Self {
        ReplicaManager { controller, config, fetchers: Mutex::new(HashMap::new()), applied: watch::channel(Arc::default()).0 }
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

/// Starts the cluster duties of `broker`: image application, heartbeats, ISR checks.
pub fn start(broker: &Arc<Broker>) {
    let Some(rm) = broker.replicas.get() else { return };
    let mut images = rm.controller.subscribe();
    let b = broker.clone();
    tokio::spawn(async move {
        loop {
            let image = images.borrow_and_update().clone();
            let b2 = b.clone();
            let applying = image.clone();
            // Opening and deleting logs is blocking I/O.
            let _ = tokio::task::spawn_blocking(move || apply_image(&b2, &applying)).await;
            if let Some(rm) = b.replicas.get() {
                rm.applied.send_replace(image);
            }
            if images.changed().await.is_err() {
                return;
            }
        }
    });
    if b_is_broker(broker) {
        tokio::spawn(heartbeats(broker.clone()));
        tokio::spawn(isr_shrink(broker.clone()));
        tokio::spawn(hw_checkpoints(broker.clone()));
    }
}

/// Writes the high watermarks every `replica.high.watermark.checkpoint.interval.ms`.
async fn hw_checkpoints(broker: Arc<Broker>) {
    let ms = broker.config.get("replica.high.watermark.checkpoint.interval.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(5000);
    let mut tick = tokio::time::interval(Duration::from_millis(ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let b = broker.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || b.topics.write_hw_checkpoint()).await {
            tracing::warn!(error = %e, "could not write the high-watermark checkpoint");
        }
    }
}

/// Whether the applied image has this process's registration, unfenced.
fn registered(broker: &Broker, image: &MetadataImage) -> bool {
    image.brokers.get(&broker.config.node_id).is_some_and(|b| !b.fenced && b.endpoint.incarnation == broker.incarnation)
}

/// Waits until the controller has registered this broker (this incarnation, unfenced)
/// and the image saying so has been applied here. As a Kafka broker, it serves clients
/// only then: before, its metadata and partition roles are stale.
pub async fn wait_until_registered(broker: &Arc<Broker>) {
    let Some(rm) = broker.replicas.get() else { return };
    let started = std::time::Instant::now();
    while !rm.wait_applied(Duration::from_secs(10), || registered(broker, &rm.image())).await {
        tracing::warn!(waited_s = started.elapsed().as_secs(), "waiting for the controller to register this broker (is a quorum of controllers up?)");
    }
}

fn b_is_broker(broker: &Broker) -> bool {
    broker.config.cluster.as_ref().is_some_and(|c| c.broker)
}

/// This broker's registration, as heartbeats carry it.
pub fn endpoint(broker: &Broker) -> BrokerEndpoint {
    let c = &broker.config;
    BrokerEndpoint { id: c.node_id, host: c.advertised_host.clone(), port: c.advertised_port, rack: c.rack.clone(), incarnation: broker.incarnation.clone() }
}

async fn heartbeats(broker: Arc<Broker>) {
    let Some(rm) = broker.replicas.get() else { return };
    let me = endpoint(&broker);
    let mut tick = tokio::time::interval(rm.config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if broker.stopping.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        match rm.controller.heartbeat(me.clone(), rm.config.heartbeat_interval.max(Duration::from_secs(2))).await {
            Ok(r) if !r.is_ok() => tracing::warn!(code = r.error_code, message = ?r.message, "broker registration refused"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
    }
}

/// The leader's periodic ISR check: followers not caught up for
/// `replica.lag.time.max.ms` leave the ISR.
async fn isr_shrink(broker: Arc<Broker>) {
    let Some(rm) = broker.replicas.get() else { return };
    let every = Duration::from_millis((rm.config.lag_time_max_ms / 2).clamp(50, 5000) as u64);
    loop {
        tokio::time::sleep(every).await;
        let now = now_ms();
        for topic in broker.topics.all() {
            for p in &topic.partitions {
                let lagging = p.lagging_followers(now, rm.config.lag_time_max_ms);
                if lagging.is_empty() {
                    continue;
                }
                let st = p.state();
                let isr: Vec<i32> = st.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
                tracing::info!(topic = %p.topic, partition = p.index, ?lagging, ?isr, "shrinking ISR");
                request_isr_change(&broker, p, isr);
            }
        }
    }
}

/// Sends an AlterPartition for `p` to the controller unless one is in flight; the
/// change takes effect when the controller's record comes back in the image.
pub fn request_isr_change(broker: &Arc<Broker>, p: &Arc<Partition>, isr: Vec<i32>) {
    let Some(rm) = broker.replicas.get() else { return };
    {
        let mut pending = p.isr_change_pending.lock();
        if pending.as_ref().is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(5)) {
            return;
        }
        *pending = Some((std::time::Instant::now(), isr.clone()));
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
        match controller.write(cmd, Duration::from_secs(5)).await {
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

/// Makes the local partitions what `image` says: topics created, grown, reconfigured or
/// deleted; every partition's role, epoch and ISR set; fetchers started for leaders
/// this broker follows.
fn apply_image(broker: &Arc<Broker>, image: &MetadataImage) {
    let me = broker.config.node_id;
    if image.cluster_id.is_empty() {
        // Nothing committed yet (a new quorum): no reason to touch local topics.
        return;
    }
    broker.set_cluster_id(&image.cluster_id);
    // Until the controller has this process's registration (a restart fences the old one
    // first, moving its leaderships away), the image's view of this broker is stale: it
    // leads and follows nothing.
    let registered = registered(broker, image);
    for local in broker.topics.all() {
        if image.topics.get(&*local.name).is_none_or(|t| t.id != local.id) {
            if let Err(e) = broker.delete_topic_locally(&local.name) {
                tracing::warn!(topic = %local.name, error = %e, "could not delete a topic the metadata no longer has");
            }
        }
    }
    for (name, t) in &image.topics {
        // Every node opens every topic (partitions it does not replicate stay empty and
        // serve nothing), so that admin requests work on any broker.
        let topic = match broker.topics.ensure(name, t.id, t.partitions.len() as i32, &t.configs) {
            Ok(topic) => topic,
            Err(e) => {
                tracing::error!(topic = %name, error = %e, "could not open a topic from the metadata");
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
                if name == OFFSETS_TOPIC && now && !was {
                    broker.groups.begin_loading(i as i32);
                }
                if let Err(e) = p.set_state(new) {
                    tracing::error!(topic = %name, partition = i, error = %e, "could not change partition state");
                }
                // The group coordinator moves with the leadership of __consumer_offsets.
                if name == OFFSETS_TOPIC && was != now {
                    if now {
                        broker.groups.load_partition(broker, i as i32);
                    } else {
                        broker.groups.unload_partition(broker, i as i32);
                    }
                }
            }
        }
    }
    if let Some(rm) = broker.replicas.get() {
        let leaders: Vec<i32> = broker
            .topics
            .all()
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.state()).collect::<Vec<_>>())
            .filter(|s| s.role == Role::Follower)
            .map(|s| s.leader)
            .collect();
        let mut fetchers = rm.fetchers.lock();
        fetchers.retain(|_, stop| !stop.is_closed());
        for leader in leaders {
            if let std::collections::hash_map::Entry::Vacant(v) = fetchers.entry(leader) {
                let (tx, rx) = watch::channel(false);
                v.insert(tx);
                let b = broker.clone();
                // (Blocking-pool threads run inside the runtime, so spawning works here.)
                tokio::spawn(fetcher::run(b, leader, rx));
            }
        }
    }
}
