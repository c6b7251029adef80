//! The controller RPC transport, on the CONTROLLER listener: openraft's messages between
//! quorum members, plus what brokers send the controller (metadata writes and
//! heartbeats). A frame is a 4-byte big-endian length and a JSON body; a connection
//! carries one request at a time, after the listener's TLS and SASL (`net::peer`).

use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::common::SharedClock;
use crate::net::frame::FrameError;
use crate::net::peer::{self, PeerConnection};
use crate::security::client::PeerSecurity;
use super::command::{BrokerEndpoint, Command, CommandResult};
use super::TypeConfig;

/// Largest controller RPC frame accepted (snapshot chunks are far smaller).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A metadata record to commit (only the active controller takes it).
    Write(Command),
    /// A broker is alive; the active controller registers or unfences it as needed.
    Heartbeat(BrokerEndpoint),
    /// A broker without the controller role follows the metadata: the image once its
    /// applied index is past `after`.
    FetchImage { after: u64 },
    /// DescribeQuorum, answered by the active controller.
    DescribeQuorum,
}

/// How a write or heartbeat sent to a controller went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WriteOutcome {
    Done(CommandResult),
    /// This controller is not the active one; it names the one it knows, if any.
    NotLeader(Option<u64>),
    Failed(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Write(WriteOutcome),
    /// (applied index, image), or `None` when nothing newer came within the wait.
    Image(Option<(u64, super::image::MetadataImage)>),
}

pub async fn write_frame<T: Serialize, S: AsyncWrite + Unpin>(stream: &mut S, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await
}

pub async fn read_frame<T: for<'de> Deserialize<'de>, S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<T> {
    let body = crate::net::frame::read_frame(stream, MAX_FRAME_BYTES).await.map_err(|e| match e {
        FrameError::Closed => io::Error::from(io::ErrorKind::UnexpectedEof),
        FrameError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// How a node reaches the controllers: their listener's security, and the clock an
/// OAuth token is dated by.
#[derive(Clone)]
pub struct RpcSecurity {
    pub peer: Arc<PeerSecurity>,
    pub clock: SharedClock,
}

/// One connection to a controller, reconnected after any failure (and before its SASL
/// session expires).
pub struct RpcClient {
    addr: String,
    security: RpcSecurity,
    conn: Option<PeerConnection>,
}

impl RpcClient {
    pub fn new(addr: String, security: RpcSecurity) -> Self {
        RpcClient { addr, security, conn: None }
    }

    pub async fn call(&mut self, req: &RpcRequest, timeout: Duration) -> io::Result<RpcResponse> {
        if self.conn.as_ref().is_some_and(PeerConnection::expiring) {
            self.conn = None;
        }
        let result = tokio::time::timeout(timeout, async {
            if self.conn.is_none() {
                self.conn = Some(peer::connect(&self.addr, &self.security.peer, "riffle-controller-rpc", self.security.clock.now_ms()).await?);
            }
            let s = &mut self.conn.as_mut().expect("connected above").stream;
            write_frame(s, req).await?;
            read_frame::<RpcResponse, _>(s).await
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, format!("controller RPC to {} timed out", self.addr))));
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// openraft's view of the network: one client per peer.
pub struct Network(pub RpcSecurity);

pub struct QuorumPeer {
    target: u64,
    client: RpcClient,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = QuorumPeer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> QuorumPeer {
        QuorumPeer { target, client: RpcClient::new(node.addr.clone(), self.0.clone()) }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<u64, BasicNode, RaftError<u64, E>>;

impl QuorumPeer {
    async fn send(&mut self, req: RpcRequest, option: &RPCOption) -> Result<RpcResponse, io::Error> {
        self.client.call(&req, option.hard_ttl()).await
    }
}

fn transport_error<E: std::error::Error>(e: io::Error) -> RPCError<u64, BasicNode, E> {
    if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut | io::ErrorKind::NotConnected) {
        RPCError::Unreachable(Unreachable::new(&e))
    } else {
        RPCError::Network(NetworkError::new(&e))
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&io::Error::other("unexpected controller RPC response")))
}

impl RaftNetwork<TypeConfig> for QuorumPeer {
    async fn append_entries(&mut self, rpc: AppendEntriesRequest<TypeConfig>, option: RPCOption) -> Result<AppendEntriesResponse<u64>, RpcErr> {
        match self.send(RpcRequest::AppendEntries(rpc), &option).await.map_err(transport_error)? {
            RpcResponse::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcErr<InstallSnapshotError>> {
        match self.send(RpcRequest::InstallSnapshot(rpc), &option).await.map_err(transport_error)? {
            RpcResponse::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected()),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RpcErr> {
        match self.send(RpcRequest::Vote(rpc), &option).await.map_err(transport_error)? {
            RpcResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(unexpected()),
        }
    }
}
