//! Hostile and malformed input against a real broker process: every case gets the Kafka
//! error code Kafka gives, or a closed connection; the broker keeps serving and stored
//! data stays intact.

mod common;

use std::io::Write;

use common::{record_batch, Broker, Client};
use kafka_protocol::messages::api_versions_response::ApiVersionsResponse;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, CreateTopicsRequest, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};

const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;

fn create_topic(c: &mut Client, name: &str) {
    let mut t = kafka_protocol::messages::create_topics_request::CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.into()));
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    let resp = c.call(7, &req);
    assert_eq!(resp.topics[0].error_code, 0);
}

fn produce(c: &mut Client, topic: &str, records: bytes::Bytes) -> (i16, i64) {
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = TopicName(StrBytes::from_string(topic.into()));
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 5000;
    req.topic_data = vec![t];
    let resp = c.call(9, &req);
    let pr = &resp.responses[0].partition_responses[0];
    (pr.error_code, pr.base_offset)
}

fn fetch_all(c: &mut Client, topic: &str) -> bytes::Bytes {
    let mut p = kafka_protocol::messages::fetch_request::FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = 0;
    p.partition_max_bytes = 1 << 20;
    let mut t = kafka_protocol::messages::fetch_request::FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.into()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.max_wait_ms = 0;
    req.max_bytes = 1 << 20;
    req.topics = vec![t];
    let resp = c.call(12, &req);
    let pd = &resp.responses[0].partitions[0];
    assert_eq!(pd.error_code, 0);
    pd.records.clone().unwrap_or_default()
}

/// Sends raw bytes on a fresh connection and expects the broker to close it.
fn expect_close(b: &Broker, bytes: &[u8]) {
    let mut c = b.client();
    c.stream.write_all(bytes).unwrap();
    assert!(c.closed_by_broker(), "broker kept the connection open after {:?}", &bytes[..bytes.len().min(16)]);
}

fn header(api_key: i16, version: i16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(api_key.to_be_bytes());
    v.extend(version.to_be_bytes());
    v.extend(7i32.to_be_bytes()); // correlation id
    v.extend((-1i16).to_be_bytes()); // null client id
    v
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn hostile_input_never_hurts_the_broker_or_its_data() {
    let mut broker = Broker::start(&["message.max.bytes=2000"]);
    let mut c = broker.client();
    create_topic(&mut c, "safe");
    let good = record_batch(&[b"one", b"two", b"three"], None);
    assert_eq!(produce(&mut c, "safe", good.clone()), (0, 0));
    let stored = fetch_all(&mut c, "safe");

    // Garbage that is not a Kafka frame at all (an HTTP request: its "length" is huge).
    expect_close(&broker, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // A length prefix over socket.request.max.bytes (100 MiB).
    expect_close(&broker, &(200 * 1024 * 1024i32).to_be_bytes());
    // A negative length prefix.
    expect_close(&broker, &(-5i32).to_be_bytes());
    // A frame too short to hold a request header.
    expect_close(&broker, &framed(&[0, 3]));
    // An unknown API key.
    expect_close(&broker, &framed(&header(9999, 0)));
    // An API the broker does not serve (SaslHandshake).
    expect_close(&broker, &framed(&header(ApiKey::SaslHandshake as i16, 1)));
    // A Produce version below the supported floor (v3).
    expect_close(&broker, &framed(&header(ApiKey::Produce as i16, 1)));
    // A valid header followed by a truncated body.
    let mut body = header(ApiKey::Metadata as i16, 4);
    body.extend([0, 0, 0, 9, 0]);
    expect_close(&broker, &framed(&body));
    // A frame cut off mid-way by the client.
    {
        let mut t = broker.client();
        t.stream.write_all(&100i32.to_be_bytes()).unwrap();
        t.stream.write_all(&[1, 2, 3]).unwrap();
    }

    // ApiVersions at a version above ours: UNSUPPORTED_VERSION plus our table, in v0.
    let mut v = broker.client();
    v.send_frame(&header(ApiKey::ApiVersions as i16, 99));
    let mut frame = v.read_frame().expect("an ApiVersions answer");
    assert_eq!(i32::from_be_bytes(frame[..4].try_into().unwrap()), 7);
    let _ = bytes::Buf::advance(&mut frame, 4);
    let resp = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
    assert!(resp.api_keys.iter().any(|k| k.api_key == ApiKey::Produce as i16));
    // The connection stays usable.
    let ok = v.call(3, &ApiVersionsRequest::default());
    assert_eq!(ok.error_code, 0);

    // A batch with a wrong CRC.
    let mut bad_crc = good.to_vec();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    assert_eq!(produce(&mut c, "safe", bad_crc.into()).0, CORRUPT_MESSAGE);
    // Lengths that do not add up: the batch claims more bytes than were sent.
    let mut short = good.to_vec();
    short.truncate(short.len() - 4);
    assert_eq!(produce(&mut c, "safe", short.into()).0, CORRUPT_MESSAGE);
    // ... or fewer (a batch header whose length is below the header size).
    let mut tiny = good.to_vec();
    tiny[8..12].copy_from_slice(&10i32.to_be_bytes());
    assert_eq!(produce(&mut c, "safe", tiny.into()).0, CORRUPT_MESSAGE);
    // Two batches in one partition's records (Kafka allows exactly one).
    let mut two = good.to_vec();
    two.extend_from_slice(&good);
    assert_eq!(produce(&mut c, "safe", two.into()).0, INVALID_RECORD);
    // An old-format (magic 1) batch.
    let mut magic = good.to_vec();
    magic[16] = 1;
    assert_eq!(produce(&mut c, "safe", magic.into()).0, INVALID_RECORD);
    // Records inside a batch whose CRC is right but whose structure is not (a key length
    // past its record): Kafka's validator walks them and answers INVALID_RECORD.
    let mut lying = good.to_vec();
    let first_key_len = riffle::log::batch::HEADER_SIZE + 4; // length, attributes, ts, offset
    lying[first_key_len] = 0x7e;
    let crc = riffle::log::batch::compute_crc(&lying);
    lying[riffle::log::batch::CRC..riffle::log::batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(produce(&mut c, "safe", lying.into()).0, INVALID_RECORD);
    // A batch over message.max.bytes.
    let big = vec![b'x'; 3000];
    assert_eq!(produce(&mut c, "safe", record_batch(&[&big], None)).0, MESSAGE_TOO_LARGE);

    // Still alive, still serving new connections, stored data unchanged.
    assert!(broker.alive());
    let mut after = broker.client();
    assert_eq!(fetch_all(&mut after, "safe"), stored);
    assert_eq!(produce(&mut after, "safe", good).0, 0);
    broker.stop();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["verify-logs", "--log-dirs"])
        .arg(&broker.data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
