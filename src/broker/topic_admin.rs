//! Topic changes asked for by clients (CreateTopics, DeleteTopics, CreatePartitions,
//! AlterConfigs, auto-creation): on a single broker they change the local registry; on
//! a cluster node they are records committed by the controller, answered once this
//! broker has applied them.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use super::topics::{NewTopic, Topic, TopicError};
use super::{topic_id, Broker};
use crate::api::errors::topic_error_code;
use crate::config::TopicOverrides;
use crate::controller::{Command, CommandResult};

/// A Kafka error code and message.
pub type Failure = (i16, String);

/// The most partitions one CreateTopics or CreatePartitions request may add, as Kafka's
/// controller limits them (larger requests have exhausted its memory).
pub const MAX_PARTITIONS_PER_BATCH: i64 = 10_000;

/// How long a change may take to be committed and applied here.
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn local(e: TopicError) -> Failure {
    (topic_error_code(&e), e.to_string())
}

/// Commits `cmd` and waits until `applied` holds here.
async fn commit(broker: &Broker, cmd: Command, applied: impl FnMut() -> bool) -> Result<CommandResult, Failure> {
    let rm = broker.cluster().expect("cluster node");
    let r = rm.controller.write(cmd, APPLY_TIMEOUT).await.map_err(|e| (E::RequestTimedOut.code(), e.to_string()))?;
    if r.is_ok() && !rm.wait_applied(APPLY_TIMEOUT, applied).await {
        return Err((E::RequestTimedOut.code(), "the change was committed but not yet applied on this broker".into()));
    }
    Ok(r)
}

fn refused(r: &CommandResult) -> Failure {
    (r.error_code, r.message.clone().unwrap_or_default())
}

fn outcome(r: CommandResult) -> Result<(), Failure> {
    if r.is_ok() {
        Ok(())
    } else {
        Err(refused(&r))
    }
}

/// Creates a topic (or only checks that it could be, with `validate_only`). Returns the
/// topic once it exists here.
pub async fn create_topic(broker: &Arc<Broker>, req: NewTopic<'_>, assignment: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<Option<Arc<Topic>>, Failure> {
    if broker.cluster().is_none() {
        if validate_only {
            return broker.topics.validate_new(&req).map(|_| None).map_err(local);
        }
        return broker.topics.create(req).map(Some).map_err(local);
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

pub async fn delete_topic(broker: &Arc<Broker>, name: &str) -> Result<(), Failure> {
    if broker.cluster().is_none() {
        return broker.delete_topic_locally(name).map_err(local);
    }
    let r = commit(broker, Command::DeleteTopic { name: name.to_string() }, || broker.topics.get(name).is_none()).await?;
    outcome(r)
}

/// Grows a topic to `count` partitions; `assignment` names the new partitions' replicas
/// (on a single broker the handler has checked it names only this broker).
pub async fn add_partitions(broker: &Arc<Broker>, name: &str, count: i32, assignment: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<(), Failure> {
    if broker.cluster().is_none() {
        return broker.topics.add_partitions(name, count, validate_only).map_err(local);
    }
    let cmd = Command::CreatePartitions { name: name.to_string(), count, assignment, validate_only };
    let r = commit(broker, cmd, || validate_only || broker.topics.get(name).is_some_and(|t| t.partitions.len() as i32 >= count)).await?;
    outcome(r)
}

pub async fn set_topic_configs(broker: &Arc<Broker>, name: &str, overrides: TopicOverrides, validate_only: bool) -> Result<(), Failure> {
    if broker.cluster().is_none() {
        return broker.topics.set_overrides(name, overrides, validate_only).map_err(local);
    }
    let want = overrides.clone();
    let cmd = Command::SetTopicConfigs { name: name.to_string(), configs: overrides, validate_only };
    let r = commit(broker, cmd, || validate_only || broker.topics.get(name).is_some_and(|t| *t.overrides.read() == want)).await?;
    outcome(r)
}

