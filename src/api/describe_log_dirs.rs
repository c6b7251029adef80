//! DescribeLogDirs: the broker's log directory, the size of every partition replica in
//! it, and the space on its file system (v4). Riffle keeps all replicas in one directory
//! (`log.dirs` names one), and has no future replicas (AlterReplicaLogDirs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::op;
use super::RequestContext;

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // None: every partition; otherwise the asked-for partitions that are here.
    let wanted: Option<BTreeMap<String, BTreeSet<i32>>> = req.topics.map(|ts| {
        let mut m: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for t in ts {
            m.entry(t.topic.to_string()).or_default().extend(t.partitions);
        }
        m
    });
    let mut topics = Vec::new();
    // DESCRIBE on the cluster; without it Kafka answers CLUSTER_AUTHORIZATION_FAILED (v3+)
    // or nothing.
    let denied = !ctx.cluster_authorized(op::DESCRIBE);
    for topic in ctx.services.topics.all().into_iter().filter(|_| !denied) {
        let asked = match &wanted {
            None => None,
            Some(m) => match m.get(topic.name.as_ref()) {
                Some(ps) => Some(ps),
                None => continue,
            },
        };
        let mut out = DescribeLogDirsTopic::default();
        out.name = TopicName(StrBytes::from_string(topic.name.to_string()));
        let node = ctx.services.config.node_id;
        for (i, p) in topic.partitions.iter().enumerate() {
            if asked.is_some_and(|ps| !ps.contains(&(i as i32))) {
                continue;
            }
            if !hosted(ctx, p, node) {
                continue;
            }
            let mut d = DescribeLogDirsPartition::default();
            d.partition_index = i as i32;
            d.partition_size = p.log.read().size_bytes() as i64;
            // Kafka's lag of a current (not future) replica: how far its log end is behind
            // its own high watermark, never below 0.
            d.offset_lag = (p.high_watermark() - p.log_end_offset()).max(0);
            d.is_future_key = false;
            out.partitions.push(d);
        }
        if !out.partitions.is_empty() {
            topics.push(out);
        }
    }
    let dir = &ctx.services.config.log_dir;
    let mut result = DescribeLogDirsResult::default();
    result.log_dir = StrBytes::from_string(absolute(dir));
    result.topics = topics;
    (result.total_bytes, result.usable_bytes) = space(dir).unwrap_or((-1, -1));
    let mut resp = DescribeLogDirsResponse::default();
    if denied {
        resp.error_code = kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
        return resp;
    }
    resp.results.push(result);
    resp
}

/// Whether this broker hosts a replica of `p`: on a cluster node only the replicas
/// assigned here (as Kafka lists its local logs), not every partition the node knows of.
pub(super) fn hosted(ctx: &RequestContext<'_>, p: &crate::broker::Partition, node: i32) -> bool {
    ctx.services.cluster().is_none() || p.state().replicas.contains(&node)
}

/// The directory as Kafka names it: an absolute path.
pub(super) fn absolute(dir: &Path) -> String {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string()
}

/// Total and usable bytes of the file system holding `dir` (Kafka: `FileStore`'s total
/// and usable space).
fn space(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `st` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as i64;
    Some((st.f_blocks as i64 * frsize, st.f_bavail as i64 * frsize))
}
