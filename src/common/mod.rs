//! The bottom of the house: what every room may use and which uses no room itself —
//! the clock, the shutdown signal, topic ids and Kafka's topic name rules.

pub mod clock;
pub mod log_levels;
pub mod names;
pub mod shutdown;
pub mod topic_id;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use shutdown::{ShutdownSignal, ShutdownTrigger};
