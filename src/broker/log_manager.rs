//! Background log maintenance, as Kafka's LogManager: the retention check every
//! `log.retention.check.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use super::{now_ms, Broker};

/// Runs one retention pass over every partition.
pub fn retention_pass(broker: &Broker) {
    let now = now_ms();
    for topic in broker.topics.all() {
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

pub fn start(broker: &Arc<Broker>) {
    let interval = broker.config.get("log.retention.check.interval.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(300_000);
    let b = broker.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(interval.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let b2 = b.clone();
            // File deletion is blocking I/O: keep it off the request threads.
            let _ = tokio::task::spawn_blocking(move || retention_pass(&b2)).await;
        }
    });
}

/// One cleaner pass over every compacted partition that is dirty enough.
pub fn cleaner_pass(broker: &Broker, cfg: &crate::log::cleaner::CleanerConfig) {
    for topic in broker.topics.all() {
        for p in &topic.partitions {
            let now = now_ms();
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
pub fn start_cleaner(broker: &Arc<Broker>) {
    let c = &broker.config;
    if c.get("log.cleaner.enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return;
    }
    let backoff = c.get("log.cleaner.backoff.ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(15_000);
    let cfg = crate::log::cleaner::CleanerConfig {
        dedupe_buffer_bytes: c.get("log.cleaner.dedupe.buffer.size").and_then(|v| v.parse().ok()).unwrap_or(128 << 20),
        io_max_bytes_per_second: c.get("log.cleaner.io.max.bytes.per.second").and_then(|v| v.parse().ok()).unwrap_or(f64::MAX),
    };
    let b = broker.clone();
    let spawned = std::thread::Builder::new().name("log-cleaner".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_millis(backoff.max(10)));
        cleaner_pass(&b, &cfg);
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the log cleaner");
    }
}
