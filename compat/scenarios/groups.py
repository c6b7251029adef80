"""Consumer groups: several real clients in one group (each member a process
of its own, see harness/groups.py), commits, failover, restarts, admin.

The classic group protocol as the clients use it: FindCoordinator, JoinGroup,
SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups,
ListGroups, DeleteGroups, OffsetDelete.

Assignors: librdkafka (kcat, confluent-kafka) and kafka-python share Java's
protocol names ("range", "roundrobin", "cooperative-sticky") and can be
members of one group; kafkajs calls its assignor "RoundRobinAssigner", so it
gets groups of its own (mixing them is INCONSISTENT_GROUP_PROTOCOL, rightly).

No assertion is about time: everything waits for a condition with a deadline.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid

from harness.clients import get_client
from harness.common import CheckFailed, check, log, wait_until
from harness.groups import (BROKER_GROUP_OVERRIDES, Members, PacedProducer, admin, check_resumed, check_values,
                            committed, coordinator_ready, describe, duplicates, expected_positions, group_name, high_watermarks,
                            make_member, produce_values, raw_fenced_requests, wait_committed, wait_read,
                            wait_stable)

JS_ASSIGNOR = "RoundRobinAssigner"


def _topic(ctx, base, partitions):
    topic = ctx.topic(base)
    get_client("confluent-kafka").create_topic(ctx, topic, partitions)
    return topic


def _parts(topic, n):
    return {(topic, p) for p in range(n)}


def _assignor(kinds):
    return JS_ASSIGNOR if "kafkajs" in kinds else "range"


def _by_partition(records):
    out: dict[int, list[int]] = {}
    for _, p, o, _ in records:
        out.setdefault(p, []).append(o)
    return out


def _check_describe(desc, members, *, assignor=None, what="", client_ids=None):
    """DescribeGroups agrees with every member's own view: member id,
    client id (or, for a member named in ``client_ids``, that one), host and
    assignment."""
    check(desc["state"] == "STABLE", f"DescribeGroups state {desc['state']} {what}, expected Stable")
    check(len(desc["members"]) == len(members),
          f"DescribeGroups lists {len(desc['members'])} members {what}, expected {len(members)}: {desc['members']}")
    if assignor is not None:
        check(desc["assignor"] == assignor,
              f"DescribeGroups protocol (assignor) {desc['assignor']!r} {what}, expected {assignor!r}")
    by_id = {d["member_id"]: d for d in desc["members"]}
    for m in members:
        check(m.member_id, f"{m.name} never reported its member id")
        d = by_id.get(m.member_id)
        check(d is not None, f"{m.name}'s member id {m.member_id} is not among DescribeGroups members "
                             f"{sorted(by_id)} {what}")
        want = (client_ids or {}).get(m.name, m.client_id)
        check(d["client_id"] == want, f"DescribeGroups client id {d['client_id']!r} for {m.name}, expected {want!r}")
        check("127.0.0.1" in (d["host"] or ""), f"DescribeGroups host {d['host']!r} for {m.name}")
        check(d["assignment"] == m.assignment,
              f"DescribeGroups assignment of {m.name} {sorted(d['assignment'])} differs from what the client "
              f"itself was given {sorted(m.assignment)} {what}")


def _close_all(members, timeout=60):
    for m in members:
        if m.alive():
            m._request_close()
    for m in members:
        m.close(timeout)


def _result(kinds, note=None, produced=True):
    """PASS result: a footnote for mixed groups and for clients whose data
    was produced by confluent-kafka (kcat, kafkajs)."""
    via = None
    if len(set(kinds)) > 1:
        via = "one group of " + " + ".join(kinds)
    elif produced and kinds[0] in ("kcat", "kafkajs"):
        via = "topic created and data produced with confluent-kafka"
    return {"note": note, "via": via} if via else note


# ---------------------------------------------------------------------------
# 1. split

SPLIT_PARTITIONS = 6
SPLIT_MESSAGES = 6000


def split(ctx, kinds):
    """Three members (the given clients) of one group on a 6-partition topic:
    each gets exactly 2 partitions (its own view, and DescribeGroups agrees);
    6,000 keyed messages produced once the group is stable are read exactly
    once in total, each member only from its own partitions; the group
    commits exactly the high watermarks; after the members close the group
    is Empty and keeps its offsets."""
    topic = _topic(ctx, "group-split", SPLIT_PARTITIONS)
    group = group_name("split")
    ms = Members()
    try:
        members = [ms.add(make_member(k, f"{k}#{i + 1}", ctx.bootstrap, group, [topic]))
                   for i, k in enumerate(kinds)]
        desc = wait_stable(ctx.bootstrap, group, members, [2] * len(members), _parts(topic, SPLIT_PARTITIONS),
                           timeout=90, what="3 members with 2 partitions each")
        _check_describe(desc, members, assignor=_assignor(kinds), what="once stable")
        stable = {m.name: (set(m.assignment), m.n_events()) for m in members}
        log(f"stable: { {n: sorted(p for _, p in a) for n, (a, _) in stable.items()} }")

        acked = produce_values(ctx, topic, SPLIT_MESSAGES, f"split-{uuid.uuid4().hex[:6]}")
        expected = expected_positions(acked, topic)
        wait_read(members, set(expected), timeout=90, what=f"all {SPLIT_MESSAGES} messages to be read")
        check_values(members, expected)
        dups = duplicates(members)
        check(not dups, f"{len(dups)} messages read more than once, e.g. "
                        f"{[(k, v) for k, v in sorted(dups.items())[:5]]}")
        for m in members:
            own, n_ev = stable[m.name]
            later = [e for e in m.events[n_ev:] if e["ev"] in ("assign", "revoke", "lost")]
            check(not later, f"{m.name}: rebalance callbacks after the group was stable: {later[:3]}")
            foreign = {(t, p) for t, p, _, _ in m.records} - own
            check(not foreign, f"{m.name} read from partitions {sorted(foreign)} not assigned to it ({sorted(own)})")
            check(len(m.records) > 0, f"{m.name} read nothing")
        hw = high_watermarks(ctx, topic)
        check(sum(hw.values()) == SPLIT_MESSAGES, f"high watermarks {hw} do not add up to {SPLIT_MESSAGES}")
        # every partition read completely and in order by its one owner
        for m in members:
            for p, offs in _by_partition(m.records).items():
                check(offs == list(range(hw[p])),
                      f"{m.name}: partition {p} read as offsets {offs[:5]}...{offs[-3:]}, expected 0..{hw[p] - 1}")
        wait_committed(ctx.bootstrap, group, topic, hw, timeout=60, members=members)
        _check_describe(describe(ctx.bootstrap, group), members, assignor=_assignor(kinds), what="after reading")
        _close_all(members)
        d = describe(ctx.bootstrap, group)
        check(d["state"] == "EMPTY" and not d["members"],
              f"after every member closed (LeaveGroup), DescribeGroups says {d['state']} with "
              f"{len(d['members'])} members, expected Empty with none")
        c = committed(ctx.bootstrap, group, topic, range(SPLIT_PARTITIONS))
        check(c == hw, f"committed offsets after the members left {c}, expected {hw}")
    finally:
        ms.cleanup()
    return _result(kinds)


# ---------------------------------------------------------------------------
# 2. failover

FAILOVER_MESSAGES = 6000


def failover(ctx, kinds, victim=0):
    """Three members (kinds) read a continuous stream (confluent-kafka
    producer, ~600 msg/s) and commit after every batch; one member process
    is SIGKILLed mid-stream. After the session timeout its partitions move
    to the two survivors (3 each, DescribeGroups agrees), who resume exactly
    at the offsets committed before the kill (the victim commits only after
    every 4th batch, so it dies with records read but not committed, which
    must be read again by a survivor). In the end every message was
    read at least once, the group committed the high watermarks, and the only
    duplicates are messages the killed member read after its last commit."""
    topic = _topic(ctx, "group-failover", 6)
    group = group_name("failover")
    ms = Members()
    prod = None
    try:
        # the victim commits after every 4th batch only: when it dies it has
        # read records it never committed, which the survivors must re-read
        members = [ms.add(make_member(k, f"{k}#{i + 1}", ctx.bootstrap, group, [topic], max_poll=50,
                                      **({"commit_every": 4} if i == victim else {})))
                   for i, k in enumerate(kinds)]
        wait_stable(ctx.bootstrap, group, members, [2, 2, 2], _parts(topic, 6), timeout=90)
        v = members[victim]
        survivors = [m for i, m in enumerate(members) if i != victim]
        prod = PacedProducer(ctx.bootstrap, topic, FAILOVER_MESSAGES, f"failover-{uuid.uuid4().hex[:6]}",
                             step=60, interval=0.1)
        prod.start()
        a = admin(ctx.bootstrap)
        victim_parts = sorted(p for _, p in v.assignment)

        def victim_committed_something():
            if len(v.records) < 300:
                return False
            c = committed(ctx.bootstrap, group, topic, victim_parts, a)
            return all(o > 0 for o in c.values())
        wait_until(victim_committed_something, 90, f"{v.name} to read 300 records and commit on {victim_parts}")
        if prod.done.is_set():
            log("note: the producer had already finished at the kill (slow machine?)")
        v.kill()
        # A commit the victim sent just before the kill may still be in the broker's
        # socket buffer: read the victim's partitions until two answers half a second
        # apart agree (nobody else commits there before the session timeout moves them;
        # the survivors keep committing on theirs, so those are not compared).
        c_kill = committed(ctx.bootstrap, group, topic, range(6), a)
        for _ in range(10):
            time.sleep(0.5)
            again = committed(ctx.bootstrap, group, topic, range(6), a)
            if all(again[p] == c_kill[p] for p in victim_parts):
                break
            c_kill = again
        t_kill_query = time.time()
        v_reads = _by_partition(v.records)
        log(f"killed {v.name} (partitions {victim_parts}) after {len(v.records)} records; committed then: {c_kill}")
        for p in victim_parts:
            last = max(v_reads.get(p, [-1]))
            check(c_kill[p] <= last + 1, f"partition {p}: committed offset {c_kill[p]} is beyond what {v.name} "
                                         f"read (last offset {last})")

        desc = wait_stable(ctx.bootstrap, group, survivors, [3, 3], _parts(topic, 6), timeout=90,
                           what=f"the survivors to take over {v.name}'s partitions after the session timeout")
        _check_describe(desc, survivors, assignor=_assignor(kinds), what="after the failover")
        prod.join(120)
        check(prod.done.is_set(), "producer did not finish")
        check(not prod.errors, f"producer errors: {prod.errors[:3]}")
        expected = expected_positions(prod.acked, topic)
        check(len(expected) == FAILOVER_MESSAGES, f"{len(expected)} of {FAILOVER_MESSAGES} acknowledged")
        wait_read(members, set(expected), timeout=90, what="every message to be read by someone")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, group, topic, hw, timeout=60, members=survivors)
        check_values(members, expected)

        # survivors resumed exactly at what the victim had committed
        for p in victim_parts:
            firsts = []
            for m in survivors:
                for e in m.events:
                    if e["ev"] == "recs":
                        offs = [o for _, pp, o, _ in e["recs"] if pp == p]
                        if offs:
                            firsts.append((e["t"], offs[0], m.name))
                            break
            check(firsts, f"no survivor read partition {p} after the kill")
            t_first, first, who = min(firsts)
            exp_first = c_kill[p] if c_kill[p] >= 0 else 0
            check(t_first > t_kill_query, f"test bug: {who} read partition {p} before the committed offsets were "
                                          f"queried after the kill")
            check(first == exp_first, f"{who} took over partition {p} at offset {first}, but the group's committed "
                                      f"offset was {exp_first} (re-read or skipped {first - exp_first:+d})")
        dups = duplicates(members)
        bad = {k: w for k, w in dups.items()
               if not (v.name in w and len(w) == 2 and k[1] in victim_parts and k[2] >= c_kill[k[1]])}
        failed_commits = [(m.name, e.get("where"), e.get("error")) for m in survivors
                          for e in m.events if e["ev"] == "commit_failed"]
        check(not bad, f"{len(bad)} duplicates not explained by {v.name}'s uncommitted window "
                       f"(committed at kill {c_kill}), e.g. {sorted(bad.items())[:5]}; "
                       f"failed commits of survivors: {failed_commits[:5]}")

        # the killed member is fenced: a late OffsetCommit / Heartbeat with its
        # old member id and generation is refused and changes nothing
        gen = next((e["generation"] for m in members for e in m.events
                    if e["ev"] == "assign" and e.get("generation") is not None and e["t"] < t_kill_query), None)
        fence_note = ""
        if gen is not None and v.member_id:
            p0 = victim_parts[0]
            before = committed(ctx.bootstrap, group, topic, range(6))
            res = raw_fenced_requests(ctx.bootstrap, group, v.member_id, gen, topic, p0, 0)
            log(f"requests of the killed member {v.member_id} (generation {gen}) after the failover: {res}")
            check(res["OffsetCommit"] in ("UnknownMemberIdError", "IllegalGenerationError"),
                  f"OffsetCommit from the killed (expired) member {v.member_id} generation {gen} for partition "
                  f"{p0} offset 0 was answered {res['OffsetCommit']}, expected UNKNOWN_MEMBER_ID (or "
                  f"ILLEGAL_GENERATION)")
            check(res["Heartbeat"] in ("UnknownMemberIdError", "IllegalGenerationError"),
                  f"Heartbeat from the killed (expired) member {v.member_id} generation {gen} was answered "
                  f"{res['Heartbeat']}, expected UNKNOWN_MEMBER_ID")
            after = committed(ctx.bootstrap, group, topic, range(6))
            check(after == before, f"a refused OffsetCommit of the expired member changed the offsets: "
                                   f"{before} -> {after}")
            fence_note = "; its late OffsetCommit/Heartbeat were refused"
        _close_all(survivors)
        note = (f"{v.name} killed after {len(v.records)} records; {len(dups)} re-read from its "
                f"uncommitted window{fence_note}")
        return _result(kinds, note)
    finally:
        if prod is not None:
            prod.stop_flag.set()
        ms.cleanup()


# ---------------------------------------------------------------------------
# 3. resume across a broker restart

RESUME_MESSAGES = 4000
RESUME_FIRST = 1500


def resume(ctx, kind):
    """A member reads 1,500 of 4,000 messages and commits, and leaves; the
    broker is stopped (SIGTERM) and restarted on the same data directory and
    port: the group's committed offsets are still there (OffsetFetch,
    DescribeGroups: Empty); a new member of the group reads exactly from the
    committed offsets to the end (including 500 messages produced after the
    restart): nothing re-read, nothing skipped."""
    broker = ctx.private_broker(dict(BROKER_GROUP_OVERRIDES))
    topic = _topic(ctx, "group-resume", 4)
    group = group_name("resume")
    tag = f"resume-{uuid.uuid4().hex[:6]}"
    acked = produce_values(ctx, topic, RESUME_MESSAGES, tag)
    ms = Members()
    try:
        cfg = {"count": RESUME_FIRST} if kind == "kcat" else {"stop_after": RESUME_FIRST}
        m1 = ms.add(make_member(kind, f"{kind}#1", ctx.bootstrap, group, [topic], max_poll=100, **cfg))
        m1.wait(lambda m: m.exit_code is not None, 90, f"{m1.name} to read {RESUME_FIRST} records and exit")
        check(m1.exit_code == 0, f"{m1.name} exited {m1.exit_code}")
        check(len(m1.records) == RESUME_FIRST, f"{m1.name} read {len(m1.records)} records, asked for {RESUME_FIRST}")
        c1 = committed(ctx.bootstrap, group, topic, range(4))
        read1 = _by_partition(m1.records)
        for p in range(4):
            offs = read1.get(p, [])
            check(offs == list(range(len(offs))), f"{m1.name}: partition {p} read as {offs[:5]}... (not from 0)")
            exp = len(offs) if offs else -1
            check(c1[p] == exp, f"partition {p}: committed offset {c1[p]} after {m1.name} read and committed "
                                f"{len(offs)} records, expected {exp}")
        log(f"phase 1: committed {c1}")

        broker.restart()
        c_after = wait_until(lambda: committed(ctx.bootstrap, group, topic, range(4)), 60,
                             "OffsetFetch after the restart")
        check(c_after == c1, f"committed offsets changed across the restart: {c1} -> {c_after}")
        d = describe(ctx.bootstrap, group)
        check(d["state"] == "EMPTY" and not d["members"],
              f"after the restart DescribeGroups says {d['state']} with {len(d['members'])} members, expected Empty")
        more = produce_values(ctx, topic, 500, tag, start=RESUME_MESSAGES)
        acked.update(more)
        expected = expected_positions(acked, topic)
        hw = high_watermarks(ctx, topic)
        m2 = ms.add(make_member(kind, f"{kind}#2", ctx.bootstrap, group, [topic], max_poll=100))
        todo = {k for k in expected if k[2] >= max(c1[k[1]], 0)}
        wait_read([m2], todo, timeout=90, what=f"{m2.name} to read the rest after the restart")
        wait_committed(ctx.bootstrap, group, topic, hw, timeout=60, members=[m2])
        check_values([m2], expected)
        read2 = _by_partition(m2.records)
        for p in range(4):
            start = max(c1[p], 0)
            check(read2.get(p, []) == list(range(start, hw[p])),
                  f"after the restart {m2.name} read partition {p} as offsets {read2.get(p, [])[:5]}..., "
                  f"expected {start}..{hw[p] - 1} (committed offset {c1[p]})")
        _close_all([m2])
        broker.stop()
        broker.check_verify_logs()
    finally:
        ms.cleanup()
    return _result([kind])


def broker_restart_live(ctx, kinds):
    """The broker is restarted (SIGTERM, same port and data directory) while
    the members (kinds) of a group consume a continuous stream and commit
    after every batch: every OffsetCommit acknowledged before the stop is
    still there after the restart; the members carry on (heartbeats, commits,
    rejoining if needed) until every message was read at least once, the only
    re-reads being at offsets not yet committed at the stop; the group ends
    Stable with all members and committed offsets = high watermarks."""
    broker = ctx.private_broker(dict(BROKER_GROUP_OVERRIDES))
    topic = _topic(ctx, "group-broker-restart", 4)
    group = group_name("brestart")
    ms = Members()
    prod = None
    try:
        members = [ms.add(make_member(k, f"{k}#{i + 1}", ctx.bootstrap, group, [topic], max_poll=50))
                   for i, k in enumerate(kinds)]
        wait_stable(ctx.bootstrap, group, members, [4 // len(members)] * len(members), _parts(topic, 4), timeout=90)
        prod = PacedProducer(ctx.bootstrap, topic, 4000, f"brestart-{uuid.uuid4().hex[:6]}", step=40, interval=0.1)
        prod.start()
        wait_until(lambda: sum(len(m.records) for m in members) >= 800, 90, "800 records read before the restart")
        t_stop = time.time()
        broker.stop()
        acked_commits: dict[int, int] = {}
        for m in members:
            for e in m.events:
                if e["ev"] == "commit" and e["t"] < t_stop:
                    for t, p, o in e["offsets"]:
                        acked_commits[p] = max(acked_commits.get(p, -1), o)
        broker.start()
        check_resumed(ctx, group, topic, range(4), members, prod, acked_commits)
        dups = duplicates(members)
        desc = wait_stable(ctx.bootstrap, group, members, [4 // len(members)] * len(members), _parts(topic, 4),
                           timeout=60, what="the group to be stable with all members after the restart")
        _check_describe(desc, members, assignor=_assignor(kinds), what="after the broker restart")
        _close_all(members)
        broker.stop()
        broker.check_verify_logs()
        rejoined = [m.name for m in members if any(e["ev"] == "assign" and e["t"] > t_stop for e in m.events)]
        return _result(kinds, f"{len(dups)} re-read after the restart; "
                       + (f"rejoined: {rejoined}" if rejoined else "members kept their assignment (no rejoin)"))
    finally:
        if prod is not None:
            prod.stop_flag.set()
        ms.cleanup()


def offsets_retention(ctx):
    """offsets.retention.minutes=1 (check every second): the offsets of a
    group that became empty, and of a group that only ever committed through
    the admin API, are removed after the retention time (the groups then
    disappear from ListGroups); the offsets of a group with a live member are
    kept however old, except those of a topic it no longer subscribes to.
    After a restart the expired offsets stay gone and the kept ones are still
    there."""
    broker = ctx.private_broker(dict(BROKER_GROUP_OVERRIDES, **{"offsets.retention.minutes": "1",
                                                                 "offsets.retention.check.interval.ms": "1000"}))
    import confluent_kafka as ck
    from confluent_kafka import ConsumerGroupTopicPartitions
    topic = _topic(ctx, "group-retention", 2)
    acked = produce_values(ctx, topic, 200, f"ret-{uuid.uuid4().hex[:6]}")
    ga, ge, gs = group_name("ret-active"), group_name("ret-empty"), group_name("ret-admin")
    a = admin(ctx.bootstrap)
    none = {0: -1, 1: -1}
    ms = Members()
    try:
        # group `active` first consumed another topic (and committed), then
        # only `topic`: Kafka expires offsets of topics a stable consumer group
        # is not subscribed to any more, after the retention since their commit
        old_topic = _topic(ctx, "group-retention-old", 1)
        acked_old = produce_values(ctx, old_topic, 50, f"ret-old-{uuid.uuid4().hex[:6]}")
        before = ms.add(make_member("confluent-kafka", "confluent-kafka#before", ctx.bootstrap, ga, [old_topic]))
        wait_read([before], set(expected_positions(acked_old, old_topic)), timeout=60, what="the old topic")
        wait_committed(ctx.bootstrap, ga, old_topic, {0: 50}, members=[before])
        before.close()
        active = ms.add(make_member("confluent-kafka", "confluent-kafka#active", ctx.bootstrap, ga, [topic]))
        gone = ms.add(make_member("confluent-kafka", "confluent-kafka#gone", ctx.bootstrap, ge, [topic],
                                  max_poll=50, stop_after=120))
        wait_read([active], set(expected_positions(acked, topic)), timeout=60, what="group `active` to read all")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, ga, topic, hw, members=[active])
        gone.wait(lambda m: m.exit_code is not None, 60, "the `empty` group's member to read 120 and leave")
        rb = _by_partition(gone.records)
        c_empty = {p: (len(rb[p]) if rb.get(p) else -1) for p in range(2)}
        check(committed(ctx.bootstrap, ge, topic, range(2), a) == c_empty, "offsets of the group that just left")
        req = ConsumerGroupTopicPartitions(gs, [ck.TopicPartition(topic, 0, 11), ck.TopicPartition(topic, 1, 12)])
        res = a.alter_consumer_group_offsets([req], request_timeout=20)[gs].result(30)
        check(all(tp.error is None for tp in res.topic_partitions), f"alter_consumer_group_offsets: {res}")
        check(committed(ctx.bootstrap, gs, topic, range(2), a) == {0: 11, 1: 12}, "admin-committed offsets")

        wait_until(lambda: committed(ctx.bootstrap, ge, topic, range(2), a) == none, 150,
                   "the offsets of the empty group to expire (offsets.retention.minutes=1)")
        wait_until(lambda: committed(ctx.bootstrap, gs, topic, range(2), a) == none, 150,
                   "the admin-committed offsets to expire")
        check(committed(ctx.bootstrap, ga, topic, range(2), a) == hw,
              f"the offsets of group `active` (a live member) expired: "
              f"{committed(ctx.bootstrap, ga, topic, range(2), a)}, expected {hw} (KIP-211)")
        problems = []
        try:
            wait_until(lambda: committed(ctx.bootstrap, ga, old_topic, [0], a) == {0: -1}, 30,
                       "the active group's offsets of the topic it no longer subscribes to, to expire")
        except CheckFailed:
            problems.append(f"group `active` (Stable, subscribed to {topic} only) still has its offset "
                              f"{committed(ctx.bootstrap, ga, old_topic, [0], a)} for {old_topic}, committed more "
                              f"than offsets.retention.minutes=1 ago; Kafka expires offsets of topics a stable "
                              f"consumer group does not subscribe to (GroupMetadata.removeExpiredOffsets)")
        listed = {g.group_id for g in a.list_consumer_groups(request_timeout=20).result(30).valid}
        check(ga in listed and ge not in listed and gs not in listed,
              f"ListGroups after the expiry: active {ga in listed}, empty {ge in listed}, admin-only {gs in listed}; "
              f"expected only the active group (an empty group without offsets is removed)")
        active.close()
        broker.restart()
        c = wait_until(lambda: (committed(ctx.bootstrap, ga, topic, range(2)), committed(ctx.bootstrap, ge, topic,
                                range(2)), committed(ctx.bootstrap, gs, topic, range(2))), 60, "OffsetFetch after restart")
        check(c == (hw, none, none), f"after a restart: offsets of active/empty/admin-only groups {c}, expected "
                                     f"{(hw, none, none)} (expired offsets must stay deleted)")
        broker.stop()
        broker.check_verify_logs()
    finally:
        ms.cleanup()
    check(not problems, "\n".join(problems))
    return None


def inconsistent_protocol(ctx):
    """A kafkajs consumer (assignor "RoundRobinAssigner") asks to join a group
    whose confluent-kafka member uses "range": JoinGroup fails with
    INCONSISTENT_GROUP_PROTOCOL, kafkajs never gets an assignment, and the
    confluent-kafka member is not disturbed (no rebalance)."""
    topic = _topic(ctx, "group-inconsistent", 2)
    group = group_name("inconsistent")
    ms = Members()
    try:
        c = ms.add(make_member("confluent-kafka", "confluent-kafka#1", ctx.bootstrap, group, [topic]))
        wait_stable(ctx.bootstrap, group, [c], [2], _parts(topic, 2), timeout=60)
        n = c.n_events()
        j = ms.add(make_member("kafkajs", "kafkajs#1", ctx.bootstrap, group, [topic]))
        err = j.wait(lambda m: next((e for e in m.events if e["ev"] in ("error", "fatal") and
                                     ("INCONSISTENT_GROUP_PROTOCOL" in (e.get("error") or "")
                                      or "incompatible" in (e.get("error") or ""))), None), 60,
                     "kafkajs to be refused with INCONSISTENT_GROUP_PROTOCOL")
        log(f"kafkajs refused: {err.get('error')}")
        check(not j.assignment, f"kafkajs got an assignment in a group of another protocol: {sorted(j.assignment)}")
        d = describe(ctx.bootstrap, group)
        check(d["state"] == "STABLE" and len(d["members"]) == 1 and d["assignor"] == "range",
              f"after the refused join: {d['state']}, {len(d['members'])} members, protocol {d['assignor']}")
        reb = [e for e in c.events[n:] if e["ev"] in ("assign", "revoke", "lost")]
        check(not reb, f"the confluent-kafka member saw a rebalance: {reb[:3]}")
        c.close()
    finally:
        ms.cleanup()
    return {"via": "a confluent-kafka member, then a kafkajs one"}


def topic_deleted(ctx):
    """A group's member reads a topic and commits, and leaves; the topic is
    deleted: its committed offsets go with it (OffsetFetch of the group no
    longer lists it, as Kafka's GroupCoordinator.onPartitionsDeleted does);
    the topic is re-created under the same name with more data than before
    (so that the old offsets would be valid positions): a new member
    of the group starts from the beginning of the new topic, not at the old
    topic's offsets (which would skip messages)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    topic = _topic(ctx, "group-topic-deleted", 3)
    group = group_name("topic-deleted")
    tag = f"tdel-{uuid.uuid4().hex[:6]}"
    a = admin(ctx.bootstrap)
    ms = Members()
    problems = []
    try:
        acked = produce_values(ctx, topic, 600, tag)
        m1 = ms.add(make_member("confluent-kafka", "confluent-kafka#1", ctx.bootstrap, group, [topic]))
        wait_read([m1], set(expected_positions(acked, topic)), timeout=60, what="the first topic to be read")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, group, topic, hw, members=[m1])
        m1.close()
        get_client("confluent-kafka").delete_topic(ctx, topic)
        wait_until(lambda: topic not in a.list_topics(timeout=10).topics, 30, "the topic to be deleted")

        def listed():
            coordinator_ready(a, group)
            res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                request_timeout=20)[group].result(30)
            return {tp.partition: tp.offset for tp in res.topic_partitions if tp.topic == topic}
        try:
            wait_until(lambda: not listed(), 20, "OffsetFetch to stop listing the deleted topic")
        except CheckFailed:
            problems.append(f"after DeleteTopics, OffsetFetch of the group (all partitions) still lists the deleted "
                            f"topic's committed offsets {listed()} (Kafka removes them)")
        get_client("confluent-kafka").create_topic(ctx, topic, 3)
        c = committed(ctx.bootstrap, group, topic, range(3), a)
        if c != {0: -1, 1: -1, 2: -1}:
            problems.append(f"the topic re-created under the same name has the deleted topic's committed offsets "
                            f"{c}")
        acked2 = produce_values(ctx, topic, 1500, tag + "-new")  # more than before: old offsets are in range
        expected = expected_positions(acked2, topic)
        m2 = ms.add(make_member("confluent-kafka", "confluent-kafka#2", ctx.bootstrap, group, [topic]))
        hw2 = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, group, topic, hw2, members=[m2])
        missed = set(expected) - {(t, p, o) for t, p, o, _ in m2.records}
        if missed:
            problems.append(f"a new member of the group on the re-created topic skipped {len(missed)} of its "
                            f"{len(expected)} messages (started at {({p: min(o for _, pp, o, _ in m2.records if pp == p) for p in range(3) if any(pp == p for _, pp, _, _ in m2.records)})}): "
                            f"it resumed at the deleted topic's offsets")
        m2.close()
    finally:
        ms.cleanup()
    check(not problems, "\n".join(problems))
    return None


# ---------------------------------------------------------------------------
# 4. two groups on one topic

def independence(ctx, kind):
    """Two groups on one topic at the same time: each gets every partition
    and reads every message; group A reads everything, group B stops after
    1,000 and commits: their committed offsets are independent, and a new
    member of B continues at B's offsets (not A's)."""
    topic = _topic(ctx, "group-independence", 3)
    acked = produce_values(ctx, topic, 3000, f"indep-{uuid.uuid4().hex[:6]}")
    expected = expected_positions(acked, topic)
    ga, gb = group_name("indep-a"), group_name("indep-b")
    ms = Members()
    try:
        a1 = ms.add(make_member(kind, f"{kind}#A1", ctx.bootstrap, ga, [topic], max_poll=100))
        cfg = {"count": 1000} if kind == "kcat" else {"stop_after": 1000}
        b1 = ms.add(make_member(kind, f"{kind}#B1", ctx.bootstrap, gb, [topic], max_poll=100, **cfg))
        wait_read([a1], set(expected), timeout=90, what=f"group A ({a1.name}) to read everything")
        b1.wait(lambda m: m.exit_code is not None, 90, f"{b1.name} to read 1000 records and exit")
        check(len(b1.records) == 1000, f"{b1.name} read {len(b1.records)} records, expected 1000")
        check(a1.assignment == _parts(topic, 3), f"{a1.name} (alone in group A) has {sorted(a1.assignment)}")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, ga, topic, hw, members=[a1])
        cb = committed(ctx.bootstrap, gb, topic, range(3))
        rb = _by_partition(b1.records)
        exp_b = {p: (len(rb[p]) if rb.get(p) else -1) for p in range(3)}
        check(cb == exp_b, f"group B committed {cb}, expected what its member read: {exp_b}")
        b2 = ms.add(make_member(kind, f"{kind}#B2", ctx.bootstrap, gb, [topic], max_poll=100))
        rest = {k for k in expected if k[2] >= max(cb[k[1]], 0)}
        wait_read([b2], rest, timeout=90, what=f"{b2.name} to read the rest of group B's messages")
        wait_committed(ctx.bootstrap, gb, topic, hw, members=[b2])
        check_values([a1, b1, b2], expected)
        check(not duplicates([a1]), "group A read messages twice")
        check(not duplicates([b1, b2]), f"group B read messages twice: {sorted(duplicates([b1, b2]))[:5]}")
        check(len(b1.records) + len(b2.records) == len(expected),
              f"group B read {len(b1.records)} + {len(b2.records)} records, expected {len(expected)}")
        ca = committed(ctx.bootstrap, ga, topic, range(3))
        check(ca == hw, f"group A's offsets changed to {ca} while group B committed")
        _close_all([a1, b2])
    finally:
        ms.cleanup()
    return _result([kind])


# ---------------------------------------------------------------------------
# 5. cooperative-sticky

def cooperative(ctx, kinds):
    """partition.assignment.strategy=cooperative-sticky: two members share 6
    partitions (3 + 3) and read 3,000 messages; a third joins: incremental
    rebalance: each of the first two gives up exactly one partition (only
    that one is revoked, the others stay assigned throughout), the newcomer
    gets those two; 3,000 more messages; everything read exactly once, the
    group committed the high watermarks."""
    topic = _topic(ctx, "group-coop", 6)
    group = group_name("coop")
    tag = f"coop-{uuid.uuid4().hex[:6]}"
    ms = Members()
    try:
        acked = produce_values(ctx, topic, 3000, tag)
        m1, m2 = [ms.add(make_member(k, f"{k}#{i + 1}", ctx.bootstrap, group, [topic],
                                     strategy="cooperative-sticky", max_poll=100))
                  for i, k in enumerate(kinds[:2])]
        wait_stable(ctx.bootstrap, group, [m1, m2], [3, 3], _parts(topic, 6), timeout=90)
        wait_read([m1, m2], set(expected_positions(acked, topic)), timeout=90, what="the first 3000 messages")
        before = {m.name: set(m.assignment) for m in (m1, m2)}
        n_ev = {m.name: m.n_events() for m in (m1, m2)}
        m3 = ms.add(make_member(kinds[2], f"{kinds[2]}#3", ctx.bootstrap, group, [topic],
                                strategy="cooperative-sticky", max_poll=100))
        desc = wait_stable(ctx.bootstrap, group, [m1, m2, m3], [2, 2, 2], _parts(topic, 6), timeout=90,
                           what="the incremental rebalance to 2+2+2")
        _check_describe(desc, [m1, m2, m3], assignor="cooperative-sticky", what="after the third member joined")
        moved = set()
        for m in (m1, m2):
            after = set(m.assignment)
            gone = before[m.name] - after
            check(after <= before[m.name], f"{m.name}: cooperative-sticky moved partitions to it: "
                                           f"{sorted(before[m.name])} -> {sorted(after)}")
            check(len(gone) == 1, f"{m.name} gave up {sorted(gone)}; expected exactly one of its 3 partitions")
            evs = [e for e in m.events[n_ev[m.name]:] if e["ev"] in ("assign", "revoke", "lost")]
            for e in evs:
                check(e["ev"] != "lost", f"{m.name}: partitions lost in a cooperative rebalance: {e}")
                check(e.get("incremental"), f"{m.name}: non-incremental {e['ev']} in a cooperative group: {e}")
                parts = {tuple(x) for x in e["parts"]}
                if e["ev"] == "revoke":
                    check(parts <= gone, f"{m.name}: revoked {sorted(parts)}, but kept {sorted(after)}: a "
                                         f"cooperative rebalance must only revoke the partitions that move")
                else:
                    check(not parts, f"{m.name}: got {sorted(parts)} assigned in the incremental rebalance")
            check(any(e["ev"] == "revoke" and e["parts"] for e in evs), f"{m.name}: no incremental revoke seen")
            moved |= gone
        check(m3.assignment == moved, f"{m3.name} got {sorted(m3.assignment)}, expected the revoked {sorted(moved)}")
        acked.update(produce_values(ctx, topic, 3000, tag, start=3000))
        expected = expected_positions(acked, topic)
        wait_read([m1, m2, m3], set(expected), timeout=90, what="all 6000 messages")
        check_values([m1, m2, m3], expected)
        dups = duplicates([m1, m2, m3])
        check(not dups, f"{len(dups)} messages read twice, e.g. {sorted(dups.items())[:5]}")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, group, topic, hw, members=[m1, m2, m3])
        _close_all([m1, m2, m3])
    finally:
        ms.cleanup()
    return _result(kinds)


# ---------------------------------------------------------------------------
# 6. static membership

STATIC_SESSION_MS = 10_000


def _ids(m):
    """Ask a worker for its member id / generation (an "ids" event)."""
    n = m.n_events()
    m.request_ids()
    return m.wait(lambda mm: next((e for e in mm.events[n:] if e["ev"] == "ids"), None), 30, f"{m.name}'s ids")


def _static_restart(ctx, ms, kind, group, topic, old, other, instance, cfg, acked, tag):
    """Close static member `old` (no LeaveGroup) and start a new process with
    the same group.instance.id: same partitions back, no rebalance."""
    parts = set(old.assignment)
    n_other = other.n_events()
    gen_other = _ids(other).get("generation")
    old.close()  # static: no LeaveGroup
    d = describe(ctx.bootstrap, group)
    ids = sorted(x["instance_id"] or "" for x in d["members"])
    check(len(d["members"]) == 2 and instance in ids,
          f"right after static member {old.name} closed (no LeaveGroup), DescribeGroups lists "
          f"{[(x['member_id'], x['instance_id']) for x in d['members']]} in state {d['state']}; expected it "
          f"to stay a member until its session times out")
    new = ms.add(make_member(kind, f"{old.name}'", ctx.bootstrap, group, [topic], instance_id=instance, **cfg))
    new.wait(lambda m: m.assignment == parts, 60,
             f"the restarted static member to get its partitions {sorted(parts)} back")
    desc = wait_stable(ctx.bootstrap, group, [new, other], [2, 2], _parts(topic, 4), timeout=60)
    # the replacement keeps the client id the coordinator recorded for the instance, as
    # Kafka's ClassicGroup.replaceStaticMember does (it updates protocols and timeouts only)
    new.recorded_client_id = getattr(old, "recorded_client_id", old.client_id)
    _check_describe(desc, [new, other], what=f"after static member {old.name} came back",
                    client_ids={m.name: m.recorded_client_id for m in (new, other)
                                if hasattr(m, "recorded_client_id")})
    check(new.member_id != old.member_id, f"the restarted static member got the old member id {old.member_id}")
    start = max(int(v.split("|")[-1]) for v in acked) + 1
    acked.update(produce_values(ctx, topic, 500, tag, start=start))
    members = [m for m in ms.all if m.kind == kind]
    wait_read(members, set(expected_positions(acked, topic)), timeout=90,
              what=f"the messages produced after {old.name} restarted")
    wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[new, other])
    reb = [e for e in other.events[n_other:] if e["ev"] in ("assign", "revoke", "lost")]
    check(not reb, f"{other.name} saw a rebalance when static member {old.name} restarted (the group "
                   f"should not rebalance): {[(e['ev'], e.get('parts'), e.get('generation')) for e in reb[:4]]}")
    gen2 = _ids(other).get("generation")
    check(gen2 == gen_other, f"{other.name}'s generation changed from {gen_other} to {gen2} when static member "
                             f"{old.name} restarted")
    if new.generation is not None and gen_other is not None:
        check(new.generation == gen_other, f"the restarted static member joined generation {new.generation}, the "
                                           f"group was in generation {gen_other}: a rebalance happened")
    return new, gen_other


def static(ctx, kind):
    """Two static members (group.instance.id) share 4 partitions. Each in
    turn (so the group leader is among them) closes (a static member does not
    send LeaveGroup: DescribeGroups still lists it) and a new process with
    the same group.instance.id comes back within the session timeout: it
    gets the same partitions back and resumes at the committed offsets,
    without a rebalance (the other member gets no revoke/assign callback;
    with kafka-python its generation is unchanged). Finally one closes for
    good: after its session timeout the broker removes it and the other
    member gets all 4 partitions."""
    topic = _topic(ctx, "group-static", 4)
    group = group_name("static")
    tag = f"static-{uuid.uuid4().hex[:6]}"
    ia, ib = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    ms = Members()
    try:
        acked = produce_values(ctx, topic, 2000, tag)
        cfg = dict(session_timeout_ms=STATIC_SESSION_MS, max_poll=100)
        a = ms.add(make_member(kind, f"{kind}#A", ctx.bootstrap, group, [topic], instance_id=ia, **cfg))
        b = ms.add(make_member(kind, f"{kind}#B", ctx.bootstrap, group, [topic], instance_id=ib, **cfg))
        desc = wait_stable(ctx.bootstrap, group, [a, b], [2, 2], _parts(topic, 4), timeout=90)
        inst = {d["member_id"]: d["instance_id"] for d in desc["members"]}
        check(inst.get(a.member_id) == ia and inst.get(b.member_id) == ib,
              f"DescribeGroups group.instance.id per member {inst}, expected {a.member_id}: {ia}, "
              f"{b.member_id}: {ib}")
        wait_read([a, b], set(expected_positions(acked, topic)), timeout=90, what="the first 2000 messages")
        wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[a, b])

        a2, gen = _static_restart(ctx, ms, kind, group, topic, a, b, ia, cfg, acked, tag)
        b2, _ = _static_restart(ctx, ms, kind, group, topic, b, a2, ib, cfg, acked, tag)
        members = [m for m in ms.all]
        check_values(members, expected_positions(acked, topic))
        dups = duplicates(members)
        check(not dups, f"{len(dups)} messages read twice across the static restarts, e.g. {sorted(dups)[:5]}")

        # a static member that does not come back is removed after the session timeout
        a2.close()
        wait_stable(ctx.bootstrap, group, [b2], [4], _parts(topic, 4), timeout=STATIC_SESSION_MS / 1000 + 60,
                    what="the broker to expire the static member that did not come back (the other gets all)")
        b2.close()
    finally:
        ms.cleanup()
    gen_note = "" if gen is None else f" (generation {gen})"
    return f"both static members restarted and got their partitions back without a rebalance{gen_note}"


# ---------------------------------------------------------------------------
# raw group protocol (kafka-python's request classes)


class _Raw:
    """One connection to the group coordinator, for hand-made requests."""

    def __init__(self, bootstrap, group, coordinator_of=None):
        from kafka import KafkaAdminClient
        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000,
                                  client_id=f"compat-raw-{uuid.uuid4().hex[:4]}")
        self.group = group
        self.node = self.a._manager.run(self.a._find_coordinator_id, coordinator_of or group)  # noqa: SLF001

    def send(self, req):
        async def go():
            return await self.a._manager.send(req, node_id=self.node)  # noqa: SLF001
        return self.a._manager.run(go)  # noqa: SLF001

    def close(self):
        self.a.close()


def _err(code):
    import kafka.errors as Errors
    return "NONE" if code == 0 else Errors.for_code(code).__name__


def _kp_describe(r):
    """DescribeGroups through kafka-python (confluent refuses non-consumer groups)."""
    return r.a.describe_groups([r.group])[r.group]


def _in_threads(*fns):
    """Run blocking calls at once (JoinGroup/SyncGroup wait for each other)."""
    import threading
    out, errs = [None] * len(fns), []

    def run(i, f):
        try:
            out[i] = f()
        except Exception as e:  # noqa: BLE001
            errs.append(e)
    ts = [threading.Thread(target=run, args=(i, f), daemon=True) for i, f in enumerate(fns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    if errs:
        raise errs[0]
    check(all(not t.is_alive() for t in ts), "a group request got no answer within 60s")
    return out


def _subscription(topics):
    from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription
    return ConsumerProtocolSubscription(version=0, topics=list(topics), user_data=None).encode()


def protocol(ctx):
    """Hand-made classic-group requests (kafka-python's protocol classes),
    checked against Kafka's answers: JoinGroup validation
    (INVALID_SESSION_TIMEOUT below/above the broker's bounds,
    INVALID_GROUP_ID), MEMBER_ID_REQUIRED then a join as leader, SyncGroup,
    Heartbeat / SyncGroup / OffsetCommit with a wrong generation
    (ILLEGAL_GENERATION), LeaveGroup then UNKNOWN_MEMBER_ID; and static
    members (KIP-345/KIP-814): a static member rejoining with an unknown
    member id keeps its assignment without a rebalance; if it was the
    leader, JoinGroup < v9 must name the *old* leader id and return no
    members (so that the client does not run the assignor), v9 names it
    leader with skipAssignment=true; the old member id is fenced; changed
    member metadata with the same protocol does not rebalance either."""
    from kafka.protocol.consumer import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
                                         SyncGroupRequest)
    P = JoinGroupRequest.JoinGroupRequestProtocol
    A = SyncGroupRequest.SyncGroupRequestAssignment
    topic = _topic(ctx, "group-protocol", 1)
    problems = []
    raws = []

    def expect(what, got, want):
        ok = got in want if isinstance(want, set) else got == want  # a set: any of these
        if not ok:
            problems.append(f"{what}: got {got!r}, expected {want!r}")
        log(f"{'ok ' if ok else 'BAD'} {what}: {got!r}")
        return ok

    def raw(group, coordinator_of=None):
        r = _Raw(ctx.bootstrap, group, coordinator_of)
        raws.append(r)
        return r

    def join(r, member_id="", inst=None, v=None, st=6000, meta=b"meta"):
        kw = {} if v is None else {"min_version": v, "max_version": v}
        return r.send(JoinGroupRequest(group_id=r.group, session_timeout_ms=st, rebalance_timeout_ms=5000,
                                       member_id=member_id, group_instance_id=inst, protocol_type="compat-raw",
                                       protocols=[P(name="p1", metadata=meta)], reason=None, **kw))

    def sync(r, gen, member_id, inst=None, assignments=()):
        return r.send(SyncGroupRequest(group_id=r.group, generation_id=gen, member_id=member_id,
                                       group_instance_id=inst, protocol_type="compat-raw", protocol_name="p1",
                                       assignments=[A(member_id=m, assignment=b) for m, b in assignments]))

    def hb(r, gen, member_id, inst=None):
        return _err(r.send(HeartbeatRequest(group_id=r.group, generation_id=gen, member_id=member_id,
                                            group_instance_id=inst)).error_code)

    try:
        # -- validation
        r = raw(group_name("raw-val"))
        expect("JoinGroup with session timeout 500 ms (below group.min.session.timeout.ms)",
               _err(join(r, st=500).error_code), "InvalidSessionTimeoutError")
        expect("JoinGroup with session timeout 100,000,000 ms (above group.max.session.timeout.ms)",
               _err(join(r, st=100_000_000).error_code), "InvalidSessionTimeoutError")
        r0 = raw("", coordinator_of=r.group)  # (FindCoordinator of "" is another matter)
        expect("JoinGroup with an empty group id", _err(join(r0).error_code), "InvalidGroupIdError")
        expect("Heartbeat to a group that does not exist", hb(raw(group_name("raw-none")), 1, "nobody"),
               {"UnknownMemberIdError", "GroupIdNotFoundError"})

        # -- one dynamic member, the whole life cycle
        r = raw(group_name("raw-dyn"))
        j = join(r)
        expect("first JoinGroup (v4+) without a member id", _err(j.error_code), "MemberIdRequiredError")
        mid = j.member_id
        expect("MEMBER_ID_REQUIRED carries a member id", bool(mid), True)
        j = join(r, mid)
        expect("JoinGroup with the given member id", _err(j.error_code), "NONE")
        expect("generation of the first rebalance", j.generation_id, 1)
        expect("leader of a one-member group", j.leader, mid)
        expect("members returned to the leader", [(m.member_id, bytes(m.metadata)) for m in j.members],
               [(mid, b"meta")])
        expect("selected protocol", j.protocol_name, "p1")
        sres = sync(r, 1, mid, assignments=[(mid, b"assign-1")])
        expect("SyncGroup from the leader", (_err(sres.error_code), bytes(sres.assignment)), ("NONE", b"assign-1"))
        expect("Heartbeat", hb(r, 1, mid), "NONE")
        expect("Heartbeat with generation 2 (current is 1)", hb(r, 2, mid), "IllegalGenerationError")
        expect("SyncGroup with generation 2 (current is 1)", _err(sync(r, 2, mid).error_code),
               "IllegalGenerationError")
        expect("Heartbeat of an unknown member id", hb(r, 1, "not-a-member"), "UnknownMemberIdError")
        _T = OffsetCommitRequest.OffsetCommitRequestTopic
        _Pp = _T.OffsetCommitRequestPartition

        def commit(gen, member, offset):
            req = OffsetCommitRequest(group_id=r.group, generation_id_or_member_epoch=gen, member_id=member,
                                      group_instance_id=None, retention_time_ms=-1,
                                      topics=[_T(name=topic, partitions=[_Pp(partition_index=0, committed_offset=offset,
                                                                              committed_leader_epoch=-1,
                                                                              committed_metadata="")])],
                                      max_version=8)
            return _err(r.send(req).topics[0].partitions[0].error_code)
        expect("OffsetCommit by the member, generation 1", commit(1, mid, 0), "NONE")
        expect("OffsetCommit by the member with generation 2", commit(2, mid, 0), "IllegalGenerationError")
        expect("OffsetCommit of an unknown member id", commit(1, "not-a-member", 0), "UnknownMemberIdError")
        lv = r.send(LeaveGroupRequest(group_id=r.group, member_id=mid,
                                      members=[LeaveGroupRequest.MemberIdentity(member_id=mid, group_instance_id=None,
                                                                                reason=None)]))
        expect("LeaveGroup", (_err(lv.error_code), tuple(_err(m.error_code) for m in (lv.members or []))),
               {("NONE", ("NONE",)), ("NONE", ())})
        expect("Heartbeat after LeaveGroup", hb(r, 1, mid), "UnknownMemberIdError")
        expect("DescribeGroups state after the only member left", _kp_describe(r)["group_state"], "Empty")

        # -- static members (KIP-345, KIP-814). Long sessions: nothing expires
        # between the hand-made requests. Rejoins use the same metadata as
        # before, except for the last one.
        for v in (7, 9):
            group = group_name(f"raw-static-v{v}")
            ra, rb = raw(group), raw(group)
            ia, ib = f"ia-{uuid.uuid4().hex[:4]}", f"ib-{uuid.uuid4().hex[:4]}"
            # Well-formed consumer-protocol subscriptions: kafka-python's
            # describe_groups decodes member metadata whatever the protocol type
            # and raises on arbitrary bytes.
            meta = {ia: _subscription(["a"]), ib: _subscription(["b"])}
            ja, jb = _in_threads(lambda: join(ra, inst=ia, v=v, meta=meta[ia], st=30000),
                                 lambda: join(rb, inst=ib, v=v, meta=meta[ib], st=30000))
            if not expect(f"v{v}: two static members join", (_err(ja.error_code), _err(jb.error_code)),
                          ("NONE", "NONE")):
                continue
            gen, leader = ja.generation_id, ja.leader
            ids = {ia: ja.member_id, ib: jb.member_id}
            lead_inst = ia if leader == ja.member_id else ib
            foll_inst = ib if lead_inst == ia else ia
            rl, rf = (ra, rb) if lead_inst == ia else (rb, ra)
            asg = {ia: b"asg-a", ib: b"asg-b"}
            sl, sf = _in_threads(lambda: sync(rl, gen, ids[lead_inst], lead_inst,
                                              [(ids[i], asg[i]) for i in (ia, ib)]),
                                 lambda: sync(rf, gen, ids[foll_inst], foll_inst))
            expect(f"v{v}: SyncGroup of both", (_err(sl.error_code), _err(sf.error_code)), ("NONE", "NONE"))

            def restarted(who, inst, r, m, *, is_leader):
                old = ids[inst]
                j = join(r, inst=inst, v=v, meta=m, st=30000)
                expect(f"v{v}: restarted static {who}: JoinGroup error", _err(j.error_code), "NONE")
                expect(f"v{v}: restarted static {who}: generation unchanged (no rebalance)", j.generation_id, gen)
                expect(f"v{v}: restarted static {who}: gets a new member id", j.member_id != old, True)
                if not is_leader:
                    expect(f"v{v}: restarted static {who}: leader", j.leader, ids[lead_inst])
                    expect(f"v{v}: restarted static {who}: no members (not the leader)", len(j.members), 0)
                elif v >= 9:
                    expect(f"v{v}: restarted static {who}: named leader (v9+)", j.leader, j.member_id)
                    expect(f"v{v}: restarted static {who}: skipAssignment (v9+)", j.skip_assignment, True)
                    expect(f"v{v}: restarted static {who}: members returned (v9+)",
                           sorted(x.group_instance_id for x in j.members), sorted([ia, ib]))
                else:
                    expect(f"v{v}: restarted static {who}: JoinGroup v{v} must name the OLD leader id {old} "
                           f"(not the new member id) so that the client does not run the assignor (Kafka: "
                           f"GroupCoordinator.updateStaticMemberAndRebalance)", j.leader, old)
                    expect(f"v{v}: restarted static {who}: no members returned (v<9)", len(j.members), 0)
                if j.generation_id != gen:
                    return  # a rebalance started: the rest would only repeat the same failure
                sres = sync(r, gen, j.member_id, inst)
                expect(f"v{v}: restarted static {who}: SyncGroup gives its old assignment",
                       (_err(sres.error_code), bytes(sres.assignment)), ("NONE", asg[inst]))
                expect(f"v{v}: old member id of the restarted {who} is fenced (Heartbeat)", hb(r, gen, old, inst),
                       "FencedInstanceIdError")
                ids[inst] = j.member_id
                for i, rr in ((ia, ra), (ib, rb)):
                    expect(f"v{v}: after the {who}'s restart, {i} still in generation {gen} (Heartbeat)",
                           hb(rr, gen, ids[i], i), "NONE")
                d = _kp_describe(ra)
                expect(f"v{v}: DescribeGroups after the {who}'s restart: state", d["group_state"], "Stable")
                expect(f"v{v}: DescribeGroups after the {who}'s restart: members",
                       sorted((x["group_instance_id"], x["member_id"]) for x in d["members"]),
                       sorted((i, ids[i]) for i in (ia, ib)))

            restarted("follower", foll_inst, rf, meta[foll_inst], is_leader=False)
            restarted("leader", lead_inst, rl, meta[lead_inst], is_leader=True)
            # Kafka replaces a static member's metadata without a rebalance as
            # long as the group's protocol stays the same (a restarted Java
            # consumer sends different ownedPartitions/generation in it)
            restarted("follower with changed metadata (same protocol)", foll_inst, rf, _subscription(["a", "b", "v2"]),
                      is_leader=False)
    finally:
        for r in raws:
            try:
                r.close()
            except Exception:  # noqa: BLE001
                pass
    check(not problems, f"{len(problems)} answer(s) differ from Kafka's:\n  - " + "\n  - ".join(problems))
    return {"via": "requests built with kafka-python's protocol classes"}


# ---------------------------------------------------------------------------
# 7. admin


def _admin_setup(ctx, kind):
    """A topic with 300 messages; group `active` with one running member
    that read everything; group `empty` whose member read 100 and left."""
    topic = _topic(ctx, "group-admin", 3)
    acked = produce_values(ctx, topic, 300, f"admin-{uuid.uuid4().hex[:6]}")
    ga, ge = group_name("admin-active"), group_name("admin-empty")
    ms = Members()
    active = ms.add(make_member(kind, f"{kind}#active", ctx.bootstrap, ga, [topic]))
    emptyer = ms.add(make_member(kind, f"{kind}#empty", ctx.bootstrap, ge, [topic], max_poll=50, stop_after=100))
    wait_read([active], set(expected_positions(acked, topic)), timeout=90, what="the active group to read all")
    hw = high_watermarks(ctx, topic)
    wait_committed(ctx.bootstrap, ga, topic, hw, members=[active])
    emptyer.wait(lambda m: m.exit_code is not None, 90, "the `empty` group's member to read 100 and leave")
    check(emptyer.exit_code == 0, f"{emptyer.name} exited {emptyer.exit_code}")
    rb = _by_partition(emptyer.records)
    c_empty = {p: (len(rb[p]) if rb.get(p) else -1) for p in range(3)}
    return topic, ga, ge, ms, active, hw, c_empty


def admin_confluent(ctx):
    """confluent AdminClient: list_consumer_groups (with states),
    describe_consumer_groups, list_consumer_group_offsets,
    alter_consumer_group_offsets (refused for an active group and for
    partitions that do not exist), delete_consumer_groups (non-empty group:
    NON_EMPTY_GROUP; empty group: deleted, offsets gone; twice:
    GROUP_ID_NOT_FOUND)."""
    import confluent_kafka as ck
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions
    topic, ga, ge, ms, active, hw, c_empty = _admin_setup(ctx, "confluent-kafka")
    a = admin(ctx.bootstrap)
    try:
        res = a.list_consumer_groups(request_timeout=20).result(timeout=30)
        check(not res.errors, f"list_consumer_groups errors: {res.errors}")
        listed = {g.group_id: g for g in res.valid}
        for g, st in ((ga, "STABLE"), (ge, "EMPTY")):
            check(g in listed, f"list_consumer_groups does not list {g}; it lists {sorted(listed)[:10]}")
            check(not listed[g].is_simple_consumer_group, f"{g} listed as a simple consumer group")
            state = getattr(listed[g].state, "name", str(listed[g].state))
            check(state == st, f"list_consumer_groups: {g} in state {state}, expected {st}")
        res = a.list_consumer_groups(states={ConsumerGroupState.EMPTY}, request_timeout=20).result(timeout=30)
        names = {g.group_id for g in res.valid}
        check(ge in names and ga not in names,
              f"list_consumer_groups(states={{EMPTY}}) -> {ge in names=}, {ga in names=} (ListGroups v4 states filter)")

        d = describe(ctx.bootstrap, ga, a)
        check(d["state"] == "STABLE" and len(d["members"]) == 1 and d["assignor"] == "range",
              f"describe_consumer_groups({ga}): {d}")
        mem = d["members"][0]
        check(mem["member_id"] == active.member_id and mem["client_id"] == active.client_id
              and mem["assignment"] == _parts(topic, 3), f"describe_consumer_groups member {mem} vs the consumer's "
                                                         f"own id {active.member_id} / {sorted(active.assignment)}")
        d = describe(ctx.bootstrap, ge, a)
        check(d["state"] == "EMPTY" and not d["members"], f"describe_consumer_groups({ge}): {d}")
        unknown = group_name("admin-never-existed")
        try:
            d = describe(ctx.bootstrap, unknown, a)
            check(d["state"] == "DEAD" and not d["members"],
                  f"describe_consumer_groups of a group that never existed: {d}, expected Dead")
        except ck.KafkaException as e:
            check(e.args[0].code() == ck.KafkaError.GROUP_ID_NOT_FOUND,
                  f"describe_consumer_groups of a group that never existed: {e}")

        check(committed(ctx.bootstrap, ga, topic, range(3), a) == hw, "list_consumer_group_offsets(active)")
        check(committed(ctx.bootstrap, ge, topic, range(3), a) == c_empty,
              f"list_consumer_group_offsets(empty) != {c_empty}")
        # all partitions of the group (no partition list)
        res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(ge)], request_timeout=20)[ge].result(30)
        got = {tp.partition: tp.offset for tp in res.topic_partitions if tp.topic == topic}
        check(got == {p: o for p, o in c_empty.items() if o >= 0},
              f"list_consumer_group_offsets({ge}) without partitions: {got}, expected {c_empty} (committed only)")

        # alter offsets of the empty group
        new = {0: 5, 1: 7, 2: 0}
        req = ConsumerGroupTopicPartitions(ge, [ck.TopicPartition(topic, p, o) for p, o in new.items()])
        res = a.alter_consumer_group_offsets([req], request_timeout=20)[ge].result(30)
        check(all(tp.error is None for tp in res.topic_partitions),
              f"alter_consumer_group_offsets: {[(tp.partition, str(tp.error)) for tp in res.topic_partitions]}")
        check(committed(ctx.bootstrap, ge, topic, range(3), a) == new, "offsets after alter_consumer_group_offsets")
        # offsets of partitions that do not exist are refused
        for t, p in ((f"{topic}-no-such-topic", 0), (topic, 7)):
            req = ConsumerGroupTopicPartitions(ge, [ck.TopicPartition(t, p, 1)])
            try:
                res = a.alter_consumer_group_offsets([req], request_timeout=20)[ge].result(30)
                errs = [tp.error for tp in res.topic_partitions]
                check(errs and errs[0] is not None and errs[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART,
                      f"OffsetCommit for {t} partition {p} (does not exist): {errs}, expected UNKNOWN_TOPIC_OR_PARTITION")
            except ck.KafkaException as e:
                check(e.args[0].code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART,
                      f"OffsetCommit for {t} partition {p} (does not exist): {e}, expected UNKNOWN_TOPIC_OR_PARTITION")
        # altering the offsets of a group with a live member is refused
        req = ConsumerGroupTopicPartitions(ga, [ck.TopicPartition(topic, 0, 1)])
        try:
            res = a.alter_consumer_group_offsets([req], request_timeout=20)[ga].result(30)
            errs = [tp.error for tp in res.topic_partitions if tp.error is not None]
            check(errs, f"alter_consumer_group_offsets on a group with an active member succeeded "
                        f"(Kafka: UNKNOWN_MEMBER_ID); offsets now {committed(ctx.bootstrap, ga, topic, range(3), a)}")
        except ck.KafkaException as e:
            log(f"alter offsets of an active group refused: {e}")
        check(committed(ctx.bootstrap, ga, topic, range(3), a) == hw, "active group's offsets changed by a refused alter")

        # delete groups
        fs = a.delete_consumer_groups([ga], request_timeout=20)
        try:
            fs[ga].result(30)
            raise CheckFailed(f"delete_consumer_groups({ga}) with an active member succeeded; expected NON_EMPTY_GROUP")
        except ck.KafkaException as e:
            check(e.args[0].code() == ck.KafkaError.NON_EMPTY_GROUP,
                  f"delete_consumer_groups of a group with a member: {e}, expected NON_EMPTY_GROUP")
        fs = a.delete_consumer_groups([ge], request_timeout=20)
        fs[ge].result(30)
        listed = {g.group_id for g in a.list_consumer_groups(request_timeout=20).result(30).valid}
        check(ge not in listed and ga in listed, f"after deleting {ge}: listed {ge in listed=}, {ga in listed=}")
        check(committed(ctx.bootstrap, ge, topic, range(3), a) == {0: -1, 1: -1, 2: -1},
              "a deleted group still has committed offsets")
        try:
            d = describe(ctx.bootstrap, ge, a)
            check(d["state"] == "DEAD", f"describe of a deleted group: {d}")
        except ck.KafkaException as e:
            check(e.args[0].code() == ck.KafkaError.GROUP_ID_NOT_FOUND, f"describe of a deleted group: {e}")
        fs = a.delete_consumer_groups([ge], request_timeout=20)
        try:
            fs[ge].result(30)
            raise CheckFailed(f"deleting {ge} a second time succeeded; expected GROUP_ID_NOT_FOUND")
        except ck.KafkaException as e:
            check(e.args[0].code() == ck.KafkaError.GROUP_ID_NOT_FOUND,
                  f"deleting a deleted group: {e}, expected GROUP_ID_NOT_FOUND")
        # once the active member has left, its group can be deleted
        active.close()
        fs = a.delete_consumer_groups([ga], request_timeout=20)
        fs[ga].result(30)
        check(committed(ctx.bootstrap, ga, topic, range(3), a) == {0: -1, 1: -1, 2: -1}, "offsets of deleted group")

    finally:
        ms.cleanup()
    return None


def admin_kafka_python(ctx):
    """kafka-python KafkaAdminClient: list_groups (with states_filter),
    describe_groups (members, decoded assignment), list_group_offsets,
    alter_group_offsets, delete_group_offsets (OffsetDelete: refused for a
    subscribed topic with a live member, works on an empty group),
    delete_groups (NON_EMPTY_GROUP / deleted), ListGroups v5 types filter,
    remove_group_members of a closed static member (LeaveGroup by
    group.instance.id: the group is Empty at once)."""
    import kafka.errors as Errors
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.structs import OffsetAndMetadata
    topic, ga, ge, ms, active, hw, c_empty = _admin_setup(ctx, "kafka-python")
    a = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000, client_id="compat-kp-admin")
    try:
        groups = a.list_groups()
        by = {g["group_id"]: g for g in groups}
        for g, st in ((ga, "Stable"), (ge, "Empty")):
            check(g in by, f"list_groups does not list {g}: {sorted(by)[:10]}")
            check(by[g].get("protocol_type") == "consumer", f"list_groups {g}: {by[g]}")
            if "group_state" in by[g]:
                check(by[g]["group_state"] == st, f"list_groups: {g} state {by[g]['group_state']}, expected {st}")
        empties = {g["group_id"] for g in a.list_groups(states_filter=["Empty"])}
        check(ge in empties and ga not in empties, f"list_groups(states_filter=['Empty']): {ge in empties=}, "
                                                   f"{ga in empties=}")
        # ListGroups v5 (KIP-848): these are "classic" groups, not "consumer" (new protocol) ones
        classic = {g["group_id"]: g for g in a.list_groups(types_filter=["classic"])}
        check(ga in classic and ge in classic, f"list_groups(types_filter=['classic']) lacks {ga} or {ge}")
        check(classic[ga].get("group_type") in (None, "classic"), f"group_type of {ga}: {classic[ga]}")
        newproto = {g["group_id"] for g in a.list_groups(types_filter=["consumer"])}
        check(ga not in newproto and ge not in newproto,
              f"list_groups(types_filter=['consumer']) (KIP-848 groups) lists the classic groups {ga}/{ge}")

        d = a.describe_groups([ga, ge])
        da, de = d[ga], d[ge]
        check(da["error"] is None and da["group_state"] == "Stable" and da["protocol_type"] == "consumer"
              and da["protocol_data"] == "range", f"describe_groups({ga}): {da}")
        check(len(da["members"]) == 1, f"describe_groups({ga}) members: {da['members']}")
        m = da["members"][0]
        check(m["member_id"] == active.member_id and m["client_id"] == active.client_id,
              f"describe_groups member {m['member_id']}/{m['client_id']}, the consumer says "
              f"{active.member_id}/{active.client_id}")
        asg = m["member_assignment"]
        try:
            parts = {(t["topic"], p) for t in asg["assigned_partitions"] for p in t["partitions"]}
        except (TypeError, KeyError):
            parts = None
        check(parts == _parts(topic, 3), f"describe_groups decoded assignment {asg!r}, expected {sorted(_parts(topic, 3))}")
        check(de["error"] is None and de["group_state"] == "Empty" and not de["members"], f"describe_groups({ge}): {de}")

        offs = a.list_group_offsets(ga)[ga]
        check({tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic} == hw,
              f"list_group_offsets({ga}): {offs}, expected {hw}")
        offs = a.list_group_offsets({ge: [TopicPartition(topic, p) for p in range(3)]})[ge]
        check({tp.partition: om.offset for tp, om in offs.items()} == c_empty,
              f"list_group_offsets({ge}, partitions): {offs}, expected {c_empty}")

        # OffsetFetch v8: several groups in one request
        both = a.list_group_offsets([ga, ge])
        check({tp.partition: om.offset for tp, om in both[ga].items() if tp.topic == topic} == hw and
              {tp.partition: om.offset for tp, om in both[ge].items() if tp.topic == topic} ==
              {p: o for p, o in c_empty.items() if o >= 0},
              f"list_group_offsets([{ga}, {ge}]) in one OffsetFetch: {both}")
        # offset.metadata.max.bytes (4096)
        res = a.alter_group_offsets(ge, {TopicPartition(topic, 0): OffsetAndMetadata(1, "x" * 5000, -1)})
        check(res.get(TopicPartition(topic, 0)) is Errors.OffsetMetadataTooLargeError,
              f"OffsetCommit with 5000 bytes of metadata: {res}, expected OFFSET_METADATA_TOO_LARGE")

        new = {0: 3, 1: 4, 2: 5}
        res = a.alter_group_offsets(ge, {TopicPartition(topic, p): OffsetAndMetadata(o, "compat", -1)
                                         for p, o in new.items()})
        check(all(e is Errors.NoError for e in res.values()), f"alter_group_offsets({ge}): {res}")
        offs = a.list_group_offsets(ge)[ge]
        check({tp.partition: om.offset for tp, om in offs.items()} == new, f"offsets after alter: {offs}")
        check(all(om.metadata == "compat" for om in offs.values()), f"commit metadata not kept: {offs}")

        # OffsetDelete: refused while a member is subscribed to the topic
        try:
            res = a.delete_group_offsets(ga, [TopicPartition(topic, 0)])
            check(res.get(TopicPartition(topic, 0)) is Errors.GroupSubscribedToTopicError,
                  f"delete_group_offsets on a topic the active member is subscribed to: {res}, expected "
                  f"GROUP_SUBSCRIBED_TO_TOPIC")
        except Errors.KafkaError as e:
            raise CheckFailed(f"delete_group_offsets({ga}) raised {e!r}; expected a per-partition "
                              f"GROUP_SUBSCRIBED_TO_TOPIC") from None
        res = a.delete_group_offsets(ge, [TopicPartition(topic, 1)])
        check(res.get(TopicPartition(topic, 1)) is Errors.NoError, f"delete_group_offsets({ge}, p1): {res}")
        offs = a.list_group_offsets({ge: [TopicPartition(topic, p) for p in range(3)]})[ge]
        check({tp.partition: om.offset for tp, om in offs.items()} == {0: 3, 1: -1, 2: 5},
              f"after OffsetDelete of p1: {offs}")

        res = a.delete_groups([ga, ge])
        log(f"delete_groups: {res}")
        check(res.get(ga) == "NonEmptyGroupError",
              f"delete_groups: {ga} (active member) -> {res.get(ga)!r}, expected NonEmptyGroupError")
        check(res.get(ge) == "OK", f"delete_groups: {ge} (empty) -> {res.get(ge)!r}, expected OK")
        names = {g["group_id"] for g in a.list_groups()}
        check(ge not in names and ga in names, f"after delete_groups: {ge in names=}, {ga in names=}")
        check(a.list_group_offsets(ge)[ge] == {}, f"offsets of deleted group {ge}: {a.list_group_offsets(ge)}")
        res = a.delete_groups([ge])
        check(res.get(ge) == "GroupIdNotFoundError", f"delete_groups of a deleted group: {res}, expected "
                                                     f"GroupIdNotFoundError")
        active.close()
        res = a.delete_groups([ga])
        check(res.get(ga) == "OK", f"delete_groups({ga}) after its member left: {res}")

        # KIP-345: a static member that closed (no LeaveGroup) is removed at
        # once by the admin (LeaveGroup v3+ by group.instance.id)
        from kafka.admin import MemberToRemove
        gst, inst = group_name("admin-static"), f"st-{uuid.uuid4().hex[:6]}"
        st = ms.add(make_member("kafka-python", "kafka-python#static", ctx.bootstrap, gst, [topic],
                                instance_id=inst, session_timeout_ms=30000))
        wait_stable(ctx.bootstrap, gst, [st], [3], _parts(topic, 3), timeout=60)
        st.close()
        d = a.describe_groups([gst])[gst]
        check(d["group_state"] == "Stable" and len(d["members"]) == 1,
              f"after the static member closed (no LeaveGroup): {d['group_state']}, {len(d['members'])} members")
        res = a.remove_group_members(gst, [MemberToRemove(group_instance_id=inst)])
        check(list(res.values()) == [Errors.NoError], f"remove_group_members({gst}, instance {inst}): {res}")
        d = a.describe_groups([gst])[gst]
        check(d["group_state"] == "Empty" and not d["members"],
              f"after removing the static member: {d['group_state']} with {len(d['members'])} members, expected "
              f"Empty")
        res = a.remove_group_members(gst, [MemberToRemove(group_instance_id=inst)])
        check(list(res.values()) == [Errors.UnknownMemberIdError],
              f"removing the same static member again: {res}, expected UNKNOWN_MEMBER_ID")
    finally:
        a.close()
        ms.cleanup()
    return None


def _js_admin(ctx, ops, timeout=90):
    from harness.clients.kafkajs import run_node
    return run_node("group-admin", {"bootstrap": ctx.bootstrap, "ops": ops}, timeout=timeout)["results"]


def admin_kafkajs(ctx):
    """kafkajs admin: listGroups, describeGroups (decoded member assignment),
    fetchOffsets, setOffsets / resetOffsets on an empty group, deleteGroups
    (non-empty: NON_EMPTY_GROUP; empty: deleted)."""
    topic, ga, ge, ms, active, hw, c_empty = _admin_setup(ctx, "kafkajs")
    try:
        r = _js_admin(ctx, [{"op": "list"}, {"op": "describe", "groups": [ga, ge]},
                            {"op": "fetch-offsets", "group": ga, "topics": [topic]},
                            {"op": "fetch-offsets", "group": ge, "topics": [topic]}])
        check(all(x["ok"] for x in r), f"kafkajs group admin errors: {[x for x in r if not x['ok']]}")
        listed = {g["groupId"]: g for g in r[0]["result"]["groups"]}
        for g in (ga, ge):
            check(g in listed and listed[g]["protocolType"] == "consumer", f"listGroups: {g} -> {listed.get(g)}")
        desc = {g["groupId"]: g for g in r[1]["result"]["groups"]}
        da, de = desc[ga], desc[ge]
        check(da["errorCode"] == 0 and da["state"] == "Stable" and da["protocol"] == JS_ASSIGNOR
              and da["protocolType"] == "consumer", f"describeGroups({ga}): { {k: v for k, v in da.items() if k != 'members'} }")
        check(len(da["members"]) == 1, f"describeGroups({ga}) members: {da['members']}")
        m = da["members"][0]
        check(m["memberId"] == active.member_id and m["clientId"] == active.client_id,
              f"describeGroups member {m['memberId']}/{m['clientId']} vs {active.member_id}/{active.client_id}")
        asg = (m.get("memberAssignment") or {}).get("assignment") or {}
        check({(t, p) for t, ps in asg.items() for p in ps} == _parts(topic, 3),
              f"describeGroups decoded assignment {m.get('memberAssignment')}")
        check(de["state"] == "Empty" and not de["members"], f"describeGroups({ge}): {de}")

        def offsets(res):
            t = next(x for x in res["result"] if x["topic"] == topic)
            return {p["partition"]: int(p["offset"]) for p in t["partitions"]}
        check(offsets(r[2]) == hw, f"fetchOffsets({ga}) {offsets(r[2])}, expected {hw}")
        check(offsets(r[3]) == c_empty, f"fetchOffsets({ge}) {offsets(r[3])}, expected {c_empty}")

        new = [{"partition": 0, "offset": "2"}, {"partition": 1, "offset": "9"}, {"partition": 2, "offset": "0"}]
        r = _js_admin(ctx, [{"op": "set-offsets", "group": ge, "topic": topic, "partitions": new},
                            {"op": "fetch-offsets", "group": ge, "topics": [topic]},
                            {"op": "reset-offsets", "group": ge, "topic": topic, "earliest": True},
                            {"op": "fetch-offsets", "group": ge, "topics": [topic]},
                            {"op": "fetch-offsets", "group": ge, "topics": [topic], "resolve": True},
                            {"op": "delete", "groups": [ga]},
                            {"op": "delete", "groups": [ge]},
                            {"op": "list"}])
        check(r[0]["ok"], f"setOffsets({ge}): {r[0]}")
        check(offsets(r[1]) == {0: 2, 1: 9, 2: 0}, f"fetchOffsets after setOffsets: {offsets(r[1])}")
        check(r[2]["ok"], f"resetOffsets({ge}, earliest): {r[2]}")
        # kafkajs commits the special offset -2 (EARLIEST) as such, and
        # resolves it with ListOffsets (then commits the result) on request
        check(all(o in (-2, 0) for o in offsets(r[3]).values()),
              f"fetchOffsets after resetOffsets(earliest): {offsets(r[3])}, expected -2 (or 0)")
        check(offsets(r[4]) == {0: 0, 1: 0, 2: 0}, f"fetchOffsets(resolveOffsets) after resetOffsets(earliest): "
                                                   f"{offsets(r[4])}")
        check(not r[5]["ok"], f"deleteGroups({ga}) with an active member succeeded: {r[5]}")
        errs = r[5]["error"].get("groups") or []
        check(any(g["groupId"] == ga and g["errorCode"] == 68 for g in errs),
              f"deleteGroups({ga}) with an active member: {r[5]['error']}, expected NON_EMPTY_GROUP (68)")
        check(r[6]["ok"], f"deleteGroups({ge}) (empty): {r[6]}")
        names = {g["groupId"] for g in r[7]["result"]["groups"]}
        check(ge not in names and ga in names, f"listGroups after deleteGroups: {ge in names=}, {ga in names=}")
        active.close()
    finally:
        ms.cleanup()
    return {"via": "topic created and data produced with confluent-kafka"}


# ---------------------------------------------------------------------------
# 8. lag: riffle groups describe

LAG_COLUMNS = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
               "CLIENT-ID"]


def _riffle_groups_describe(ctx, group):
    argv = [ctx.broker_bin, "groups", "describe", group, "--bootstrap-server", ctx.bootstrap]
    log(f"$ {' '.join(argv)}")
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
    except FileNotFoundError:
        raise CheckFailed(f"broker binary {ctx.broker_bin} not found") from None
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`{' '.join(argv)}` did not finish within 60s") from None
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    log(f"exit {p.returncode}; stdout:\n{out}\nstderr:\n{err}")
    if p.returncode != 0 and re.search(r"unrecognized subcommand|unexpected argument|invalid subcommand", err):
        raise CheckFailed(f"`riffle groups describe` is not implemented by {ctx.broker_bin}: it exited "
                          f"{p.returncode}: {err.strip().splitlines()[0] if err.strip() else ''}")
    check(p.returncode == 0, f"`{' '.join(argv)}` exited {p.returncode}; stderr: {err.strip()[:500]}")
    return out


def _parse_describe_table(out, group):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    hdr_i = next((i for i, ln in enumerate(lines) if ln.split()[:3] == ["GROUP", "TOPIC", "PARTITION"]), None)
    check(hdr_i is not None, f"no `GROUP TOPIC PARTITION ...` header in the output:\n{out}")
    hdr = lines[hdr_i].split()
    check(hdr == LAG_COLUMNS, f"columns {hdr}, expected {LAG_COLUMNS} (kafka-consumer-groups.sh --describe)")
    rows = {}
    for ln in lines[hdr_i + 1:]:
        f = ln.split()
        if f[0] != group:
            continue
        check(len(f) == len(LAG_COLUMNS), f"cannot parse row {ln!r} ({len(f)} fields, expected {len(LAG_COLUMNS)})")
        row = dict(zip(LAG_COLUMNS, f))
        rows[(row["TOPIC"], int(row["PARTITION"]))] = row
    return rows


def lag(ctx):
    """`riffle groups describe GROUP --bootstrap-server HOST:PORT` prints
    kafka-consumer-groups.sh --describe's table. Group `live`: its member
    read and committed 2,500 of 3,000 messages, then paused (still a member),
    then 600 more were produced: per partition CURRENT-OFFSET = the committed
    offset, LOG-END-OFFSET = the high watermark, LAG = the difference, and
    the member's CONSUMER-ID / HOST / CLIENT-ID. Group `empty`: its member
    committed 1,700 and left: the same offsets, `-` for the member, and no row
    for a partition without a committed offset."""
    topic = _topic(ctx, "group-lag", 3)
    tag = f"lag-{uuid.uuid4().hex[:6]}"
    produce_values(ctx, topic, 3000, tag)
    g_live, g_empty = group_name("lag-live"), group_name("lag-empty")
    ms = Members()
    try:
        live = ms.add(make_member("confluent-kafka", "confluent-kafka#live", ctx.bootstrap, g_live, [topic],
                                  max_poll=100, stop_after=2500, after_stop="hold"))
        gone = ms.add(make_member("confluent-kafka", "confluent-kafka#gone", ctx.bootstrap, g_empty, [topic],
                                  max_poll=100, stop_after=1700))
        live.wait(lambda m: any(e["ev"] == "stopped_after" for e in m.events), 90, "2500 records read")
        gone.wait(lambda m: m.exit_code is not None, 90, "1700 records read and the member gone")
        produce_values(ctx, topic, 600, tag, start=3000)
        hw = high_watermarks(ctx, topic)
        for g, m, n in ((g_live, live, 2500), (g_empty, gone, 1700)):
            rb = _by_partition(m.records)
            exp = {p: (len(rb[p]) if rb.get(p) else -1) for p in range(3)}
            check(sum(len(v) for v in rb.values()) == n, f"{m.name} read {len(m.records)} records, expected {n}")
            wait_committed(ctx.bootstrap, g, topic, exp, members=[m] if m is live else [])
            out = _riffle_groups_describe(ctx, g)
            rows = _parse_describe_table(out, g)
            for p in range(3):
                row = rows.get((topic, p))
                cur = exp[p]
                if cur < 0 and m is not live:
                    check(row is None, f"`riffle groups describe {g}` (no members) prints a row for partition {p} "
                                       f"which has no committed offset: {row}")
                    continue
                check(row is not None, f"`riffle groups describe {g}` has no row for {topic} partition {p}:\n{out}")
                check(row["CURRENT-OFFSET"] == (str(cur) if cur >= 0 else "-"),
                      f"{g} p{p}: CURRENT-OFFSET {row['CURRENT-OFFSET']}, committed offset is {cur}")
                check(row["LOG-END-OFFSET"] == str(hw[p]),
                      f"{g} p{p}: LOG-END-OFFSET {row['LOG-END-OFFSET']}, high watermark is {hw[p]}")
                check(row["LAG"] == (str(hw[p] - cur) if cur >= 0 else "-"),
                      f"{g} p{p}: LAG {row['LAG']}, expected {hw[p] - cur if cur >= 0 else '-'}")
                if m is live:
                    check(row["CONSUMER-ID"] == live.member_id, f"{g} p{p}: CONSUMER-ID {row['CONSUMER-ID']}, "
                                                                f"the member is {live.member_id}")
                    check(row["CLIENT-ID"] == live.client_id, f"{g} p{p}: CLIENT-ID {row['CLIENT-ID']}, "
                                                              f"expected {live.client_id}")
                    check("127.0.0.1" in row["HOST"], f"{g} p{p}: HOST {row['HOST']}")
                else:
                    check(row["CONSUMER-ID"] == "-" and row["HOST"] == "-" and row["CLIENT-ID"] == "-",
                          f"{g} p{p} (group without members): CONSUMER-ID/HOST/CLIENT-ID "
                          f"{row['CONSUMER-ID']}/{row['HOST']}/{row['CLIENT-ID']}, expected -")
            extra = set(rows) - {(topic, p) for p in range(3)}
            check(not extra, f"`riffle groups describe {g}` lists partitions the group never had: {sorted(extra)}")
        live.close()
    finally:
        ms.cleanup()
    return {"via": "offsets committed by confluent-kafka consumers; table printed by `riffle groups describe`"}
