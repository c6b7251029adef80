//! Topic lifecycle and log policies against a real broker process: CreatePartitions,
//! AlterConfigs / IncrementalAlterConfigs, DeleteRecords, and retention and compaction
//! driven by the broker's own background tasks.

mod common;

use std::time::{Duration, Instant};

use common::{record_batch, Broker, Client};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create(c: &mut Client, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut t = CreatableTopic::default();
    t.name = TopicName(s(topic));
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = CreatableTopicConfig::default();
            c.name = s(k);
            c.value = Some(s(v));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    assert_eq!(c.call(7, &req).topics[0].error_code, 0);
}

/// AlterConfigs (v2): replaces the topic's overrides with `configs`.
fn alter_configs(c: &mut Client, topic: &str, configs: &[(&str, &str)]) -> i16 {
    let mut r = AlterConfigsResource::default();
    r.resource_type = 2;
    r.resource_name = s(topic);
    r.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut cfg = AlterableConfig::default();
            cfg.name = s(k);
            cfg.value = Some(s(v));
            cfg
        })
        .collect();
    let mut req = AlterConfigsRequest::default();
    req.resources = vec![r];
    c.call(2, &req).responses[0].error_code
}

fn produce(c: &mut Client, topic: &str, partition: i32, records: bytes::Bytes) -> i16 {
    let mut p = PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = TopicName(s(topic));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.topic_data = vec![t];
    c.call(9, &req).responses[0].partition_responses[0].error_code
}

fn earliest(c: &mut Client, topic: &str) -> i64 {
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -2;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![t];
    c.call(9, &req).topics[0].partitions[0].offset
}

fn config(c: &mut Client, topic: &str, key: &str) -> (Option<String>, i8) {
    let mut r = DescribeConfigsResource::default();
    r.resource_type = 2;
    r.resource_name = s(topic);
    r.configuration_keys = Some(vec![s(key)]);
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    let resp = c.call(4, &req);
    let e = &resp.results[0].configs[0];
    (e.value.as_ref().map(|v| v.to_string()), e.config_source)
}

fn log_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "log")).count()
}

fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn partitions_grow_and_configs_change_live() {
    let b = Broker::start(&[]);
    let mut c = b.client();
    create(&mut c, "grow", 3, &[]);
    let grow = |c: &mut Client, count: i32| {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(s("grow"));
        t.count = count;
        t.assignments = None;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        c.call(3, &req).results[0].error_code
    };
    assert_eq!(grow(&mut c, 6), 0);
    assert_eq!(grow(&mut c, 4), 37, "INVALID_PARTITIONS: partitions never shrink");
    assert_eq!(produce(&mut c, "grow", 5, record_batch(&[b"new"], None)), 0);

    // AlterConfigs replaces the overrides; the value shows as DYNAMIC_TOPIC_CONFIG and
    // acts at once: a batch over the new max.message.bytes is refused.
    let alter = |c: &mut Client, key: &str, value: &str| alter_configs(c, "grow", &[(key, value)]);
    assert_eq!(alter(&mut c, "max.message.bytes", "200"), 0);
    assert_eq!(config(&mut c, "grow", "max.message.bytes"), (Some("200".into()), 1));
    assert_eq!(produce(&mut c, "grow", 0, record_batch(&[&[b'x'; 500]], None)), 10, "MESSAGE_TOO_LARGE");
    assert_eq!(alter(&mut c, "max.message.bytes", "-5"), 40, "INVALID_CONFIG");
    assert_eq!(alter(&mut c, "no.such.key", "1"), 40, "INVALID_CONFIG");

    // IncrementalAlterConfigs: SET, APPEND to a list, DELETE back to the default.
    let incremental = |c: &mut Client, key: &str, op: i8, value: Option<&str>| {
        let mut cfg = incremental_alter_configs_request::AlterableConfig::default();
        cfg.name = s(key);
        cfg.config_operation = op;
        cfg.value = value.map(s);
        let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
        r.resource_type = 2;
        r.resource_name = s("grow");
        r.configs = vec![cfg];
        let mut req = IncrementalAlterConfigsRequest::default();
        req.resources = vec![r];
        c.call(1, &req).responses[0].error_code
    };
    assert_eq!(incremental(&mut c, "cleanup.policy", 2, Some("compact")), 0);
    assert_eq!(config(&mut c, "grow", "cleanup.policy").0.as_deref(), Some("delete,compact"));
    assert_eq!(incremental(&mut c, "max.message.bytes", 1, None), 0);
    assert_eq!(config(&mut c, "grow", "max.message.bytes"), (Some("1048588".into()), 5));
}

#[test]
fn delete_records_and_time_retention() {
    let b = Broker::start(&["log.retention.check.interval.ms=200"]);
    let mut c = b.client();
    create(&mut c, "old", 1, &[("internal.segment.bytes", "300")]);
    for _ in 0..5 {
        assert_eq!(produce(&mut c, "old", 0, record_batch(&[&[b'v'; 200]], None)), 0);
    }
    // DeleteRecords moves the log start offset; beyond the high watermark is refused.
    let delete = |c: &mut Client, offset: i64| {
        let mut p = DeleteRecordsPartition::default();
        p.partition_index = 0;
        p.offset = offset;
        let mut t = DeleteRecordsTopic::default();
        t.name = TopicName(s("old"));
        t.partitions = vec![p];
        let mut req = DeleteRecordsRequest::default();
        req.topics = vec![t];
        let r = c.call(2, &req);
        (r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].low_watermark)
    };
    assert_eq!(delete(&mut c, 2), (0, 2));
    assert_eq!(earliest(&mut c, "old"), 2);
    assert_eq!(delete(&mut c, 99).0, 1, "OFFSET_OUT_OF_RANGE");
    let dir = b.data.join("old-0");
    assert_eq!(log_files(&dir), 3, "segments wholly below the start are removed");

    // Time retention through a live config change: every segment goes, the active one
    // too (Kafka rolls an empty one first), and the log starts at its end.
    assert_eq!(alter_configs(&mut c, "old", &[("retention.ms", "1"), ("internal.segment.bytes", "300")]), 0);
    eventually("retention deletes every segment", || earliest(&mut c, "old") == 5);
    assert_eq!(log_files(&dir), 1, "one empty active segment is left");
}

#[test]
fn the_broker_compacts_in_the_background() {
    let b = Broker::start(&["log.cleaner.backoff.ms=100"]);
    let mut c = b.client();
    // Written under the delete policy, then switched to compact, so the size measured
    // below is the uncleaned log's.
    create(&mut c, "compacted", 1, &[("internal.segment.bytes", "2000")]);
    for round in 0..40 {
        let v = format!("value-{round}");
        // record_batch keys its records k0, k1, ...: three keys, overwritten each round.
        assert_eq!(produce(&mut c, "compacted", 0, record_batch(&[v.as_bytes(), v.as_bytes(), v.as_bytes()], None)), 0);
    }
    let dir = b.data.join("compacted-0");
    let size = |d: &std::path::Path| -> u64 {
        std::fs::read_dir(d).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "log")).map(|e| e.metadata().unwrap().len()).sum()
    };
    let before = size(&dir);
    assert_eq!(alter_configs(&mut c, "compacted", &[("cleanup.policy", "compact"), ("internal.segment.bytes", "2000"), ("min.cleanable.dirty.ratio", "0.01")]), 0);
    eventually("the cleaner shrinks the log", || size(&dir) < before / 2);
    // The checkpoint is written after the cleaned segments are swapped in, so it can
    // trail the shrink by a moment.
    eventually("the cleaner checkpoints its progress", || dir.join("cleaner-offset-checkpoint").exists());
}
