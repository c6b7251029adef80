//! The request loop over a stream that is not a TCP socket, with a handler that is not
//! Kafka's: what TLS and other transports will plug into.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connection::{self, ConnectionLimits};
use super::handler::RequestHandler;
use super::memory_pool::MemoryPool;
use super::response::ResponseFrame;
use super::session::{Session, ANONYMOUS};
use super::transport::Copying;
use crate::common::shutdown;
use crate::config::{ListenerConfig, SecurityProtocol};

/// Answers every frame with the frame, prefixed by the listener's name.
struct Echo;

impl RequestHandler for Echo {
    type Error = std::convert::Infallible;

    async fn handle<'a>(&'a self, session: &'a Session, frame: Bytes) -> Result<Option<ResponseFrame>, Self::Error> {
        let mut out = BytesMut::new();
        let body_len = session.listener_name().len() + frame.len();
        out.put_i32(body_len as i32);
        out.put_slice(session.listener_name().as_bytes());
        out.put_slice(&frame);
        Ok(Some(out.into()))
    }
}

fn session() -> Session {
    let listener = ListenerConfig {
        name: "INTERNAL".into(),
        security_protocol: SecurityProtocol::Plaintext,
        bind: "127.0.0.1:0".parse().unwrap(),
        advertised_host: "127.0.0.1".into(),
        advertised_port: 0,
        advertised_explicitly: false,
    };
    Session::new(Arc::new(listener), "127.0.0.1:5555".parse().unwrap())
}

#[tokio::test]
async fn the_request_loop_runs_over_any_stream_and_closes_at_shutdown() {
    let (client, server) = tokio::io::duplex(1024);
    let (trigger, signal) = shutdown::channel();
    let limits = ConnectionLimits { max_request_bytes: 1024, pool: MemoryPool::new(None) };
    let s = session();
    assert_eq!(s.principal(), ANONYMOUS);
    let task = tokio::spawn(connection::serve(Copying(server), s, Arc::new(Echo), limits, signal));
    let (mut r, mut w) = tokio::io::split(client);
    for body in [&b"first request"[..], b"second"] {
        w.write_all(&(body.len() as i32).to_be_bytes()).await.unwrap();
        w.write_all(body).await.unwrap();
        let len = r.read_i32().await.unwrap() as usize;
        let mut got = vec![0; len];
        r.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [b"INTERNAL".as_slice(), body].concat());
    }
    trigger.fire();
    task.await.unwrap();
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).await.unwrap(), 0, "the server closed the connection");
}
