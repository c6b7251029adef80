//! The records of `__consumer_offsets`, in Kafka's own formats (kafka-protocol does not
//! generate these schemas): OffsetCommitKey v1 / OffsetCommitValue v3 and
//! GroupMetadataKey v2 / GroupMetadataValue v3. A null value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct RecordError(pub(super) &'static str);

/// A committed offset, as stored and as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member in a stored GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// A decoded record of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset { group: String, topic: String, partition: i32, value: Option<CommittedOffset> },
    Group { group: String, value: Option<StoredGroup> },
    /// A record of a consumer group of the KIP-848 protocol.
    Consumer(super::consumer::records::ConsumerRecord),
}

const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_KEY_VERSION: i16 = 2;
const GROUP_VALUE_VERSION: i16 = 3;

pub(super) fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_i32(v.len() as i32);
    b.put_slice(v);
}

/// Reads fields with every length checked before use.
pub(super) struct Reader(pub(super) Bytes);

impl Reader {
    pub(super) fn need(&self, n: usize) -> Result<(), RecordError> {
        if self.0.remaining() < n {
            return Err(RecordError("truncated"));
        }
        Ok(())
    }
    pub(super) fn i16(&mut self) -> Result<i16, RecordError> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    pub(super) fn i32(&mut self) -> Result<i32, RecordError> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    pub(super) fn i64(&mut self) -> Result<i64, RecordError> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    pub(super) fn nullable_str(&mut self) -> Result<Option<String>, RecordError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        self.need(len as usize)?;
        let raw = self.0.split_to(len as usize);
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| RecordError("string is not UTF-8"))
    }
    pub(super) fn str(&mut self) -> Result<String, RecordError> {
        self.nullable_str()?.ok_or(RecordError("null string"))
    }
    pub(super) fn bytes(&mut self) -> Result<Bytes, RecordError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        self.need(len as usize)?;
        Ok(self.0.split_to(len as usize))
    }

    // The flexible versions' encodings (the values of the consumer group records).
    pub(super) fn i8(&mut self) -> Result<i8, RecordError> {
        self.need(1)?;
        Ok(self.0.get_i8())
    }
    pub(super) fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value = 0u32;
        for i in 0..5 {
            self.need(1)?;
            let b = self.0.get_u8() as u32;
            value |= (b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(RecordError("varint too long"))
    }
    /// A compact length: `None` for null, checked against the bytes left.
    pub(super) fn compact_len(&mut self) -> Result<Option<usize>, RecordError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => {
                let n = (n - 1) as usize;
                self.need(n)?;
                Ok(Some(n))
            }
        }
    }
    pub(super) fn compact_nullable_str(&mut self) -> Result<Option<String>, RecordError> {
        let Some(len) = self.compact_len()? else { return Ok(None) };
        let raw = self.0.split_to(len);
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| RecordError("string is not UTF-8"))
    }
    pub(super) fn compact_str(&mut self) -> Result<String, RecordError> {
        self.compact_nullable_str()?.ok_or(RecordError("null string"))
    }
    /// A compact array's element count; each element takes at least one byte.
    pub(super) fn compact_count(&mut self) -> Result<usize, RecordError> {
        Ok(self.compact_len()?.unwrap_or(0))
    }
    pub(super) fn uuid(&mut self) -> Result<uuid::Uuid, RecordError> {
        self.need(16)?;
        Ok(uuid::Uuid::from_u128(self.0.get_u128()))
    }
    /// Reads the tagged fields, handing each (tag, bytes) to `f`.
    pub(super) fn tagged_fields(&mut self, mut f: impl FnMut(u32, Bytes)) -> Result<(), RecordError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.need(size)?;
            f(tag, self.0.split_to(size));
        }
        Ok(())
    }
}

pub(super) fn put_uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

pub(super) fn put_compact_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        None => b.put_u8(0),
        Some(s) => {
            put_uvarint(b, s.len() as u32 + 1);
            b.put_slice(s.as_bytes());
        }
    }
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(OFFSET_KEY_VERSION);
    put_str(&mut b, group);
    put_str(&mut b, topic);
    b.put_i32(partition);
    b.freeze()
}

pub fn offset_value(v: &CommittedOffset) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(OFFSET_VALUE_VERSION);
    b.put_i64(v.offset);
    b.put_i32(v.leader_epoch);
    put_str(&mut b, &v.metadata);
    b.put_i64(v.commit_timestamp);
    b.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_KEY_VERSION);
    put_str(&mut b, group);
    b.freeze()
}

pub fn group_value(g: &StoredGroup) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(GROUP_VALUE_VERSION);
    put_str(&mut b, &g.protocol_type);
    b.put_i32(g.generation);
    put_nullable_str(&mut b, g.protocol.as_deref());
    put_nullable_str(&mut b, g.leader.as_deref());
    b.put_i64(g.current_state_timestamp);
    b.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_str(&mut b, &m.member_id);
        put_nullable_str(&mut b, m.group_instance_id.as_deref());
        put_str(&mut b, &m.client_id);
        put_str(&mut b, &m.client_host);
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription);
        put_bytes(&mut b, &m.assignment);
    }
    b.freeze()
}

/// Decodes one record's key and value.
pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<OffsetsRecord, RecordError> {
    let mut k = Reader(key);
    match k.i16()? {
        0 | 1 => {
            let group = k.str()?;
            let topic = k.str()?;
            let partition = k.i32()?;
            let value = value.map(decode_offset_value).transpose()?;
            Ok(OffsetsRecord::Offset { group, topic, partition, value })
        }
        2 => {
            let group = k.str()?;
            let value = value.map(decode_group_value).transpose()?;
            Ok(OffsetsRecord::Group { group, value })
        }
        version @ (3..=8 | 16) => Ok(OffsetsRecord::Consumer(super::consumer::records::decode(version, k, value)?)),
        _ => Err(RecordError("unknown key version")),
    }
}

fn decode_offset_value(v: Bytes) -> Result<CommittedOffset, RecordError> {
    let mut r = Reader(v);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    Ok(CommittedOffset { offset, leader_epoch, metadata, commit_timestamp })
}

fn decode_group_value(v: Bytes) -> Result<StoredGroup, RecordError> {
    let mut r = Reader(v);
    if r.i16()? != GROUP_VALUE_VERSION {
        return Err(RecordError("unsupported group metadata version"));
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let current_state_timestamp = r.i64()?;
    let count = r.i32()?;
    if count < 0 || count as usize > r.0.remaining() {
        return Err(RecordError("bad member count"));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        members.push(StoredMember {
            member_id: r.str()?,
            group_instance_id: r.nullable_str()?,
            client_id: r.str()?,
            client_host: r.str()?,
            rebalance_timeout_ms: r.i32()?,
            session_timeout_ms: r.i32()?,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Ok(StoredGroup { protocol_type, generation, protocol, leader, current_state_timestamp, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = CommittedOffset { offset: 42, leader_epoch: 3, metadata: "m".into(), commit_timestamp: 7 };
        let rec = decode(offset_key("g", "t", 5), Some(offset_value(&v))).unwrap();
        assert_eq!(rec, OffsetsRecord::Offset { group: "g".into(), topic: "t".into(), partition: 5, value: Some(v) });
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 2,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            }],
        };
        assert_eq!(decode(group_key("g"), Some(group_value(&g))).unwrap(), OffsetsRecord::Group { group: "g".into(), value: Some(g) });
        assert_eq!(decode(group_key("g"), None).unwrap(), OffsetsRecord::Group { group: "g".into(), value: None });
        assert!(decode(Bytes::from_static(&[0, 1, 0, 9, b'x']), None).is_err());
        assert!(decode(Bytes::from_static(&[0, 9]), None).is_err());
    }
}
