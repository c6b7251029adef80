//! Transaction markers: the control batches that end a producer's transaction in a
//! partition, in Kafka's format. A control batch holds one record whose key is
//! `version i16 | type i16` (0 ABORT, 1 COMMIT) and whose value is an `EndTxnMarker`
//! (`version i16 | coordinator epoch i32`).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::EndTxnMarker;
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::records::Compression;

use super::batch::{self, BatchError, BatchHeader, BatchProducer};
use super::records::raw_records;

const CONTROL_KEY_VERSION: i16 = 0;
const END_TXN_MARKER_VERSION: i16 = 0;
const ABORT: i16 = 0;
const COMMIT: i16 = 1;

/// What a transaction marker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Encodes the marker that ends `producer_id`'s transaction (offsets and leader epoch
/// are assigned at append).
pub fn encode(producer_id: i64, producer_epoch: i16, marker: Marker, now_ms: i64) -> Result<(Bytes, BatchHeader), BatchError> {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(CONTROL_KEY_VERSION);
    key.put_i16(if marker.commit { COMMIT } else { ABORT });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(END_TXN_MARKER_VERSION);
    let mut m = EndTxnMarker::default();
    m.coordinator_epoch = marker.coordinator_epoch;
    m.encode(&mut value, END_TXN_MARKER_VERSION).map_err(|_| BatchError::Invalid("marker could not be encoded"))?;
    let producer = BatchProducer { producer_id, producer_epoch, transactional: true, control: true };
    batch::encode_batch(&[(Some(key.freeze()), Some(value.freeze()))], now_ms, Compression::None, producer)
}

/// Reads the marker of a control batch (`bytes` is the whole batch). `None` for a
/// control record of another type (Kafka has others, e.g. for KRaft), or a damaged one.
pub fn decode(h: &BatchHeader, bytes: &Bytes) -> Option<Marker> {
    if !h.is_control() {
        return None;
    }
    let (_, records) = raw_records(h, bytes).ok()?;
    let r = records.first()?;
    let mut key = r.key.clone()?;
    if key.len() < 4 {
        return None;
    }
    let _version = key.get_i16();
    let commit = match key.get_i16() {
        ABORT => false,
        COMMIT => true,
        _ => return None,
    };
    let mut value = r.value.clone()?;
    if value.len() < 2 {
        return None;
    }
    let version = value.get_i16();
    let coordinator_epoch = EndTxnMarker::decode(&mut value, version.clamp(0, END_TXN_MARKER_VERSION)).map(|m| m.coordinator_epoch).unwrap_or(-1);
    Some(Marker { commit, coordinator_epoch })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_as_control_batches() {
        for commit in [true, false] {
            let (bytes, h) = encode(42, 3, Marker { commit, coordinator_epoch: 7 }, 1_000).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!((h.producer_id, h.producer_epoch, h.records_count), (42, 3, 1));
            assert_eq!(decode(&h, &bytes), Some(Marker { commit, coordinator_epoch: 7 }));
        }
        let (plain, h) = batch::encode_records(&[(None, Some(Bytes::from_static(b"v")))], 0, Compression::None).unwrap();
        assert_eq!(decode(&h, &plain), None);
    }
}
