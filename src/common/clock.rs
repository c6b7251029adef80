//! One clock for the broker. Services take it as a parameter instead of reading the
//! system's, so that heartbeats, session, rebalance and transaction timeouts can be
//! driven by a test (or a simulation) with a [`ManualClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Two readings of time: wall-clock milliseconds for what Kafka stores (record and
/// commit timestamps, retention), and monotonic milliseconds for deadlines (sessions,
/// timeouts), which must not jump when the wall clock is set.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch, Kafka's timestamp unit.
    fn now_ms(&self) -> i64;
    /// Milliseconds since an arbitrary, fixed origin; never goes backwards.
    fn monotonic_ms(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// The process-wide system clock.
    pub fn shared() -> SharedClock {
        static CLOCK: OnceLock<SharedClock> = OnceLock::new();
        CLOCK.get_or_init(|| Arc::new(SystemClock { origin: Instant::now() })).clone()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    fn monotonic_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }
}

/// A clock that moves only when told to: both readings advance together.
#[derive(Debug)]
pub struct ManualClock {
    wall_ms: AtomicI64,
    monotonic_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(wall_ms: i64) -> Arc<Self> {
        Arc::new(ManualClock { wall_ms: AtomicI64::new(wall_ms), monotonic_ms: AtomicI64::new(0) })
    }

    pub fn advance_ms(&self, ms: i64) {
        self.wall_ms.fetch_add(ms, Ordering::SeqCst);
        self.monotonic_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> i64 {
        self.monotonic_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(1_000);
        assert_eq!((c.now_ms(), c.monotonic_ms()), (1_000, 0));
        c.advance_ms(250);
        assert_eq!((c.now_ms(), c.monotonic_ms()), (1_250, 250));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::shared();
        let a = c.monotonic_ms();
        assert!(c.monotonic_ms() >= a);
        assert!(c.now_ms() > 1_600_000_000_000);
    }
}
