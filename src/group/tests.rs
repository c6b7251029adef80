//! The group coordinator on a real log directory, with an injected clock.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;

use super::*;
use crate::broker::{NewTopic, TopicRegistry};
use crate::common::{Clock, ManualClock, SharedClock, SystemClock};
use crate::config::BrokerConfig;
use crate::coordinator::CoordinatorRuntime;

struct Node {
    topics: Arc<TopicRegistry>,
    groups: Arc<GroupCoordinator>,
}

/// A single broker's group coordinator over `dir`, its state loaded as at start-up.
fn open(dir: &std::path::Path, clock: SharedClock) -> Node {
    let cfg = BrokerConfig::default()
        .with("log.dirs", dir.to_str().unwrap())
        .and_then(|c| c.with("offsets.retention.minutes", "1"))
        .and_then(|c| c.with("offsets.topic.num.partitions", "3"))
        .and_then(|c| c.with("group.initial.rebalance.delay.ms", "0"))
        .unwrap();
    let cfg = Arc::new(cfg);
    let topics = Arc::new(TopicRegistry::load(&crate::storage::local(), &clock, dir, cfg.clone()).unwrap());
    let runtime = CoordinatorRuntime::new(topics.clone(), clock.clone(), true);
    let groups = GroupCoordinator::new(GroupConfig::from_broker(&cfg), clock, topics.clone(), runtime.clone());
    runtime.load_all().unwrap();
    Node { topics, groups }
}

fn create(node: &Node, name: &str, partitions: i32) {
    node.topics.create(NewTopic { name, partitions, replication_factor: 1, overrides: Default::default() }).unwrap();
}

fn committed(node: &Node, group: &str) -> Vec<i64> {
    node.groups.fetch_offsets(group, None).into_iter().flat_map(|(_, ps)| ps).filter_map(|(_, c)| c).map(|c| c.offset).collect()
}

#[test]
fn standalone_offsets_expire_after_retention_and_stay_gone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let node = open(dir.path(), clock.clone());
    create(&node, "t", 2);
    let offsets = |o| vec![OffsetToCommit { topic: "t".into(), partition: 0, offset: o, leader_epoch: -1, metadata: None }];
    assert_eq!(node.groups.commit("g", "", None, -1, offsets(5)), vec![0]);
    assert_eq!(node.groups.commit("other", "", None, -1, offsets(6)), vec![0]);
    assert_eq!(committed(&node, "g"), vec![5]);

    // Not yet past retention: kept.
    clock.advance_ms(30_000);
    node.groups.expire_offsets(clock.now_ms());
    assert_eq!(committed(&node, "g"), vec![5]);
    // Past retention (one minute after the commits).
    clock.advance_ms(31_000);
    node.groups.expire_offsets(clock.now_ms());
    assert!(committed(&node, "g").is_empty());
    assert!(node.groups.list().iter().all(|l| l.group_id != "g"), "an expired standalone group is removed");
    drop(node);

    // The tombstones were written: nothing comes back after a restart.
    let node = open(dir.path(), clock);
    assert!(committed(&node, "g").is_empty());
    assert!(committed(&node, "other").is_empty());
}

#[test]
fn deleting_a_topic_drops_its_committed_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), SystemClock::shared());
    for t in ["a", "b"] {
        create(&node, t, 1);
    }
    let commit = |t: &str| vec![OffsetToCommit { topic: t.into(), partition: 0, offset: 9, leader_epoch: -1, metadata: None }];
    assert_eq!(node.groups.commit("g", "", None, -1, commit("a")), vec![0]);
    assert_eq!(node.groups.commit("g", "", None, -1, commit("b")), vec![0]);
    node.topics.delete("a").unwrap();
    node.groups.drop_offsets_of_topic("a");
    let topics = |n: &Node| n.groups.fetch_offsets("g", None).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
    assert_eq!(topics(&node), vec!["b"]);
    drop(node);
    assert_eq!(topics(&open(dir.path(), SystemClock::shared())), vec!["b"]);
}

/// Session timeouts follow the injected clock, not the machine's: a member lives
/// exactly as long as its session timeout without a heartbeat.
#[tokio::test]
async fn a_member_expires_when_the_clock_passes_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let node = open(dir.path(), clock.clone());
    let session_timeout_ms = 10_000;
    let joined = node
        .groups
        .join(JoinRequest {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            session_timeout_ms,
            rebalance_timeout_ms: 30_000,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            require_known_member_id: false,
            supports_skip_assignment: true,
        })
        .await;
    assert_eq!(joined.error, 0);
    assert_eq!(joined.leader, joined.member_id);
    let synced = node
        .groups
        .sync(SyncRequest {
            group_id: "g".into(),
            generation: joined.generation,
            member_id: joined.member_id.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol: Some("range".into()),
            assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"assignment"))],
        })
        .await;
    assert_eq!(synced.error, 0);
    let heartbeat = || node.groups.heartbeat("g", &joined.member_id, None, joined.generation);

    clock.advance_ms(session_timeout_ms as i64 - 1);
    node.groups.expire_sessions();
    assert_eq!(heartbeat(), 0, "still within the session");
    // The heartbeat renewed the session: another full timeout minus one is fine too.
    clock.advance_ms(session_timeout_ms as i64 - 1);
    node.groups.expire_sessions();
    assert_eq!(heartbeat(), 0);

    clock.advance_ms(session_timeout_ms as i64 + 1);
    node.groups.expire_sessions();
    assert_eq!(heartbeat(), E::UnknownMemberId.code(), "expired once the clock passed the deadline");
    let listed = node.groups.list().into_iter().find(|l| l.group_id == "g").unwrap();
    assert_eq!(listed.state, GroupState::Empty.name());
}

fn hb(group: &str, member: &str, epoch: i32) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: group.into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
        owned: (epoch == 0).then(Default::default),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        member_id_required: true,
        ..Default::default()
    }
}

fn partitions(out: &HeartbeatOutcome) -> usize {
    out.assignment.as_ref().map_or(0, |a| a.values().map(|p| p.len()).sum())
}

#[test]
fn consumer_group_members_split_partitions_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock: SharedClock = SystemClock::shared();
    let node = open(dir.path(), clock.clone());
    create(&node, "t", 4);
    let join = |m: &str| node.groups.consumer_heartbeat(ConsumerHeartbeat { subscribed_topic_names: Some(vec!["t".into()]), ..hb("g", m, 0) });
    let a = join("a");
    assert_eq!((a.error, a.member_epoch, partitions(&a)), (0, 1, 4));
    let b = join("b");
    // b's partitions are all still owned by a: b waits at epoch 2 with none
    assert_eq!((b.error, b.member_epoch, partitions(&b)), (0, 2, 0));
    // a is told to revoke two of them and stays at epoch 1
    let a2 = node.groups.consumer_heartbeat(hb("g", "a", 1));
    assert_eq!((a2.error, a2.member_epoch, partitions(&a2)), (0, 1, 2));
    let kept = a2.assignment.clone().unwrap();
    let a3 = node.groups.consumer_heartbeat(ConsumerHeartbeat { owned: Some(kept), ..hb("g", "a", 1) });
    assert_eq!((a3.error, a3.member_epoch), (0, 2));
    let b2 = node.groups.consumer_heartbeat(hb("g", "b", 2));
    assert_eq!((b2.error, b2.member_epoch, partitions(&b2)), (0, 2, 2));
    let d = node.groups.describe_consumer_group("g").unwrap();
    assert_eq!((d.state, d.group_epoch, d.assignment_epoch), ("Stable", 2, 2));
    // a stale epoch is fenced, an unknown member is unknown
    assert_eq!(node.groups.consumer_heartbeat(hb("g", "a", 7)).error, E::FencedMemberEpoch.code());
    assert_eq!(node.groups.consumer_heartbeat(hb("g", "zz", 2)).error, E::UnknownMemberId.code());
    drop(node);

    let node = open(dir.path(), clock);
    let d = node.groups.describe_consumer_group("g").unwrap();
    assert_eq!((d.group_epoch, d.assignment_epoch, d.members.len()), (2, 2, 2));
    let b3 = node.groups.consumer_heartbeat(hb("g", "b", 2));
    assert_eq!((b3.error, b3.member_epoch), (0, 2), "the member resumes with its epoch");
}

#[test]
fn a_regex_subscription_picks_up_a_new_topic() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), SystemClock::shared());
    create(&node, "x.in-a", 2);
    create(&node, "x.out-a", 2);
    // an empty classic group (offsets only) becomes the consumer group
    assert_eq!(node.groups.commit("g", "", None, -1, vec![OffsetToCommit { topic: "x.in-a".into(), partition: 0, offset: 1, leader_epoch: -1, metadata: None }]), vec![0]);
    let a = node.groups.consumer_heartbeat(ConsumerHeartbeat { subscribed_topic_names: Some(vec![]), subscribed_topic_regex: Some(r"^x\.in-.*".into()), ..hb("g", "a", 0) });
    assert_eq!((a.error, partitions(&a)), (0, 2));
    create(&node, "x.in-b", 3);
    let a2 = node.groups.consumer_heartbeat(ConsumerHeartbeat { owned: a.assignment.clone(), ..hb("g", "a", a.member_epoch) });
    assert_eq!((a2.error, partitions(&a2)), (0, 5));
    let bad = node.groups.consumer_heartbeat(ConsumerHeartbeat { subscribed_topic_regex: Some("(".into()), ..hb("g", "b", 0) });
    assert_eq!(bad.error, E::InvalidRegularExpression.code());
}

#[test]
fn a_static_member_keeps_its_partitions_across_a_bounce_and_a_silent_member_expires() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let node = open(dir.path(), clock.clone());
    create(&node, "t", 2);
    let join = |m: &str, instance: Option<&str>| {
        node.groups.consumer_heartbeat(ConsumerHeartbeat { subscribed_topic_names: Some(vec!["t".into()]), instance_id: instance.map(String::from), ..hb("g", m, 0) })
    };
    let a = join("a", Some("i-a"));
    assert_eq!((a.error, partitions(&a)), (0, 2));
    // another member cannot take the instance id while it is in use
    assert_eq!(join("x", Some("i-a")).error, E::UnreleasedInstanceId.code());
    // a static leave (-2) keeps the partitions; the next incarnation gets them back
    let left = node.groups.consumer_heartbeat(ConsumerHeartbeat { instance_id: Some("i-a".into()), ..hb("g", "a", -2) });
    assert_eq!((left.error, left.member_epoch), (0, -2));
    let a2 = join("a2", Some("i-a"));
    assert_eq!((a2.error, a2.assignment.clone()), (0, a.assignment.clone()));
    assert_eq!(node.groups.consumer_heartbeat(ConsumerHeartbeat { instance_id: Some("i-a".into()), ..hb("g", "a", 1) }).error, E::FencedInstanceId.code());
    // a member that stops heartbeating is fenced after the session timeout
    node.groups.expire_consumer_members();
    clock.advance_ms(node.groups.config().consumer.session_timeout_ms as i64 + 1);
    node.groups.expire_consumer_members();
    let d = node.groups.describe_consumer_group("g").unwrap();
    assert!(d.members.is_empty(), "the silent member was fenced");
    assert_eq!(d.state, "Empty");
}
