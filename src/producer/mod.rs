//! Producer ids and idempotent-producer sequence tracking.

pub mod id_manager;
pub mod state;

pub use id_manager::ProducerIdManager;
pub use state::{ProducerStateManager, SequenceCheck, SequenceError};
