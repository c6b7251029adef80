//! The classic group protocol against a real broker process: the join/sync state
//! machine, the errors Kafka returns, static membership, session expiry, committed
//! offsets across restarts, and the group admin APIs.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::{record_batch, Broker, Client};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

const ILLEGAL_GENERATION: i16 = 22;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn broker() -> Broker {
    Broker::start(&["group.initial.rebalance.delay.ms=200", "group.min.session.timeout.ms=500", "num.partitions=2"])
}

/// Consumer-protocol subscription metadata for `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics.iter().map(|t| s(t)).collect();
    let mut b = BytesMut::new();
    b.put_i16(1);
    sub.encode(&mut b, 1).unwrap();
    b.freeze()
}

fn join_req(group: &str, member: &str, instance: Option<&str>, session_ms: i32, protocol_type: &str) -> JoinGroupRequest {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = subscription(&["t"]);
    let mut req = JoinGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.session_timeout_ms = session_ms;
    req.rebalance_timeout_ms = 5_000;
    req.member_id = s(member);
    req.group_instance_id = instance.map(s);
    req.protocol_type = s(protocol_type);
    req.protocols = vec![p];
    req
}

fn join(c: &mut Client, group: &str, member: &str, instance: Option<&str>) -> JoinGroupResponse {
    c.call(7, &join_req(group, member, instance, 10_000, "consumer"))
}

/// A dynamic member's full join: MEMBER_ID_REQUIRED, then the real join.
fn join_new(c: &mut Client, group: &str) -> JoinGroupResponse {
    let first = join(c, group, "", None);
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(!first.member_id.is_empty());
    join(c, group, &first.member_id, None)
}

fn sync(c: &mut Client, group: &str, generation: i32, member: &str, assignments: &[(&str, &[u8])]) -> SyncGroupResponse {
    let mut req = SyncGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id = generation;
    req.member_id = s(member);
    req.assignments = assignments
        .iter()
        .map(|(m, a)| {
            let mut x = SyncGroupRequestAssignment::default();
            x.member_id = s(m);
            x.assignment = Bytes::copy_from_slice(a);
            x
        })
        .collect();
    c.call(5, &req)
}

fn heartbeat(c: &mut Client, group: &str, generation: i32, member: &str, instance: Option<&str>) -> i16 {
    let mut req = HeartbeatRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id = generation;
    req.member_id = s(member);
    req.group_instance_id = instance.map(s);
    c.call(4, &req).error_code
}

fn describe(c: &mut Client, group: &str) -> describe_groups_response::DescribedGroup {
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(s(group))];
    c.call(5, &req).groups.remove(0)
}

fn commit(c: &mut Client, group: &str, generation: i32, member: &str, topic: &str, offsets: &[(i32, i64)]) -> Vec<i16> {
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions = offsets
        .iter()
        .map(|(p, o)| {
            let mut x = OffsetCommitRequestPartition::default();
            x.partition_index = *p;
            x.committed_offset = *o;
            x.committed_leader_epoch = 0;
            x.committed_metadata = Some(s("meta"));
            x
        })
        .collect();
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id_or_member_epoch = generation;
    req.member_id = s(member);
    req.group_instance_id = None;
    req.topics = vec![t];
    c.call(8, &req).topics[0].partitions.iter().map(|p| p.error_code).collect()
}

/// Committed (partition, offset, metadata) through OffsetFetch v8 (multi-group).
fn fetch_offsets(c: &mut Client, group: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64, String)> {
    let mut t = OffsetFetchRequestTopics::default();
    t.name = TopicName(s(topic));
    t.partition_indexes = partitions.to_vec();
    let mut g = OffsetFetchRequestGroup::default();
    g.group_id = GroupId(s(group));
    g.topics = Some(vec![t]);
    let mut req = OffsetFetchRequest::default();
    req.groups = vec![g];
    let resp = c.call(8, &req);
    assert_eq!(resp.groups[0].error_code, 0);
    resp.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset, p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default()))
        .collect()
}

fn create_topic(c: &mut Client, topic: &str) {
    let mut md = MetadataRequest::default();
    let mut t = metadata_request::MetadataRequestTopic::default();
    t.name = Some(TopicName(s(topic)));
    md.topics = Some(vec![t]);
    md.allow_auto_topic_creation = true;
    assert_eq!(c.call(12, &md).topics[0].error_code, 0);
}

/// Polls `cond` until it holds, up to a generous bound (a liveness check, not a timing
/// assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn join_sync_heartbeat_rebalance_and_leave() {
    let b = broker();
    let mut a = b.client();
    let group = "g1";
    assert_eq!(a.call(7, &join_req(group, "", None, 100, "consumer")).error_code, INVALID_SESSION_TIMEOUT);

    // A lone member: leader of generation 1, gets its own metadata back.
    let j = join_new(&mut a, group);
    assert_eq!((j.error_code, j.generation_id), (0, 1));
    assert_eq!(j.leader, j.member_id);
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.members[0].metadata, subscription(&["t"]));
    let m1 = j.member_id.to_string();
    let sy = sync(&mut a, group, 1, &m1, &[(&m1, b"A1")]);
    assert_eq!((sy.error_code, &sy.assignment[..]), (0, &b"A1"[..]));
    assert_eq!(describe(&mut a, group).group_state.as_str(), "Stable");
    assert_eq!(heartbeat(&mut a, group, 1, &m1, None), 0);
    assert_eq!(heartbeat(&mut a, group, 0, &m1, None), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut a, group, 1, "nobody", None), UNKNOWN_MEMBER_ID);
    // A different protocol type cannot join.
    assert_eq!(a.call(7, &join_req(group, "", None, 10_000, "connect")).error_code, INCONSISTENT_GROUP_PROTOCOL);

    // A second member joins: the first learns of the rebalance through its heartbeat.
    let addr = b.addr;
    let second = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let j = join_new(&mut c, group);
        (c, j)
    });
    eventually("the group starts rebalancing", || heartbeat(&mut a, group, 1, &m1, None) == REBALANCE_IN_PROGRESS);
    let j1 = join(&mut a, group, &m1, None);
    let (mut c2, j2) = second.join().unwrap();
    assert_eq!((j1.generation_id, j2.generation_id), (2, 2));
    assert_eq!(j1.leader.as_str(), m1, "the leader stays leader");
    assert_eq!(j1.members.len(), 2);
    assert!(j2.members.is_empty(), "only the leader gets the member list");
    let m2 = j2.member_id.to_string();
    // The follower's SyncGroup waits for the leader's assignment.
    let follower = thread::spawn(move || {
        let r = sync(&mut c2, group, 2, &m2, &[]);
        (c2, m2, r)
    });
    thread::sleep(Duration::from_millis(100));
    let m2_id = j2.member_id.to_string();
    let leader_sync = sync(&mut a, group, 2, &m1, &[(&m1, b"A2"), (&m2_id, b"B2")]);
    assert_eq!(&leader_sync.assignment[..], b"A2");
    let (mut c2, m2, follower_sync) = follower.join().unwrap();
    assert_eq!((follower_sync.error_code, &follower_sync.assignment[..]), (0, &b"B2"[..]));
    assert_eq!(describe(&mut a, group).members.len(), 2);

    // Offsets: only the current generation may commit.
    create_topic(&mut a, "t");
    assert_eq!(commit(&mut a, group, 1, &m1, "t", &[(0, 5)]), vec![ILLEGAL_GENERATION]);
    assert_eq!(commit(&mut a, group, 2, "nobody", "t", &[(0, 5)]), vec![UNKNOWN_MEMBER_ID]);
    assert_eq!(commit(&mut a, group, 2, &m1, "t", &[(0, 5), (1, 7)]), vec![0, 0]);
    assert_eq!(commit(&mut a, group, 2, &m1, "no-such-topic", &[(0, 1)]), vec![3]);
    assert_eq!(fetch_offsets(&mut a, group, "t", &[0, 1, 9]), vec![(0, 5, "meta".into()), (1, 7, "meta".into()), (9, -1, String::new())]);

    // LeaveGroup v3 (batch): the remaining member rebalances alone.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s(group));
    let mut who = MemberIdentity::default();
    who.member_id = s(&m2);
    who.group_instance_id = None;
    leave.members = vec![who];
    let lr = c2.call(3, &leave);
    assert_eq!((lr.error_code, lr.members[0].error_code), (0, 0));
    assert_eq!(heartbeat(&mut a, group, 2, &m1, None), REBALANCE_IN_PROGRESS);
    let j = join(&mut a, group, &m1, None);
    assert_eq!((j.generation_id, j.members.len()), (3, 1));
}

#[test]
fn static_members_keep_their_assignment_and_fence_the_old_id() {
    let b = broker();
    let mut a = b.client();
    let group = "static";
    // Static members skip MEMBER_ID_REQUIRED.
    let j = join(&mut a, group, "", Some("host-1"));
    assert_eq!((j.error_code, j.generation_id), (0, 1));
    let old = j.member_id.to_string();
    assert_eq!(sync(&mut a, group, 1, &old, &[(&old, b"mine")]).error_code, 0);

    // Restart of the same instance: new member id, same generation, no rebalance.
    // Before v9 the answer names the previous leader id and no members, so the
    // returning leader acts as a follower and keeps its assignment.
    let mut again = b.client();
    let j2 = join(&mut again, group, "", Some("host-1"));
    assert_eq!((j2.error_code, j2.generation_id), (0, 1));
    assert_ne!(j2.member_id.as_str(), old);
    assert_eq!(j2.leader.as_str(), old);
    assert!(j2.members.is_empty());
    let new = j2.member_id.to_string();
    assert_eq!(describe(&mut a, group).group_state.as_str(), "Stable");
    let sy = sync(&mut again, group, 1, &new, &[]);
    assert_eq!(&sy.assignment[..], b"mine");
    // The old incarnation is fenced.
    assert_eq!(heartbeat(&mut a, group, 1, &old, Some("host-1")), FENCED_INSTANCE_ID);
    assert_eq!(heartbeat(&mut again, group, 1, &new, Some("host-1")), 0);

    // v9 (KIP-814): the leader is told it leads, with the members, but to skip
    // assignment; new metadata with the same protocol does not rebalance.
    let mut third = b.client();
    let mut req = join_req(group, "", Some("host-1"), 10_000, "consumer");
    req.protocols[0].metadata = subscription(&["t", "u"]);
    let j3 = third.call(9, &req);
    assert_eq!((j3.error_code, j3.generation_id), (0, 1));
    assert_eq!(j3.leader, j3.member_id);
    assert!(j3.skip_assignment);
    assert_eq!(j3.members.len(), 1);
    assert_eq!(describe(&mut third, group).group_state.as_str(), "Stable");
}

#[test]
fn silent_members_expire_after_their_session_timeout() {
    let b = broker();
    let mut a = b.client();
    let group = "expiring";
    let first = join(&mut a, group, "", None);
    let mut req = join_req(group, &first.member_id, None, 600, "consumer");
    req.rebalance_timeout_ms = 600;
    let j = a.call(7, &req);
    let m = j.member_id.to_string();
    assert_eq!(sync(&mut a, group, j.generation_id, &m, &[(&m, b"x")]).error_code, 0);
    // No heartbeats: the member is removed and the group goes back to Empty.
    eventually("the silent member is evicted", || describe(&mut a, group).group_state.as_str() == "Empty");
    assert_eq!(heartbeat(&mut a, group, j.generation_id, &m, None), UNKNOWN_MEMBER_ID);
}

#[test]
fn offsets_survive_restarts_and_admin_apis() {
    let mut b = broker();
    let mut c = b.client();
    create_topic(&mut c, "t");
    // Commits outside group management (generation -1): an Empty group.
    assert_eq!(commit(&mut c, "standalone", -1, "", "t", &[(0, 11), (1, 22)]), vec![0, 0]);
    assert_eq!(commit(&mut c, "standalone", -1, "", "t", &[(0, 12)]), vec![0]);

    // FindCoordinator v4 batches keys.
    let mut fc = FindCoordinatorRequest::default();
    fc.coordinator_keys = vec![s("standalone"), s("other")];
    let found = c.call(4, &fc);
    assert!(found.coordinators.iter().all(|k| k.error_code == 0 && k.port == b.addr.port() as i32));

    // An active group with a subscription to "t".
    let j = join_new(&mut c, "active");
    let m = j.member_id.to_string();
    assert_eq!(sync(&mut c, "active", 1, &m, &[(&m, b"")]).error_code, 0);
    let mut lg = ListGroupsRequest::default();
    lg.states_filter = vec![s("stable")];
    let listed = c.call(4, &lg);
    assert_eq!(listed.groups.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), vec!["active"]);
    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(s("active")), GroupId(s("missing"))];
    let r = c.call(2, &del);
    assert_eq!(r.results.iter().map(|r| r.error_code).collect::<Vec<_>>(), vec![NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]);
    // OffsetDelete refuses a topic the active group subscribes to.
    let mut od = OffsetDeleteRequest::default();
    od.group_id = GroupId(s("active"));
    let mut t = offset_delete_request::OffsetDeleteRequestTopic::default();
    t.name = TopicName(s("t"));
    let mut p = offset_delete_request::OffsetDeleteRequestPartition::default();
    p.partition_index = 0;
    t.partitions = vec![p];
    od.topics = vec![t.clone()];
    assert_eq!(c.call(0, &od).topics[0].partitions[0].error_code, GROUP_SUBSCRIBED_TO_TOPIC);
    // ... and deletes one of an empty group.
    od.group_id = GroupId(s("standalone"));
    assert_eq!(c.call(0, &od).topics[0].partitions[0].error_code, 0);
    assert_eq!(fetch_offsets(&mut c, "standalone", "t", &[0, 1]), vec![(0, -1, String::new()), (1, 22, "meta".into())]);

    // Produce something so __consumer_offsets is not the only data, then crash.
    let mut pd = PartitionProduceData::default();
    pd.index = 0;
    pd.records = Some(record_batch(&[b"x"], None));
    let mut td = TopicProduceData::default();
    td.name = TopicName(s("t"));
    td.partition_data = vec![pd];
    let mut pr = ProduceRequest::default();
    pr.acks = -1;
    pr.topic_data = vec![td];
    c.call(9, &pr);
    b.kill();
    let data = b.data.clone();
    let b2 = Broker::start_in(&data, &["group.initial.rebalance.delay.ms=200", "group.min.session.timeout.ms=500"]);
    let mut c = b2.client();
    assert_eq!(fetch_offsets(&mut c, "standalone", "t", &[0, 1]), vec![(0, -1, String::new()), (1, 22, "meta".into())]);
    // The stable group came back with its member, which can still heartbeat.
    let d = describe(&mut c, "active");
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(heartbeat(&mut c, "active", 1, &m, None), 0);
    // Once empty, a group can be deleted; its offsets go with it.
    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(s("standalone"))];
    assert_eq!(c.call(2, &del).results[0].error_code, 0);
    // DescribeGroups before v6 reports a missing group as Dead; v6 as GROUP_ID_NOT_FOUND.
    assert_eq!(describe(&mut c, "standalone").group_state.as_str(), "Dead");
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(s("standalone"))];
    assert_eq!(c.call(6, &req).groups[0].error_code, GROUP_ID_NOT_FOUND);
    drop(b);
}

#[test]
fn lag_is_reported_by_the_groups_command() {
    let b = broker();
    let mut c = b.client();
    create_topic(&mut c, "lagging");
    for _ in 0..4 {
        let mut pd = PartitionProduceData::default();
        pd.index = 1;
        pd.records = Some(record_batch(&[b"a", b"b", b"c"], None));
        let mut td = TopicProduceData::default();
        td.name = TopicName(s("lagging"));
        td.partition_data = vec![pd];
        let mut pr = ProduceRequest::default();
        pr.acks = -1;
        pr.topic_data = vec![td];
        assert_eq!(c.call(9, &pr).responses[0].partition_responses[0].error_code, 0);
    }
    assert_eq!(commit(&mut c, "lag", -1, "", "lagging", &[(1, 5)]), vec![0]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["groups", "describe", "lag", "--bootstrap-server", &b.addr.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().find(|l| l.starts_with("lag ")).expect("a row").split_whitespace().collect();
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    assert_eq!(&row[..6], &["lag", "lagging", "1", "5", "12", "7"], "{text}");
}

#[test]
fn a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed() {
    let b = broker();
    let mut a = b.client();
    let group = "slow";
    // Member A: a long session but a short rebalance timeout.
    let first = join(&mut a, group, "", None);
    let mut req = join_req(group, &first.member_id, None, 30_000, "consumer");
    req.rebalance_timeout_ms = 800;
    let ja = a.call(7, &req);
    let ma = ja.member_id.to_string();
    assert_eq!(sync(&mut a, group, ja.generation_id, &ma, &[(&ma, b"x")]).error_code, 0);
    // Member B joins; A never rejoins. The join phase ends at the group's rebalance
    // timeout (the members' largest: B's 5 s), not A's 30 s session, and A is removed.
    // Without the bound, B's JoinGroup would outlast the client's 30 s read timeout.
    let mut c = b.client();
    let jb = join_new(&mut c, group);
    assert_eq!((jb.error_code, jb.generation_id), (0, 2));
    assert_eq!(jb.leader, jb.member_id, "A is gone, B leads");
    assert_eq!(jb.members.len(), 1);
    assert_eq!(heartbeat(&mut a, group, 1, &ma, None), UNKNOWN_MEMBER_ID);
}

/// A consumer group (KIP-848) over the wire: a member joins with ConsumerGroupHeartbeat
/// and gets every partition; `group.consumer.max.size` refuses one more member;
/// `riffle groups describe` shows the group's epochs and the member's partitions.
#[test]
fn a_consumer_group_is_capped_by_its_max_size_and_described() {
    use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
    const GROUP_MAX_SIZE_REACHED: i16 = 81;
    let broker = Broker::start(&["group.consumer.max.size=1"]);
    let mut c = broker.client();
    create_topic(&mut c, "cg-capped");
    let mut coordinator = FindCoordinatorRequest::default();
    coordinator.key = s("cg");
    assert_eq!(c.call(3, &coordinator).error_code, 0);
    let join = |member: &str| {
        let mut hb = ConsumerGroupHeartbeatRequest::default();
        hb.group_id = GroupId(s("cg"));
        hb.member_id = s(member);
        hb.member_epoch = 0;
        hb.rebalance_timeout_ms = 30_000;
        hb.subscribed_topic_names = Some(vec![TopicName(s("cg-capped"))]);
        hb.topic_partitions = Some(Vec::<TopicPartitions>::new());
        hb
    };
    let a = c.call(1, &join("member-a"));
    assert_eq!((a.error_code, a.member_epoch), (0, 1));
    let parts: usize = a.assignment.map_or(0, |x| x.topic_partitions.iter().map(|t| t.partitions.len()).sum());
    assert!(parts > 0, "the only member gets every partition");
    assert_eq!(c.call(1, &join("member-b")).error_code, GROUP_MAX_SIZE_REACHED);
    let out = riffle::admin::groups::describe(&broker.addr.to_string(), "cg").unwrap();
    assert!(out.contains("(consumer protocol): state Stable, group epoch 1, assignment epoch 1"), "{out}");
    let member_line = out.lines().find(|l| l.starts_with("member-a")).unwrap_or_else(|| panic!("no member line in {out}"));
    assert!(member_line.contains("cg-capped-0"), "{member_line}");
}
