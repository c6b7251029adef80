//! Topic changes asked for by clients (CreateTopics, DeleteTopics, CreatePartitions,
//! AlterConfigs, auto-creation): on a single broker they change the local registry; on
//! a cluster node they are records committed by the controller, answered once this
//! broker has applied them.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use super::Services;
use crate::broker::{NewTopic, Topic, TopicError};
use crate::common::topic_id;
use crate::config::TopicOverrides;
use crate::controller::{Command, CommandResult, ControllerError};
use crate::errors::topic_error_code;

/// Why a topic change was not made.
#[derive(Debug, thiserror::Error)]
pub enum TopicAdminError {
    /// The local registry refused it (a single broker).
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// No active controller took it in time.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error("the change was committed but not yet applied on this broker")]
    NotApplied,
    /// The controller decided against it; its record carries the Kafka error.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl TopicAdminError {
    /// The Kafka error code a client gets.
    pub fn code(&self) -> i16 {
        match self {
            TopicAdminError::Topic(e) => topic_error_code(e),
            TopicAdminError::Controller(_) | TopicAdminError::NotApplied => E::RequestTimedOut.code(),
            TopicAdminError::Refused { code, .. } => *code,
        }
    }

    /// The code and message, as responses carry them.
    pub fn failure(&self) -> (i16, String) {
        (self.code(), self.to_string())
    }
}

/// The most partitions one CreateTopics or CreatePartitions request may add, as Kafka's
/// controller limits them (larger requests have exhausted its memory).
pub const MAX_PARTITIONS_PER_BATCH: i64 = 10_000;

/// How long a change may take to be committed and applied here.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Commits `cmd` and waits until `applied` holds here.
async fn commit(broker: &Services, cmd: Command, applied: impl FnMut() -> bool) -> Result<CommandResult, TopicAdminError> {
    let rm = broker.cluster().expect("cluster node");
    let r = rm.controller.write(cmd, APPLY_TIMEOUT).await?;
    if r.is_ok() && !rm.wait_applied(APPLY_TIMEOUT, applied).await {
        return Err(TopicAdminError::NotApplied);
    }
    Ok(r)
}

fn refused(r: &CommandResult) -> TopicAdminError {
    TopicAdminError::Refused { code: r.error_code, message: r.message.clone().unwrap_or_default() }
}

fn outcome(r: CommandResult) -> Result<(), TopicAdminError> {
    if r.is_ok() {
        Ok(())
    } else {
        Err(refused(&r))
    }
}

/// Creates a topic (or only checks that it could be, with `validate_only`). Returns the
/// topic once it exists here.
pub async fn create_topic(broker: &Services, req: NewTopic<'_>, assignment: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<Option<Arc<Topic>>, TopicAdminError> {
    if broker.cluster().is_none() {
        if validate_only {
            return broker.topics.validate_new(&req).map(|_| None).map_err(TopicAdminError::from);
        }
        return broker.topics.create(req).map(Some).map_err(TopicAdminError::from);
    }
    let id = topic_id::generate();
    let name = req.name.to_string();
    let cmd = Command::CreateTopic {
        name: name.clone(),
        id,
        partitions: req.partitions,
        replication_factor: req.replication_factor,
        assignment,
        configs: req.overrides,
        validate_only,
    };
    let r = commit(broker, cmd, || validate_only || broker.topics.get(&name).is_some_and(|t| t.id == id)).await?;
    // A retried write that had in fact been committed reports the topic as existing.
    let ours = r.error_code == E::TopicAlreadyExists.code() && broker.cluster().is_some_and(|rm| rm.controller.image().topics.get(&name).is_some_and(|t| t.id == id));
    if !r.is_ok() && !ours {
        return Err(refused(&r));
    }
    Ok(if validate_only { None } else { broker.topics.get(&name) })
}

pub async fn delete_topic(broker: &Services, name: &str) -> Result<(), TopicAdminError> {
    if broker.cluster().is_none() {
        return broker.delete_topic_locally(name).map_err(TopicAdminError::from);
    }
    let r = commit(broker, Command::DeleteTopic { name: name.to_string() }, || broker.topics.get(name).is_none()).await?;
    outcome(r)
}

/// Grows a topic to `count` partitions; `assignment` names the new partitions' replicas
/// (on a single broker the handler has checked it names only this broker).
pub async fn add_partitions(broker: &Services, name: &str, count: i32, assignment: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<(), TopicAdminError> {
    if broker.cluster().is_none() {
        return broker.topics.add_partitions(name, count, validate_only).map_err(TopicAdminError::from);
    }
    let cmd = Command::CreatePartitions { name: name.to_string(), count, assignment, validate_only };
    let r = commit(broker, cmd, || validate_only || broker.topics.get(name).is_some_and(|t| t.partitions.len() as i32 >= count)).await?;
    outcome(r)
}

/// Replaces the dynamic configs of broker resource `resource` ("" for the cluster-wide
/// defaults, else this broker's id) once they have been checked; they take effect on
/// this broker's topics at once (on a cluster, on every broker as it applies them).
pub async fn set_broker_configs(broker: &Services, resource: &str, configs: TopicOverrides, validate_only: bool) -> Result<(), TopicAdminError> {
    if broker.cluster().is_none() {
        if validate_only {
            return Ok(());
        }
        let mut next = broker.config.dynamic();
        if resource.is_empty() {
            next.cluster_default = configs;
        } else {
            next.per_broker = configs;
        }
        return broker.topics.set_dynamic_configs(next).map_err(TopicAdminError::from);
    }
    let cmd = Command::SetBrokerConfigs { resource: resource.to_string(), configs: configs.clone(), validate_only };
    let applied = || {
        let d = broker.config.dynamic();
        validate_only || *(if resource.is_empty() { &d.cluster_default } else { &d.per_broker }) == configs
    };
    let r = commit(broker, cmd, applied).await?;
    outcome(r)
}

pub async fn set_topic_configs(broker: &Services, name: &str, overrides: TopicOverrides, validate_only: bool) -> Result<(), TopicAdminError> {
    if broker.cluster().is_none() {
        return broker.topics.set_overrides(name, overrides, validate_only).map_err(TopicAdminError::from);
    }
    let want = overrides.clone();
    let cmd = Command::SetTopicConfigs { name: name.to_string(), configs: overrides, validate_only };
    let r = commit(broker, cmd, || validate_only || broker.topics.get(name).is_some_and(|t| *t.overrides.read() == want)).await?;
    outcome(r)
}

