//! The records of `__transaction_state`, in Kafka's formats (kafka-protocol does not
//! generate these schemas): TransactionLogKey (`version i16 = 0 | transactional id`) and
//! TransactionLogValue v1, the flexible version Kafka writes from `transaction.version`
//! 1 on (its tagged fields carry the previous and next producer ids and the client's
//! transaction version); v0 is read too. A null value is a tombstone: the
//! transactional id expired.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::state::TxnState;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed __transaction_state record: {0}")]
pub struct RecordError(&'static str);

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;
const VALUE_VERSION_0: i16 = 0;

const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;
const TAG_NEXT_PRODUCER_EPOCH: u32 = 3;

/// What a TransactionLogValue holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// topic → partitions, in the transaction.
    pub partitions: BTreeMap<String, Vec<i32>>,
    pub last_update_ms: i64,
    pub start_ms: i64,
    pub previous_producer_id: i64,
    /// The producer id the transaction's completion moves to (epoch exhausted, V2).
    pub next_producer_id: i64,
    /// The transaction version the producer uses (2: KIP-890's epoch bump per transaction).
    pub client_transaction_version: i16,
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn get_uvarint(b: &mut Bytes) -> Result<u64, RecordError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        need(b, 1)?;
        let byte = b.get_u8();
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(RecordError("varint too long"))
}

fn put_compact_str(b: &mut BytesMut, s: &str) {
    put_uvarint(b, s.len() as u64 + 1);
    b.put_slice(s.as_bytes());
}

fn get_compact_str(b: &mut Bytes) -> Result<String, RecordError> {
    let len = get_uvarint(b)?.checked_sub(1).ok_or(RecordError("null string"))?;
    if (b.remaining() as u64) < len {
        return Err(RecordError("string length past the record"));
    }
    String::from_utf8(b.split_to(len as usize).to_vec()).map_err(|_| RecordError("string is not UTF-8"))
}

/// Reads a tagged-field section, handing each known field's bytes to `f`.
fn get_tagged(b: &mut Bytes, mut f: impl FnMut(u32, Bytes)) -> Result<(), RecordError> {
    let n = get_uvarint(b)?;
    for _ in 0..n {
        let tag = get_uvarint(b)?;
        let size = get_uvarint(b)?;
        if (b.remaining() as u64) < size {
            return Err(RecordError("tagged field past the record"));
        }
        f(u32::try_from(tag).unwrap_or(u32::MAX), b.split_to(size as usize));
    }
    Ok(())
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn get_str(b: &mut Bytes) -> Result<String, RecordError> {
    if b.remaining() < 2 {
        return Err(RecordError("truncated string length"));
    }
    let len = b.get_i16();
    if len < 0 || b.remaining() < len as usize {
        return Err(RecordError("string length past the record"));
    }
    String::from_utf8(b.split_to(len as usize).to_vec()).map_err(|_| RecordError("string is not UTF-8"))
}

fn need(b: &Bytes, n: usize) -> Result<(), RecordError> {
    if b.remaining() < n {
        return Err(RecordError("truncated record"));
    }
    Ok(())
}

pub fn key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(KEY_VERSION);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn decode_key(mut b: Bytes) -> Result<String, RecordError> {
    need(&b, 2)?;
    if b.get_i16() != KEY_VERSION {
        return Err(RecordError("unknown key version"));
    }
    get_str(&mut b)
}

pub fn value(t: &StoredTxn) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(VALUE_VERSION);
    b.put_i64(t.producer_id);
    b.put_i16(t.producer_epoch);
    b.put_i32(t.timeout_ms);
    b.put_i8(t.state.id());
    // Kafka writes a null partition list for an Empty transaction.
    if t.state == TxnState::Empty {
        put_uvarint(&mut b, 0);
    } else {
        put_uvarint(&mut b, t.partitions.len() as u64 + 1);
        for (topic, parts) in &t.partitions {
            put_compact_str(&mut b, topic);
            put_uvarint(&mut b, parts.len() as u64 + 1);
            parts.iter().for_each(|p| b.put_i32(*p));
            put_uvarint(&mut b, 0);
        }
    }
    b.put_i64(t.last_update_ms);
    b.put_i64(t.start_ms);
    // Tagged fields, only those off their defaults, in tag order.
    let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
    if t.previous_producer_id != -1 {
        tagged.push((TAG_PREVIOUS_PRODUCER_ID, t.previous_producer_id.to_be_bytes().to_vec()));
    }
    if t.next_producer_id != -1 {
        tagged.push((TAG_NEXT_PRODUCER_ID, t.next_producer_id.to_be_bytes().to_vec()));
    }
    if t.client_transaction_version != 0 {
        tagged.push((TAG_CLIENT_TRANSACTION_VERSION, t.client_transaction_version.to_be_bytes().to_vec()));
    }
    put_uvarint(&mut b, tagged.len() as u64);
    for (tag, data) in tagged {
        put_uvarint(&mut b, tag as u64);
        put_uvarint(&mut b, data.len() as u64);
        b.put_slice(&data);
    }
    b.freeze()
}

pub fn decode_value(mut b: Bytes) -> Result<StoredTxn, RecordError> {
    need(&b, 2 + 8 + 2 + 4 + 1)?;
    let version = b.get_i16();
    if version != VALUE_VERSION && version != VALUE_VERSION_0 {
        return Err(RecordError("unsupported value version"));
    }
    let flexible = version >= VALUE_VERSION;
    let producer_id = b.get_i64();
    let producer_epoch = b.get_i16();
    let timeout_ms = b.get_i32();
    let state = TxnState::from_id(b.get_i8()).ok_or(RecordError("unknown transaction state"))?;
    // Compact lengths are length + 1 (0: null); a varint past i64 is damage.
    let compact_len = |b: &mut Bytes| -> Result<i64, RecordError> { i64::try_from(get_uvarint(b)?).map(|n| n - 1).map_err(|_| RecordError("length out of range")) };
    let topics: i64 = if flexible {
        compact_len(&mut b)?
    } else {
        need(&b, 4)?;
        b.get_i32() as i64
    };
    let mut partitions = BTreeMap::new();
    for _ in 0..topics.max(0) {
        let topic = if flexible { get_compact_str(&mut b)? } else { get_str(&mut b)? };
        let n: i64 = if flexible {
            compact_len(&mut b)?
        } else {
            need(&b, 4)?;
            b.get_i32() as i64
        };
        if n < 0 || n.checked_mul(4).is_none_or(|bytes| (b.remaining() as i64) < bytes) {
            return Err(RecordError("partition list past the record"));
        }
        partitions.insert(topic, (0..n).map(|_| b.get_i32()).collect());
        if flexible {
            get_tagged(&mut b, |_, _| {})?;
        }
    }
    need(&b, 16)?;
    let mut t = StoredTxn {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms: b.get_i64(),
        start_ms: b.get_i64(),
        previous_producer_id: -1,
        next_producer_id: -1,
        client_transaction_version: 0,
    };
    if flexible {
        get_tagged(&mut b, |tag, mut data| match (tag, data.len()) {
            (TAG_PREVIOUS_PRODUCER_ID, 8) => t.previous_producer_id = data.get_i64(),
            (TAG_NEXT_PRODUCER_ID, 8) => t.next_producer_id = data.get_i64(),
            (TAG_CLIENT_TRANSACTION_VERSION, 2) => t.client_transaction_version = data.get_i16(),
            (TAG_NEXT_PRODUCER_EPOCH, _) => {}
            _ => {}
        })?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_hostile_ones_are_errors() {
        let t = StoredTxn {
            producer_id: 7,
            producer_epoch: 2,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: [("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])].into(),
            last_update_ms: 5,
            start_ms: 4,
            previous_producer_id: 3,
            next_producer_id: -1,
            client_transaction_version: 2,
        };
        assert_eq!(decode_value(value(&t)), Ok(t.clone()));
        assert_eq!(decode_key(key("txn-1")), Ok("txn-1".to_string()));
        let empty = StoredTxn { state: TxnState::Empty, partitions: BTreeMap::new(), ..t.clone() };
        assert_eq!(decode_value(value(&empty)), Ok(empty));
        let v = value(&t);
        for cut in 0..v.len() {
            assert!(decode_value(v.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut huge = BytesMut::from(&v[..17]);
        put_uvarint(&mut huge, 2);
        put_compact_str(&mut huge, "a");
        put_uvarint(&mut huge, u32::MAX as u64);
        assert!(decode_value(huge.freeze()).is_err());
        for bad in [u64::MAX, 1 << 62, (1 << 61) + 1] {
            let mut b = BytesMut::from(&v[..17]);
            put_uvarint(&mut b, 2);
            put_compact_str(&mut b, "a");
            put_uvarint(&mut b, bad);
            assert!(decode_value(b.freeze()).is_err(), "{bad}");
            let mut b = BytesMut::from(&v[..17]);
            put_uvarint(&mut b, bad);
            assert!(decode_value(b.freeze()).is_err(), "{bad}");
        }
        // Version 0, as Kafka writes below transaction.version 1.
        let mut v0 = BytesMut::new();
        v0.put_i16(0);
        v0.put_i64(7);
        v0.put_i16(2);
        v0.put_i32(60_000);
        v0.put_i8(1);
        v0.put_i32(1);
        put_str(&mut v0, "a");
        v0.put_i32(1);
        v0.put_i32(0);
        v0.put_i64(5);
        v0.put_i64(4);
        let d = decode_value(v0.freeze()).unwrap();
        assert_eq!((d.producer_id, d.state, d.partitions.len(), d.client_transaction_version), (7, TxnState::Ongoing, 1, 0));
    }
}
