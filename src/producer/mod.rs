//! Producer ids: the allocator behind InitProducerId. (The per-partition sequence and
//! epoch state of idempotent producers belongs to the log: `log::producer_state`.)

pub mod id_manager;

pub use id_manager::ProducerIdManager;
