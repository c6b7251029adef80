//! The Rust `rskafka` client against a real broker: create a topic, produce records with
//! keys, headers and timestamps under every compression codec, fetch them back equal.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use common::Broker;
use rskafka::client::partition::{Compression, OffsetAt, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rskafka_round_trip_with_every_codec() {
    let broker = Broker::start(&[]);
    let client = ClientBuilder::new(vec![broker.addr.to_string()]).build().await.expect("connect");
    client.controller_client().unwrap().create_topic("rs", 2, 1, 5_000).await.expect("create topic");
    let topics = client.list_topics().await.unwrap();
    assert_eq!(topics.iter().find(|t| t.name == "rs").map(|t| t.partitions.len()), Some(2));

    let partition = client.partition_client("rs", 1, UnknownTopicHandling::Retry).await.unwrap();
    let mut sent = Vec::new();
    for (n, codec) in [Compression::NoCompression, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd].into_iter().enumerate() {
        let records: Vec<Record> = (0..50)
            .map(|i| Record {
                key: Some(format!("key-{}", i % 7).into_bytes()),
                value: Some(format!("value-{n}-{i}-{}", "x".repeat(i)).into_bytes()),
                headers: BTreeMap::from([("codec".to_string(), format!("{codec:?}").into_bytes())]),
                timestamp: Utc.timestamp_millis_opt(1_700_000_000_000 + (n * 100 + i) as i64).unwrap(),
            })
            .collect();
        let offsets = partition.produce(records.clone(), codec).await.unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(offsets.first(), Some(&(n as i64 * 50)));
        sent.extend(records);
    }
    assert_eq!(partition.get_offset(OffsetAt::Latest).await.unwrap(), 250);
    assert_eq!(partition.get_offset(OffsetAt::Earliest).await.unwrap(), 0);

    let mut got = Vec::new();
    let mut next = 0;
    while got.len() < sent.len() {
        let (records, hw) = partition.fetch_records(next, 1..1_000_000, 1_000).await.unwrap();
        assert_eq!(hw, 250);
        for r in records {
            assert_eq!(r.offset, got.len() as i64, "offsets are dense and in order");
            next = r.offset + 1;
            got.push(r.record);
        }
    }
    assert_eq!(got, sent);
}
