//! Applying a metadata image on a failing disk: an image is published as applied only
//! once every change it asks for took.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::broker::BrokerIdentity;
use crate::common::SystemClock;
use crate::controller::image::{BrokerRegistration, PartitionImage, TopicImage};
use crate::controller::ControllerSettings;
use crate::security::client::PeerSecurity;
use crate::storage::{FaultyStorage, SharedStorage};

#[tokio::test]
async fn an_image_that_fails_to_apply_is_not_published_until_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let props = [("node.id", "2"), ("process.roles", "broker"), ("controller.quorum.voters", "1@127.0.0.1:1"), ("log.dirs", dir.path().to_str().unwrap())];
    let (config, _) = BrokerConfig::from_map(props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap();
    let config = Arc::new(config);
    let faulty = FaultyStorage::new();
    let files: SharedStorage = faulty.clone();
    let clock = SystemClock::shared();
    let topics = Arc::new(TopicRegistry::load(&files, &clock, dir.path(), config.clone()).unwrap());
    let coordinators = CoordinatorRuntime::new(topics.clone(), clock.clone(), false);
    let identity = Arc::new(BrokerIdentity::new(2, "local".into()));
    // A broker-only node's controller handle; nothing answers at the voter's address,
    // and this test never asks it anything.
    let settings = ControllerSettings {
        node_id: 2,
        voters: BTreeMap::from([(1, "127.0.0.1:1".to_string())]),
        session_timeout: Duration::from_secs(9),
        election_timeout: Duration::from_secs(1),
        broker_config: config.clone(),
        auto_rebalance: false,
        imbalance_check_interval: Duration::from_secs(300),
        clock: clock.clone(),
        peer_security: Arc::new(PeerSecurity::plaintext("CONTROLLER")),
        authorizer: Default::default(),
    };
    let rm = ReplicaManager::new(Controller::connect(settings), config, topics.clone(), coordinators, identity.clone(), clock, crate::security::SecurityStore::replicated(), Arc::new(PeerSecurity::plaintext("PLAINTEXT")));
    let mut image = MetadataImage { cluster_id: "cluster".into(), ..Default::default() };
    let endpoint = BrokerEndpoint { id: 2, host: "127.0.0.1".into(), port: 9092, rack: None, incarnation: identity.incarnation.clone(), listeners: vec![] };
    image.brokers.insert(2, BrokerRegistration { endpoint, fenced: false });
    let partition = PartitionImage { replicas: vec![2], isr: vec![2], leader: 2, leader_epoch: 3, partition_epoch: 0, adding_replicas: vec![], removing_replicas: vec![] };
    image.topics.insert("t".into(), TopicImage { id: crate::common::topic_id::generate(), configs: BTreeMap::new(), partitions: vec![partition] });
    let image = Arc::new(image);
    let never = crate::common::shutdown::channel();

    faulty.fill_disk_after(0);
    assert!(!apply_and_publish(&rm, image.clone(), &never.1), "the topic's files cannot be written");
    assert!(rm.image().cluster_id.is_empty(), "a failed image is not published as applied");

    faulty.free_disk();
    assert!(apply_and_publish(&rm, image.clone(), &never.1), "the same image applies once the disk has room");
    assert_eq!(rm.image().cluster_id, "cluster");
    let p = topics.get("t").and_then(|t| t.partition(0).cloned()).expect("the topic exists here");
    assert_eq!((p.state().role, p.leader_epoch()), (Role::Leader, 3));
}
