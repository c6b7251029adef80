//! Frames built to hurt, against a real broker process: lengths that claim more than the
//! frame carries, in every API and version the broker advertises, and a black-box
//! mutation fuzzer over recorded client frames and frames of every API encoded by
//! kafka-protocol. The broker must close only the offending connection, keep serving
//! everyone else, keep its memory bounded, and leave clean logs.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Broker;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use riffle::wire::sample::{self, mutate, Lie, XorShift};

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Sends `frame` on a fresh connection and expects the broker to close it unanswered.
fn expect_close(b: &Broker, frame: &[u8], what: &str) {
    let mut c = b.client();
    c.stream.write_all(frame).unwrap();
    assert!(c.closed_by_broker(), "{what}: broker kept the connection open");
}

fn still_serving(b: &mut Broker) {
    assert!(b.alive(), "broker died");
    let ok = b.client().call(3, &ApiVersionsRequest::default());
    assert_eq!(ok.error_code, 0);
}

/// The frame of the original report: CreateTopics v2, one topic whose `assignments`
/// claim 2,147,483,632 entries and carry none: 37 bytes, which used to abort the broker.
#[test]
fn the_reported_37_byte_frame_closes_only_its_connection() {
    let mut broker = Broker::start(&[]);
    let bystander = broker.client();
    let mut body = Vec::new();
    body.extend((ApiKey::CreateTopics as i16).to_be_bytes());
    body.extend(2i16.to_be_bytes());
    body.extend(1i32.to_be_bytes()); // correlation id
    body.extend((-1i16).to_be_bytes()); // null client id
    body.extend(1i32.to_be_bytes()); // one topic
    body.extend(7i16.to_be_bytes());
    body.extend(b"topic-a");
    body.extend((-1i32).to_be_bytes()); // num_partitions
    body.extend((-1i16).to_be_bytes()); // replication_factor
    body.extend(2_147_483_632i32.to_be_bytes()); // assignments, none sent
    let frame = framed(&body);
    assert_eq!(frame.len(), 37);
    expect_close(&broker, &frame, "37-byte CreateTopics");
    still_serving(&mut broker);
    let mut bystander = bystander;
    assert_eq!(bystander.call(3, &ApiVersionsRequest::default()).error_code, 0, "another connection was hurt");
}

/// For every API and version in the advertised table, a request whose first array, and
/// one whose first string, claims (nearly) 2^31 entries or bytes and carries none.
#[test]
fn a_lying_length_in_any_advertised_api_closes_only_its_connection() {
    let mut broker = Broker::start(&[]);
    let mut cases = 0;
    for (api, range) in riffle::api::supported_apis() {
        let m = sample::request_schema(api).expect("a schema for every advertised API");
        for version in range.min..=range.max {
            for lie in [Lie::Array, Lie::String] {
                let Some(body) = sample::hostile(m, version, lie, i32::MAX as u32 - 15) else { continue };
                let frame = framed(&sample::request_frame(api, version, 1, &body));
                expect_close(&broker, &frame, &format!("{api:?} v{version} {lie:?}"));
                cases += 1;
            }
        }
        assert!(broker.alive(), "broker died on {api:?}");
    }
    assert!(cases > 200, "only {cases} cases");
    still_serving(&mut broker);
}

/// With `queued.max.request.bytes`, a frame being read holds its bytes in the pool, and
/// a request that does not fit waits for them: one slow sender cannot make the broker
/// buffer more than the pool across connections.
#[test]
fn queued_max_request_bytes_bounds_what_all_connections_hold() {
    let broker = Broker::start(&["queued.max.request.bytes=1000000"]);
    let mut slow = broker.client();
    slow.stream.write_all(&1_000_000i32.to_be_bytes()).unwrap();
    slow.stream.write_all(&[0; 100]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut waiting = broker.client();
    let body = waiting.encode(3, &ApiVersionsRequest::default());
    waiting.send_frame(&body);
    waiting.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut byte = [0u8; 1];
    assert!(waiting.stream.read(&mut byte).is_err(), "answered while the pool was full");
    // The slow sender gives up: its bytes return to the pool and the waiting request runs.
    drop(slow);
    waiting.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let frame = waiting.read_frame().expect("an answer once the pool has room");
    assert_eq!(waiting.decode::<ApiVersionsRequest>(3, frame).error_code, 0);
}

/// Every frame the fuzzer starts from: recorded client frames, and a full sample of
/// every advertised API and version as kafka-protocol encodes it.
fn seed_frames() -> Vec<Vec<u8>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/fixtures");
    let recorded = sample::recorded_frames(&fixtures).unwrap().into_iter().map(|(_, f)| f);
    recorded.chain(sample::encoded_requests(&riffle::api::supported_apis()).into_iter().map(|(_, _, f)| f)).collect()
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// Correlation id of the probe sent after each mutated frame.
const PROBE: i32 = i32::MIN + 7;

/// Reads response frames until the probe's answer (true) or a close or time-out (false).
fn probe_answered(s: &mut TcpStream) -> bool {
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return false;
        }
        let len = i32::from_be_bytes(len);
        if !(4..=64 << 20).contains(&len) {
            return false;
        }
        let mut body = vec![0u8; len as usize];
        if s.read_exact(&mut body).is_err() {
            return false;
        }
        if i32::from_be_bytes([body[0], body[1], body[2], body[3]]) == PROBE {
            return true;
        }
    }
}

/// One fuzzing connection: each mutated frame is followed by an ApiVersions probe, and
/// the next frame goes only once the probe is answered (the broker has dealt with the
/// frame) or the broker has closed the connection (then it reconnects). Frames whose
/// length prefix lies are written on a connection of their own and left.
fn fuzz_connection(addr: std::net::SocketAddr, seeds: &[Vec<u8>], seed: u64, frames: usize, deadline: Instant) -> (usize, usize) {
    let mut rng = XorShift(seed);
    let probe = framed(&riffle::admin::client::encode_request(PROBE, "fuzz-probe", 3, &ApiVersionsRequest::default()).unwrap());
    let (mut sent, mut closed) = (0, 0);
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        // A mutated Fetch may long-poll; the probe waits behind it this long at most.
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        s
    };
    let mut stream = connect();
    while sent < frames && Instant::now() < deadline {
        let seed_frame = &seeds[rng.below(seeds.len())];
        let mut frame = framed(&mutate(&mut rng, seed_frame));
        sent += 1;
        if rng.below(32) == 0 {
            frame[..4].copy_from_slice(&[[0, 0, 0, 0], [0xff; 4], [0x7f, 0xff, 0xff, 0xff], [0, 0, 1, 0]][rng.below(4)]);
            let mut liar = connect();
            let _ = liar.write_all(&frame);
            continue;
        }
        frame.extend_from_slice(&probe);
        if stream.write_all(&frame).is_err() || !probe_answered(&mut stream) {
            closed += 1;
            stream = connect();
        }
    }
    (sent, closed)
}

#[test]
fn mutated_frames_never_hurt_the_broker() {
    let mut broker = Broker::start(&["queued.max.request.bytes=67108864", "num.partitions=1"]);
    let seeds = seed_frames();
    assert!(seeds.len() > 1500);
    let deadline = Instant::now() + Duration::from_secs(120);
    let workers: Vec<_> = (0..4u64)
        .map(|i| {
            let seeds = seeds.clone();
            let addr = broker.addr;
            std::thread::spawn(move || fuzz_connection(addr, &seeds, 0x9e37_79b9_7f4a_7c15 ^ (i + 1), 50_000, deadline))
        })
        .collect();
    let (mut sent, mut closed) = (0, 0);
    for w in workers {
        let (s, c) = w.join().unwrap();
        sent += s;
        closed += c;
    }
    eprintln!("fuzzer: {sent} frames sent, {closed} connections closed by the broker");
    assert!(sent > 1000 && closed > 100, "the fuzzer barely ran: {sent} sent, {closed} closed");
    still_serving(&mut broker);
    let peak = peak_rss_kib(broker.pid());
    eprintln!("fuzzer: broker peak RSS {peak} KiB");
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");

    // A stock client still produces and consumes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use rskafka::client::partition::{Compression, UnknownTopicHandling};
        use rskafka::client::ClientBuilder;
        use rskafka::record::Record;
        let client = ClientBuilder::new(vec![broker.addr.to_string()]).build().await.unwrap();
        let topic = "after-the-fuzzer";
        let _ = client.controller_client().unwrap().create_topic(topic, 1, 1, 5_000).await;
        let p = client.partition_client(topic, 0, UnknownTopicHandling::Retry).await.unwrap();
        let record = Record { key: Some(b"k".to_vec()), value: Some(b"still here".to_vec()), headers: Default::default(), timestamp: chrono::Utc::now() };
        // The fuzzer may have created this topic already (any name can come out of it).
        let offsets = p.produce(vec![record], Compression::NoCompression).await.unwrap();
        let (records, _) = p.fetch_records(offsets[0], 1..1_000_000, 1_000).await.unwrap();
        assert_eq!(records[0].record.value.as_deref(), Some(&b"still here"[..]));
    });
    // And so does kcat (librdkafka), where `make test` has installed it.
    if let Ok(mut producer) = std::process::Command::new("kcat")
        .args(["-b", &broker.addr.to_string(), "-P", "-t", "after-the-fuzzer-kcat", "-X", "topic.metadata.refresh.interval.ms=100"])
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        producer.stdin.take().unwrap().write_all(b"one\ntwo\n").unwrap();
        assert!(producer.wait().unwrap().success(), "kcat could not produce");
        let out = std::process::Command::new("kcat")
            .args(["-b", &broker.addr.to_string(), "-C", "-t", "after-the-fuzzer-kcat", "-o", "beginning", "-e", "-q"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n", "kcat read back {:?}", out);
    } else {
        eprintln!("kcat is not installed: only rskafka checked after the fuzzer");
    }
    broker.stop();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_riffle")).args(["verify-logs", "--log-dirs"]).arg(&broker.data).output().unwrap();
    assert!(out.status.success(), "verify-logs: {}", String::from_utf8_lossy(&out.stderr));
}

/// A well-formed request can ask for absurd work too: CreateTopics with two billion
/// partitions once sized a vector from that count. Kafka's controller refuses more than
/// 10,000 new partitions per request with POLICY_VIOLATION; so does Riffle.
#[test]
fn a_request_for_billions_of_partitions_is_refused_as_kafka_refuses_it() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    const POLICY_VIOLATION: i16 = 44;
    let mut broker = Broker::start(&[]);
    let mut c = broker.client();
    let topic = |name: &str, partitions: i32| {
        let mut t = CreatableTopic::default();
        t.name = TopicName(StrBytes::from_string(name.into()));
        t.num_partitions = partitions;
        t.replication_factor = 1;
        t
    };
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![topic("huge", i32::MAX), topic("small", 1)];
    let resp = c.call(7, &req);
    assert!(resp.topics.iter().all(|t| t.error_code == POLICY_VIOLATION), "{:?}", resp.topics);
    // Within the limit, a topic is created; growing it past the limit is refused.
    req.topics = vec![topic("small", 1)];
    assert_eq!(c.call(7, &req).topics[0].error_code, 0);
    let mut grow = CreatePartitionsTopic::default();
    grow.name = TopicName(StrBytes::from_string("small".into()));
    grow.count = i32::MAX;
    let mut req = CreatePartitionsRequest::default();
    req.topics = vec![grow];
    req.timeout_ms = 5_000;
    assert_eq!(c.call(3, &req).results[0].error_code, POLICY_VIOLATION);
    still_serving(&mut broker);
}
