//! Recompression of a produced batch into the codec its topic's `compression.type` asks
//! for, as Kafka's log validator does. Only batches whose codec differs from the
//! topic's are touched; with `compression.type=producer` (the default) nothing here runs.
//!
//! The batch is rebuilt around its records payload: the header keeps every field
//! (producer id, epoch, sequence, timestamps, offset delta, record count) except the
//! codec bits, the length and the CRC; the records themselves are not re-encoded.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{self, BatchHeader};
use super::records::{self, RecordsError};
pub use crate::config::TopicCompression;

/// The codec ids, as `compression.type` names them.
pub fn codec_name(codec: i16) -> &'static str {
    match codec {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// Rebuilds `batch` (one validated v2 batch) with its records compressed as `target`
/// says. The records are checked on the way, as Kafka does whenever it opens a batch.
/// `max_batch_bytes` (the topic's `max.message.bytes`) bounds the decompression when
/// the records are to be stored uncompressed: more could not be stored anyway.
pub fn recompress(h: &BatchHeader, batch: &Bytes, target: TopicCompression, max_batch_bytes: usize) -> Result<(Bytes, BatchHeader), RecordsError> {
    let codec = target.codec().ok_or(RecordsError::Corrupt("compression.type=producer keeps batches as they are"))?;
    let limit = if codec == 0 { max_batch_bytes } else { records::MAX_DECOMPRESSED_BATCH_BYTES };
    let payload = records::payload_within(h, batch, limit)?;
    records::check_payload(h, &payload)?;
    let compressed = compress(&payload, target).map_err(|e| RecordsError::Codec(e.to_string()))?;
    let mut out = BytesMut::with_capacity(batch::HEADER_SIZE + compressed.len());
    out.extend_from_slice(&batch[..batch::HEADER_SIZE]);
    out.put_slice(&compressed);
    let length = (out.len() - batch::LOG_OVERHEAD) as i32;
    out[batch::BATCH_LENGTH..batch::BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = (h.attributes & !batch::COMPRESSION_MASK) | codec;
    out[batch::ATTRIBUTES..batch::ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = batch::compute_crc(&out);
    out[batch::CRC..batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    let bytes = out.freeze();
    let header = BatchHeader::parse(&bytes).map_err(|_| RecordsError::Corrupt("rebuilt batch header"))?;
    Ok((bytes, header))
}

/// Block size of Kafka's snappy framing (xerial's `SnappyOutputStream` default).
const SNAPPY_BLOCK: usize = 32 * 1024;
const SNAPPY_HEADER: &[u8] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

fn compress(payload: &[u8], target: TopicCompression) -> std::io::Result<Vec<u8>> {
    match target {
        TopicCompression::Producer | TopicCompression::Uncompressed => Ok(payload.to_vec()),
        TopicCompression::Gzip { level } => {
            let level = if (1..=9).contains(&level) { flate2::Compression::new(level as u32) } else { flate2::Compression::default() };
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(payload.len() / 2), level);
            e.write_all(payload)?;
            e.finish()
        }
        TopicCompression::Snappy => {
            let mut out = Vec::with_capacity(payload.len() / 2 + SNAPPY_HEADER.len());
            out.extend_from_slice(SNAPPY_HEADER);
            let mut enc = snap::raw::Encoder::new();
            for block in payload.chunks(SNAPPY_BLOCK) {
                let raw = enc.compress_vec(block).map_err(std::io::Error::other)?;
                out.extend_from_slice(&(raw.len() as u32).to_be_bytes());
                out.extend_from_slice(&raw);
            }
            Ok(out)
        }
        TopicCompression::Lz4 { level } => {
            // Kafka's LZ4 framing: 64 KiB independent blocks, no checksums.
            let mut e = lz4::EncoderBuilder::new()
                .level(level.clamp(1, 17) as u32)
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::with_capacity(payload.len() / 2))?;
            e.write_all(payload)?;
            let (out, result) = e.finish();
            result.map(|_| out)
        }
        TopicCompression::Zstd { level } => zstd::bulk::compress(payload, level),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::encode_records;
    use kafka_protocol::records::Compression;

    fn batch(c: Compression) -> (Bytes, BatchHeader) {
        let recs: Vec<_> = (0..200).map(|i| (Some(Bytes::from(format!("k{i}"))), Some(Bytes::from(format!("value {i} ").repeat(20))))).collect();
        encode_records(&recs, 1_000, c).unwrap()
    }

    #[test]
    fn every_codec_to_every_codec_keeps_the_records() {
        let targets = [
            TopicCompression::Uncompressed,
            TopicCompression::Gzip { level: -1 },
            TopicCompression::Gzip { level: 9 },
            TopicCompression::Snappy,
            TopicCompression::Lz4 { level: 9 },
            TopicCompression::Zstd { level: 3 },
            TopicCompression::Zstd { level: -5 },
        ];
        for from in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let (b, h) = batch(from);
            let original = records::payload(&h, &b).unwrap();
            for t in targets {
                let (nb, nh) = recompress(&h, &b, t, 1 << 20).unwrap();
                assert_eq!(nh.compression(), t.codec().unwrap(), "{from:?} -> {t:?}");
                let checked = batch::validate(&nb).unwrap();
                assert_eq!((checked.records_count, checked.last_offset_delta, checked.base_timestamp), (h.records_count, h.last_offset_delta, h.base_timestamp));
                assert_eq!(records::payload(&nh, &nb).unwrap(), original, "{from:?} -> {t:?}");
                // and kafka-protocol's decoder (as the clients') reads the same records
                let mut buf = nb.clone();
                let decoded = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
                assert_eq!(decoded.records.len(), 200);
                assert_eq!(decoded.records[7].key.as_deref(), Some(&b"k7"[..]));
            }
        }
    }

    #[test]
    fn only_a_differing_codec_is_recompressed() {
        assert!(!TopicCompression::Producer.needs_recompression(1));
        assert!(!TopicCompression::Gzip { level: -1 }.needs_recompression(1));
        assert!(TopicCompression::Gzip { level: -1 }.needs_recompression(0));
        assert!(TopicCompression::Uncompressed.needs_recompression(4));
    }

    #[test]
    fn a_corrupt_payload_is_refused() {
        let (b, h) = batch(Compression::Gzip);
        let mut bad = b.to_vec();
        let n = bad.len();
        bad[n - 20] ^= 0xff;
        assert!(recompress(&h, &Bytes::from(bad), TopicCompression::Zstd { level: 3 }, 1 << 20).is_err());
        // records that would not fit the topic's max.message.bytes uncompressed are not
        // even decompressed in full
        assert!(matches!(recompress(&h, &b, TopicCompression::Uncompressed, 1000), Err(RecordsError::TooLarge { limit: 1000 })));
    }
}
