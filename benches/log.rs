//! Micro-benchmarks of the hot paths: produce (validate + offset patch + append of a v2
//! batch to a partition log) and fetch (index lookup + read of whole batches), plus
//! CRC-32C. `cargo bench --bench log`; the end-to-end run is issue 6's `make bench`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::records::Compression;
use riffle::config::TopicConfig;
use riffle::log::batch;
use riffle::log::PartitionLog;

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
                log.append(&b, &h, 0, NOW).unwrap()
            });
        });
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
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("1MiB from the middle", |bench| {
        bench.iter_batched(|| end / 2 + 17, |offset| log.read(offset, 1 << 20, true, end).unwrap(), BatchSize::SmallInput);
    });
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data = vec![7u8; 1 << 20];
    let mut g = c.benchmark_group("crc32c");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("1MiB", |bench| bench.iter(|| crc32c::crc32c(&data)));
    g.finish();
}

criterion_group!(benches, produce, fetch, crc);
criterion_main!(benches);
