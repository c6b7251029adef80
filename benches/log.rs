//! Micro-benchmarks of the hot paths: produce (validate + record walk + offset patch + append of a v2
//! batch to a partition log), fetch (index lookup + the file range of whole batches),
//! index lookups, CRC-32C, the decode/encode of Produce requests and Fetch responses,
//! and the recompression a topic's `compression.type` asks for. `cargo bench --bench log`; `make bench` adds the end-to-end run.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchResponse, ProduceRequest, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::records::Compression;
use riffle::config::TopicConfig;
use riffle::log::{batch, records};
use riffle::log::index::{OffsetEntry, OffsetIndex};
use riffle::log::PartitionLog;
use riffle::net::response::{Placeholders, SpliceBuf};

const NOW: i64 = 1_700_000_000_000;

fn batch_of(records: usize, value_bytes: usize) -> Bytes {
    let value = Bytes::from(vec![b'v'; value_bytes]);
    let kvs: Vec<(Option<Bytes>, Option<Bytes>)> = (0..records).map(|i| (Some(Bytes::from(format!("key-{i}"))), Some(value.clone()))).collect();
    batch::encode_records(&kvs, NOW, Compression::None).expect("batch").0
}

fn produce(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce");
    for (records, value) in [(1, 100), (100, 100), (1, 1024), (100, 1024)] {
        let b = batch_of(records, value);
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_function(format!("{records}x{value}B"), |bench| {
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
            bench.iter(|| {
                let h = batch::validate(&b).unwrap();
                records::check_uncompressed(&h, &b).unwrap();
                log.append(&b, &h, 0, NOW).unwrap()
            });
        });
        // The part of the above that walks the records (Kafka's record validation).
        let h = batch::validate(&b).unwrap();
        g.bench_function(format!("{records}x{value}B record walk"), |bench| bench.iter(|| records::check_uncompressed(&h, &b).unwrap()));
    }
    g.finish();
}

fn fetch(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
    let b = batch_of(100, 1024);
    for _ in 0..200 {
        let h = batch::validate(&b).unwrap();
        log.append(&b, &h, 0, NOW).unwrap();
    }
    let end = log.log_end_offset();
    let mut g = c.benchmark_group("fetch");
    for (name, bytes) in [("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        // What Fetch does: find the range (no bytes move; sendfile moves them later, in
        // the kernel), so no throughput is claimed.
        g.bench_function(format!("{name} from the middle (file range)"), |bench| {
            bench.iter_batched(|| end / 2 + 17, |offset| log.read(offset, bytes, true, end).unwrap(), BatchSize::SmallInput);
        });
    }
    // For scale: the same read copied into memory (what a pread-based fetch would pay).
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("1MiB from the middle (copied)", |bench| {
        bench.iter_batched(|| end / 2 + 17, |offset| log.read_bytes(offset, 1 << 20, true, end).unwrap(), BatchSize::SmallInput);
    });
    g.finish();
}

fn index(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut idx = OffsetIndex::create(&riffle::storage::local(), &path).unwrap();
    let entries = 100_000u32;
    for i in 0..entries {
        idx.append(OffsetEntry { relative_offset: i * 10, position: i * 4096 }).unwrap();
    }
    let mut g = c.benchmark_group("index");
    let mut key = 0i64;
    let mut next = move || {
        key = (key + 7_919 * 10 + 3) % (entries as i64 * 10);
        key
    };
    g.bench_function("offset floor, active (100k entries)", |bench| bench.iter(|| idx.floor(next())));
    idx.seal().unwrap();
    g.bench_function("offset floor, sealed mmap (100k entries)", |bench| bench.iter(|| idx.floor(next())));
    g.bench_function("position floor, sealed mmap (100k entries)", |bench| bench.iter(|| idx.floor_position(next() as u64 * 400)));
    g.finish();
}

fn request(c: &mut Criterion) {
    let mut g = c.benchmark_group("request");
    // A Produce v9 request carrying one 100 x 1 KiB batch per partition, 6 partitions.
    let b = batch_of(100, 1024);
    let mut produce = ProduceRequest::default();
    produce.acks = -1;
    produce.timeout_ms = 30_000;
    let mut topic = TopicProduceData::default();
    topic.name = TopicName("bench".into());
    for p in 0..6 {
        let mut pd = PartitionProduceData::default();
        pd.index = p;
        pd.records = Some(b.clone());
        topic.partition_data.push(pd);
    }
    produce.topic_data.push(topic);
    let mut encoded = BytesMut::new();
    produce.encode(&mut encoded, 9).unwrap();
    let encoded = encoded.freeze();
    // Records stay a slice of the request buffer: no throughput in bytes to claim.
    g.bench_function("decode Produce v9 (6 x 100 x 1KiB)", |bench| {
        bench.iter(|| ProduceRequest::decode(&mut encoded.clone(), 9).unwrap())
    });
    // What the broker runs: the frame checker's walk, then the same decode.
    g.bench_function("check + decode Produce v9 (6 x 100 x 1KiB)", |bench| {
        bench.iter(|| riffle::wire::decode_request::<ProduceRequest>(&mut encoded.clone(), 9).unwrap())
    });

    // A Fetch v12 response with 1 MiB of records in each of 6 partitions.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), TopicConfig::default(), NOW).unwrap();
    for _ in 0..60 {
        let h = batch::validate(&b).unwrap();
        log.append(&b, &h, 0, NOW).unwrap();
    }
    let slice = log.read(0, 1 << 20, true, log.log_end_offset()).unwrap();
    let response = |records: &mut dyn FnMut() -> Bytes| {
        let mut r = FetchResponse::default();
        let mut t = FetchableTopicResponse::default();
        t.topic = TopicName("bench".into());
        for p in 0..6 {
            let mut pd = PartitionData::default();
            pd.partition_index = p;
            pd.records = Some(records());
            t.partitions.push(pd);
        }
        r.responses.push(t);
        r
    };
    g.bench_function("encode Fetch v12 (6 x 1MiB, file ranges spliced)", |bench| {
        bench.iter(|| {
            let mut placeholders = Placeholders::default();
            let r = response(&mut || placeholders.stand_in(slice.clone()).unwrap());
            let mut buf = SpliceBuf::new(1024, placeholders);
            r.encode(&mut buf, 12).unwrap();
            buf.finish()
        })
    });
    let copied = slice.to_bytes().unwrap();
    g.throughput(Throughput::Bytes(6 * slice.len() as u64));
    g.bench_function("encode Fetch v12 (6 x 1MiB, records copied)", |bench| {
        bench.iter(|| {
            let r = response(&mut || copied.clone());
            let mut buf = BytesMut::with_capacity(r.compute_size(12).unwrap());
            r.encode(&mut buf, 12).unwrap();
            buf
        })
    });
    g.finish();
}

/// What a topic with `compression.type` set costs for batches in another codec: the
/// broker opens the batch, checks its records and compresses them again. Batches already
/// in the topic's codec (and every batch of a `producer` topic) skip all of this.
fn recompress(c: &mut Criterion) {
    use riffle::config::TopicCompression as T;
    let value: Bytes = Bytes::from((0..1024).map(|i| b"abcdefgh"[i % 8] ^ (i / 64) as u8).collect::<Vec<u8>>());
    let kvs: Vec<(Option<Bytes>, Option<Bytes>)> = (0..100).map(|i| (Some(Bytes::from(format!("key-{i}"))), Some(value.clone()))).collect();
    let mut g = c.benchmark_group("recompress");
    for (from, from_name) in [(Compression::None, "none"), (Compression::Gzip, "gzip"), (Compression::Zstd, "zstd")] {
        let (b, h) = batch::encode_records(&kvs, NOW, from).expect("batch");
        // throughput in record bytes (what the producer sent, uncompressed)
        g.throughput(Throughput::Bytes(records::payload(&h, &b).unwrap().len() as u64));
        for (to, to_name) in [(T::Lz4 { level: 9 }, "lz4"), (T::Zstd { level: 3 }, "zstd"), (T::Gzip { level: -1 }, "gzip"), (T::Snappy, "snappy")] {
            if to.codec() == Some(h.compression()) {
                continue;
            }
            g.bench_function(format!("100x1KiB {from_name} to {to_name}"), |bench| bench.iter(|| riffle::log::recompress::recompress(&h, &b, to, 1 << 20).unwrap()));
        }
    }
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data = vec![7u8; 1 << 20];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MiB", |bench| bench.iter(|| crc32c::crc32c(&data)));
    g.finish();
}

criterion_group!(benches, produce, fetch, index, crc, request, recompress);
criterion_main!(benches);
