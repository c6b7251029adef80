//! A client request frame (header and body, no length prefix), decoded and dispatched
//! as the connection loop does, to the handlers of a real in-process broker.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use riffle::common::SystemClock;
use riffle::config::BrokerConfig;
use riffle::net::Session;
use riffle::server::Server;

struct Harness {
    rt: tokio::runtime::Runtime,
    server: Server,
    session: Session,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut props = BTreeMap::new();
        props.insert("log.dirs".to_string(), dir.path().display().to_string());
        props.insert("listeners".to_string(), "PLAINTEXT://127.0.0.1:0".to_string());
        props.insert("num.partitions".to_string(), "1".to_string());
        let (config, _) = BrokerConfig::from_map(props).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let listener = Arc::new(config.listeners[0].clone());
        let server = rt.block_on(Server::start(config, riffle::storage::local(), SystemClock::shared())).unwrap();
        let session = Session::new(listener, "127.0.0.1:1".parse().unwrap());
        Harness { rt, server, session, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let frame = Bytes::copy_from_slice(data);
    h.rt.block_on(async {
        // The clock is paused: a long poll ends as soon as nothing else can run.
        let _ = tokio::time::timeout(Duration::from_secs(60), riffle::api::handle_frame(h.server.services(), &h.session, frame)).await;
    });
});
