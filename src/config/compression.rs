//! `compression.type` and the `compression.*.level` keys, as a typed setting.

/// What `compression.type` asks of stored batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCompression {
    /// Keep the producer's codec (Kafka's default).
    Producer,
    Uncompressed,
    /// `compression.gzip.level`: 1-9, or -1 for zlib's default.
    Gzip { level: i32 },
    Snappy,
    /// `compression.lz4.level`: 1-17.
    Lz4 { level: i32 },
    /// `compression.zstd.level`: -131072-22.
    Zstd { level: i32 },
}

impl TopicCompression {
    /// The codec id stored batches must carry, or `None` for `producer`.
    pub fn codec(self) -> Option<i16> {
        match self {
            TopicCompression::Producer => None,
            TopicCompression::Uncompressed => Some(0),
            TopicCompression::Gzip { .. } => Some(1),
            TopicCompression::Snappy => Some(2),
            TopicCompression::Lz4 { .. } => Some(3),
            TopicCompression::Zstd { .. } => Some(4),
        }
    }

    /// Whether a batch with `codec` must be recompressed before it is stored.
    pub fn needs_recompression(self, codec: i16) -> bool {
        self.codec().is_some_and(|c| c != codec)
    }
}
