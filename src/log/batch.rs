//! The v2 RecordBatch header: parse, validate, and patch in place.
//!
//! Only the 61-byte header is ever read on the produce and fetch paths; records stay
//! opaque bytes (possibly compressed) and are never decoded there.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordsCount i32 | records...
//! ```

use thiserror::Error;

pub const BASE_OFFSET: usize = 0;
pub const BATCH_LENGTH: usize = 8;
pub const PARTITION_LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORDS_COUNT: usize = 57;
/// Size of the v2 header; also the smallest valid batch.
pub const HEADER_SIZE: usize = 61;
/// Bytes before (and not counted in) `batchLength`.
pub const LOG_OVERHEAD: usize = 12;

pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_SEQUENCE: i32 = -1;

pub const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_LOG_APPEND: i16 = 0x08;
const TRANSACTIONAL: i16 = 0x10;
const CONTROL: i16 = 0x20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// The bytes do not hold a whole batch, or lengths do not add up (CORRUPT_MESSAGE).
    #[error("corrupt batch: {0}")]
    Corrupt(&'static str),
    /// CRC-32C mismatch (CORRUPT_MESSAGE).
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    /// A well-formed batch Kafka would refuse (INVALID_RECORD).
    #[error("invalid batch: {0}")]
    Invalid(&'static str),
}

/// The header fields of one batch, read without touching the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Length of the whole batch including the 12-byte offset/length prefix.
    pub size: usize,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the base offset and total size of the batch at the start of `b`, if at least
/// the 12-byte prefix is there. Used to walk a log without reading whole headers.
pub fn peek_offset_and_size(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < LOG_OVERHEAD {
        return None;
    }
    let len = i32_at(b, BATCH_LENGTH);
    if len < 0 {
        return Some((i64_at(b, BASE_OFFSET), 0));
    }
    Some((i64_at(b, BASE_OFFSET), LOG_OVERHEAD + len as usize))
}

impl BatchHeader {
    /// Parses the header at the start of `b`. Checks only that the header is present and
    /// that the declared length is plausible; see [`validate`] for the full check.
    pub fn parse(b: &[u8]) -> Result<Self, BatchError> {
        if b.len() < HEADER_SIZE {
            return Err(BatchError::Corrupt("shorter than a batch header"));
        }
        let len = i32_at(b, BATCH_LENGTH);
        if len < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(BatchError::Corrupt("batch length smaller than its header"));
        }
        Ok(BatchHeader {
            base_offset: i64_at(b, BASE_OFFSET),
            size: LOG_OVERHEAD + len as usize,
            partition_leader_epoch: i32_at(b, PARTITION_LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: u32::from_be_bytes(b[CRC..CRC + 4].try_into().expect("4 bytes")),
            attributes: i16_at(b, ATTRIBUTES),
            last_offset_delta: i32_at(b, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(b, BASE_TIMESTAMP),
            max_timestamp: i64_at(b, MAX_TIMESTAMP),
            producer_id: i64_at(b, PRODUCER_ID),
            producer_epoch: i16_at(b, PRODUCER_EPOCH),
            base_sequence: i32_at(b, BASE_SEQUENCE),
            records_count: i32_at(b, RECORDS_COUNT),
        })
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL != 0
    }
    pub fn has_producer_id(&self) -> bool {
        self.producer_id > NO_PRODUCER_ID
    }
    /// Last sequence number of the batch; sequences wrap at i32::MAX as in Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C of a batch, over attributes to the end (as stored in the header).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// Fully validates the single batch `b` (which must be exactly one batch): header,
/// lengths, magic, CRC and record count. This is what the produce path runs; it reads
/// the records only through the CRC.
pub fn validate(b: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(b)?;
    if h.size != b.len() {
        return Err(BatchError::Corrupt("batch length does not match the bytes sent"));
    }
    if h.magic != 2 {
        return Err(BatchError::Invalid("only magic v2 record batches are accepted"));
    }
    let computed = compute_crc(b);
    if computed != h.crc {
        return Err(BatchError::Crc { stored: h.crc, computed });
    }
    if h.last_offset_delta < 0 || h.records_count != h.last_offset_delta.saturating_add(1) {
        return Err(BatchError::Invalid("record count does not match the last offset delta"));
    }
    if h.compression() > 4 {
        return Err(BatchError::Invalid("unknown compression codec"));
    }
    Ok(h)
}

/// Checks stored batch bytes during recovery or a verify scan: whole, v2, CRC intact.
pub fn check_stored(b: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(b)?;
    if h.size > b.len() {
        return Err(BatchError::Corrupt("batch extends past the end of the file"));
    }
    if h.magic != 2 {
        return Err(BatchError::Corrupt("stored batch is not magic v2"));
    }
    // Offsets a broker assigned: never negative, never past what an i64 can count.
    if h.base_offset < 0 || h.last_offset_delta < 0 || h.base_offset > i64::MAX - i32::MAX as i64 - 1 {
        return Err(BatchError::Corrupt("stored batch has impossible offsets"));
    }
    let computed = compute_crc(&b[..h.size]);
    if computed != h.crc {
        return Err(BatchError::Crc { stored: h.crc, computed });
    }
    Ok(h)
}

/// Assigns the batch its offsets and leader epoch. Both fields lie outside the CRC, so
/// the batch stays valid without recomputing it.
pub fn assign_offsets(b: &mut [u8], base_offset: i64, leader_epoch: i32) {
    b[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    b[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Stamps LogAppendTime: sets the timestamp type bit and max timestamp, then recomputes
/// the CRC (both fields are inside it). Records keep their deltas, as Kafka does.
pub fn set_log_append_time(b: &mut [u8], now_ms: i64) {
    let attrs = i16_at(b, ATTRIBUTES) | TIMESTAMP_TYPE_LOG_APPEND;
    b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    b[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(b);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The (offset, timestamp) of each record of a stored batch, decompressing it if needed;
/// `None` if it cannot be read. Only ListOffsets-by-timestamp uses this, never the
/// produce or fetch path.
pub fn record_timestamps(b: &[u8]) -> Option<Vec<(i64, i64)>> {
    let h = BatchHeader::parse(b).ok()?;
    let bytes = bytes::Bytes::copy_from_slice(b.get(..h.size)?);
    let (_, records) = super::records::raw_records(&h, &bytes).ok()?;
    let log_append = h.attributes & TIMESTAMP_TYPE_LOG_APPEND != 0;
    Some(records.iter().map(|r| (r.offset, if log_append { h.max_timestamp } else { r.timestamp })).collect())
}

/// Encodes (key, value) records, all with `timestamp`, as one v2 batch with base offset
/// 0, and validates it: for batches the broker writes itself (`__consumer_offsets`).
pub fn encode_records(records: &[(Option<bytes::Bytes>, Option<bytes::Bytes>)], timestamp: i64, compression: kafka_protocol::records::Compression) -> Result<(bytes::Bytes, BatchHeader), BatchError> {
    encode_batch(records, timestamp, compression, BatchProducer::NONE)
}

/// Who a batch the broker writes itself belongs to: nobody, a transaction (offsets
/// committed in one), or a transaction marker (a control batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transactional: bool,
    pub control: bool,
}

impl BatchProducer {
    pub const NONE: BatchProducer = BatchProducer { producer_id: NO_PRODUCER_ID, producer_epoch: -1, transactional: false, control: false };
}

/// [`encode_records`] for a producer: transactional batches carry its id and epoch and
/// no sequence, as Kafka writes transactional offset commits and markers.
pub fn encode_batch(records: &[(Option<bytes::Bytes>, Option<bytes::Bytes>)], timestamp: i64, compression: kafka_protocol::records::Compression, producer: BatchProducer) -> Result<(bytes::Bytes, BatchHeader), BatchError> {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let rs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: producer.transactional,
            control: producer.control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps one batch while offset - sequence stays constant.
            sequence: i as i32 - 1,
            timestamp,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &rs, &RecordEncodeOptions { version: 2, compression }).map_err(|_| BatchError::Invalid("records could not be encoded"))?;
    let bytes = buf.freeze();
    let header = validate(&bytes)?;
    Ok((bytes, header))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a valid uncompressed batch of `count` records with the given value size.
    /// Each record: attributes, timestamp delta, offset delta, key (null), value, no headers.
    pub fn make_batch(count: i32, value_len: usize, producer: Option<(i64, i16, i32)>) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, v: i64) {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            loop {
                if z < 0x80 {
                    out.push(z as u8);
                    break;
                }
                out.push((z as u8 & 0x7f) | 0x80);
                z >>= 7;
            }
        }
        let mut records = Vec::new();
        for i in 0..count {
            let mut r = Vec::new();
            r.push(0u8);
            varint(&mut r, 0);
            varint(&mut r, i as i64);
            varint(&mut r, -1);
            varint(&mut r, value_len as i64);
            r.extend(std::iter::repeat(b'v').take(value_len));
            varint(&mut r, 0);
            varint(&mut records, r.len() as i64);
            records.extend(r);
        }
        let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
        let mut b = Vec::new();
        b.extend(0i64.to_be_bytes());
        b.extend(((HEADER_SIZE - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
        b.extend(0i32.to_be_bytes());
        b.push(2);
        b.extend(0u32.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend((count - 1).to_be_bytes());
        b.extend(1_700_000_000_000i64.to_be_bytes());
        b.extend(1_700_000_000_000i64.to_be_bytes());
        b.extend(pid.to_be_bytes());
        b.extend(epoch.to_be_bytes());
        b.extend(seq.to_be_bytes());
        b.extend(count.to_be_bytes());
        b.extend(records);
        let crc = compute_crc(&b);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn validates_and_patches() {
        let mut b = make_batch(3, 10, None);
        let h = validate(&b).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.size, b.len());
        assign_offsets(&mut b, 42, 7);
        let h = validate(&b).unwrap();
        assert_eq!((h.base_offset, h.last_offset(), h.partition_leader_epoch), (42, 44, 7));
        set_log_append_time(&mut b, 5);
        assert_eq!(validate(&b).unwrap().max_timestamp, 5);
    }

    #[test]
    fn rejects_bad_batches() {
        let b = make_batch(2, 10, None);
        let mut crc = b.clone();
        let last = crc.len() - 1;
        crc[last] ^= 0xff;
        assert!(matches!(validate(&crc), Err(BatchError::Crc { .. })));
        assert!(matches!(validate(&b[..b.len() - 1]), Err(BatchError::Corrupt(_))));
        assert!(matches!(validate(&b[..30]), Err(BatchError::Corrupt(_))));
        let mut magic = b.clone();
        magic[MAGIC] = 1;
        assert!(matches!(validate(&magic), Err(BatchError::Invalid(_))));
        let mut count = b.clone();
        count[RECORDS_COUNT + 3] = 9;
        let c = compute_crc(&count);
        count[CRC..CRC + 4].copy_from_slice(&c.to_be_bytes());
        assert!(matches!(validate(&count), Err(BatchError::Invalid(_))));
        let mut neg = b.clone();
        neg[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(validate(&neg).is_err());
    }

    #[test]
    fn reads_record_timestamps_of_uncompressed_batches() {
        let mut b = make_batch(3, 5, None);
        assign_offsets(&mut b, 10, 0);
        let ts = record_timestamps(&b).unwrap();
        assert_eq!(ts, vec![(10, 1_700_000_000_000), (11, 1_700_000_000_000), (12, 1_700_000_000_000)]);
        assert!(record_timestamps(&b[..b.len() - 3]).is_none());
    }

    #[test]
    fn sequence_wraps() {
        let mut b = make_batch(3, 1, Some((1, 0, i32::MAX - 1)));
        let h = validate(&b).unwrap();
        assert_eq!(h.last_sequence(), 0);
        b[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&NO_SEQUENCE.to_be_bytes());
        assert_eq!(BatchHeader::parse(&b).unwrap().last_sequence(), NO_SEQUENCE);
    }
}
