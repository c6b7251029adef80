//! SASL on the wire (the gate before authentication, PLAIN over SaslAuthenticate and
//! over v0 raw tokens, failures closing the connection), SCRAM credentials and ACLs kept
//! across a restart, and the authorizer's answers. Real clients over TLS and SASL are in
//! compat/ (scenarios/security.py, acls.py).

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::Broker;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const PLAIN_JAAS: &str = r#"listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";"#;

fn sasl_broker() -> Broker {
    Broker::start(&["listeners=SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms=PLAIN", PLAIN_JAAS, "connection.failed.authentication.delay.ms=0"])
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn metadata(topic: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(s(topic))))])).with_allow_auto_topic_creation(false)
}

fn authenticate(c: &mut common::Client, password: &str) -> SaslAuthenticateResponse {
    let h = c.call(1, &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")));
    assert_eq!(h.error_code, 0);
    assert_eq!(h.mechanisms, vec![s("PLAIN")]);
    c.call(2, &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(format!("\0alice\0{password}"))))
}

#[test]
fn a_sasl_listener_serves_nothing_but_authentication_until_it_completes() {
    let broker = sasl_broker();
    // ApiVersions is answered; a Metadata request closes the connection unanswered.
    let mut c = broker.client();
    assert_eq!(c.call(3, &ApiVersionsRequest::default()).error_code, 0);
    let body = c.encode(12, &metadata("t"));
    c.send_frame(&body);
    assert!(c.read_frame().is_none(), "Metadata before authentication closes the connection");
    // A mechanism the listener does not enable: refused with the enabled list, closed.
    let mut c = broker.client();
    let h = c.call(1, &SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512")));
    assert_eq!(h.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(h.mechanisms, vec![s("PLAIN")]);
    assert!(c.closed_by_broker());
    // SaslAuthenticate before the handshake: ILLEGAL_SASL_STATE, closed.
    let mut c = broker.client();
    let r = c.call(2, &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret")));
    assert_eq!(r.error_code, 34, "ILLEGAL_SASL_STATE");
    assert!(c.closed_by_broker());
    // A wrong password: SASL_AUTHENTICATION_FAILED with Kafka's message, closed.
    let mut c = broker.client();
    let r = authenticate(&mut c, "wrong");
    assert_eq!(r.error_code, 58);
    assert_eq!(r.error_message.as_deref(), Some("Authentication failed: Invalid username or password"));
    assert!(c.closed_by_broker());
    broker.log_until("SASL authentication failed");
    // The right one: the connection is served.
    let mut c = broker.client();
    let r = authenticate(&mut c, "alice-secret");
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
    let m = c.call(12, &metadata("t"));
    assert_eq!(m.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION once authenticated");
}

#[test]
fn a_v0_handshake_is_followed_by_raw_tokens_and_oversized_ones_close_the_connection() {
    let broker = sasl_broker();
    let mut c = broker.client();
    assert_eq!(c.call(0, &SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))).error_code, 0);
    c.send_frame(b"\0alice\0alice-secret");
    let reply = c.read_frame().expect("a raw reply");
    assert!(reply.is_empty(), "PLAIN's empty challenge, length-prefixed");
    assert_eq!(c.call(12, &metadata("t")).topics.len(), 1);
    // A raw token with a wrong password closes the connection without an answer.
    let mut c = broker.client();
    assert_eq!(c.call(0, &SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))).error_code, 0);
    c.send_frame(b"\0alice\0nope");
    assert!(c.read_frame().is_none());
    // A token beyond sasl.server.max.receive.size (512 KiB) is refused before it is read.
    let mut c = broker.client();
    assert_eq!(c.call(1, &SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))).error_code, 0);
    let mut frame = BytesMut::new();
    frame.put_i32(1 << 20);
    frame.put_bytes(0, 64);
    use std::io::Write;
    let _ = c.stream.write_all(&frame);
    assert!(c.closed_by_broker());
    assert!(broker.client().call(3, &ApiVersionsRequest::default()).error_code == 0, "other clients are unaffected");
}

/// Every ACL (the defaults of kafka-protocol's filters are empty strings, not null).
fn describe_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default().with_resource_type_filter(1).with_resource_name_filter(None).with_pattern_type_filter(1).with_principal_filter(None).with_host_filter(None).with_operation(1).with_permission_type(1)
}

fn acl(name: &str, pattern: i8, principal: &str, operation: i8, permission: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

#[test]
fn scram_credentials_and_acls_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = ["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:ANONYMOUS"];
    let mut broker = Broker::start_in(dir.path(), &overrides);
    let mut c = broker.client();
    let upsert = |name: &str, mechanism: i8, iterations: i32| {
        ScramCredentialUpsertion::default().with_name(s(name)).with_mechanism(mechanism).with_iterations(iterations).with_salt(Bytes::from_static(b"salt")).with_salted_password(Bytes::from(vec![7u8; 64]))
    };
    let r = c.call(0, &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsert("alice", 2, 8192), upsert("bob", 1, 100), upsert("carol", 9, 4096)]));
    let mut codes: Vec<(String, i16)> = r.results.iter().map(|r| (r.user.to_string(), r.error_code)).collect();
    codes.sort();
    assert_eq!(codes, vec![("alice".into(), 0), ("bob".into(), 93), ("carol".into(), 33)], "UNACCEPTABLE_CREDENTIAL, UNSUPPORTED_SASL_MECHANISM");
    let created = c.call(3, &CreateAclsRequest::default().with_creations(vec![acl("orders-", 4, "User:alice", 3, 3), acl("", 3, "User:alice", 3, 3), acl("x", 3, "alice", 3, 3)]));
    let codes: Vec<i16> = created.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![0, 42, 42], "an empty name and a principal without a type are INVALID_REQUEST");
    broker.stop();
    let broker = Broker::start_in(dir.path(), &overrides);
    let mut c = broker.client();
    let d = c.call(0, &DescribeUserScramCredentialsRequest::default().with_users(None));
    assert_eq!(d.results.len(), 1);
    assert_eq!((d.results[0].user.as_str(), d.results[0].credential_infos[0].mechanism, d.results[0].credential_infos[0].iterations), ("alice", 2, 8192));
    let all = describe_all();
    let described = c.call(3, &all);
    assert_eq!(described.resources.len(), 1);
    assert_eq!((described.resources[0].resource_name.as_str(), described.resources[0].pattern_type), ("orders-", 4));
    // MATCH finds the prefixed ACL that applies to a topic name.
    let matching = c.call(3, &DescribeAclsRequest::default().with_resource_type_filter(2).with_resource_name_filter(Some(s("orders-1"))).with_pattern_type_filter(2).with_principal_filter(None).with_host_filter(None).with_operation(1).with_permission_type(1));
    assert_eq!(matching.resources.len(), 1);
    let deleted = c.call(3, &DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default().with_resource_type_filter(1).with_resource_name_filter(None).with_pattern_type_filter(1).with_principal_filter(None).with_host_filter(None).with_operation(1).with_permission_type(1)]));
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 1);
    assert!(c.call(3, &all).resources.is_empty());
}

#[test]
fn the_authorizer_denies_by_default_and_super_users_pass() {
    let broker = Broker::start(&["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users=User:admin"]);
    let mut c = broker.client();
    let topic = CreatableTopic::default().with_name(TopicName(s("t"))).with_num_partitions(1).with_replication_factor(1);
    let r = c.call(7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    assert_eq!(r.topics[0].error_code, 29, "TOPIC_AUTHORIZATION_FAILED");
    assert_eq!(c.call(12, &metadata("t")).topics[0].error_code, 29);
    assert_eq!(c.call(3, &describe_all()).error_code, 31, "CLUSTER_AUTHORIZATION_FAILED");
    let f = c.call(4, &FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("g")]));
    assert_eq!(f.coordinators[0].error_code, 30, "GROUP_AUTHORIZATION_FAILED");
    let i = c.call(4, &InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("tx")))).with_transaction_timeout_ms(10000));
    assert_eq!(i.error_code, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
    // Without an authorizer, the ACL APIs answer SECURITY_DISABLED.
    let open = Broker::start(&[]);
    assert_eq!(open.client().call(3, &describe_all()).error_code, 54);
}

#[test]
fn a_producer_over_its_byte_rate_quota_is_told_to_back_off() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start_in(dir.path(), &[]);
    let mut c = broker.client();
    let entry = |rate: f64| {
        EntryData::default()
            .with_entity(vec![EntityData::default().with_entity_type(s("user")).with_entity_name(None)])
            .with_ops(vec![OpData::default().with_key(s("producer_byte_rate")).with_value(rate)])
    };
    let r = c.call(1, &AlterClientQuotasRequest::default().with_entries(vec![entry(1.5)]));
    assert_eq!(r.entries[0].error_code, 42, "a byte rate is a whole number");
    let r = c.call(1, &AlterClientQuotasRequest::default().with_entries(vec![entry(1024.0)]));
    assert_eq!(r.entries[0].error_code, 0);
    broker.stop();
    let broker = Broker::start_in(dir.path(), &[]);
    let mut c = broker.client();
    let d = c.call(1, &DescribeClientQuotasRequest::default().with_components(vec![ComponentData::default().with_entity_type(s("user")).with_match_type(1).with_match(None)]));
    assert_eq!(d.error_code, 0);
    let entries = d.entries.unwrap();
    assert_eq!(entries.len(), 1, "kept across a restart");
    assert_eq!((entries[0].values[0].key.as_str(), entries[0].values[0].value), ("producer_byte_rate", 1024.0));
    let topic = CreatableTopic::default().with_name(TopicName(s("q"))).with_num_partitions(1).with_replication_factor(1);
    assert_eq!(c.call(7, &CreateTopicsRequest::default().with_topics(vec![topic])).topics[0].error_code, 0);
    // 64 kB at 1 kB/s over Kafka's 10 s minimum window: several seconds of throttle.
    let value = vec![b'x'; 64 * 1024];
    let batch = common::record_batch(&[&value], None);
    let req = ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![TopicProduceData::default()
        .with_name(TopicName(s("q")))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(batch))])]);
    let r = c.call(9, &req);
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0, "a throttled produce is still written");
    assert!(r.throttle_time_ms > 1000, "throttle_time_ms {}", r.throttle_time_ms);
}

#[test]
fn format_add_scram_users_exist_from_the_first_start_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let formatted = std::process::Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["format", "--override", &format!("log.dirs={}", dir.path().display())])
        .args(["--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]", "--add-scram", "SCRAM-SHA-256=[name=admin,password=other,iterations=8192]"])
        .output()
        .unwrap();
    assert!(formatted.status.success(), "{}", String::from_utf8_lossy(&formatted.stderr));
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_riffle")).args(["format", "--add-scram", "SCRAM-SHA-1=[name=a,password=b]"]).output().unwrap();
    assert!(!refused.status.success());
    let describe = |broker: &Broker| {
        let d = broker.client().call(0, &DescribeUserScramCredentialsRequest::default().with_users(None));
        let mut infos: Vec<(String, i8, i32)> = d.results.iter().flat_map(|r| r.credential_infos.iter().map(|i| (r.user.to_string(), i.mechanism, i.iterations))).collect();
        infos.sort();
        infos
    };
    let mut broker = Broker::start_in(dir.path(), &[]);
    assert_eq!(describe(&broker), vec![("admin".into(), 1, 8192), ("admin".into(), 2, 4096)]);
    // A user deleted stays deleted: the bootstrap users are applied once.
    let deletion = alter_user_scram_credentials_request::ScramCredentialDeletion::default().with_name(s("admin")).with_mechanism(2);
    let r = broker.client().call(0, &AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]));
    assert_eq!(r.results[0].error_code, 0);
    broker.stop();
    let broker = Broker::start_in(dir.path(), &[]);
    assert_eq!(describe(&broker), vec![("admin".into(), 1, 8192)]);
}
