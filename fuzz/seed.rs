//! Writes the fuzzers' seed corpora into `fuzz/corpus/<target>/`: request frames recorded
//! from real clients plus a sample of every API and version as kafka-protocol encodes it;
//! record batches of every codec and those the recorded Produce requests carry; a
//! segment of them; responses a follower or the admin client reads, and controller RPC.

use std::path::{Path, PathBuf};


use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ResponseKind};
use kafka_protocol::protocol::Decodable;
use kafka_protocol::records::Compression;
use riffle::wire::sample::{self, Fill};
use riffle::wire::schema::schemas;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = root.join("fuzz/corpus");
    let frames: Vec<Vec<u8>> = sample::recorded_frames(&root.join("protocol-tests/fixtures")).unwrap().into_iter().map(|(_, f)| f).collect();

    // request: recorded frames, then every advertised API and version.
    let dir = corpus.join("request");
    for (i, f) in frames.iter().enumerate() {
        write(&dir, &format!("fixture-{i:04}"), f);
    }
    for (api, v, frame) in sample::encoded_requests(&riffle::api::supported_apis()) {
        write(&dir, &format!("{api:?}-v{v}"), &frame);
    }

    // record_batch: every codec, and the batches recorded Produce requests carry.
    let dir = corpus.join("record_batch");
    let mut batches = Vec::new();
    for (i, c) in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd].into_iter().enumerate() {
        let recs: Vec<_> = (0..5).map(|k| (Some(Bytes::from(format!("key-{k}"))), (k != 3).then(|| Bytes::from(format!("value-{k}"))))).collect();
        let (b, _) = riffle::log::batch::encode_records(&recs, 1_700_000_000_000 + i as i64, c).unwrap();
        batches.push(b.to_vec());
    }
    for f in &frames {
        if i16::from_be_bytes([f[0], f[1]]) != ApiKey::Produce as i16 {
            continue;
        }
        let version = i16::from_be_bytes([f[2], f[3]]);
        let mut b = Bytes::copy_from_slice(f);
        let Ok(_) = riffle::wire::decode_request_header(&mut b, ApiKey::Produce.request_header_version(version)) else { continue };
        let Ok(req) = ProduceRequest::decode(&mut b, version) else { continue };
        for t in req.topic_data {
            for p in t.partition_data {
                batches.extend(p.records.map(|r| r.to_vec()));
            }
        }
    }
    for (i, b) in batches.iter().enumerate() {
        write(&dir, &format!("batch-{i:04}"), b);
    }

    // segment_recovery: a log of those batches (offsets as produced), 3/4 of the input.
    let dir = corpus.join("segment_recovery");
    let log: Vec<u8> = batches.iter().take(8).flatten().copied().collect();
    let mut input = log.clone();
    input.extend(vec![0u8; log.len() / 3]);
    write(&dir, "batches", &input);

    // peer_frames: responses as leaders and brokers send them, and controller RPC.
    let dir = corpus.join("peer_frames");
    for (which, api) in [ApiKey::Fetch, ApiKey::OffsetForLeaderEpoch, ApiKey::Metadata, ApiKey::ListOffsets].into_iter().enumerate() {
        let m = schemas().response(api as i16).unwrap();
        for v in m.valid.lowest()..=m.valid.highest().min(19) {
            let body = sample::message(m, v, Fill::Full);
            let Ok(resp) = ResponseKind::decode(api, &mut Bytes::from(body), v) else { continue };
            let mut frame = BytesMut::new();
            frame.extend_from_slice(&0i32.to_be_bytes()); // correlation id
            if api.response_header_version(v) >= 1 {
                frame.extend_from_slice(&[0]);
            }
            resp.encode(&mut frame, v).unwrap();
            let mut input = vec![which as u8, v as u8];
            input.extend_from_slice(&frame);
            write(&dir, &format!("{api:?}-v{v}"), &input);
        }
    }
    let rpc = serde_json::to_vec(&riffle::controller::network::RpcRequest::FetchImage { after: 7 }).unwrap();
    write(&dir, "rpc-fetch-image", &rpc);
    println!("seed corpora written to {}", corpus.display());
}
