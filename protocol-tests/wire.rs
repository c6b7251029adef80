//! Protocol semantics against a real broker process, through `kafka-protocol`'s own
//! client-side encoders and decoders.

mod common;

use common::{encode_batch, record_batch, Broker, Client};
use kafka_protocol::records::Compression;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use uuid::Uuid;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.into()))
}

fn create(c: &mut Client, topic: &str, partitions: i32, rf: i16, configs: &[(&str, &str)], validate_only: bool) -> i16 {
    let mut t = CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = partitions;
    t.replication_factor = rf;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.to_string());
            c.value = Some(StrBytes::from_string(v.to_string()));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.validate_only = validate_only;
    c.call(7, &req).topics[0].error_code
}

fn produce_req(topic: &str, partition: i32, records: bytes::Bytes, acks: i16) -> ProduceRequest {
    let mut p = PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = name(topic);
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    req
}

fn produce(c: &mut Client, topic: &str, records: bytes::Bytes) -> (i16, i64) {
    let resp = c.call(9, &produce_req(topic, 0, records, -1));
    let pr = &resp.responses[0].partition_responses[0];
    (pr.error_code, pr.base_offset)
}

fn fetch_req(topic: &str, id: Uuid, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = FetchTopic::default();
    t.topic = name(topic);
    t.topic_id = id;
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.topics = vec![t];
    req
}

/// (offset, value) of every record in the fetched bytes.
fn records_of(mut bytes: bytes::Bytes) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut bytes).expect("decode fetched batches") {
        for r in set.records {
            out.push((r.offset, r.value.map(|v| v.to_vec()).unwrap_or_default()));
        }
    }
    out
}

fn list_offset(c: &mut Client, topic: &str, timestamp: i64) -> (i16, i64, i64) {
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = timestamp;
    let mut t = ListOffsetsTopic::default();
    t.name = name(topic);
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![t];
    let r = c.call(9, &req);
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

fn topic_id(c: &mut Client, topic: &str) -> Uuid {
    let mut t = MetadataRequestTopic::default();
    t.name = Some(name(topic));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    let resp = c.call(12, &req);
    assert_eq!(resp.topics[0].error_code, 0);
    resp.topics[0].topic_id
}

#[test]
fn idempotent_producer_dedups_retries_and_rejects_gaps() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "idem", 1, 1, &[], false), 0);
    let init = c.call(4, &InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60000));
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    assert!(pid >= 0);
    let second = c.call(4, &InitProducerIdRequest::default().with_transactional_id(None));
    assert_eq!(c.call(4, &InitProducerIdRequest::default()).error_code, 42, "INVALID_REQUEST for an empty transactional id");
    assert_ne!(second.producer_id.0, pid, "producer ids are unique");

    let b0 = record_batch(&[b"a", b"b", b"c"], Some((pid, epoch, 0)));
    assert_eq!(produce(&mut c, "idem", b0.clone()), (0, 0));
    // A retry of the same batch gets its original offset and is not stored twice.
    assert_eq!(produce(&mut c, "idem", b0), (0, 0));
    assert_eq!(list_offset(&mut c, "idem", -1).1, 3);
    // A gap in sequence numbers.
    let gap = record_batch(&[b"x"], Some((pid, epoch, 5)));
    assert_eq!(produce(&mut c, "idem", gap).0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    let next = record_batch(&[b"d"], Some((pid, epoch, 3)));
    assert_eq!(produce(&mut c, "idem", next), (0, 3));
}

#[test]
fn fetch_list_offsets_and_long_poll() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "t", 1, 1, &[], false), 0);
    let id = topic_id(&mut c, "t");
    assert_ne!(id, Uuid::nil());
    for i in 0..5 {
        let v1 = format!("v{}", i * 2);
        let v2 = format!("v{}", i * 2 + 1);
        assert_eq!(produce(&mut c, "t", record_batch(&[v1.as_bytes(), v2.as_bytes()], None)), (0, i * 2));
    }
    // An offset inside a batch returns the whole batch: the client skips earlier records.
    let resp = c.call(12, &fetch_req("t", Uuid::nil(), 3, 0));
    let pd = &resp.responses[0].partitions[0];
    assert_eq!((pd.error_code, pd.high_watermark, pd.log_start_offset), (0, 10, 0));
    let recs = records_of(pd.records.clone().unwrap());
    assert_eq!(recs[0], (2, b"v2".to_vec()));
    assert_eq!(recs.last().unwrap(), &(9, b"v9".to_vec()));
    // Fetch v13+ addresses the topic by id.
    let resp = c.call(13, &fetch_req("", id, 0, 0));
    assert_eq!(records_of(resp.responses[0].partitions[0].records.clone().unwrap()).len(), 10);
    let resp = c.call(13, &fetch_req("", Uuid::new_v4(), 0, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 100, "UNKNOWN_TOPIC_ID");
    // Out of range.
    let resp = c.call(12, &fetch_req("t", Uuid::nil(), 11, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 1, "OFFSET_OUT_OF_RANGE");

    assert_eq!(list_offset(&mut c, "t", -2), (0, 0, -1));
    assert_eq!(list_offset(&mut c, "t", -1), (0, 10, -1));
    let (err, offset, ts) = list_offset(&mut c, "t", -3);
    assert_eq!(err, 0);
    assert!(ts > 0 && offset >= 0);
    assert_eq!(list_offset(&mut c, "t", 0).1, 0);
    assert_eq!(list_offset(&mut c, "t", i64::MAX / 2).1, -1);

    // A long-polling fetch at the log end is answered by the next produce.
    let mut waiter = broker.client();
    let body = waiter.encode(12, &fetch_req("t", Uuid::nil(), 10, 60_000));
    waiter.send_frame(&body);
    assert_eq!(produce(&mut c, "t", record_batch(&[b"late"], None)), (0, 10));
    let frame = waiter.read_frame().unwrap();
    let resp = waiter.decode::<FetchRequest>(12, frame);
    assert_eq!(records_of(resp.responses[0].partitions[0].records.clone().unwrap()), vec![(10, b"late".to_vec())]);
}

#[test]
fn acks_zero_and_pipelining_keep_order() {
    let broker = Broker::start(&["num.partitions=2"]);
    let mut c = broker.client();
    // Auto-creation through Metadata.
    let mut t = MetadataRequestTopic::default();
    t.name = Some(name("auto"));
    let mut md = MetadataRequest::default();
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    let resp = c.call(12, &md);
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 2);

    // acks=0 gets no response; the next request's response comes next.
    let body = c.encode(9, &produce_req("auto", 0, record_batch(&[b"fire"], None), 0));
    c.send_frame(&body);
    // Pipelined: three requests written before any response is read.
    let mut expected = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(c.encode(3, &ApiVersionsRequest::default()));
        expected.push(i32::from_be_bytes(bodies.last().unwrap()[4..8].try_into().unwrap()));
    }
    for b in &bodies {
        c.send_frame(b);
    }
    for want in expected {
        let frame = c.read_frame().unwrap();
        assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), want);
    }
    assert_eq!(list_offset(&mut c, "auto", -1).1, 1, "the acks=0 batch was stored");
}

#[test]
fn topics_configs_and_restart() {
    let mut broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "cfg", 3, 1, &[("retention.ms", "12345")], true), 0);
    assert_eq!(create(&mut c, "cfg", 3, 3, &[], false), 38, "INVALID_REPLICATION_FACTOR");
    assert_eq!(create(&mut c, "cfg", 0, 1, &[], false), 37, "INVALID_PARTITIONS");
    assert_eq!(create(&mut c, "cfg", 3, 1, &[("retention.ms", "soon")], false), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut c, "cfg", 3, 1, &[("no.such.config", "1")], false), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut c, "bad/name", 3, 1, &[], false), 17, "INVALID_TOPIC_EXCEPTION");
    assert_eq!(create(&mut c, "cfg", 3, 1, &[("retention.ms", "12345")], false), 0);
    assert_eq!(create(&mut c, "cfg", 3, 1, &[], false), 36, "TOPIC_ALREADY_EXISTS");

    let mut res = DescribeConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = StrBytes::from_static_str("cfg");
    res.configuration_keys = None;
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![res];
    req.include_synonyms = true;
    let resp = c.call(4, &req);
    let entry = resp.results[0].configs.iter().find(|e| e.name.as_str() == "retention.ms").unwrap();
    assert_eq!(entry.value.as_deref(), Some("12345"));
    assert_eq!(entry.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    // as Kafka 4.4 lists them: the topic's own value, then log.retention.ms and what
    // follows it (nothing: only log.retention.hours has a default)
    let names: Vec<(&str, i8)> = entry.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
    assert_eq!(names, vec![("retention.ms", 1)]);
    let seg = resp.results[0].configs.iter().find(|e| e.name.as_str() == "segment.bytes").unwrap();
    assert_eq!(seg.config_source, 5, "DEFAULT_CONFIG");
    assert_eq!(seg.config_type, 3, "INT");
    let names: Vec<(&str, i8)> = seg.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
    assert_eq!(names, vec![("log.segment.bytes", 5)]);
    assert!(!resp.results[0].configs.iter().any(|e| e.name.as_str() == "internal.segment.bytes"), "internal keys only where set");
    // Kafka 4's 1 MiB floor; tests use the internal key below it
    assert_eq!(create(&mut c, "small-segments", 1, 1, &[("segment.bytes", "1048575")], false), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut c, "small-segments", 1, 1, &[("internal.segment.bytes", "1024")], false), 0);

    let cluster = c.call(1, &DescribeClusterRequest::default().with_endpoint_type(1));
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.brokers.len(), 1);

    produce(&mut c, "cfg", record_batch(&[b"kept"], None));
    let id = topic_id(&mut c, "cfg");
    broker.kill(); // SIGKILL: no clean shutdown
    let data = broker.data.clone();
    let restarted = Broker::start_in(&data, &[]);
    let mut c = restarted.client();
    assert_eq!(topic_id(&mut c, "cfg"), id, "topic ids survive restarts");
    let resp = c.call(12, &fetch_req("cfg", Uuid::nil(), 0, 0));
    assert_eq!(records_of(resp.responses[0].partitions[0].records.clone().unwrap()), vec![(0, b"kept".to_vec())]);

    let mut del = DeleteTopicsRequest::default();
    del.topic_names = vec![name("cfg")];
    assert_eq!(c.call(5, &del).responses[0].error_code, 0);
    assert_eq!(c.call(5, &del).responses[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(!data.join("cfg-0").exists());
    drop(restarted);
    // Keep the tempdir of the first broker alive until here.
    drop(broker);
}

#[test]
fn timestamp_lookups_are_exact_inside_compressed_batches() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "ts", 1, 1, &[], false), 0);
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 - 60_000;
    let values: Vec<Vec<u8>> = (0..20).map(|i| format!("compressible value {i} {}", "z".repeat(100)).into_bytes()).collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let base = list_offset(&mut c, "ts", -1).1;
        let batch = encode_batch(&refs, None, codec, |i| t0 + base * 10 + i as i64 * 10);
        assert_eq!(produce(&mut c, "ts", batch), (0, base), "{codec:?}");
        let t = t0 + base * 10;
        assert_eq!(list_offset(&mut c, "ts", t + 55), (0, base + 6, t + 60), "{codec:?}");
        assert_eq!(list_offset(&mut c, "ts", -3), (0, base + 19, t + 190), "{codec:?} max timestamp");
    }
}

#[test]
fn fetch_never_returns_a_partial_batch() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "pb", 2, 1, &[], false), 0);
    let big = vec![b'v'; 500];
    for p in 0..2 {
        let r = c.call(9, &produce_req("pb", p, record_batch(&[&big], None), -1));
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let mut req = fetch_req("pb", Uuid::nil(), 0, 0);
    let mut second = req.topics[0].partitions[0].clone();
    second.partition = 1;
    req.topics[0].partitions.push(second);
    for p in req.topics[0].partitions.iter_mut() {
        p.partition_max_bytes = 100;
    }
    let resp = c.call(12, &req);
    let parts = &resp.responses[0].partitions;
    // KIP-74: the first partition returns its whole first batch despite the limit; the
    // next one gets nothing rather than a fragment.
    assert_eq!(records_of(parts[0].records.clone().unwrap()).len(), 1);
    assert_eq!(parts[1].records.as_ref().map(|r| r.len()), Some(0));
}

#[test]
fn a_long_poll_does_not_hold_back_earlier_responses() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "lp", 1, 1, &[], false), 0);
    let mut md = MetadataRequest::default();
    md.topics = None;
    let first = c.encode(12, &md);
    let first_id = i32::from_be_bytes(first[4..8].try_into().unwrap());
    let poll = c.encode(12, &fetch_req("lp", Uuid::nil(), 0, 60_000));
    // Both requests in one write: the Metadata answer must come while the Fetch waits.
    let mut both = (first.len() as i32).to_be_bytes().to_vec();
    both.extend_from_slice(&first);
    both.extend((poll.len() as i32).to_be_bytes());
    both.extend_from_slice(&poll);
    std::io::Write::write_all(&mut c.stream, &both).unwrap();
    let frame = c.read_frame().expect("the Metadata response before the Fetch completes");
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), first_id);
    let mut other = broker.client();
    assert_eq!(produce(&mut other, "lp", record_batch(&[b"wake"], None)), (0, 0));
    let frame = c.read_frame().expect("the Fetch response");
    let resp = c.decode::<FetchRequest>(12, frame);
    assert_eq!(records_of(resp.responses[0].partitions[0].records.clone().unwrap()), vec![(0, b"wake".to_vec())]);
}

#[test]
fn compressed_batches_are_stored_and_fetched_byte_identical() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "codecs", 1, 1, &[], false), 0);
    let values: Vec<Vec<u8>> = (0..30).map(|i| format!("payload {i} {}", "abc".repeat(40)).into_bytes()).collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    let mut offset = 0;
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let sent = encode_batch(&refs, None, codec, |i| 1_700_000_000_000 + i as i64);
        assert_eq!(produce(&mut c, "codecs", sent.clone()), (0, offset), "{codec:?}");
        let resp = c.call(12, &fetch_req("codecs", Uuid::nil(), offset, 0));
        let got = resp.responses[0].partitions[0].records.clone().unwrap();
        assert_eq!(got.len(), sent.len(), "{codec:?}: exactly the one batch");
        // Only the base offset (bytes 0..8) and partition leader epoch (12..16) are
        // assigned by the broker; both lie outside the CRC.
        assert_eq!(got[0..8], offset.to_be_bytes(), "{codec:?}");
        assert_eq!(got[8..12], sent[8..12], "{codec:?}");
        assert_eq!(got[16..], sent[16..], "{codec:?}: batch bytes changed");
        assert_eq!(records_of(got).len(), 30);
        offset += 30;
    }
}

#[test]
fn a_server_properties_file_sets_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.properties");
    std::fs::write(&config, "# Kafka property names\nnum.partitions=4\nnode.id=7\nauto.create.topics.enable=true\n").unwrap();
    let data = dir.path().join("data");
    let broker = Broker::start_with_config(&data, &config);
    let mut c = broker.client();
    let mut t = MetadataRequestTopic::default();
    t.name = Some(name("from-file"));
    let mut md = MetadataRequest::default();
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    let resp = c.call(12, &md);
    assert_eq!(resp.brokers[0].node_id.0, 7);
    assert_eq!(resp.topics[0].partitions.len(), 4);
    assert_eq!(resp.topics[0].partitions[0].leader_id.0, 7);
}

/// A SIGTERM leaves Kafka's clean-shutdown marker; the next start takes it, trusts the
/// active segment without a scan, and carries on exactly where the log ended. SIGKILL
/// leaves no marker.
#[test]
fn a_clean_stop_is_trusted_on_restart() {
    let marker = ".kafka_cleanshutdown";
    // Small index interval: the reopened index has entries to resume from.
    let mut broker = Broker::start(&["log.index.interval.bytes=64"]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "clean", 1, 1, &[], false), 0);
    for i in 0..20u8 {
        assert_eq!(produce(&mut c, "clean", record_batch(&[&[i; 40], &[i; 40]], None)), (0, 2 * i as i64));
    }
    drop(c);
    broker.stop();
    let data = broker.data.clone();
    assert!(data.join(marker).exists(), "a clean stop writes {marker}");

    let mut restarted = Broker::start_in(&data, &["log.index.interval.bytes=64"]);
    assert!(!data.join(marker).exists(), "the marker is taken at start");
    let mut c = restarted.client();
    assert_eq!(list_offset(&mut c, "clean", -1).1, 40, "log end offset after a clean restart");
    let resp = c.call(12, &fetch_req("clean", Uuid::nil(), 31, 0));
    let got = records_of(resp.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(got.first().map(|r| r.0), Some(30), "the batch holding offset 31 comes whole");
    assert_eq!(got.last().map(|r| (r.0, r.1[0])), Some((39, 19)));
    assert_eq!(produce(&mut c, "clean", record_batch(&[b"next"], None)), (0, 40));
    drop(c);
    restarted.kill();
    assert!(!data.join(marker).exists(), "SIGKILL leaves no marker");
    drop(broker);
}

#[test]
fn produce_v0_to_v2_are_advertised_but_refused() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    let versions = c.call(3, &ApiVersionsRequest::default());
    let produce = versions.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).expect("Produce listed");
    assert_eq!(produce.min_version, 0, "librdkafka < 2.10 compresses only when Produce v0 is listed");
    assert_eq!(create(&mut c, "old-produce", 1, 1, &[], false), 0);
    // A Produce v2 request (the broker takes v3+ only) closes the connection, as Kafka 4 does.
    let mut raw = c.encode(3, &produce_req("old-produce", 0, record_batch(&[b"x"], None), 1));
    raw[2..4].copy_from_slice(&2i16.to_be_bytes());
    c.send_frame(&raw);
    assert!(c.closed_by_broker(), "Produce v2 must be refused");
    let mut c = broker.client();
    assert_eq!(list_offset(&mut c, "old-produce", -1).1, 0, "nothing appended");
}

#[test]
fn api_versions_lists_the_features() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    let r = c.call(4, &ApiVersionsRequest::default());
    let supported: Vec<_> = r.supported_features.iter().map(|f| (f.name.to_string(), f.min_version, f.max_version)).collect();
    // features Riffle supports only at level 0 (kraft.version, ...) are left out: nothing
    // of them can be enabled yet; transaction.version 2 is transactions V2 (KIP-890),
    // group.version 1 the consumer group protocol (KIP-848)
    assert_eq!(supported, vec![("metadata.version".to_string(), 7, 27), ("transaction.version".to_string(), 0, 2), ("group.version".to_string(), 0, 1)]);
    let finalized: Vec<_> = r.finalized_features.iter().map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level)).collect();
    // features at level 0 are left out, as Kafka does
    assert_eq!(finalized, vec![("metadata.version".to_string(), 27, 27), ("transaction.version".to_string(), 2, 2), ("group.version".to_string(), 1, 1)]);
    assert!(r.finalized_features_epoch >= 0);
    // v3 (Java clients before 3.9 cannot parse a range from 0) lists the same here
    assert_eq!(c.call(3, &ApiVersionsRequest::default()).supported_features.len(), 1);
    // v0-v2 have no features
    assert!(c.call(2, &ApiVersionsRequest::default()).supported_features.is_empty());
}

#[test]
fn describe_log_dirs_lists_every_replica_with_its_size() {
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start_in(dir.path(), &[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "sized", 2, 1, &[], false), 0);
    assert_eq!(create(&mut c, "other", 1, 1, &[], false), 0);
    assert_eq!(produce(&mut c, "sized", record_batch(&[b"a", b"b", b"c"], None)).0, 0);
    // null topics: every partition (an empty list would ask for none)
    let all = c.call(4, &DescribeLogDirsRequest::default().with_topics(None));
    assert_eq!(all.error_code, 0);
    assert_eq!(all.results.len(), 1);
    let d = &all.results[0];
    assert_eq!(d.error_code, 0);
    assert_eq!(std::path::Path::new(d.log_dir.as_str()), std::path::absolute(dir.path()).unwrap());
    assert!(d.total_bytes > 0 && d.usable_bytes > 0 && d.usable_bytes <= d.total_bytes, "{d:?}");
    let sized = d.topics.iter().find(|t| t.name.as_str() == "sized").expect("sized listed");
    let mut parts: Vec<_> = sized.partitions.iter().map(|p| (p.partition_index, p.partition_size > 0, p.offset_lag, p.is_future_key)).collect();
    parts.sort();
    assert_eq!(parts, vec![(0, true, 0, false), (1, false, 0, false)]);
    assert!(d.topics.iter().any(|t| t.name.as_str() == "other"));
    // only what was asked for: one partition of one topic; a missing topic is left out
    let mut req = DescribeLogDirsRequest::default();
    let mut t = DescribableLogDirTopic::default();
    t.topic = name("sized");
    t.partitions = vec![1, 7];
    let mut missing = DescribableLogDirTopic::default();
    missing.topic = name("missing");
    missing.partitions = vec![0];
    req.topics = Some(vec![t, missing]);
    let some = c.call(1, &req);
    let topics: Vec<_> = some.results[0].topics.iter().map(|t| (t.name.to_string(), t.partitions.iter().map(|p| p.partition_index).collect::<Vec<_>>())).collect();
    assert_eq!(topics, vec![("sized".to_string(), vec![1])]);
}

#[test]
fn admin_apis_without_security_on_a_single_broker() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    // no authorizer: Kafka answers SECURITY_DISABLED
    assert_eq!(c.call(3, &DescribeAclsRequest::default()).error_code, 54);
    let created = c.call(3, &CreateAclsRequest::default().with_creations(vec![AclCreation::default()]));
    assert_eq!(created.results.iter().map(|r| r.error_code).collect::<Vec<_>>(), vec![54]);
    let deleted = c.call(3, &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default(), DeleteAclsFilter::default()]));
    assert_eq!(deleted.filter_results.iter().map(|r| r.error_code).collect::<Vec<_>>(), vec![54, 54]);
    // a single broker has no metadata quorum: DescribeQuorum is neither advertised nor served
    let apis = c.call(3, &ApiVersionsRequest::default());
    assert!(apis.api_keys.iter().all(|k| k.api_key != ApiKey::DescribeQuorum as i16));
    let mut q = broker.client();
    let raw = q.encode(0, &DescribeQuorumRequest::default());
    q.send_frame(&raw);
    assert!(q.closed_by_broker(), "DescribeQuorum on a single broker");
    // nothing is ever being reassigned; a partition can only stay on the one broker
    let r = c.call(0, &ListPartitionReassignmentsRequest::default());
    assert_eq!((r.error_code, r.topics.len()), (0, 0));
    assert_eq!(create(&mut c, "moved", 1, 1, &[], false), 0);
    let me = c.call(12, &MetadataRequest::default()).brokers[0].node_id.0;
    let target = |p: i32, replicas: Option<Vec<i32>>| ReassignablePartition::default().with_partition_index(p).with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()));
    let parts = vec![target(0, Some(vec![me])), target(0, Some(vec![me, 99])), target(0, Some(vec![me, me])), target(0, Some(vec![])), target(0, None), target(4, Some(vec![me]))];
    let req = AlterPartitionReassignmentsRequest::default().with_topics(vec![ReassignableTopic::default().with_name(name("moved")).with_partitions(parts)]);
    let r = c.call(1, &req);
    let codes: Vec<i16> = r.responses[0].partitions.iter().map(|p| p.error_code).collect();
    // NONE, INVALID_REPLICA_ASSIGNMENT (unknown broker, twice the same, empty),
    // NO_REASSIGNMENT_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION
    assert_eq!(codes, vec![0, 39, 39, 39, 85, 3]);
    // the producers a partition holds state for
    assert_eq!(create(&mut c, "producers", 1, 1, &[], false), 0);
    assert_eq!(produce(&mut c, "producers", record_batch(&[b"a", b"b"], Some((4242, 3, 0)))).0, 0);
    let mut t = TopicRequest::default();
    t.name = name("producers");
    t.partition_indexes = vec![0, 5];
    let r = c.call(0, &DescribeProducersRequest::default().with_topics(vec![t]));
    let ps = &r.topics[0].partitions;
    assert_eq!(ps[0].error_code, 0);
    let p = &ps[0].active_producers[0];
    assert_eq!((p.producer_id.0, p.producer_epoch, p.last_sequence, p.coordinator_epoch, p.current_txn_start_offset), (4242, 3, 1, -1, -1));
    assert!(p.last_timestamp > 0);
    assert_eq!(ps[1].error_code, 3, "a missing partition is UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn topic_compression_type_recompresses_other_codecs() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "as-lz4", 1, 1, &[("compression.type", "lz4"), ("compression.lz4.level", "12")], false), 0);
    assert_eq!(create(&mut c, "bad-level", 1, 1, &[("compression.zstd.level", "23")], false), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut c, "tiered", 1, 1, &[("remote.storage.enable", "true")], false), 40, "INVALID_CONFIG");
    assert_eq!(create(&mut c, "accepted", 1, 1, &[("preallocate", "true"), ("leader.replication.throttled.replicas", "0:1"), ("local.retention.ms", "-2")], false), 0);
    let values: Vec<Vec<u8>> = (0..20).map(|i| format!("v{i} {}", "xyz".repeat(30)).into_bytes()).collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    let mut offset = 0;
    for codec in [Compression::None, Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        let sent = encode_batch(&refs, Some((77, 0, offset as i32)), codec, |i| 1_700_000_000_000 + i as i64);
        assert_eq!(produce(&mut c, "as-lz4", sent.clone()), (0, offset), "{codec:?}");
        let resp = c.call(12, &fetch_req("as-lz4", Uuid::nil(), offset, 0));
        let got = resp.responses[0].partitions[0].records.clone().unwrap();
        let attributes = i16::from_be_bytes([got[21], got[22]]);
        assert_eq!(attributes & 7, 3, "{codec:?} stored as lz4");
        if codec == Compression::Lz4 {
            assert_eq!(got[16..], sent[16..], "a batch already in the topic's codec is stored as it came");
        }
        let mut b = got.clone();
        let set = RecordBatchDecoder::decode(&mut b).unwrap();
        let read: Vec<_> = set.records.iter().map(|r| (r.offset, r.value.clone().unwrap().to_vec(), r.timestamp, r.producer_id, r.sequence)).collect();
        let want: Vec<_> = values.iter().enumerate().map(|(i, v)| (offset + i as i64, v.clone(), 1_700_000_000_000 + i as i64, 77, offset as i32 + i as i32)).collect();
        assert_eq!(read, want, "{codec:?}");
        offset += 20;
    }
    // a retry of a recompressed batch is still recognised as a duplicate
    let again = encode_batch(&refs, Some((77, 0, 0)), Compression::Gzip, |i| 1_700_000_000_000 + i as i64);
    assert_eq!(produce(&mut c, "as-lz4", again), (0, 0));
    assert_eq!(list_offset(&mut c, "as-lz4", -1).1, 80);
}

#[test]
fn old_fetches_of_zstd_topics_and_disabled_deletion_are_refused_as_in_kafka() {
    let broker = Broker::start(&["delete.topic.enable=false"]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "as-zstd", 1, 1, &[("compression.type", "zstd")], false), 0);
    assert_eq!(produce(&mut c, "as-zstd", record_batch(&[b"a"], None)).0, 0);
    // Fetch v9 predates zstd (KIP-110): UNSUPPORTED_COMPRESSION_TYPE, not batches it cannot read
    let old = c.call(9, &fetch_req("as-zstd", Uuid::nil(), 0, 0));
    assert_eq!(old.responses[0].partitions[0].error_code, 76);
    let new = c.call(10, &fetch_req("as-zstd", Uuid::nil(), 0, 0));
    assert_eq!(new.responses[0].partitions[0].error_code, 0);
    assert_eq!(records_of(new.responses[0].partitions[0].records.clone().unwrap()).len(), 1);
    // delete.topic.enable=false
    let mut req = DeleteTopicsRequest::default();
    req.topic_names = vec![name("as-zstd")];
    assert_eq!(c.call(4, &req).responses[0].error_code, 73, "TOPIC_DELETION_DISABLED");
    assert_eq!(list_offset(&mut c, "as-zstd", -1).1, 1, "the topic is still there");
}

#[test]
fn describe_topic_partitions_pages_by_partition_limit() {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "dtp-a", 3, 1, &[], false), 0);
    assert_eq!(create(&mut c, "dtp-b", 2, 1, &[], false), 0);
    let topics: Vec<TopicRequest> = ["missing", "dtp-b", "dtp-a"].iter().map(|n| TopicRequest::default().with_name(name(n))).collect();
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let req = DescribeTopicPartitionsRequest::default().with_topics(topics.clone()).with_response_partition_limit(2).with_cursor(cursor.clone());
        let r = c.call(0, &req);
        let page: Vec<(String, i16, Vec<i32>)> =
            r.topics.iter().map(|t| (t.name.as_ref().unwrap().to_string(), t.error_code, t.partitions.iter().map(|p| p.partition_index).collect())).collect();
        pages.push(page);
        match r.next_cursor {
            Some(n) => cursor = Some(Cursor::default().with_topic_name(n.topic_name).with_partition_index(n.partition_index)),
            None => break,
        }
        assert!(pages.len() < 5, "no end of pages: {pages:?}");
    }
    let s = |v: &str| v.to_string();
    assert_eq!(
        pages,
        vec![
            vec![(s("dtp-a"), 0, vec![0, 1])],
            vec![(s("dtp-a"), 0, vec![2]), (s("dtp-b"), 0, vec![0])],
            vec![(s("dtp-b"), 0, vec![1]), (s("missing"), 3, vec![])],
        ]
    );
    // every topic, by name, when none is named; a cursor outside the named topics is refused
    let all = c.call(0, &DescribeTopicPartitionsRequest::default().with_response_partition_limit(100));
    assert_eq!(all.topics.iter().map(|t| t.partitions.len()).sum::<usize>(), 5);
    let bad = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(name("dtp-a"))])
        .with_response_partition_limit(10)
        .with_cursor(Some(Cursor::default().with_topic_name(name("dtp-b"))));
    assert_eq!(c.call(0, &bad).topics.iter().map(|t| t.error_code).collect::<Vec<_>>(), vec![42]);
}

#[test]
fn feature_updates_and_log_dir_moves_that_keep_things_as_they_are() {
    use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
    let data = tempfile::tempdir().unwrap();
    let broker = Broker::start_in(data.path(), &[]);
    let mut c = broker.client();
    let update = |name: &str, level: i16, upgrade_type: i8| FeatureUpdateKey::default().with_feature(StrBytes::from_string(name.into())).with_max_version_level(level).with_upgrade_type(upgrade_type);
    let updates = vec![
        update("metadata.version", 27, 1),  // the finalized level: nothing to do
        update("transaction.version", 9, 1),  // beyond what is supported
        update("group.version", 1, 1),      // already on
        update("no.such.feature", 1, 1),
    ];
    let r = c.call(1, &UpdateFeaturesRequest::default().with_feature_updates(updates.clone()));
    assert_eq!(r.results.iter().map(|f| f.error_code).collect::<Vec<_>>(), vec![0, 95, 0, 95]);
    for upgrade_type in [1, 2, 3] {
        let down = c.call(1, &UpdateFeaturesRequest::default().with_feature_updates(vec![update("metadata.version", 20, upgrade_type)]));
        assert_eq!(down.results[0].error_code, 95, "metadata.version downgrade, upgrade type {upgrade_type}");
    }
    // v2: the first failure is the request's error
    let v2 = c.call(2, &UpdateFeaturesRequest::default().with_feature_updates(updates));
    assert_eq!(v2.error_code, 95);
    let dup = c.call(1, &UpdateFeaturesRequest::default().with_feature_updates(vec![update("group.version", 1, 1), update("group.version", 1, 1)]));
    assert_eq!(dup.error_code, 42);

    assert_eq!(create(&mut c, "dirs", 1, 1, &[], false), 0);
    let dir = c.call(1, &DescribeLogDirsRequest::default()).results[0].log_dir.clone();
    let moves = |path: StrBytes, partitions: Vec<i32>| AlterReplicaLogDir::default().with_path(path).with_topics(vec![AlterReplicaLogDirTopic::default().with_name(name("dirs")).with_partitions(partitions)]);
    let req = AlterReplicaLogDirsRequest::default().with_dirs(vec![moves(dir, vec![0, 3]), moves(StrBytes::from_static_str("/no/such/dir"), vec![0])]);
    let r = c.call(1, &req);
    let codes: Vec<Vec<i16>> = r.results.iter().map(|t| t.partitions.iter().map(|p| p.error_code).collect()).collect();
    // NONE (already there), UNKNOWN_TOPIC_OR_PARTITION, LOG_DIR_NOT_FOUND
    assert_eq!(codes, vec![vec![0, 3], vec![57]]);
}

#[test]
fn config_resources_are_listed_by_type_and_only_this_broker_is_registered() {
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    assert_eq!(create(&mut c, "listed", 1, 1, &[], false), 0);
    let me = c.call(12, &MetadataRequest::default()).brokers[0].node_id.0;
    let list = |c: &mut Client, version: i16, types: Vec<i8>| {
        let r = c.call(version, &ListConfigResourcesRequest::default().with_resource_types(types));
        let mut got: Vec<(i8, String)> = r.config_resources.iter().map(|x| (x.resource_type, x.resource_name.to_string())).collect();
        got.sort();
        (r.error_code, got)
    };
    // v0 (ListClientMetricsResources): no client-metrics resources
    assert_eq!(list(&mut c, 0, vec![]), (0, vec![]));
    assert_eq!(list(&mut c, 1, vec![2]), (0, vec![(2, "listed".to_string())]));
    let all = list(&mut c, 1, vec![]).1;
    assert!(all.contains(&(4, me.to_string())) && all.contains(&(8, me.to_string())) && all.contains(&(2, "listed".to_string())), "{all:?}");
    assert_eq!(list(&mut c, 1, vec![1]).0, 35, "an unknown resource type");
    // UnregisterBroker: another id is not registered; this running broker stays
    assert_eq!(c.call(0, &UnregisterBrokerRequest::default().with_broker_id(BrokerId(me + 1))).error_code, 102);
    assert_eq!(c.call(0, &UnregisterBrokerRequest::default().with_broker_id(BrokerId(me))).error_code, 0);
}

#[test]
fn dynamic_broker_configs_change_topic_defaults_and_survive_restarts() {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let data = tempfile::tempdir().unwrap();
    let mut broker = Broker::start_in(data.path(), &[]);
    let mut c = broker.client();
    let me = c.call(12, &MetadataRequest::default()).brokers[0].node_id.0.to_string();
    assert_eq!(create(&mut c, "dyn", 1, 1, &[], false), 0);
    // (resource name, key, value or None to delete) → the resource's error code
    let alter = |c: &mut Client, resource: &str, key: &str, value: Option<&str>| {
        let op = AlterableConfig::default().with_name(StrBytes::from_string(key.into())).with_config_operation(if value.is_some() { 0 } else { 1 }).with_value(value.map(|v| StrBytes::from_string(v.into())));
        let res = AlterConfigsResource::default().with_resource_type(4).with_resource_name(StrBytes::from_string(resource.into())).with_configs(vec![op]);
        c.call(1, &IncrementalAlterConfigsRequest::default().with_resources(vec![res])).responses[0].error_code
    };
    let describe = |c: &mut Client, resource_type: i8, name: &str, key: &str| {
        let res = DescribeConfigsResource::default().with_resource_type(resource_type).with_resource_name(StrBytes::from_string(name.into())).with_configuration_keys(Some(vec![StrBytes::from_string(key.into())]));
        let r = c.call(4, &DescribeConfigsRequest::default().with_resources(vec![res]).with_include_synonyms(true));
        r.results[0].configs.first().map(|e| (e.value.as_ref().map(|v| v.to_string()), e.config_source, e.read_only))
    };
    assert_eq!(alter(&mut c, "", "log.retention.ms", Some("1234")), 0);
    assert_eq!(describe(&mut c, 2, "dyn", "retention.ms"), Some((Some("1234".into()), 3, false)), "DYNAMIC_DEFAULT_BROKER_CONFIG");
    assert_eq!(alter(&mut c, &me, "log.retention.ms", Some("999")), 0);
    assert_eq!(describe(&mut c, 2, "dyn", "retention.ms"), Some((Some("999".into()), 2, false)), "DYNAMIC_BROKER_CONFIG");
    assert_eq!(describe(&mut c, 4, &me, "log.retention.ms"), Some((Some("999".into()), 2, false)));
    assert_eq!(describe(&mut c, 4, "", "log.retention.ms"), Some((Some("1234".into()), 3, false)), "the default resource lists the dynamic defaults");
    assert_eq!(describe(&mut c, 4, "", "log.segment.bytes"), None, "and only those");
    assert!(describe(&mut c, 4, &me, "log.dirs").unwrap().2, "a static key is read-only");
    // refused as in Kafka: static keys, per-broker keys at the cluster level, another
    // broker's id, invalid values; and keys Riffle reads only at start-up
    assert_eq!(alter(&mut c, &me, "log.dirs", Some("/elsewhere")), 42);
    assert_eq!(alter(&mut c, "", "ssl.cipher.suites", Some("x")), 42);
    assert_eq!(alter(&mut c, "77", "log.retention.ms", Some("5")), 42);
    assert_eq!(alter(&mut c, "", "log.retention.ms", Some("soon")), 42);
    assert_eq!(alter(&mut c, "", "max.connections", Some("5")), 42);
    // the new defaults are in force on the topic's log, not only described: a batch
    // above a dynamic message.max.bytes is refused, and accepted once it is removed
    let big: &[u8] = &[b'x'; 3000];
    assert_eq!(alter(&mut c, "", "message.max.bytes", Some("1000")), 0);
    assert_eq!(produce(&mut c, "dyn", record_batch(&[big], None)).0, 10, "MESSAGE_TOO_LARGE");
    assert_eq!(alter(&mut c, "", "message.max.bytes", None), 0);
    assert_eq!(produce(&mut c, "dyn", record_batch(&[big], None)).0, 0);
    // they are kept across a restart
    broker.stop();
    let broker = Broker::start_in(data.path(), &[]);
    let mut c = broker.client();
    assert_eq!(describe(&mut c, 2, "dyn", "retention.ms"), Some((Some("999".into()), 2, false)));
    assert_eq!(alter(&mut c, &me, "log.retention.ms", None), 0);
    assert_eq!(describe(&mut c, 2, "dyn", "retention.ms"), Some((Some("1234".into()), 3, false)), "back to the default");
}

#[test]
fn broker_loggers_change_levels_and_token_requests_need_sasl() {
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let broker = Broker::start(&[]);
    let mut c = broker.client();
    let me = c.call(12, &MetadataRequest::default()).brokers[0].node_id.0.to_string();
    let set = |c: &mut Client, name: &str, logger: &str, level: Option<&str>| {
        let op = AlterableConfig::default().with_name(StrBytes::from_string(logger.into())).with_config_operation(if level.is_some() { 0 } else { 1 }).with_value(level.map(|v| StrBytes::from_string(v.into())));
        let res = AlterConfigsResource::default().with_resource_type(8).with_resource_name(StrBytes::from_string(name.into())).with_configs(vec![op]);
        c.call(1, &IncrementalAlterConfigsRequest::default().with_resources(vec![res])).responses[0].error_code
    };
    let level_of = |c: &mut Client, logger: &str| {
        let res = DescribeConfigsResource::default().with_resource_type(8).with_resource_name(StrBytes::from_string(me.clone()));
        let r = c.call(4, &DescribeConfigsRequest::default().with_resources(vec![res]));
        r.results[0].configs.iter().find(|e| e.name.as_str() == logger).map(|e| (e.value.as_ref().unwrap().to_string(), e.config_source))
    };
    assert_eq!(level_of(&mut c, "root"), Some(("INFO".to_string(), 6)), "DYNAMIC_BROKER_LOGGER_CONFIG");
    assert_eq!(set(&mut c, &me, "riffle::replication", Some("DEBUG")), 0);
    assert_eq!(level_of(&mut c, "riffle::replication"), Some(("DEBUG".to_string(), 6)));
    assert_eq!(level_of(&mut c, "riffle::api"), Some(("INFO".to_string(), 6)), "other loggers keep the root's level");
    assert_eq!(set(&mut c, &me, "riffle::replication", None), 0);
    assert_eq!(level_of(&mut c, "riffle::replication"), Some(("INFO".to_string(), 6)));
    assert_eq!(set(&mut c, &me, "no.such.logger", Some("DEBUG")), 40);
    assert_eq!(set(&mut c, &me, "riffle", Some("LOUD")), 40);
    assert_eq!(set(&mut c, &me, "root", None), 40);
    assert_eq!(set(&mut c, "77", "riffle", Some("DEBUG")), 42);
    // the level is in force: what is logged at INFO while the root is at WARN is not
    // logged (the log is ordered: seen after log-a and before log-c, or never)
    assert_eq!(create(&mut c, "log-a", 1, 1, &[], false), 0);
    broker.log_until("topic=log-a");
    assert_eq!(set(&mut c, &me, "root", Some("WARN")), 0);
    assert_eq!(create(&mut c, "log-b", 1, 1, &[], false), 0);
    assert_eq!(set(&mut c, &me, "root", Some("INFO")), 0);
    assert_eq!(create(&mut c, "log-c", 1, 1, &[], false), 0);
    let lines = broker.log_until("topic=log-c");
    assert!(!lines.iter().any(|l| l.contains("topic=log-b")), "log-b was created while the root logger was at WARN");
    // PLAINTEXT connections may not ask for delegation tokens
    assert_eq!(c.call(3, &CreateDelegationTokenRequest::default()).error_code, 64);
    assert_eq!(c.call(3, &DescribeDelegationTokenRequest::default()).error_code, 64);
}
