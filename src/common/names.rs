//! Kafka's rules for topic names and partition counts, shared by the broker's registry
//! and the controller's image.

/// Kafka's longest topic name (the partition directory name must fit in 255 bytes).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// The most partitions one topic may have here.
pub const MAX_PARTITIONS: i32 = 10_000;

/// Why a topic name is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTopicName(pub &'static str);

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopicName> {
    if name.is_empty() {
        return Err(InvalidTopicName("empty"));
    }
    if name == "." || name == ".." {
        return Err(InvalidTopicName("'.' and '..' are not allowed"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(InvalidTopicName("longer than 249 characters"));
    }
    if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-') {
        return Err(InvalidTopicName("only ASCII alphanumerics, '.', '_' and '-' are allowed"));
    }
    Ok(())
}
