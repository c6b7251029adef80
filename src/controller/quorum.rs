//! The metadata quorum's state as DescribeQuorum reports it (Kafka's
//! `kafka-metadata-quorum.sh describe`): the leader, its epoch (the raft term), the
//! high watermark and each voter's log end offset, from the active controller's raft
//! metrics. Offsets are Kafka's: the next index, so an index `i` is offset `i + 1`.

use openraft::{BasicNode, RaftMetrics};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<VoterState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterState {
    pub id: i32,
    pub log_end_offset: i64,
    /// When the leader last heard from the voter (ms), -1 when unknown: openraft keeps
    /// no per-follower time, so only the leader's own entry has one.
    pub last_fetch_timestamp: i64,
    /// When the voter last had everything the leader has (ms), -1 when unknown.
    pub last_caught_up_timestamp: i64,
}

/// The state, if these metrics are those of the leader (`node_id`).
pub fn from_metrics(m: &RaftMetrics<u64, BasicNode>, node_id: u64, now_ms: i64) -> Option<QuorumState> {
    if m.current_leader != Some(node_id) {
        return None;
    }
    let replication = m.replication.as_ref()?;
    let leader_end = m.last_log_index.map_or(0, |i| i as i64 + 1);
    let voters: Vec<VoterState> = m
        .membership_config
        .membership()
        .voter_ids()
        .map(|id| {
            let end = if id == node_id { leader_end } else { replication.get(&id).and_then(|l| l.as_ref()).map_or(0, |l| l.index as i64 + 1) };
            let caught_up = end == leader_end;
            VoterState {
                id: id as i32,
                log_end_offset: end,
                last_fetch_timestamp: if id == node_id { now_ms } else { -1 },
                last_caught_up_timestamp: if caught_up { now_ms } else { -1 },
            }
        })
        .collect();
    Some(QuorumState { leader_id: node_id as i32, leader_epoch: m.current_term as i32, high_watermark: majority_offset(&voters), voters })
}

/// The highest offset a majority of the voters has: what the quorum has committed.
fn majority_offset(voters: &[VoterState]) -> i64 {
    let mut ends: Vec<i64> = voters.iter().map(|v| v.log_end_offset).collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    ends.get(ends.len() / 2).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_is_what_a_majority_has() {
        let v = |ends: &[i64]| ends.iter().enumerate().map(|(i, e)| VoterState { id: i as i32, log_end_offset: *e, ..Default::default() }).collect::<Vec<_>>();
        assert_eq!(majority_offset(&v(&[10, 7, 3])), 7);
        assert_eq!(majority_offset(&v(&[10, 10, 3])), 10);
        assert_eq!(majority_offset(&v(&[10])), 10);
        assert_eq!(majority_offset(&v(&[9, 5, 5, 1, 0])), 5);
    }
}
