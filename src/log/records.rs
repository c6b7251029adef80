//! The records inside a v2 batch, for the few places that must look at them (the
//! cleaner, ListOffsets by timestamp, the key check of compacted topics). Batch bytes come
//! from clients and from disk, so nothing here trusts a length: decompression stops at
//! [`MAX_DECOMPRESSED_BATCH_BYTES`], every record length, key length and count is checked
//! against the bytes that remain before it is used, and nothing is allocated from a count
//! on the wire. (`kafka-protocol`'s `RecordBatchDecoder` reserves the batch's claimed
//! record count up front and decompresses without a bound, so it is not used on them.)

use std::io::{self, Read};
use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;

use super::batch::{self, BatchHeader};

/// The most a batch's records may take once decompressed. A producer's batch is at most
/// `message.max.bytes` compressed; this leaves room for a 100x ratio on a 1 MiB batch while
/// a decompression bomb stops here.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 128 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum RecordsError {
    #[error("corrupt records: {0}")]
    Corrupt(&'static str),
    #[error("records decompress to more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    #[error("cannot decompress records: {0}")]
    Codec(String),
}

impl From<RecordsError> for io::Error {
    fn from(e: RecordsError) -> io::Error {
        io::Error::other(e)
    }
}

/// One record of a batch, located in the batch's (decompressed) records payload.
#[derive(Debug)]
pub struct RawRecord {
    pub offset: i64,
    /// Create time: the batch's base timestamp plus the record's delta.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// The record's bytes, length prefix included, within the payload.
    pub span: Range<usize>,
}

/// The batch's records payload, decompressed (at most [`MAX_DECOMPRESSED_BATCH_BYTES`]).
pub fn payload(h: &BatchHeader, batch: &Bytes) -> Result<Bytes, RecordsError> {
    payload_within(h, batch, MAX_DECOMPRESSED_BATCH_BYTES)
}

/// The batch's records payload, decompressed, if it takes at most `limit` bytes.
pub fn payload_within(h: &BatchHeader, batch: &Bytes, limit: usize) -> Result<Bytes, RecordsError> {
    if h.size > batch.len() {
        return Err(RecordsError::Corrupt("batch shorter than its length"));
    }
    let p = batch.slice(batch::HEADER_SIZE..h.size);
    let limit = limit.min(MAX_DECOMPRESSED_BATCH_BYTES);
    let codec = |e: io::Error| RecordsError::Codec(e.to_string());
    match h.compression() {
        0 => Ok(p),
        1 => read_bounded(flate2::read::GzDecoder::new(&p[..]), limit),
        2 => snappy(&p, limit),
        3 => read_bounded(lz4::Decoder::new(&p[..]).map_err(codec)?, limit),
        4 => read_bounded(zstd::stream::read::Decoder::new(&p[..]).map_err(codec)?, limit),
        c => Err(RecordsError::UnknownCodec(c)),
    }
}

fn read_bounded(r: impl Read, limit: usize) -> Result<Bytes, RecordsError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| RecordsError::Codec(e.to_string()))?;
    if out.len() > limit {
        return Err(RecordsError::TooLarge { limit });
    }
    Ok(out.into())
}

/// Kafka's snappy: xerial's framing (a magic header, then length-prefixed raw blocks), or
/// one raw block when the magic is absent, as Kafka's reader accepts.
fn snappy(p: &[u8], limit: usize) -> Result<Bytes, RecordsError> {
    const MAGIC: &[u8] = b"\x82SNAPPY\x00";
    const HEADER: usize = 16;
    let mut out = Vec::new();
    let block = |raw: &[u8], out: &mut Vec<u8>| -> Result<(), RecordsError> {
        let n = snap::raw::decompress_len(raw).map_err(|e| RecordsError::Codec(e.to_string()))?;
        if out.len() + n > limit {
            return Err(RecordsError::TooLarge { limit });
        }
        let start = out.len();
        out.resize(start + n, 0);
        snap::raw::Decoder::new().decompress(raw, &mut out[start..]).map_err(|e| RecordsError::Codec(e.to_string()))?;
        Ok(())
    };
    if !p.starts_with(MAGIC) {
        block(p, &mut out)?;
        return Ok(out.into());
    }
    let mut rest = p.get(HEADER..).ok_or(RecordsError::Corrupt("snappy header cut short"))?;
    while !rest.is_empty() {
        let len = rest.get(..4).ok_or(RecordsError::Corrupt("snappy block length cut short"))?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let raw = rest.get(4..4 + len).ok_or(RecordsError::Corrupt("snappy block past the batch end"))?;
        block(raw, &mut out)?;
        rest = &rest[4 + len..];
    }
    Ok(out.into())
}

/// Reads a zig-zag varint (or varlong) at `pos`, no further than `end`.
#[inline]
fn varint(b: &[u8], pos: &mut usize, end: usize) -> Result<i64, RecordsError> {
    // Most varints in a record (deltas, small lengths, header counts) are one byte.
    if *pos < end && b[*pos] < 0x80 {
        let z = b[*pos] as i64;
        *pos += 1;
        return Ok((z >> 1) ^ -(z & 1));
    }
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        if *pos >= end {
            return Err(RecordsError::Corrupt("truncated varint"));
        }
        let byte = b[*pos];
        *pos += 1;
        z |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    Err(RecordsError::Corrupt("varint too long"))
}

/// A length field of `len` bytes at `pos` (-1 is null), checked to end by `end`.
#[inline]
fn span(pos: &mut usize, len: i64, end: usize) -> Result<Option<Range<usize>>, RecordsError> {
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| RecordsError::Corrupt("negative length"))?;
    if len > end - *pos {
        return Err(RecordsError::Corrupt("field past the end of its record"));
    }
    let r = *pos..*pos + len;
    *pos += len;
    Ok(Some(r))
}

/// Splits `data` (whole batches back to back, as a log read returns them) into batches,
/// each checked to be whole before it is handed out.
pub fn split_batches(mut data: Bytes) -> impl Iterator<Item = Result<(BatchHeader, Bytes), RecordsError>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let h = match BatchHeader::parse(&data) {
            Ok(h) if h.size <= data.len() => h,
            _ => {
                data.clear();
                return Some(Err(RecordsError::Corrupt("batch cut short")));
            }
        };
        Some(Ok((h, data.split_to(h.size))))
    })
}

/// Where one record's parts lie in a payload.
struct RecordSpans {
    /// The whole record, length prefix included.
    whole: Range<usize>,
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

/// Reads the record at `pos` in `p` as Kafka's `DefaultRecord.readFrom` does, every
/// length checked against the record's own size, headers included; the record must end
/// exactly where its size says.
#[inline]
fn record_at(p: &[u8], pos: &mut usize) -> Result<RecordSpans, RecordsError> {
    let start = *pos;
    let len = varint(p, pos, p.len())?;
    let body = *pos;
    let end = span(pos, len, p.len())?.ok_or(RecordsError::Corrupt("record of null length"))?.end;
    if end == body {
        return Err(RecordsError::Corrupt("empty record"));
    }
    *pos = body + 1; // attributes
    let timestamp_delta = varint(p, pos, end)?;
    let offset_delta = varint(p, pos, end)?;
    let key_len = varint(p, pos, end)?;
    let key = span(pos, key_len, end)?;
    let value_len = varint(p, pos, end)?;
    let value = span(pos, value_len, end)?;
    let headers = varint(p, pos, end)?;
    if headers < 0 || headers as usize > end - *pos {
        return Err(RecordsError::Corrupt("invalid number of record headers"));
    }
    for _ in 0..headers {
        let key_len = varint(p, pos, end)?;
        if key_len < 0 {
            return Err(RecordsError::Corrupt("negative header key size"));
        }
        span(pos, key_len, end)?;
        let value_len = varint(p, pos, end)?;
        span(pos, value_len, end)?;
    }
    if *pos != end {
        return Err(RecordsError::Corrupt("record size does not match its fields"));
    }
    Ok(RecordSpans { whole: start..end, timestamp_delta, offset_delta, key, value })
}

/// Checks the records of an uncompressed batch as Kafka's validator does on produce:
/// exactly `records_count` well-formed records, nothing after them. A length walk, no
/// allocation; compressed batches are not opened on the produce path.
pub fn check_uncompressed(h: &BatchHeader, batch: &[u8]) -> Result<(), RecordsError> {
    let p = batch.get(batch::HEADER_SIZE..h.size).ok_or(RecordsError::Corrupt("batch shorter than its length"))?;
    check_payload(h, p)
}

/// Checks a (decompressed) records payload against its header: exactly `records_count`
/// well-formed records and nothing after them.
pub fn check_payload(h: &BatchHeader, p: &[u8]) -> Result<(), RecordsError> {
    let mut pos = 0;
    for _ in 0..h.records_count.max(0) {
        if pos == p.len() {
            return Err(RecordsError::Corrupt("incorrect declared batch size, premature end of records"));
        }
        record_at(p, &mut pos)?;
    }
    if pos != p.len() {
        return Err(RecordsError::Corrupt("incorrect declared batch size, records still remaining"));
    }
    Ok(())
}

/// Locates every record of a batch without re-encoding anything; the records are those
/// the payload holds, whatever count the header claims.
pub fn raw_records(h: &BatchHeader, batch: &Bytes) -> Result<(Bytes, Vec<RawRecord>), RecordsError> {
    let p = payload(h, batch)?;
    // Every record takes at least 7 bytes: never reserve more than the payload can hold.
    let mut out = Vec::with_capacity((h.records_count.max(0) as usize).min(p.len() / 7));
    let mut pos = 0usize;
    while pos < p.len() {
        let r = record_at(&p, &mut pos)?;
        out.push(RawRecord {
            offset: h.base_offset.wrapping_add(r.offset_delta),
            timestamp: h.base_timestamp.wrapping_add(r.timestamp_delta),
            key: r.key.map(|k| p.slice(k)),
            value: r.value.map(|v| p.slice(v)),
            span: r.whole,
        });
    }
    Ok((p, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::encode_records;
    use kafka_protocol::records::Compression;

    fn batch(compression: Compression) -> (Bytes, BatchHeader) {
        let recs = vec![(Some(Bytes::from_static(b"k1")), Some(Bytes::from_static(b"v1"))), (None, None)];
        encode_records(&recs, 1_000, compression).unwrap()
    }

    #[test]
    fn reads_records_of_every_codec() {
        for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let (b, h) = batch(c);
            let (_, rs) = raw_records(&h, &b).unwrap();
            assert_eq!(rs.len(), 2, "{c:?}");
            assert_eq!(rs[0].key.as_deref(), Some(&b"k1"[..]));
            assert!(rs[1].key.is_none() && rs[1].value.is_none());
            assert_eq!((rs[1].offset, rs[1].timestamp), (1, 1_000));
        }
    }

    #[test]
    fn hostile_counts_and_lengths_are_errors() {
        let (b, mut h) = batch(Compression::None);
        h.records_count = i32::MAX; // claimed, not reserved
        assert_eq!(raw_records(&h, &b).unwrap().1.len(), 2);
        // A key length far past the record.
        let mut bad = b.to_vec();
        let first_key_len = batch::HEADER_SIZE + 1 + 1 + 1 + 1; // length, attributes, ts, offset
        bad[first_key_len] = 0x7e; // zig-zag 63
        assert!(raw_records(&h, &Bytes::from(bad)).is_err());
        // A record length past the payload.
        let mut bad = b.to_vec();
        bad[batch::HEADER_SIZE] = 0x7e;
        assert!(raw_records(&h, &Bytes::from(bad)).is_err());
    }

    #[test]
    fn produced_records_are_checked_as_kafka_checks_them() {
        let (b, h) = batch(Compression::None);
        check_uncompressed(&h, &b).unwrap();
        let mut fewer = h;
        fewer.records_count = 1;
        assert!(check_uncompressed(&fewer, &b).is_err(), "records still remaining");
        let mut more = h;
        more.records_count = 3;
        assert!(check_uncompressed(&more, &b).is_err(), "premature end");
        // A header count larger than the record.
        let mut bad = b.to_vec();
        let first_record_end = batch::HEADER_SIZE + 1 + bad[batch::HEADER_SIZE] as usize / 2;
        bad[first_record_end - 1] = 0x7e;
        assert!(check_uncompressed(&h, &bad).is_err());
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let zeros = vec![0u8; 4096];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(matches!(read_bounded(flate2::read::GzDecoder::new(&gz[..]), 1000), Err(RecordsError::TooLarge { limit: 1000 })));
        assert_eq!(read_bounded(flate2::read::GzDecoder::new(&gz[..]), 4096).unwrap().len(), 4096);
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert!(matches!(snappy(&raw, 1000), Err(RecordsError::TooLarge { .. })));
        assert_eq!(snappy(&raw, 4096).unwrap().len(), 4096);
        // A raw block claiming 4 GiB is refused before anything is allocated.
        assert!(snappy(&[0xff, 0xff, 0xff, 0xff, 0x0f], 1 << 20).is_err());
    }
}
