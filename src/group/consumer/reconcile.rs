//! The reconciliation of one member towards its target assignment (Kafka's
//! CurrentAssignmentBuilder): a partition moves from its owner to another member only
//! after the owner has revoked it, so no partition is owned by two members at once.
//! Pure: the group state and the member's report come in, the member's next
//! assignment comes out.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::member::{MemberAssignment, MemberState, OwnedPartitions, TargetPartitions};

/// What the reconciliation needs besides the member's assignment.
pub struct Reconciliation<'a> {
    pub target_epoch: i32,
    pub target: &'a TargetPartitions,
    /// The topics the member subscribes to now: partitions of others are revoked even
    /// before the target assignment says so.
    pub subscribed: &'a BTreeSet<Uuid>,
    /// The partitions the member says it owns (`None` when the heartbeat left them out).
    pub owned: Option<&'a TargetPartitions>,
    pub subscription_changed: bool,
    /// The epoch of the member that owns a partition, if any does.
    pub owner_epoch: &'a dyn Fn(&Uuid, i32) -> Option<i32>,
}

/// A member in a state this coordinator does not know that still claims partitions: it
/// is fenced (FENCED_MEMBER_EPOCH) and rejoins from scratch.
#[derive(Debug, PartialEq, Eq)]
pub struct MustRejoin;

/// Kafka's CurrentAssignmentBuilder.build().
pub fn reconcile(current: &MemberAssignment, r: &Reconciliation) -> Result<MemberAssignment, MustRejoin> {
    match current.state {
        MemberState::Stable => {
            if current.member_epoch != r.target_epoch {
                Ok(next_assignment(current, current.member_epoch, r))
            } else if r.subscription_changed {
                Ok(drop_unsubscribed(current, r))
            } else {
                Ok(current.clone())
            }
        }
        MemberState::UnrevokedPartitions => {
            if owns_any(r.owned, &current.pending_revocation) {
                if r.subscription_changed {
                    Ok(drop_unsubscribed(current, r))
                } else {
                    Ok(current.clone())
                }
            } else {
                Ok(next_assignment(current, current.member_epoch, r))
            }
        }
        MemberState::UnreleasedPartitions => Ok(next_assignment(current, current.member_epoch, r)),
        MemberState::Unknown => {
            if r.owned.is_none_or(|o| o.values().any(|p| !p.is_empty())) {
                return Err(MustRejoin);
            }
            Ok(next_assignment(current, r.target_epoch, r))
        }
    }
}

/// Whether the member still reports owning any partition of `revoking`. A heartbeat
/// without the owned partitions proves nothing, so counts as still owning them.
fn owns_any(owned: Option<&TargetPartitions>, revoking: &OwnedPartitions) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(t, ps)| revoking.get(t).is_some_and(|r| ps.iter().any(|p| r.contains_key(p))))
}

/// Revokes the partitions of topics the member no longer subscribes to, keeping its
/// epoch (Kafka's updateCurrentAssignment).
fn drop_unsubscribed(current: &MemberAssignment, r: &Reconciliation) -> MemberAssignment {
    let mut assigned = current.assigned.clone();
    let mut revoking = current.pending_revocation.clone();
    let mut changed = false;
    for (topic, parts) in &current.assigned {
        if !r.subscribed.contains(topic) {
            assigned.remove(topic);
            revoking.entry(*topic).or_default().extend(parts.iter().map(|(p, e)| (*p, *e)));
            changed = true;
        }
    }
    if !changed {
        return current.clone();
    }
    let mut next = current.clone().with_epoch(current.member_epoch, current.member_epoch);
    next.assigned = assigned;
    if !revoking.is_empty() && owns_any(r.owned, &revoking) {
        next.state = MemberState::UnrevokedPartitions;
        next.pending_revocation = revoking;
    }
    next
}

/// Kafka's computeNextAssignment: keep what stays, revoke what goes; only once nothing
/// is left to revoke, take the new partitions that no other member owns.
fn next_assignment(current: &MemberAssignment, member_epoch: i32, r: &Reconciliation) -> MemberAssignment {
    let empty_target = BTreeSet::new();
    let empty_owned = BTreeMap::new();
    let topics: BTreeSet<Uuid> = r.target.keys().chain(current.assigned.keys()).copied().collect();
    let mut unreleased = false;
    let mut assigned: OwnedPartitions = BTreeMap::new();
    let mut revoking: OwnedPartitions = BTreeMap::new();
    let mut to_assign: TargetPartitions = BTreeMap::new();
    for topic in topics {
        let target = if r.subscribed.contains(&topic) { r.target.get(&topic).unwrap_or(&empty_target) } else { &empty_target };
        let had = current.assigned.get(&topic).unwrap_or(&empty_owned);
        let pending_here = current.pending_revocation.get(&topic);
        let keep: BTreeMap<i32, i32> = had.iter().filter(|(p, _)| target.contains(p)).map(|(p, e)| (*p, *e)).collect();
        let revoke: BTreeMap<i32, i32> = had.iter().filter(|(p, _)| !keep.contains_key(p)).map(|(p, e)| (*p, *e)).collect();
        let mut take = BTreeSet::new();
        for p in target.iter().filter(|p| !keep.contains_key(p)) {
            // A partition this member is itself revoking is not held by another one.
            let held_by_other = (r.owner_epoch)(&topic, *p).is_some() && !pending_here.is_some_and(|x| x.contains_key(p));
            if held_by_other {
                unreleased = true;
            } else {
                take.insert(*p);
            }
        }
        if !keep.is_empty() {
            assigned.insert(topic, keep);
        }
        if !revoke.is_empty() {
            revoking.insert(topic, revoke);
        }
        if !take.is_empty() {
            to_assign.insert(topic, take);
        }
    }
    let mut next = current.clone();
    if !revoking.is_empty() && owns_any(r.owned, &revoking) {
        next.state = MemberState::UnrevokedPartitions;
        next.assigned = assigned;
        next.pending_revocation = revoking;
        return next.with_epoch(member_epoch, current.member_epoch);
    }
    for (topic, parts) in to_assign {
        assigned.entry(topic).or_default().extend(parts.into_iter().map(|p| (p, r.target_epoch)));
    }
    next.state = if unreleased { MemberState::UnreleasedPartitions } else { MemberState::Stable };
    next.assigned = assigned;
    next.pending_revocation = BTreeMap::new();
    // Kafka's updateMemberEpoch: the previous epoch is the one the member had.
    next.with_epoch(r.target_epoch, current.member_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn owned(parts: &[(u128, i32, i32)]) -> OwnedPartitions {
        let mut m: OwnedPartitions = BTreeMap::new();
        for (topic, p, e) in parts {
            m.entry(t(*topic)).or_default().insert(*p, *e);
        }
        m
    }

    fn target(parts: &[(u128, i32)]) -> TargetPartitions {
        let mut m: TargetPartitions = BTreeMap::new();
        for (topic, p) in parts {
            m.entry(t(*topic)).or_default().insert(*p);
        }
        m
    }

    #[test]
    fn revokes_before_the_epoch_moves_then_takes_what_is_free() {
        let subscribed: BTreeSet<Uuid> = [t(1)].into();
        let current = MemberAssignment { member_epoch: 3, previous_member_epoch: 2, state: MemberState::Stable, assigned: owned(&[(1, 0, 3), (1, 1, 3)]), pending_revocation: BTreeMap::new() };
        let tgt = target(&[(1, 0), (1, 2)]);
        // partition 2 is still owned by another member
        let owner = |_: &Uuid, p: i32| (p == 2).then_some(3);
        let reported = target(&[(1, 0), (1, 1)]);
        let r = Reconciliation { target_epoch: 4, target: &tgt, subscribed: &subscribed, owned: Some(&reported), subscription_changed: false, owner_epoch: &owner };
        let next = reconcile(&current, &r).unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.pending_revocation, owned(&[(1, 1, 3)]));
        // the member revoked 1: it moves to epoch 4 but partition 2 is not yet released
        let reported = target(&[(1, 0)]);
        let r = Reconciliation { owned: Some(&reported), ..r };
        let next = reconcile(&next, &r).unwrap();
        assert_eq!((next.state, next.member_epoch, next.previous_member_epoch), (MemberState::UnreleasedPartitions, 4, 3));
        assert_eq!(next.assigned, owned(&[(1, 0, 3)]));
        // once released, it takes partition 2 at epoch 4
        let free = |_: &Uuid, _: i32| None;
        let r = Reconciliation { owner_epoch: &free, ..r };
        let next = reconcile(&next, &r).unwrap();
        assert_eq!((next.state, next.member_epoch), (MemberState::Stable, 4));
        assert_eq!(next.assigned, owned(&[(1, 0, 3), (1, 2, 4)]));
    }

    #[test]
    fn an_unsubscribed_topic_is_revoked_at_once() {
        let subscribed: BTreeSet<Uuid> = [t(2)].into();
        let current = MemberAssignment { member_epoch: 5, previous_member_epoch: 4, state: MemberState::Stable, assigned: owned(&[(1, 0, 5), (2, 0, 5)]), pending_revocation: BTreeMap::new() };
        let tgt = target(&[(1, 0), (2, 0)]);
        let free = |_: &Uuid, _: i32| None;
        let reported = target(&[(1, 0), (2, 0)]);
        let r = Reconciliation { target_epoch: 5, target: &tgt, subscribed: &subscribed, owned: Some(&reported), subscription_changed: true, owner_epoch: &free };
        let next = reconcile(&current, &r).unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.assigned, owned(&[(2, 0, 5)]));
        assert_eq!(next.pending_revocation, owned(&[(1, 0, 5)]));
    }

    #[test]
    fn an_unknown_state_with_partitions_is_fenced() {
        let subscribed = BTreeSet::new();
        let current = MemberAssignment { state: MemberState::Unknown, ..Default::default() };
        let tgt = BTreeMap::new();
        let free = |_: &Uuid, _: i32| None;
        let reported = target(&[(1, 0)]);
        let r = Reconciliation { target_epoch: 1, target: &tgt, subscribed: &subscribed, owned: Some(&reported), subscription_changed: false, owner_epoch: &free };
        assert!(reconcile(&current, &r).is_err());
    }
}
