//! Background log maintenance, as Kafka's LogManager: the retention check every
//! `log.retention.check.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::TopicRegistry;
use crate::common::{SharedClock, ShutdownSignal};
use crate::config::BrokerConfig;

/// The cleaner's thread sleeps in slices this long, so that it notices shutdown.
const CLEANER_SLEEP_SLICE: Duration = Duration::from_millis(100);

/// Runs one retention pass over every partition.
pub fn retention_pass(topics: &TopicRegistry, now: i64) {
    for topic in topics.all() {
        for p in &topic.partitions {
            let hw = p.high_watermark();
            let result = p.log.write().apply_retention(now, hw);
            match result {
                Ok((0, _)) => {}
                Ok((segments, bytes)) => tracing::info!(topic = %topic.name, partition = p.index, segments, bytes, "retention deleted segments"),
                Err(e) => tracing::error!(topic = %topic.name, partition = p.index, error = %e, "retention failed"),
            }
        }
    }
}

/// Runs the retention check every `log.retention.check.interval.ms` until shutdown.
pub fn start(config: &BrokerConfig, topics: Arc<TopicRegistry>, clock: SharedClock, mut shutdown: ShutdownSignal) -> JoinHandle<()> {
    let interval = config.get("log.retention.check.interval.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(300_000);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(interval.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait() => return,
            }
            let (t, now) = (topics.clone(), clock.now_ms());
            // File deletion is blocking I/O: keep it off the request threads.
            let _ = tokio::task::spawn_blocking(move || retention_pass(&t, now)).await;
        }
    })
}

/// One cleaner pass over every compacted partition that is dirty enough.
pub fn cleaner_pass(topics: &TopicRegistry, clock: &SharedClock, cfg: &crate::log::cleaner::CleanerConfig) {
    for topic in topics.all() {
        for p in &topic.partitions {
            let now = clock.now_ms();
            let Some(plan) = p.log.read().clean_plan(now) else { continue };
            // Reading and rewriting happen outside the partition lock: sealed segments
            // never change. Only the swap takes the lock.
            match crate::log::cleaner::clean(&plan, cfg, now) {
                Ok((swaps, stats)) => {
                    let installed = p.log.write().install_cleaned(swaps, &stats, now);
                    match installed {
                        Ok(()) => tracing::info!(
                            topic = %topic.name,
                            partition = p.index,
                            segments = stats.segments,
                            bytes_before = stats.bytes_before,
                            bytes_after = stats.bytes_after,
                            records_removed = stats.records_removed,
                            "cleaned log"
                        ),
                        Err(e) => tracing::error!(topic = %topic.name, partition = p.index, error = %e, "could not swap in cleaned segments"),
                    }
                }
                Err(e) => tracing::error!(topic = %topic.name, partition = p.index, error = %e, "cleaning failed"),
            }
        }
    }
}

/// Starts the log cleaner thread (`log.cleaner.enable`), one pass every
/// `log.cleaner.backoff.ms`.
pub fn start_cleaner(c: &BrokerConfig, topics: Arc<TopicRegistry>, clock: SharedClock, shutdown: ShutdownSignal) {
    if c.get("log.cleaner.enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return;
    }
    let backoff = c.get("log.cleaner.backoff.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(15_000);
    let cfg = crate::log::cleaner::CleanerConfig {
        dedupe_buffer_bytes: c.get("log.cleaner.dedupe.buffer.size").and_then(|v| v.parse().ok()).unwrap_or(128 << 20),
        io_max_bytes_per_second: c.get("log.cleaner.io.max.bytes.per.second").and_then(|v| v.parse().ok()).unwrap_or(f64::MAX),
    };
    let backoff = Duration::from_millis(backoff.max(10));
    let spawned = std::thread::Builder::new().name("log-cleaner".into()).spawn(move || loop {
        let mut slept = Duration::ZERO;
        while slept < backoff {
            if shutdown.is_fired() {
                return;
            }
            let slice = CLEANER_SLEEP_SLICE.min(backoff - slept);
            std::thread::sleep(slice);
            slept += slice;
        }
        cleaner_pass(&topics, &clock, &cfg);
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the log cleaner");
    }
}
