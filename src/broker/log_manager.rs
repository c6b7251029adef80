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
            let result = p.log.write().apply_retention(now);
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
