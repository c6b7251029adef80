//! AlterReplicaLogDirs: moving replicas between this broker's log directories. Riffle
//! has one (`log.dirs`), so a replica can only be "moved" to the directory it is in
//! (nothing to do, as in Kafka); any other path is not a configured log dir.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::alter_replica_log_dirs_response::{AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};

use super::describe_log_dirs::{absolute, hosted};
use super::authz::op;
use super::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, req: AlterReplicaLogDirsRequest) -> AlterReplicaLogDirsResponse {
    let ours = absolute(&ctx.services.config.log_dir);
    let node = ctx.services.config.node_id;
    let mut resp = AlterReplicaLogDirsResponse::default();
    let denied = !ctx.cluster_authorized(op::ALTER);
    for dir in req.dirs {
        let known_dir = absolute(std::path::Path::new(dir.path.as_str())) == ours;
        for t in dir.topics {
            let topic = ctx.services.topics.get(&t.name);
            let results = t
                .partitions
                .iter()
                .map(|&index| {
                    let partition = topic.as_ref().and_then(|t| t.partition(index));
                    let code = match partition {
                        _ if denied => E::ClusterAuthorizationFailed.code(),
                        _ if !known_dir => E::LogDirNotFound.code(),
                        None => E::UnknownTopicOrPartition.code(),
                        // A partition of the cluster with no replica here.
                        Some(p) if !hosted(ctx, p, node) => E::ReplicaNotAvailable.code(),
                        Some(_) => 0,
                    };
                    AlterReplicaLogDirPartitionResult::default().with_partition_index(index).with_error_code(code)
                })
                .collect();
            resp.results.push(AlterReplicaLogDirTopicResult::default().with_topic_name(t.name).with_partitions(results));
        }
    }
    resp
}
