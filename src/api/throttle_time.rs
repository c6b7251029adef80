//! A response's `throttle_time_ms`, whatever its type: a request_percentage quota applies
//! to every API, so the dispatcher raises it on any response (a handler's own throttle,
//! a byte-rate one, stays if longer). The field is written only in the versions that
//! have it.

use kafka_protocol::messages as m;

pub trait ThrottleTime {
    fn throttle_at_least(&mut self, ms: i32);
}

macro_rules! with_throttle_time {
    ($($t:ident),* $(,)?) => {
        $(impl ThrottleTime for m::$t {
            fn throttle_at_least(&mut self, ms: i32) {
                self.throttle_time_ms = self.throttle_time_ms.max(ms);
            }
        })*
    };
}

/// Responses without the field (the SASL exchange and other nodes' requests, which no
/// request quota applies to).
macro_rules! without_throttle_time {
    ($($t:ident),* $(,)?) => {
        $(impl ThrottleTime for m::$t {
            fn throttle_at_least(&mut self, _ms: i32) {}
        })*
    };
}

with_throttle_time!(
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnResponse,
    AlterClientQuotasResponse,
    AlterConfigsResponse,
    AlterPartitionReassignmentsResponse,
    AlterReplicaLogDirsResponse,
    AlterUserScramCredentialsResponse,
    ApiVersionsResponse,
    ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatResponse,
    CreateAclsResponse,
    CreateDelegationTokenResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteAclsResponse,
    DeleteGroupsResponse,
    DeleteRecordsResponse,
    DeleteTopicsResponse,
    DescribeAclsResponse,
    DescribeClientQuotasResponse,
    DescribeClusterResponse,
    DescribeConfigsResponse,
    DescribeDelegationTokenResponse,
    DescribeGroupsResponse,
    DescribeLogDirsResponse,
    DescribeProducersResponse,
    DescribeTopicPartitionsResponse,
    DescribeTransactionsResponse,
    DescribeUserScramCredentialsResponse,
    ElectLeadersResponse,
    EndTxnResponse,
    ExpireDelegationTokenResponse,
    FetchResponse,
    FindCoordinatorResponse,
    HeartbeatResponse,
    IncrementalAlterConfigsResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    ListConfigResourcesResponse,
    ListGroupsResponse,
    ListOffsetsResponse,
    ListPartitionReassignmentsResponse,
    ListTransactionsResponse,
    MetadataResponse,
    OffsetCommitResponse,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
    ProduceResponse,
    RenewDelegationTokenResponse,
    SyncGroupResponse,
    TxnOffsetCommitResponse,
    UnregisterBrokerResponse,
    UpdateFeaturesResponse,
);

without_throttle_time!(DescribeQuorumResponse, SaslAuthenticateResponse, SaslHandshakeResponse, WriteTxnMarkersResponse);
