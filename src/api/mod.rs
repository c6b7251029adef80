//! Request dispatch: API key + version → handler. The table of handlers below is the
//! only list of supported APIs; ApiVersions advertises exactly what it holds.

pub mod acls;
pub mod alter_configs;
pub mod alter_replica_log_dirs;
pub mod api_versions;
pub mod authz;
pub mod client_quotas;
pub mod consumer_group;
pub mod create_partitions;
pub mod create_topics;
pub mod delegation_tokens;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod group_admin;
pub mod group_membership;
pub mod init_producer_id;
pub mod list_config_resources;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod offsets_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod quota;
pub mod sasl;
pub mod scram_credentials;
pub mod security_records;
pub mod services;
pub mod topic_admin;
pub mod throttle_time;
pub mod transactions;
pub mod unregister_broker;
pub mod update_features;

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use kafka_protocol::messages::{self as m, ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, Message, Request, VersionRange};
use thiserror::Error;

use crate::net::response::{Placeholders, ResponseFrame, SpliceBuf};
use crate::net::{RequestHandler, Session};

pub use services::Services;

/// Why a request could not be answered; the connection is closed after logging it, as
/// Kafka does for requests it cannot parse.
#[derive(Debug, Error)]
pub enum RequestError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("API {0:?} is not supported by this broker")]
    UnsupportedApi(ApiKey),
    #[error("{api:?} v{version} is not supported (supported {range})")]
    UnsupportedVersion { api: ApiKey, version: i16, range: VersionRange },
    #[error("malformed {api:?} v{version} request: {source}")]
    Malformed { api: ApiKey, version: i16, source: crate::wire::WireError },
    #[error("could not encode {api:?} v{version} response: {source}")]
    Encode { api: ApiKey, version: i16, source: anyhow::Error },
    #[error("{api:?} refused: {reason}")]
    Unauthenticated { api: ApiKey, reason: &'static str },
    #[error("SASL authentication failed: {0}")]
    Authentication(String),
}

/// What a handler sees besides its request: the services, the connection's session
/// (listener, principal, client address) and the request header.
pub struct RequestContext<'a> {
    pub services: &'a Services,
    pub session: &'a Session,
    pub header: &'a RequestHeader,
    pub version: i16,
    /// Set by a handler whose request is another node's (a follower's Fetch): it is not
    /// held to the client's request_percentage.
    pub from_replica: std::sync::atomic::AtomicBool,
}

/// What a handler answers: the response body, plus (for Fetch) the file ranges that
/// placeholders in it stand for.
pub struct Reply<R> {
    pub body: R,
    pub placeholders: Placeholders,
}

pub trait IntoReply<R> {
    fn into_reply(self) -> Option<Reply<R>>;
}

impl<R> IntoReply<R> for R {
    fn into_reply(self) -> Option<Reply<R>> {
        Some(Reply { body: self, placeholders: Placeholders::default() })
    }
}

/// `None`: the request gets no response (Produce with acks=0).
impl<R> IntoReply<R> for Option<R> {
    fn into_reply(self) -> Option<Reply<R>> {
        self.map(|body| Reply { body, placeholders: Placeholders::default() })
    }
}

impl<R> IntoReply<R> for Reply<R> {
    fn into_reply(self) -> Option<Reply<R>> {
        Some(self)
    }
}

/// Encodes a complete response frame: length prefix, response header, body (with file
/// ranges spliced in where their placeholders are).
fn encode_frame<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, reply: Reply<R>) -> Result<ResponseFrame, RequestError> {
    let header_version = api.response_header_version(version);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let enc = |source| RequestError::Encode { api, version, source };
    let header_size = header.compute_size(header_version).map_err(enc)?;
    let size = header_size + reply.body.compute_size(version).map_err(enc)?;
    let mut buf = SpliceBuf::new(4 + header_size + 1024, reply.placeholders);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(enc)?;
    reply.body.encode(&mut buf, version).map_err(enc)?;
    Ok(buf.finish())
}

/// Awaits `f`; with `measure`, also the time its polls took (the thread time it used,
/// not its waits), which request_percentage quotas are measured in.
async fn busy_time<F: std::future::Future>(f: F, measure: bool) -> (F::Output, Option<std::time::Duration>) {
    if !measure {
        return (f.await, None);
    }
    let mut f = std::pin::pin!(f);
    let mut busy = std::time::Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let started = std::time::Instant::now();
        let r = f.as_mut().poll(cx);
        busy += started.elapsed();
        r
    })
    .await;
    (out, Some(busy))
}

macro_rules! api_table {
    ($($key:ident => $handler:path : $req:ty),* $(,)?) => {
        /// Every API this broker answers, with the versions it answers.
        pub fn supported_apis() -> Vec<(ApiKey, VersionRange)> {
            vec![$((ApiKey::$key, <$req as Message>::VERSIONS)),*]
        }

        async fn dispatch(ctx: &RequestContext<'_>, api: ApiKey, body: &mut Bytes) -> Result<Option<ResponseFrame>, RequestError> {
            use self::throttle_time::ThrottleTime;
            let version = ctx.version;
            match api {
                $(ApiKey::$key => {
                    let req = crate::wire::decode_request::<$req>(body, version).map_err(|source| RequestError::Malformed { api, version, source })?;
                    let (reply, busy) = busy_time($handler(ctx, req), ctx.services.security.has_quotas()).await;
                    let mut reply: Option<Reply<<$req as Request>::Response>> = reply.into_reply();
                    if let Some(busy) = busy {
                        let ms = ctx.request_throttle(api, busy, ctx.from_replica.load(std::sync::atomic::Ordering::Relaxed));
                        if let Some(r) = reply.as_mut() {
                            r.body.throttle_at_least(ms);
                        }
                    }
                    reply.map(|r| encode_frame(api, version, ctx.header.correlation_id, r)).transpose()
                })*
                other => Err(RequestError::UnsupportedApi(other)),
            }
        }
    };
}

api_table! {
    ApiVersions => api_versions::handle: m::ApiVersionsRequest,
    Metadata => metadata::handle: m::MetadataRequest,
    Produce => produce::handle: m::ProduceRequest,
    Fetch => fetch::handle: m::FetchRequest,
    ListOffsets => list_offsets::handle: m::ListOffsetsRequest,
    CreateTopics => create_topics::handle: m::CreateTopicsRequest,
    DeleteTopics => delete_topics::handle: m::DeleteTopicsRequest,
    InitProducerId => init_producer_id::handle: m::InitProducerIdRequest,
    DescribeConfigs => describe_configs::handle: m::DescribeConfigsRequest,
    DescribeCluster => describe_cluster::handle: m::DescribeClusterRequest,
    FindCoordinator => find_coordinator::handle: m::FindCoordinatorRequest,
    JoinGroup => group_membership::join: m::JoinGroupRequest,
    SyncGroup => group_membership::sync: m::SyncGroupRequest,
    Heartbeat => group_membership::heartbeat: m::HeartbeatRequest,
    LeaveGroup => group_membership::leave: m::LeaveGroupRequest,
    OffsetCommit => offsets::commit: m::OffsetCommitRequest,
    OffsetFetch => offsets::fetch: m::OffsetFetchRequest,
    OffsetDelete => offsets::delete: m::OffsetDeleteRequest,
    DescribeGroups => group_admin::describe: m::DescribeGroupsRequest,
    ListGroups => group_admin::list: m::ListGroupsRequest,
    DeleteGroups => group_admin::delete: m::DeleteGroupsRequest,
    CreatePartitions => create_partitions::handle: m::CreatePartitionsRequest,
    AlterConfigs => alter_configs::alter: m::AlterConfigsRequest,
    IncrementalAlterConfigs => alter_configs::incremental: m::IncrementalAlterConfigsRequest,
    DeleteRecords => delete_records::handle: m::DeleteRecordsRequest,
    OffsetForLeaderEpoch => offsets_for_leader_epoch::handle: m::OffsetForLeaderEpochRequest,
    ElectLeaders => elect_leaders::handle: m::ElectLeadersRequest,
    DescribeLogDirs => describe_log_dirs::handle: m::DescribeLogDirsRequest,
    AlterReplicaLogDirs => alter_replica_log_dirs::handle: m::AlterReplicaLogDirsRequest,
    UpdateFeatures => update_features::handle: m::UpdateFeaturesRequest,
    ListConfigResources => list_config_resources::handle: m::ListConfigResourcesRequest,
    UnregisterBroker => unregister_broker::handle: m::UnregisterBrokerRequest,
    DescribeProducers => describe_producers::handle: m::DescribeProducersRequest,
    ListPartitionReassignments => partition_reassignments::list: m::ListPartitionReassignmentsRequest,
    AlterPartitionReassignments => partition_reassignments::alter: m::AlterPartitionReassignmentsRequest,
    DescribeQuorum => describe_quorum::handle: m::DescribeQuorumRequest,
    DescribeTopicPartitions => describe_topic_partitions::handle: m::DescribeTopicPartitionsRequest,
    DescribeAcls => acls::describe: m::DescribeAclsRequest,
    CreateAcls => acls::create: m::CreateAclsRequest,
    DeleteAcls => acls::delete: m::DeleteAclsRequest,
    CreateDelegationToken => delegation_tokens::create: m::CreateDelegationTokenRequest,
    RenewDelegationToken => delegation_tokens::renew: m::RenewDelegationTokenRequest,
    ExpireDelegationToken => delegation_tokens::expire: m::ExpireDelegationTokenRequest,
    DescribeDelegationToken => delegation_tokens::describe: m::DescribeDelegationTokenRequest,
    AddPartitionsToTxn => transactions::add_partitions: m::AddPartitionsToTxnRequest,
    AddOffsetsToTxn => transactions::add_offsets: m::AddOffsetsToTxnRequest,
    EndTxn => transactions::end_txn: m::EndTxnRequest,
    WriteTxnMarkers => transactions::write_markers: m::WriteTxnMarkersRequest,
    TxnOffsetCommit => transactions::txn_offset_commit: m::TxnOffsetCommitRequest,
    DescribeTransactions => transactions::describe: m::DescribeTransactionsRequest,
    ListTransactions => transactions::list: m::ListTransactionsRequest,
    ConsumerGroupHeartbeat => consumer_group::heartbeat: m::ConsumerGroupHeartbeatRequest,
    ConsumerGroupDescribe => consumer_group::describe: m::ConsumerGroupDescribeRequest,
    SaslHandshake => sasl::handshake: m::SaslHandshakeRequest,
    SaslAuthenticate => sasl::authenticate: m::SaslAuthenticateRequest,
    DescribeUserScramCredentials => scram_credentials::describe: m::DescribeUserScramCredentialsRequest,
    AlterUserScramCredentials => scram_credentials::alter: m::AlterUserScramCredentialsRequest,
    DescribeClientQuotas => client_quotas::describe: m::DescribeClientQuotasRequest,
    AlterClientQuotas => client_quotas::alter: m::AlterClientQuotasRequest,
}

/// The supported version range of `api`, if it is supported at all.
pub fn version_range(api: ApiKey) -> Option<VersionRange> {
    supported_apis().into_iter().find(|(k, _)| *k == api).map(|(_, r)| r)
}

/// Whether this node serves `api`: DescribeQuorum needs a metadata quorum, which a
/// single broker does not have (it neither advertises nor answers it).
pub fn served(api: ApiKey, services: &Services) -> bool {
    api != ApiKey::DescribeQuorum || services.cluster().is_some()
}

/// Answers one request frame (without its length prefix). `Ok(None)` means the request
/// takes no response (Produce with acks=0).
pub async fn handle_frame(services: &Services, session: &Session, frame: Bytes) -> Result<Option<ResponseFrame>, RequestError> {
    if session.authentication().expects_raw_token() {
        return sasl::raw_token(services, session, &frame).await.map(Some);
    }
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(key).map_err(|_| RequestError::UnknownApiKey(key))?;
    sasl::admit(services, session, api)?;
    let range = version_range(api).filter(|_| served(api, services)).ok_or(RequestError::UnsupportedApi(api))?;
    if version < range.min || version > range.max {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer with our table in a v0 body so the client can pick a version.
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let body = api_versions::unsupported_version_response(services);
            return encode_frame(api, 0, correlation_id, body.into_reply().expect("a body")).map(Some);
        }
        return Err(RequestError::UnsupportedVersion { api, version, range });
    }
    let mut body = frame;
    let header = crate::wire::decode_request_header(&mut body, api.request_header_version(version))
        .map_err(|source| RequestError::Malformed { api, version, source })?;
    let ctx = RequestContext { services, session, header: &header, version, from_replica: Default::default() };
    dispatch(&ctx, api, &mut body).await
}

/// The request handler the server gives every connection.
pub struct ApiHandler {
    pub services: Arc<Services>,
}

impl RequestHandler for ApiHandler {
    type Error = RequestError;

    fn handle<'a>(&'a self, session: &'a Session, frame: Bytes) -> impl std::future::Future<Output = Result<Option<ResponseFrame>, RequestError>> + Send + 'a {
        handle_frame(&self.services, session, frame)
    }
}
