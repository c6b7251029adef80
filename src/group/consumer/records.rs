//! The records of consumer groups in `__consumer_offsets`, in Kafka's formats (types 3
//! to 8 and 16 of the group coordinator; kafka-protocol does not generate them):
//! ConsumerGroupMetadata, ConsumerGroupMemberMetadata, ConsumerGroupTargetAssignment
//! Metadata and Member, ConsumerGroupCurrentMemberAssignment and
//! ConsumerGroupRegularExpression. Keys are version-0 structs behind the record type;
//! values are flexible version 0. A null value is a tombstone.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};

use super::member::{ClassicMemberMetadata, MemberAssignment, MemberMetadata, MemberState, OwnedPartitions, TargetPartitions};
use crate::group::records::{put_compact_str, put_str, put_uvarint, Reader, RecordError};

const METADATA: i16 = 3;
const PARTITION_METADATA: i16 = 4;
const MEMBER_METADATA: i16 = 5;
const TARGET_METADATA: i16 = 6;
const TARGET_MEMBER: i16 = 7;
const CURRENT_ASSIGNMENT: i16 = 8;
const REGULAR_EXPRESSION: i16 = 16;

/// ConsumerGroupMetadataValue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMetadata {
    pub epoch: i32,
    /// A digest of the subscribed topics' partitions: when it changes, the group epoch
    /// is bumped and the target assignment recomputed (KIP-1101).
    pub metadata_hash: i64,
}

/// ConsumerGroupRegularExpressionValue: the topics a regex matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRegex {
    pub topics: BTreeSet<String>,
    pub version: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    Metadata { group: String, value: Option<GroupMetadata> },
    /// Replaced by the metadata hash in Kafka 4.1; read and ignored.
    PartitionMetadata { group: String },
    Member { group: String, member: String, value: Option<MemberMetadata> },
    TargetMetadata { group: String, assignment_epoch: Option<i32> },
    TargetMember { group: String, member: String, value: Option<TargetPartitions> },
    Current { group: String, member: String, value: Option<MemberAssignment> },
    Regex { group: String, regex: String, value: Option<ResolvedRegex> },
}

impl ConsumerRecord {
    pub fn group(&self) -> &str {
        match self {
            ConsumerRecord::Metadata { group, .. }
            | ConsumerRecord::PartitionMetadata { group }
            | ConsumerRecord::Member { group, .. }
            | ConsumerRecord::TargetMetadata { group, .. }
            | ConsumerRecord::TargetMember { group, .. }
            | ConsumerRecord::Current { group, .. }
            | ConsumerRecord::Regex { group, .. } => group,
        }
    }

    /// Whether replaying it brings the group into being (a value, not a tombstone; not
    /// the legacy partition metadata).
    pub fn creates_group(&self) -> bool {
        match self {
            ConsumerRecord::Metadata { value, .. } => value.is_some(),
            ConsumerRecord::PartitionMetadata { .. } => false,
            ConsumerRecord::Member { value, .. } => value.is_some(),
            ConsumerRecord::TargetMetadata { assignment_epoch, .. } => assignment_epoch.is_some(),
            ConsumerRecord::TargetMember { value, .. } => value.is_some(),
            ConsumerRecord::Current { value, .. } => value.is_some(),
            ConsumerRecord::Regex { value, .. } => value.is_some(),
        }
    }

    /// The record's key and value (`None`: a tombstone).
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let key = |kind: i16, parts: &[&str]| {
            let mut b = BytesMut::new();
            b.put_i16(kind);
            for p in parts {
                put_str(&mut b, p);
            }
            b.freeze()
        };
        match self {
            ConsumerRecord::Metadata { group, value } => (key(METADATA, &[group]), value.map(|v| metadata_value(&v))),
            ConsumerRecord::PartitionMetadata { group } => (key(PARTITION_METADATA, &[group]), None),
            ConsumerRecord::Member { group, member, value } => (key(MEMBER_METADATA, &[group, member]), value.as_ref().map(member_value)),
            ConsumerRecord::TargetMetadata { group, assignment_epoch } => (key(TARGET_METADATA, &[group]), assignment_epoch.map(target_metadata_value)),
            ConsumerRecord::TargetMember { group, member, value } => (key(TARGET_MEMBER, &[group, member]), value.as_ref().map(target_member_value)),
            ConsumerRecord::Current { group, member, value } => (key(CURRENT_ASSIGNMENT, &[group, member]), value.as_ref().map(current_value)),
            ConsumerRecord::Regex { group, regex, value } => (key(REGULAR_EXPRESSION, &[group, regex]), value.as_ref().map(regex_value)),
        }
    }
}

fn value_start() -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b
}

fn no_tagged_fields(b: &mut BytesMut) {
    put_uvarint(b, 0);
}

fn put_count(b: &mut BytesMut, n: usize) {
    put_uvarint(b, n as u32 + 1);
}

fn put_i32s(b: &mut BytesMut, v: impl ExactSizeIterator<Item = i32>) {
    put_count(b, v.len());
    for x in v {
        b.put_i32(x);
    }
}

fn metadata_value(v: &GroupMetadata) -> Bytes {
    let mut b = value_start();
    b.put_i32(v.epoch);
    // MetadataHash, tag 0
    put_uvarint(&mut b, 1);
    put_uvarint(&mut b, 0);
    put_uvarint(&mut b, 8);
    b.put_i64(v.metadata_hash);
    b.freeze()
}

fn member_value(m: &MemberMetadata) -> Bytes {
    let mut b = value_start();
    put_compact_str(&mut b, m.instance_id.as_deref());
    put_compact_str(&mut b, m.rack_id.as_deref());
    put_compact_str(&mut b, Some(&m.client_id));
    put_compact_str(&mut b, Some(&m.client_host));
    put_count(&mut b, m.subscribed_topic_names.len());
    for t in &m.subscribed_topic_names {
        put_compact_str(&mut b, Some(t));
    }
    put_compact_str(&mut b, m.subscribed_topic_regex.as_deref());
    b.put_i32(m.rebalance_timeout_ms);
    put_compact_str(&mut b, m.server_assignor.as_deref());
    // ClassicMemberMetadata, tag 0: a nullable struct, written even when null, as Kafka
    // does (a presence varint, then the struct).
    put_uvarint(&mut b, 1);
    put_uvarint(&mut b, 0);
    match &m.classic {
        None => {
            put_uvarint(&mut b, 1);
            put_uvarint(&mut b, 0);
        }
        Some(c) => {
            let mut s = BytesMut::new();
            s.put_i32(c.session_timeout_ms);
            put_count(&mut s, c.protocols.len());
            for (name, metadata) in &c.protocols {
                put_compact_str(&mut s, Some(name));
                put_count(&mut s, metadata.len());
                s.put_slice(metadata);
                no_tagged_fields(&mut s);
            }
            no_tagged_fields(&mut s);
            put_uvarint(&mut b, s.len() as u32 + 1);
            put_uvarint(&mut b, 1);
            b.put_slice(&s);
        }
    }
    b.freeze()
}

fn read_classic(bytes: Bytes) -> Result<Option<ClassicMemberMetadata>, RecordError> {
    let mut r = Reader(bytes);
    if r.uvarint()? == 0 {
        return Ok(None);
    }
    let session_timeout_ms = r.i32()?;
    let n = r.compact_count()?;
    let mut protocols = Vec::with_capacity(n.min(r.0.len()));
    for _ in 0..n {
        let name = r.compact_str()?;
        let len = r.compact_len()?.unwrap_or(0);
        let metadata = r.0.split_to(len);
        r.tagged_fields(|_, _| {})?;
        protocols.push((name, metadata));
    }
    r.tagged_fields(|_, _| {})?;
    Ok(Some(ClassicMemberMetadata { session_timeout_ms, protocols }))
}

fn target_metadata_value(epoch: i32) -> Bytes {
    let mut b = value_start();
    b.put_i32(epoch);
    no_tagged_fields(&mut b);
    b.freeze()
}

fn target_member_value(t: &TargetPartitions) -> Bytes {
    let mut b = value_start();
    put_count(&mut b, t.len());
    for (topic, parts) in t {
        b.put_u128(topic.as_u128());
        put_i32s(&mut b, parts.iter().copied());
        no_tagged_fields(&mut b);
    }
    no_tagged_fields(&mut b);
    b.freeze()
}

/// TopicPartitions of the current assignment, with the assignment epochs (tag 0).
fn put_owned(b: &mut BytesMut, owned: &OwnedPartitions) {
    put_count(b, owned.len());
    for (topic, parts) in owned {
        b.put_u128(topic.as_u128());
        put_i32s(b, parts.keys().copied());
        let mut epochs = BytesMut::new();
        put_i32s(&mut epochs, parts.values().copied());
        put_uvarint(b, 1);
        put_uvarint(b, 0);
        put_uvarint(b, epochs.len() as u32);
        b.put_slice(&epochs);
    }
}

fn current_value(a: &MemberAssignment) -> Bytes {
    let mut b = value_start();
    b.put_i32(a.member_epoch);
    b.put_i32(a.previous_member_epoch);
    b.put_i8(a.state.value());
    put_owned(&mut b, &a.assigned);
    put_owned(&mut b, &a.pending_revocation);
    no_tagged_fields(&mut b);
    b.freeze()
}

fn regex_value(r: &ResolvedRegex) -> Bytes {
    let mut b = value_start();
    put_count(&mut b, r.topics.len());
    for t in &r.topics {
        put_compact_str(&mut b, Some(t));
    }
    b.put_i64(r.version);
    b.put_i64(r.timestamp);
    no_tagged_fields(&mut b);
    b.freeze()
}

/// Decodes a record whose key (after its type) is in `k`.
pub(in crate::group) fn decode(kind: i16, mut k: Reader, value: Option<Bytes>) -> Result<ConsumerRecord, RecordError> {
    let group = k.str()?;
    let mut v = value.map(Reader);
    if let Some(v) = v.as_mut() {
        if v.i16()? != 0 {
            return Err(RecordError("unsupported consumer group record version"));
        }
    }
    Ok(match kind {
        METADATA => ConsumerRecord::Metadata { group, value: v.map(|mut v| read_metadata(&mut v)).transpose()? },
        PARTITION_METADATA => ConsumerRecord::PartitionMetadata { group },
        MEMBER_METADATA => ConsumerRecord::Member { group, member: k.str()?, value: v.map(|mut v| read_member(&mut v)).transpose()? },
        TARGET_METADATA => ConsumerRecord::TargetMetadata { group, assignment_epoch: v.map(|mut v| v.i32()).transpose()? },
        TARGET_MEMBER => ConsumerRecord::TargetMember { group, member: k.str()?, value: v.map(|mut v| read_target(&mut v)).transpose()? },
        CURRENT_ASSIGNMENT => ConsumerRecord::Current { group, member: k.str()?, value: v.map(|mut v| read_current(&mut v)).transpose()? },
        REGULAR_EXPRESSION => ConsumerRecord::Regex { group, regex: k.str()?, value: v.map(|mut v| read_regex(&mut v)).transpose()? },
        _ => return Err(RecordError("unknown consumer group record")),
    })
}

fn read_metadata(v: &mut Reader) -> Result<GroupMetadata, RecordError> {
    let epoch = v.i32()?;
    let mut metadata_hash = 0;
    v.tagged_fields(|tag, mut bytes| {
        if tag == 0 && bytes.len() == 8 {
            metadata_hash = bytes::Buf::get_i64(&mut bytes);
        }
    })?;
    Ok(GroupMetadata { epoch, metadata_hash })
}

fn read_member(v: &mut Reader) -> Result<MemberMetadata, RecordError> {
    let instance_id = v.compact_nullable_str()?;
    let rack_id = v.compact_nullable_str()?;
    let client_id = v.compact_str()?;
    let client_host = v.compact_str()?;
    let n = v.compact_count()?;
    let mut subscribed_topic_names = Vec::with_capacity(n.min(v.0.len()));
    for _ in 0..n {
        subscribed_topic_names.push(v.compact_str()?);
    }
    let subscribed_topic_regex = v.compact_nullable_str()?;
    let rebalance_timeout_ms = v.i32()?;
    let server_assignor = v.compact_nullable_str()?;
    let mut classic = Ok(None);
    v.tagged_fields(|tag, bytes| {
        if tag == 0 {
            classic = read_classic(bytes);
        }
    })?;
    Ok(MemberMetadata { instance_id, rack_id, client_id, client_host, subscribed_topic_names, subscribed_topic_regex, rebalance_timeout_ms, server_assignor, classic: classic? })
}

fn read_i32s(v: &mut Reader) -> Result<Vec<i32>, RecordError> {
    let n = v.compact_count()?;
    v.need(n.saturating_mul(4))?;
    (0..n).map(|_| v.i32()).collect()
}

fn read_target(v: &mut Reader) -> Result<TargetPartitions, RecordError> {
    let n = v.compact_count()?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let topic = v.uuid()?;
        let parts = read_i32s(v)?;
        v.tagged_fields(|_, _| {})?;
        out.insert(topic, parts.into_iter().collect());
    }
    v.tagged_fields(|_, _| {})?;
    Ok(out)
}

fn read_owned(v: &mut Reader, epoch: i32) -> Result<OwnedPartitions, RecordError> {
    let n = v.compact_count()?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let topic = v.uuid()?;
        let parts = read_i32s(v)?;
        let mut epochs: Option<Vec<i32>> = None;
        let mut bad = false;
        v.tagged_fields(|tag, bytes| {
            if tag == 0 {
                match read_i32s(&mut Reader(bytes)) {
                    Ok(e) => epochs = Some(e),
                    Err(_) => bad = true,
                }
            }
        })?;
        if bad {
            return Err(RecordError("bad assignment epochs"));
        }
        // Without the epochs (records of Kafka before 4.3), the member's epoch stands in.
        let epochs = epochs.filter(|e| e.len() == parts.len()).unwrap_or_else(|| vec![epoch; parts.len()]);
        out.insert(topic, parts.into_iter().zip(epochs).collect());
    }
    Ok(out)
}

fn read_current(v: &mut Reader) -> Result<MemberAssignment, RecordError> {
    let member_epoch = v.i32()?;
    let previous_member_epoch = v.i32()?;
    let state = MemberState::from_value(v.i8()?);
    let assigned = read_owned(v, member_epoch)?;
    let pending_revocation = read_owned(v, member_epoch)?;
    v.tagged_fields(|_, _| {})?;
    Ok(MemberAssignment { member_epoch, previous_member_epoch, state, assigned, pending_revocation })
}

fn read_regex(v: &mut Reader) -> Result<ResolvedRegex, RecordError> {
    let n = v.compact_count()?;
    let mut topics = BTreeSet::new();
    for _ in 0..n {
        topics.insert(v.compact_str()?);
    }
    let version = v.i64()?;
    let timestamp = v.i64()?;
    v.tagged_fields(|_, _| {})?;
    Ok(ResolvedRegex { topics, version, timestamp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::records::{decode as decode_any, OffsetsRecord};
    use uuid::Uuid;

    fn round_trip(r: ConsumerRecord) {
        let (k, v) = r.encode();
        assert_eq!(decode_any(k, v).unwrap(), OffsetsRecord::Consumer(r));
    }

    #[test]
    fn every_record_round_trips() {
        let g = "g".to_string();
        let t = Uuid::from_u128(7);
        round_trip(ConsumerRecord::Metadata { group: g.clone(), value: Some(GroupMetadata { epoch: 3, metadata_hash: -5 }) });
        round_trip(ConsumerRecord::Metadata { group: g.clone(), value: None });
        round_trip(ConsumerRecord::Member {
            group: g.clone(),
            member: "m".into(),
            value: Some(MemberMetadata {
                instance_id: Some("i".into()),
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["a".into(), "b".into()],
                subscribed_topic_regex: Some("^x.*".into()),
                rebalance_timeout_ms: 300000,
                server_assignor: Some("range".into()),
                classic: Some(ClassicMemberMetadata { session_timeout_ms: 45000, protocols: vec![("range".into(), Bytes::from_static(b"\x00\x03meta"))] }),
            }),
        });
        round_trip(ConsumerRecord::TargetMetadata { group: g.clone(), assignment_epoch: Some(9) });
        round_trip(ConsumerRecord::TargetMember { group: g.clone(), member: "m".into(), value: Some([(t, [0, 2].into())].into()) });
        let assigned: OwnedPartitions = [(t, [(0, 4), (2, 5)].into())].into();
        round_trip(ConsumerRecord::Current {
            group: g.clone(),
            member: "m".into(),
            value: Some(MemberAssignment { member_epoch: 5, previous_member_epoch: 4, state: MemberState::UnrevokedPartitions, assigned, pending_revocation: [(t, [(1, 4)].into())].into() }),
        });
        round_trip(ConsumerRecord::Current { group: g.clone(), member: "m".into(), value: None });
        round_trip(ConsumerRecord::Regex { group: g, regex: "^x.*".into(), value: Some(ResolvedRegex { topics: ["x1".to_string()].into(), version: 2, timestamp: 11 }) });
    }

    #[test]
    fn truncated_or_oversized_values_are_errors() {
        let (k, v) = ConsumerRecord::TargetMember { group: "g".into(), member: "m".into(), value: Some([(Uuid::from_u128(1), [0].into())].into()) }.encode();
        let v = v.unwrap();
        for cut in 0..v.len() {
            assert!(decode_any(k.clone(), Some(v.slice(..cut))).is_err(), "cut at {cut}");
        }
        // an array count far beyond the bytes present
        let mut huge = BytesMut::new();
        huge.put_i16(0);
        put_uvarint(&mut huge, u32::MAX);
        assert!(decode_any(k, Some(huge.freeze())).is_err());
    }
}
