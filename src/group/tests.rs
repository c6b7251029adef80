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
    assert!(node.groups.list().iter().all(|(id, _, _)| id != "g"), "an expired standalone group is removed");
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
    let (_, state, _) = node.groups.list().into_iter().find(|(id, _, _)| id == "g").unwrap();
    assert_eq!(state, GroupState::Empty);
}
