//! Request frames recorded from real clients (kcat, confluent-kafka, kafka-python,
//! kafkajs; see `capture_all.sh`) are decoded and replayed, in order, against a real
//! broker, and each answer is checked. Responses that old clients parse strictly
//! (ApiVersions v0 and v3, as Debian's kcat reads them) are pinned byte for byte.
//!
//! Requests that carry topic ids get the ids of the replay broker's topics, mapped by
//! name through `topics.txt` (the ids the capture broker assigned); Fetch waits are
//! set to zero so that replay does not long-poll.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::{Broker, Client};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use uuid::Uuid;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/fixtures")
}

/// Frames of one client session, in capture order.
fn frames(client: &str) -> Vec<(String, Bytes)> {
    let dir = fixtures().join(client);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), Bytes::from(std::fs::read(&p).unwrap()))).collect()
}

/// Captured topic id → topic name.
fn captured_ids(client: &str) -> HashMap<Uuid, String> {
    let path = fixtures().join(client).join("topics.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(name, id)| Some((riffle::common::topic_id::parse(id)?, name.trim().to_string())))
        .collect()
}

struct Replay {
    client: Client,
    addr: std::net::SocketAddr,
    captured: HashMap<Uuid, String>,
    name: String,
}

impl Replay {
    fn current_id(&mut self, old: Uuid) -> Uuid {
        let Some(name) = self.captured.get(&old).cloned() else { return old };
        let mut t = MetadataRequestTopic::default();
        t.name = Some(TopicName(StrBytes::from_string(name)));
        let mut req = MetadataRequest::default();
        req.topics = Some(vec![t]);
        req.allow_auto_topic_creation = false;
        let resp = self.client.call(12, &req);
        resp.topics.first().map(|t| t.topic_id).filter(|id| !id.is_nil()).unwrap_or(old)
    }

    /// Decodes a recorded request (all of its bytes), returning it.
    fn decode<R: Request>(&self, file: &str, frame: &Bytes, version: i16) -> R {
        let mut body = frame.clone();
        let api = ApiKey::try_from(R::KEY).unwrap();
        RequestHeader::decode(&mut body, api.request_header_version(version)).unwrap_or_else(|e| panic!("{}/{file}: header: {e}", self.name));
        // Kafka ignores bytes after the last field, and so does the broker: current
        // librdkafka leaves 3 after its Metadata v13 request for all topics.
        R::decode(&mut body, version).unwrap_or_else(|e| panic!("{}/{file}: decode: {e}", self.name))
    }

    fn step(&mut self, file: &str, frame: &Bytes) {
        let key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let api = ApiKey::try_from(key).unwrap_or_else(|_| panic!("{file}: unknown api key {key}"));
        let ctx = format!("{}/{file}", self.name);
        let range = riffle::api::version_range(api).unwrap_or_else(|| panic!("{ctx}: {api:?} is not served"));
        if version < range.min || version > range.max {
            // Below Kafka 4's floors (KIP-896): the broker logs and closes, as Kafka does.
            self.client.send_frame(frame);
            assert!(self.client.closed_by_broker(), "{ctx}: unsupported version answered");
            self.client = Client::connect(self.addr);
            return;
        }
        match api {
            ApiKey::ApiVersions => {
                let req: ApiVersionsRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                assert_eq!(r.error_code, 0, "{ctx}");
                assert!(r.api_keys.iter().any(|k| k.api_key == ApiKey::Fetch as i16), "{ctx}");
            }
            ApiKey::Metadata => {
                let mut req: MetadataRequest = self.decode(file, frame, version);
                if let Some(topics) = req.topics.as_mut() {
                    for t in topics.iter_mut().filter(|t| t.name.is_none()) {
                        t.topic_id = self.current_id(t.topic_id);
                    }
                }
                let r = self.client.call(version, &req);
                assert_eq!(r.brokers.len(), 1, "{ctx}");
                for t in &r.topics {
                    // Deleted or not-yet-created topics may be asked about.
                    assert!(matches!(t.error_code, 0 | 3 | 100), "{ctx}: topic error {}", t.error_code);
                    if t.error_code == 0 {
                        assert!(!t.partitions.is_empty(), "{ctx}");
                    }
                }
            }
            ApiKey::CreateTopics => {
                let req: CreateTopicsRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                for t in &r.topics {
                    // The sessions also try an invalid config on purpose: INVALID_CONFIG
                    // must then name the offending key.
                    let invalid_config = t.error_code == 40 && t.error_message.as_ref().is_some_and(|m| m.contains("configuration"));
                    assert!(matches!(t.error_code, 0 | 36) || invalid_config, "{ctx}: {:?} {:?}", t.error_code, t.error_message);
                }
            }
            ApiKey::DeleteTopics => {
                let mut req: DeleteTopicsRequest = self.decode(file, frame, version);
                for t in req.topics.iter_mut().filter(|t| t.name.is_none()) {
                    t.topic_id = self.current_id(t.topic_id);
                }
                let r = self.client.call(version, &req);
                for t in &r.responses {
                    assert!(matches!(t.error_code, 0 | 3 | 100), "{ctx}: {}", t.error_code);
                }
            }
            ApiKey::Produce => {
                let mut req: ProduceRequest = self.decode(file, frame, version);
                for t in req.topic_data.iter_mut() {
                    t.topic_id = self.current_id(t.topic_id);
                }
                if req.acks == 0 {
                    let body = self.client.encode(version, &req);
                    self.client.send_frame(&body);
                    return;
                }
                let r = self.client.call(version, &req);
                for t in &r.responses {
                    for p in &t.partition_responses {
                        assert_eq!(p.error_code, 0, "{ctx}: {:?}", p.error_message);
                        assert!(p.base_offset >= 0, "{ctx}");
                    }
                }
            }
            ApiKey::Fetch => {
                let mut req: FetchRequest = self.decode(file, frame, version);
                req.max_wait_ms = 0;
                req.session_id = 0;
                req.session_epoch = -1;
                for t in req.topics.iter_mut() {
                    t.topic_id = self.current_id(t.topic_id);
                }
                let r = self.client.call(version, &req);
                assert_eq!(r.error_code, 0, "{ctx}");
                for t in &r.responses {
                    for p in &t.partitions {
                        assert!(matches!(p.error_code, 0 | 1), "{ctx}: fetch error {}", p.error_code);
                        if p.error_code == 0 {
                            assert!(p.high_watermark >= 0, "{ctx}");
                        }
                    }
                }
            }
            ApiKey::ListOffsets => {
                let req: ListOffsetsRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                for t in &r.topics {
                    for p in &t.partitions {
                        assert!(matches!(p.error_code, 0 | 3), "{ctx}: {}", p.error_code);
                    }
                }
            }
            ApiKey::InitProducerId => {
                let req: InitProducerIdRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                assert_eq!(r.error_code, 0, "{ctx}");
                assert!(r.producer_id.0 >= 0, "{ctx}");
            }
            ApiKey::DescribeConfigs => {
                let req: DescribeConfigsRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                for res in &r.results {
                    assert!(matches!(res.error_code, 0 | 3), "{ctx}: {:?}", res.error_message);
                    if res.error_code == 0 {
                        assert!(!res.configs.is_empty(), "{ctx}");
                    }
                }
            }
            ApiKey::DescribeCluster => {
                let req: DescribeClusterRequest = self.decode(file, frame, version);
                let r = self.client.call(version, &req);
                assert_eq!(r.error_code, 0, "{ctx}");
                assert_eq!(r.brokers.len(), 1, "{ctx}");
            }
            other => panic!("{ctx}: a fixture for {other:?}, which the broker does not serve"),
        }
    }
}

fn replay(client: &str) {
    let all = frames(client);
    assert!(all.len() > 5, "{client}: too few fixtures");
    let broker = Broker::start(&["num.partitions=3"]);
    let mut r = Replay { client: broker.client(), addr: broker.addr, captured: captured_ids(client), name: client.to_string() };
    for (file, frame) in &all {
        r.step(file, frame);
    }
}

#[test]
fn kcat_session() {
    replay("kcat");
}

#[test]
fn confluent_kafka_session() {
    replay("confluent-kafka");
}

#[test]
fn kafka_python_session() {
    replay("kafka-python");
}

#[test]
fn kafkajs_session() {
    replay("kafkajs");
}

/// kafka-python pinned to older broker releases sends older request versions.
#[test]
fn kafka_python_older_protocol_versions() {
    let mut dirs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("kafka-python-api-"))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "{dirs:?}");
    for d in dirs {
        replay(&d);
    }
}

/// The exact response bytes for kcat's own ApiVersions requests, so that they never
/// change by accident: Debian's kcat (librdkafka 2.0.2) reads the v3 response's tagged
/// fields (the features, as Kafka 4 sends them) and decides from the Produce range
/// whether it may compress (KAFKA-18659). `RIFFLE_BLESS=1` rewrites them after a
/// deliberate change.
#[test]
fn api_versions_bytes_are_pinned() {
    let broker = Broker::start(&[]);
    let kcat = frames("kcat");
    let (_, v3_request) = kcat.iter().find(|(f, _)| f.contains("ApiVersions_v3")).expect("a kcat ApiVersions v3 fixture");
    for (version, request) in [(3i16, v3_request.clone()), (0, v0_request())] {
        let mut c = broker.client();
        c.send_frame(&request);
        let response = c.read_frame().expect("a response");
        assert_eq!(&response[..4], &request[4..8], "correlation id");
        let has = |needle: &[u8]| response.windows(needle.len()).any(|w| w == needle);
        // v3 carries the supported and finalized features (tagged fields); v0 cannot
        assert_eq!(has(b"metadata.version"), version == 3, "features in ApiVersions v{version}");
        let pinned = fixtures().join("pinned").join(format!("api_versions_v{version}.bin"));
        if std::env::var_os("RIFFLE_BLESS").is_some() {
            std::fs::create_dir_all(pinned.parent().unwrap()).unwrap();
            std::fs::write(&pinned, &response).unwrap();
        }
        let want = std::fs::read(&pinned).unwrap_or_else(|e| panic!("{}: {e} (run with RIFFLE_BLESS=1 to create)", pinned.display()));
        assert_eq!(&response[..], &want[..], "ApiVersions v{version} response bytes changed");
    }
}

/// An ApiVersions v0 request as librdkafka sends it when falling back (header v1).
fn v0_request() -> Bytes {
    let mut b = Vec::new();
    b.extend(18i16.to_be_bytes());
    b.extend(0i16.to_be_bytes());
    b.extend(1i32.to_be_bytes());
    let id = b"rdkafka";
    b.extend((id.len() as i16).to_be_bytes());
    b.extend(id);
    Bytes::from(b)
}
