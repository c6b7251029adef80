//! Shared by the wire tests: a real broker process on a free loopback port, and a
//! minimal blocking client that speaks the protocol through `kafka-protocol`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

/// A broker process; killed when dropped.
pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Every line the broker logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Broker {
    /// Starts a broker on 127.0.0.1 with a fresh data directory.
    pub fn start(overrides: &[&str]) -> Broker {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().to_path_buf();
        let mut b = Broker::start_in(&data, overrides);
        b._tmp = Some(tmp);
        b
    }

    /// Starts a broker on an existing data directory (for restarts).
    pub fn start_in(data: &Path, overrides: &[&str]) -> Broker {
        let args: Vec<String> = overrides.iter().flat_map(|o| ["--override".to_string(), o.to_string()]).collect();
        Broker::spawn(data, &args)
    }

    /// Starts a broker with its settings in a server.properties file.
    pub fn start_with_config(data: &Path, config: &Path) -> Broker {
        Broker::spawn(data, &["--config".to_string(), config.display().to_string()])
    }

    fn spawn(data: &Path, args: &[String]) -> Broker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_riffle"));
        cmd.arg("serve").args(args);
        // A test naming its own listeners gets them (the first is the one reported).
        if !args.iter().any(|a| a.starts_with("listeners=")) {
            cmd.args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"]);
        }
        cmd.args(["--override", &format!("log.dirs={}", data.display())]);
        let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn riffle");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                if !sent && line.contains("broker started") {
                    let addr = line.split("listener=").nth(1).and_then(|s| s.split_whitespace().next()).map(String::from);
                    let _ = tx.send(addr);
                    sent = true;
                }
                if std::env::var_os("RIFFLE_TEST_LOG").is_some() {
                    eprintln!("[broker] {line}");
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("broker did not start").expect("listener address in log");
        Broker { child, addr: addr.parse().expect("socket address"), data: data.to_path_buf(), _tmp: None, log }
    }

    /// Waits (up to 30 s) until a logged line contains `needle`; returns every line
    /// logged up to and including it. The broker's log is ordered, so whatever it
    /// logged before that line is in the result.
    pub fn log_until(&self, needle: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            {
                let lines = self.log.lock().unwrap();
                if let Some(i) = lines.iter().position(|l| l.contains(needle)) {
                    return lines[..=i].to_vec();
                }
            }
            assert!(std::time::Instant::now() < deadline, "the broker never logged {needle:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it must never die on bad input).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The library's blocking client, with panics instead of errors for brevity in tests.
pub struct Client {
    inner: riffle::admin::Client,
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let inner = riffle::admin::Client::connect(addr).expect("connect");
        let stream = inner.stream.try_clone().expect("clone stream");
        Client { inner, stream }
    }

    pub fn encode<R: Request>(&mut self, version: i16, req: &R) -> BytesMut {
        self.inner.encode(version, req).expect("encode request")
    }

    pub fn send_frame(&mut self, body: &[u8]) {
        self.inner.send_frame(body).expect("send");
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        self.inner.read_frame().ok()
    }

    /// Whether the broker closed the connection (reads EOF or reset).
    pub fn closed_by_broker(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }

    pub fn decode<R: Request>(&self, version: i16, frame: Bytes) -> R::Response {
        self.inner.decode::<R>(version, frame).expect("decode response")
    }

    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        self.inner.call(version, req).expect("call")
    }
}

/// An uncompressed v2 batch of `values` with keys `k<i>` and a header.
pub fn record_batch(values: &[&[u8]], producer: Option<(i64, i16, i32)>) -> Bytes {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    encode_batch(values, producer, Compression::None, |_| now)
}

/// A v2 batch with the given codec and per-record timestamps.
pub fn encode_batch(values: &[&[u8]], producer: Option<(i64, i16, i32)>, compression: Compression, timestamp: impl Fn(usize) -> i64) -> Bytes {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when offset - sequence changes.
            sequence: seq + i as i32,
            timestamp: timestamp(i),
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::copy_from_slice(v)),
            headers: IndexMap::from([(StrBytes::from_static_str("h"), Some(Bytes::from_static(b"v")))]),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression }).expect("encode batch");
    buf.freeze()
}
