//! The server-side assignors of `group.consumer.assignors`: `uniform` (balanced and
//! sticky: a member keeps what it had as far as balance allows) and `range` (contiguous
//! ranges per topic, the same numbers from co-partitioned topics). They compute a
//! group's target assignment; the reconciliation moves members towards it. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use uuid::Uuid;

use super::member::TargetPartitions;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";

/// A member as the assignor sees it.
pub struct AssignorMember<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    /// Topic ids it subscribes to that exist.
    pub topics: BTreeSet<Uuid>,
}

/// The group as the assignor sees it: members, partition counts of the subscribed
/// topics, and the previous target assignment.
pub struct AssignorInput<'a> {
    pub members: Vec<AssignorMember<'a>>,
    pub partitions: &'a HashMap<Uuid, i32>,
    pub previous: &'a BTreeMap<String, TargetPartitions>,
}

pub fn assign(assignor: &str, input: &AssignorInput) -> BTreeMap<String, TargetPartitions> {
    match assignor {
        RANGE => range(input),
        _ => uniform(input),
    }
}

/// Kafka's member order for ranges: members with an instance id first, by instance id,
/// then by member id, so that static members keep their ranges across restarts.
fn range_order<'a>(members: &'a [AssignorMember<'a>]) -> Vec<&'a AssignorMember<'a>> {
    let mut v: Vec<&AssignorMember> = members.iter().collect();
    v.sort_by(|a, b| match (a.instance_id, b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(b.member_id),
    });
    v
}

fn range(input: &AssignorInput) -> BTreeMap<String, TargetPartitions> {
    let ordered = range_order(&input.members);
    let mut out: BTreeMap<String, TargetPartitions> = input.members.iter().map(|m| (m.member_id.to_string(), BTreeMap::new())).collect();
    let topics: BTreeSet<Uuid> = input.members.iter().flat_map(|m| m.topics.iter().copied()).collect();
    for topic in topics {
        let count = input.partitions.get(&topic).copied().unwrap_or(0).max(0);
        let subscribers: Vec<&&AssignorMember> = ordered.iter().filter(|m| m.topics.contains(&topic)).collect();
        if subscribers.is_empty() || count == 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, m) in subscribers.iter().enumerate() {
            let size = quota + i32::from((i as i32) < extra);
            if size > 0 {
                out.get_mut(m.member_id).expect("every member has an entry").entry(topic).or_default().extend(next..next + size);
            }
            next += size;
        }
    }
    out
}

/// Balanced (counts differ by at most one among members that could take a partition)
/// and sticky: each member keeps its previous partitions unless balance needs them,
/// new partitions go to the least loaded subscribers, then partitions move one at a
/// time from the most to the least loaded member that subscribes to their topic.
fn uniform(input: &AssignorInput) -> BTreeMap<String, TargetPartitions> {
    let ids: Vec<&str> = input.members.iter().map(|m| m.member_id).collect();
    let subscribes = |i: usize, topic: &Uuid| input.members[i].topics.contains(topic);
    let mut owner: HashMap<(Uuid, i32), usize> = HashMap::new();
    let mut held: Vec<BTreeSet<(Uuid, i32)>> = vec![BTreeSet::new(); ids.len()];
    for (i, id) in ids.iter().enumerate() {
        for (topic, parts) in input.previous.get(*id).into_iter().flatten() {
            let count = input.partitions.get(topic).copied().unwrap_or(0);
            if !subscribes(i, topic) {
                continue;
            }
            for p in parts.iter().filter(|p| **p < count) {
                if owner.insert((*topic, *p), i).is_none() {
                    held[i].insert((*topic, *p));
                }
            }
        }
    }
    // Every partition of a subscribed topic, in a stable order.
    let mut all: Vec<(Uuid, i32)> = Vec::new();
    let topics: BTreeSet<Uuid> = input.members.iter().flat_map(|m| m.topics.iter().copied()).collect();
    for topic in topics {
        for p in 0..input.partitions.get(&topic).copied().unwrap_or(0).max(0) {
            all.push((topic, p));
        }
    }
    for tp in &all {
        if owner.contains_key(tp) {
            continue;
        }
        let best = (0..ids.len()).filter(|i| subscribes(*i, &tp.0)).min_by_key(|i| (held[*i].len(), ids[*i]));
        if let Some(i) = best {
            owner.insert(*tp, i);
            held[i].insert(*tp);
        }
    }
    // Move partitions from overloaded members; each move lowers the spread, so this
    // ends within the partition count.
    for _ in 0..=all.len() {
        let mut moved = false;
        let mut by_load: Vec<usize> = (0..ids.len()).collect();
        by_load.sort_by_key(|i| (std::cmp::Reverse(held[*i].len()), ids[*i]));
        'outer: for &from in &by_load {
            for &to in by_load.iter().rev() {
                if held[from].len() < held[to].len() + 2 {
                    continue;
                }
                if let Some(tp) = held[from].iter().rev().find(|tp| subscribes(to, &tp.0)).copied() {
                    held[from].remove(&tp);
                    held[to].insert(tp);
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            break;
        }
    }
    ids.iter()
        .zip(held)
        .map(|(id, parts)| {
            let mut t: TargetPartitions = BTreeMap::new();
            for (topic, p) in parts {
                t.entry(topic).or_default().insert(p);
            }
            (id.to_string(), t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(id: &'a str, topics: &[u128]) -> AssignorMember<'a> {
        AssignorMember { member_id: id, instance_id: None, topics: topics.iter().map(|t| Uuid::from_u128(*t)).collect() }
    }

    fn counts(a: &BTreeMap<String, TargetPartitions>) -> Vec<usize> {
        a.values().map(|t| t.values().map(|p| p.len()).sum()).collect()
    }

    #[test]
    fn uniform_splits_evenly_and_keeps_what_it_can() {
        let parts: HashMap<Uuid, i32> = [(Uuid::from_u128(1), 6)].into();
        let none = BTreeMap::new();
        let three = AssignorInput { members: vec![member("a", &[1]), member("b", &[1]), member("c", &[1])], partitions: &parts, previous: &none };
        let first = assign(UNIFORM, &three);
        assert_eq!(counts(&first), vec![2, 2, 2]);
        let four = AssignorInput { members: vec![member("a", &[1]), member("b", &[1]), member("c", &[1]), member("d", &[1])], partitions: &parts, previous: &first };
        let second = assign(UNIFORM, &four);
        let mut c = counts(&second);
        c.sort();
        assert_eq!(c, vec![1, 1, 2, 2]);
        // only the partitions the new member takes have moved
        let kept: usize = ["a", "b", "c"].iter().map(|m| second[*m].values().flatten().filter(|p| first[*m].values().flatten().any(|q| q == *p)).count()).sum();
        assert_eq!(kept, 5, "one partition moves to the new member");
    }

    #[test]
    fn uniform_gives_a_topic_only_to_its_subscribers() {
        let parts: HashMap<Uuid, i32> = [(Uuid::from_u128(1), 4), (Uuid::from_u128(2), 2)].into();
        let none = BTreeMap::new();
        let input = AssignorInput { members: vec![member("a", &[1]), member("b", &[1, 2])], partitions: &parts, previous: &none };
        let out = assign(UNIFORM, &input);
        assert!(!out["a"].contains_key(&Uuid::from_u128(2)));
        assert_eq!(counts(&out), vec![3, 3]);
    }

    #[test]
    fn range_gives_contiguous_co_partitioned_ranges() {
        let parts: HashMap<Uuid, i32> = [(Uuid::from_u128(1), 3), (Uuid::from_u128(2), 3)].into();
        let none = BTreeMap::new();
        let input = AssignorInput { members: vec![member("m1", &[1, 2]), member("m0", &[1, 2])], partitions: &parts, previous: &none };
        let out = assign(RANGE, &input);
        let want0: BTreeSet<i32> = [0, 1].into();
        assert_eq!(out["m0"][&Uuid::from_u128(1)], want0);
        assert_eq!(out["m0"][&Uuid::from_u128(2)], want0);
        assert_eq!(out["m1"][&Uuid::from_u128(1)], [2].into());
    }
}
