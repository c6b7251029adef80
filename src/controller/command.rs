//! The records of the metadata log. Each is applied deterministically by every node
//! (see [`super::image`]), so everything a record's effect depends on is either in the
//! image or in the record itself — including the proposer's broker defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a broker publishes about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// New at every process start: a registration with a new incarnation is a restarted
    /// broker, whose leaderships move away before it rejoins.
    pub incarnation: String,
    /// Every client listener: name, advertised host and port. `host` and `port` above
    /// are the inter-broker listener's.
    #[serde(default)]
    pub listeners: Vec<(String, String, i32)>,
}

impl BrokerEndpoint {
    /// Where a client connected to `listener` reaches this broker: the listener of the
    /// same name (Kafka's rule), else the inter-broker address.
    pub fn address_for(&self, listener: &str) -> (&str, i32) {
        self.listeners.iter().find(|(name, _, _)| name == listener).map_or((self.host.as_str(), self.port), |(_, h, p)| (h.as_str(), *p))
    }
}

/// Broker-level defaults that decide elections, carried by the records that elect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectionDefaults {
    /// `unclean.leader.election.enable` of the proposing controller.
    pub unclean: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The first record: the cluster id every node reports.
    InitCluster { cluster_id: String },
    /// A broker (re)registers: it is unfenced, and offline partitions it can lead get it
    /// as leader.
    RegisterBroker { broker: BrokerEndpoint, defaults: ElectionDefaults },
    /// A broker missed its session timeout or shut down: it leaves every ISR (unless it
    /// is the last member) and its leaderships move to in-sync replicas.
    FenceBroker { id: i32, defaults: ElectionDefaults },
    /// UnregisterBroker: the registration is removed (a broker being decommissioned);
    /// it is fenced first. A broker still running registers again with its next
    /// heartbeat.
    UnregisterBroker { id: i32, defaults: ElectionDefaults },
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: i32,
        replication_factor: i32,
        /// Explicit assignment (CreateTopics' `assignments`): replicas per partition.
        assignment: Option<Vec<Vec<i32>>>,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    },
    DeleteTopic { name: String },
    CreatePartitions {
        name: String,
        count: i32,
        /// Explicit replicas for the new partitions only (CreatePartitions' `assignments`).
        #[serde(default)]
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    },
    SetTopicConfigs { name: String, configs: BTreeMap<String, String>, validate_only: bool },
    /// Dynamic broker configs (checked by the broker that took the request): of one
    /// broker (`resource` is its id) or the cluster-wide defaults (`resource` is "").
    SetBrokerConfigs { resource: String, configs: BTreeMap<String, String>, validate_only: bool },
    /// A partition leader asks for a new ISR (Kafka's AlterPartition).
    AlterPartition { topic: String, partition: i32, leader: i32, leader_epoch: i32, partition_epoch: i32, isr: Vec<i32> },
    /// A broker reserves a block of producer ids (Kafka's AllocateProducerIds): ids are
    /// unique across the cluster. The result's `value` is the block's first id.
    AllocateProducerIds { broker: i32 },
    /// AlterPartitionReassignments: per partition, the target replicas, or `None` to
    /// cancel the ongoing reassignment.
    AlterPartitionReassignments {
        partitions: Vec<(String, i32, Option<Vec<i32>>)>,
        allow_replication_factor_change: bool,
        defaults: ElectionDefaults,
    },
    /// ElectLeaders: preferred (the first replica) or unclean; `None` is every partition.
    ElectLeaders { unclean: bool, partitions: Option<Vec<(String, i32)>>, defaults: ElectionDefaults },
    /// Credentials (and, later, ACLs and quotas): every broker checks clients against them.
    Security(crate::security::SecurityRecord),
}

/// The outcome of applying a record, as Kafka error codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub error_code: i16,
    pub message: Option<String>,
    /// ElectLeaders, AlterPartitionReassignments: per partition (topic, partition, error
    /// code).
    pub partitions: Vec<(String, i32, i16)>,
    /// AlterPartitionReassignments: the message of each of `partitions`' errors.
    #[serde(default)]
    pub partition_messages: Vec<Option<String>>,
    /// AllocateProducerIds: the first id of the block.
    pub value: i64,
    /// Security records: per user, ACL or filter, the error code and message.
    #[serde(default)]
    pub security: crate::security::image::SecurityOutcome,
    /// DescribeQuorum (an RPC answer, never a record's outcome).
    #[serde(default)]
    pub quorum: Option<super::quorum::QuorumState>,
}

impl CommandResult {
    pub fn ok() -> Self {
        CommandResult::default()
    }

    pub fn error(code: i16, message: impl Into<String>) -> Self {
        CommandResult { error_code: code, message: Some(message.into()), ..Default::default() }
    }

    pub fn is_ok(&self) -> bool {
        self.error_code == 0
    }
}
