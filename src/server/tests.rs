//! A node built in-process: its listeners, what it answers on each, and its shutdown.

use kafka_protocol::messages::{MetadataRequest, MetadataResponse};

use super::*;
use crate::admin::client::Client;
use crate::common::SystemClock;

/// A Metadata answer, and the connection it came on (left open).
fn metadata(addr: SocketAddr) -> (MetadataResponse, Client) {
    let mut c = Client::connect(addr).unwrap();
    let resp = c.call(12, &MetadataRequest::default()).unwrap();
    (resp, c)
}

/// Every named listener is served, and Metadata names this broker by the address of
/// the listener the request came in on, as Kafka does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listener_is_served_and_advertises_itself() {
    let dir = tempfile::tempdir().unwrap();
    let props = [
        ("log.dirs", dir.path().to_str().unwrap()),
        ("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"),
        ("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
    ];
    let (config, _) = BrokerConfig::from_map(props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap();
    let server = Server::start(config, crate::storage::local(), SystemClock::shared()).await.unwrap();
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 2);
    let (trigger, mut stopped) = crate::common::shutdown::channel();
    let running = tokio::spawn(server.run_until(async move { stopped.wait().await }));
    let mut open = Vec::new();
    for addr in addrs.clone() {
        let (resp, client) = tokio::task::spawn_blocking(move || metadata(addr)).await.unwrap();
        let ports: Vec<i32> = resp.brokers.iter().map(|b| b.port).collect();
        assert_eq!(ports, vec![addr.port() as i32], "the broker advertises the listener that was asked");
        open.push(client);
    }
    // Open connections, idle after their request, do not hold shutdown up: they are
    // closed between requests.
    trigger.fire();
    // (A generous bound, so that a hang fails the test instead of stalling the suite.)
    tokio::time::timeout(Duration::from_secs(60), running).await.expect("shut down").unwrap();
    for c in &open {
        let mut buf = [0u8; 1];
        use std::io::Read;
        assert_eq!((&c.stream).read(&mut buf).unwrap(), 0, "the idle connection was closed");
    }
    assert!(std::net::TcpStream::connect(addrs[1]).is_err(), "listeners are closed");
}
