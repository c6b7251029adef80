//! Replica placement for new topics and partitions, as Kafka's AdminUtils: round-robin
//! over the brokers from a rotating start, followers shifted so that leaders and
//! followers spread, and — when every broker has a `broker.rack` — no two replicas of a
//! partition on one rack while racks remain.

use std::collections::{BTreeMap, BTreeSet};

/// A broker that can take replicas: (id, rack).
pub type Candidate = (i32, Option<String>);

fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    let shift = 1 + (shift + j) % (n - 1);
    (first + shift) % n
}

/// Replicas for partitions `first_partition..first_partition + count`. `start` rotates
/// the first broker from one topic to the next. Fails when the replication factor is
/// larger than the candidates.
pub fn assign(brokers: &[Candidate], first_partition: i32, count: i32, rf: i32, start: u64) -> Result<Vec<Vec<i32>>, String> {
    let n = brokers.len();
    if rf < 1 || rf as usize > n {
        return Err(format!("replication factor: {rf} larger than available brokers: {n}"));
    }
    let rack_aware = brokers.iter().all(|(_, r)| r.is_some());
    let list: Vec<Candidate> = if rack_aware { rack_alternated(brokers) } else { sorted(brokers) };
    let racks: BTreeSet<&str> = list.iter().filter_map(|(_, r)| r.as_deref()).collect();
    let start = (start % n as u64) as usize;
    let mut out = Vec::with_capacity(count.max(0) as usize);
    let mut shift = start;
    for i in 0..count.max(0) as usize {
        let p = first_partition as usize + i;
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![list[first].0];
        if n > 1 {
            if rack_aware {
                let mut used_racks: BTreeSet<&str> = list[first].1.as_deref().into_iter().collect();
                let mut k = 0;
                while replicas.len() < rf as usize {
                    let (id, rack) = &list[replica_index(first, shift * racks.len(), k, n)];
                    let rack = rack.as_deref().unwrap_or_default();
                    k += 1;
                    let rack_ok = !used_racks.contains(rack) || used_racks.len() == racks.len();
                    if rack_ok && !replicas.contains(id) {
                        used_racks.insert(rack);
                        replicas.push(*id);
                    }
                    if k > n * n {
                        // Every rack holds a replica and the rest are taken: fall back.
                        used_racks = racks.clone();
                    }
                }
            } else {
                for j in 0..(rf as usize - 1) {
                    replicas.push(list[replica_index(first, shift, j, n)].0);
                }
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

fn sorted(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut v = brokers.to_vec();
    v.sort_by_key(|(id, _)| *id);
    v
}

/// Brokers ordered so that consecutive ones are on different racks: one from each rack
/// in turn.
fn rack_alternated(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, rack) in brokers {
        by_rack.entry(rack.as_deref().unwrap_or_default()).or_default().push(*id);
    }
    for ids in by_rack.values_mut() {
        ids.sort();
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for (rack, ids) in &by_rack {
            if let Some(id) = ids.get(round) {
                out.push((*id, Some(rack.to_string())));
            }
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(ids: &[i32]) -> Vec<Candidate> {
        ids.iter().map(|i| (*i, None)).collect()
    }

    #[test]
    fn leaders_and_followers_spread() {
        let a = assign(&plain(&[1, 2, 3]), 0, 6, 3, 0).unwrap();
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1, 2, 3]);
        for r in &a {
            let set: BTreeSet<_> = r.iter().collect();
            assert_eq!(set.len(), 3, "{r:?}");
        }
        // A different start rotates the first leader.
        assert_eq!(assign(&plain(&[1, 2, 3]), 0, 1, 1, 1).unwrap(), vec![vec![2]]);
        assert!(assign(&plain(&[1, 2]), 0, 1, 3, 0).is_err());
    }

    #[test]
    fn racks_are_spread_first() {
        let b: Vec<Candidate> = vec![(1, Some("a".into())), (2, Some("a".into())), (3, Some("b".into())), (4, Some("b".into()))];
        for start in 0..4 {
            for r in assign(&b, 0, 8, 2, start).unwrap() {
                let racks: BTreeSet<_> = r.iter().map(|id| if *id <= 2 { "a" } else { "b" }).collect();
                assert_eq!(racks.len(), 2, "{r:?} is on one rack");
            }
        }
        // More replicas than racks: every broker at most once.
        for r in assign(&b, 0, 4, 4, 1).unwrap() {
            let set: BTreeSet<_> = r.iter().collect();
            assert_eq!(set.len(), 4);
        }
    }
}
