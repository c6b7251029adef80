"""The consumer group protocol of KIP-848 (group.protocol=consumer): ConsumerGroupHeartbeat,
ConsumerGroupDescribe, server-side assignors (uniform, range), regex subscriptions
resolved by the broker, static membership, groups kept in __consumer_offsets across a
restart, the migration between classic and consumer groups, and hand-made wrong
requests. Encoded from what Apache Kafka 4.4 does (``--flavour kafka``).

Members are real clients in processes of their own (harness/groups.py make_member with
``group_protocol="consumer"``): the Java client 4.4 (AsyncKafkaConsumer), confluent-kafka
(librdkafka 2.16) and franz-go (kgo's ServerSideBalancer). With the consumer protocol the
broker owns the session timeout and heartbeat interval (private brokers get quick ones,
harness/kip848.py QUICK_GROUP_BROKER) and every rebalance is incremental: a member
revokes partitions before anyone else gets them, which the split-join-leave scenario
checks from the members' assign / revoke timestamps.

No assertion is about time: everything waits for a condition with a deadline; times
are reported in the notes.
"""

from __future__ import annotations

import time
import uuid

from harness.clients import get_client
from harness.common import check, log, wait_until
from harness.groups import (Members, PacedProducer, admin, check_resumed, check_values, committed, duplicates,
                            expected_positions, group_name, high_watermarks, make_member, produce_values,
                            wait_committed, wait_read, wait_stable)
from harness.kip848 import (QUICK_GROUP_BROKER, Raw, check_exclusive, describe_ck, ename, first_read_after,
                            java_describe, java_list, wait_stable848)

KINDS = ("java", "confluent-kafka", "franz-go")  # clients with the consumer protocol


def _topic(ctx, base, partitions):
    topic = ctx.topic(base)
    get_client("confluent-kafka").create_topic(ctx, topic, partitions)
    return topic


def _parts(topic, n):
    return {(topic, p) for p in range(n)}


def _member(ctx, kind, name, group, topics, **cfg):
    return make_member(kind, name, ctx.bootstrap, group, topics, group_protocol="consumer", **cfg)


def _close_all(members, timeout=60):
    for m in members:
        if m.alive():
            m._request_close()
    for m in members:
        m.close(timeout)


def _ids(m):
    """Ask a worker for its member id / epoch (an "ids" event)."""
    n = m.n_events()
    m.request_ids()
    return m.wait(lambda mm: next((e for e in mm.events[n:] if e["ev"] == "ids"), None), 30, f"{m.name}'s ids")


def _rebalance_events(m, since_index):
    """assign / revoke / lost events after the given index that changed something (franz-go
    also calls its callbacks with nothing in them)."""
    with m.cond:
        return [e for e in m.events[since_index:] if e["ev"] in ("assign", "revoke", "lost") and e.get("parts")]


# ---------------------------------------------------------------------------
# 1. three members split six partitions; a fourth joins, one leaves, one is killed

SJL_PARTITIONS = 6


def split_join_leave(ctx, kind):
    """Three members (group.protocol=consumer, group.remote.assignor=uniform) split a
    6-partition topic 2/2/2 (their own views, and ConsumerGroupDescribe: a CONSUMER group,
    Stable, assignor uniform, target assignment = assignment) while a producer keeps
    producing; a fourth joins (2/2/1/1), one leaves (close: 2/2/2; note: the time from the
    close to another member consuming its partitions), one is SIGKILLed (its partitions
    move after the broker's session timeout: 3/3); the uniform assignor is sticky: on each
    change a member only loses (join) or only gains (leave, expiry) partitions. Every
    record produced is consumed; the only ones consumed twice are the killed member's (read
    after its last commit); and no partition is ever owned by two members at once: the
    members' assign / revoke timestamps give per-partition ownership intervals that never
    overlap, and every record was processed by a member while it owned the partition."""
    ctx.private_broker(QUICK_GROUP_BROKER)
    topic = _topic(ctx, "kip848-sjl", SJL_PARTITIONS)
    parts = _parts(topic, SJL_PARTITIONS)
    group = group_name("kip848-sjl")
    ms = Members()
    prod = None
    try:
        # the member to be killed commits after every 4th batch only: it dies with records
        # read but not committed, which another member reads again
        m1, m2, m3 = [ms.add(_member(ctx, kind, f"{kind}#{i}", group, [topic], remote_assignor="uniform",
                                     max_poll=50, **({"commit_every": 4} if i == 3 else {})))
                      for i in (1, 2, 3)]
        wait_stable848(ctx.bootstrap, group, [m1, m2, m3], [2, 2, 2], parts, assignor="uniform",
                       what="three members with 2 partitions each (uniform assignor)")

        def sticky(members, before, what, gain):
            # the uniform assignor is sticky: a member keeps what it had as far as the balance allows
            for m in members:
                now = set(m.assignment)
                ok = now >= before[m.name] if gain else now <= before[m.name]
                check(ok, f"{what}: {m.name} went from {sorted(p for _, p in before[m.name])} to "
                          f"{sorted(p for _, p in now)}; the uniform assignor is sticky (a member only "
                          f"{'gains' if gain else 'loses'} partitions here)")
        prod = PacedProducer(ctx.bootstrap, topic, 10_000_000, f"sjl-{uuid.uuid4().hex[:6]}", step=20, interval=0.05)
        prod.start()
        wait_until(lambda: all(len(m.records) >= 50 for m in (m1, m2, m3)), 60, "each member to read 50 records")

        # a fourth member joins
        before = {m.name: set(m.assignment) for m in (m1, m2, m3)}
        m4 = ms.add(_member(ctx, kind, f"{kind}#4", group, [topic], remote_assignor="uniform", max_poll=50))
        wait_stable848(ctx.bootstrap, group, [m1, m2, m3, m4], [2, 2, 1, 1], parts,
                       what="a fourth member to join (2, 2, 1, 1 partitions)")
        sticky([m1, m2, m3], before, "when a fourth member joined", gain=False)
        wait_until(lambda: len(m4.records) > 0, 60, f"{m4.name} to read")

        # one leaves
        left_parts = set(m1.assignment)
        rest = [m2, m3, m4]
        before = {m.name: set(m.assignment) for m in rest}
        t_close = time.time()
        m1.close()
        wait_stable848(ctx.bootstrap, group, rest, [2, 2, 2], parts,
                       what=f"{m1.name} to leave (close) and the others to take its partitions (2, 2, 2)")
        sticky(rest, before, f"when {m1.name} left", gain=True)
        wait_until(lambda: all(first_read_after(rest, tp, t_close) for tp in left_parts), 60,
                   f"another member to consume {m1.name}'s partitions {sorted(p for _, p in left_parts)}")
        reread = {tp: first_read_after(rest, tp, t_close) for tp in left_parts}
        leave_times = {tp[1]: round(r[0] - t_close, 2) for tp, r in reread.items()}
        log(f"{m1.name} closed at {t_close:.3f}; its partitions consumed again: "
            f"{ {tp[1]: (round(r[0] - t_close, 3), r[1], r[2]) for tp, r in reread.items()} }")

        # one is killed
        victim, survivors = m3, [m2, m4]
        victim_parts = sorted(p for _, p in victim.assignment)
        before = {m.name: set(m.assignment) for m in survivors}
        wait_until(lambda: any(e["ev"] == "commit" for e in victim.events), 60, f"{victim.name} to commit")
        victim.kill()
        t_kill = time.time()
        a = admin(ctx.bootstrap)
        # a commit the victim sent just before the kill may still be on its way: read the
        # victim's partitions until two answers half a second apart agree (nobody else owns
        # them until the session timeout)
        c_kill = committed(ctx.bootstrap, group, topic, range(SJL_PARTITIONS), a)
        for _ in range(10):
            time.sleep(0.5)
            again = committed(ctx.bootstrap, group, topic, range(SJL_PARTITIONS), a)
            if all(again[p] == c_kill[p] for p in victim_parts):
                break
            c_kill = again
        log(f"killed {victim.name} (partitions {victim_parts}); committed then: {c_kill}")
        wait_stable848(ctx.bootstrap, group, survivors, [3, 3], parts, timeout=90,
                       what=f"the broker to expire {victim.name} after the session timeout and its partitions "
                            f"to move (3, 3)")
        t_moved = time.time()
        sticky(survivors, before, f"when {victim.name} was expired", gain=True)
        wait_until(lambda: all(first_read_after(survivors, (topic, p), t_kill) for p in victim_parts), 60,
                   f"the survivors to consume {victim.name}'s partitions")
        prod.stop_flag.set()
        prod.join(90)
        check(prod.done.is_set(), "the producer did not finish")
        check(not prod.errors, f"producer errors: {prod.errors[:3]}")
        expected = expected_positions(prod.acked, topic)
        everyone = [m1, m2, m3, m4]
        wait_read(everyone, set(expected), timeout=90, what=f"all {len(expected)} records to be consumed")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, group, topic, hw, timeout=60, members=survivors)
        check_values(everyone, expected)
        dups = duplicates(everyone)
        bad = {k: w for k, w in dups.items()
               if not (victim.name in w and len(w) == 2 and k[1] in victim_parts and k[2] >= c_kill[k[1]])}
        check(not bad, f"{len(bad)} records consumed twice that are not the killed member's uncommitted ones "
                       f"(committed at the kill {c_kill}), e.g. {sorted(bad.items())[:5]}")
        owners = check_exclusive(everyone)
        moves = sum(len(v) for v in owners.values()) - len(owners)
        _close_all(survivors)
        return (f"{len(expected)} records; {m1.name} left (close): its partitions consumed again by another "
                f"member after {max(leave_times.values()):.2f}s (per partition {leave_times}); {victim.name} "
                f"killed: its partitions moved after {t_moved - t_kill:.1f}s (session timeout 6s); {len(dups)} "
                f"re-read from its uncommitted window; {moves} ownership hand-overs, none overlapping")
    finally:
        if prod is not None:
            prod.stop_flag.set()
        ms.cleanup()


# ---------------------------------------------------------------------------
# 2. regex subscription resolved by the broker


def regex(ctx, kind):
    """Two members subscribe by regex (Java subscribe(SubscriptionPattern), librdkafka a
    topic name starting with "^", franz-go ConsumeRegex): ConsumerGroupDescribe shows the
    regex (SubscribedTopicRegex, no topic names: the broker resolves it) and the members
    split the matching topic's partitions. Two topics created later, one matching and one
    not: the matching one is assigned (uniform: 2 partitions each) and its records are
    consumed (note: how long after its creation), the other never."""
    h = uuid.uuid4().hex[:8]
    prefix = f"compat.kip848rx{h}."
    pattern = f"^compat\\.kip848rx{h}\\.in-.*"
    t_a, t_b, t_c = prefix + "in-a", prefix + "in-b", prefix + "out-c"
    ck = get_client("confluent-kafka")
    ck.create_topic(ctx, t_a, 2)
    tag = f"rx-{uuid.uuid4().hex[:6]}"
    acked = {t_a: produce_values(ctx, t_a, 200, tag)}
    group = group_name("kip848-rx")
    ms = Members()
    raw = Raw(ctx.bootstrap)
    try:
        members = [ms.add(_member(ctx, kind, f"{kind}#{i}", group, [], pattern=pattern, max_poll=50))
                   for i in (1, 2)]
        wait_stable848(ctx.bootstrap, group, members, [1, 1], _parts(t_a, 2),
                       what=f"the members to split {t_a} (matched by {pattern})")
        d = raw.describe([group])[group]
        check(ename(d.error_code) == "NONE", f"ConsumerGroupDescribe({group}): {ename(d.error_code)}")
        regexes = sorted({m.subscribed_topic_regex for m in d.members})
        for m in d.members:
            check(m.subscribed_topic_regex and h in m.subscribed_topic_regex and not m.subscribed_topic_names,
                  f"ConsumerGroupDescribe: member {m.member_id} subscribed to topic names "
                  f"{m.subscribed_topic_names} and regex {m.subscribed_topic_regex!r}; expected the client to send "
                  f"its regex ({pattern!r}) for the broker to resolve")
        wait_read(members, set(expected_positions(acked[t_a], t_a)), timeout=60, what=f"the records of {t_a}")

        t_created = time.time()
        ck.create_topic(ctx, t_b, 2)
        ck.create_topic(ctx, t_c, 2)
        acked[t_b] = produce_values(ctx, t_b, 200, tag)
        acked[t_c] = produce_values(ctx, t_c, 200, tag)
        wait_stable848(ctx.bootstrap, group, members, [2, 2], _parts(t_a, 2) | _parts(t_b, 2), timeout=90,
                       what=f"the broker to add {t_b} (matching) to the group's topics, not {t_c}")
        t_assigned = min(e["t"] for m in members for e in m.events
                         if e["ev"] == "assign" and any(x[0] == t_b for x in e.get("parts") or []))
        wait_read(members, set(expected_positions(acked[t_b], t_b)), timeout=60, what=f"the records of {t_b}")
        # more records to the topic that does not match, after the matching one was picked up
        acked[t_c].update(produce_values(ctx, t_c, 200, tag, start=200))
        expected = {}
        for t in (t_a, t_b):
            expected.update(expected_positions(acked[t], t))
        wait_read(members, set(expected), timeout=60, what="every record of the matching topics")
        check_values(members, expected)
        for m in members:
            got_c = [r for r in m.records if r[0] == t_c]
            check(not got_c, f"{m.name} consumed {len(got_c)} records of {t_c}, which {pattern!r} does not match")
            assigned_c = [e for e in m.events if e["ev"] == "assign" and any(x[0] == t_c for x in e.get("parts") or [])]
            check(not assigned_c, f"{m.name} was assigned {t_c}, which {pattern!r} does not match: {assigned_c[:2]}")
        dups = duplicates(members)
        check(not dups, f"{len(dups)} records consumed twice, e.g. {sorted(dups)[:5]}")
        check_exclusive(members)
        _close_all(members)
        return (f"regex sent as {regexes}; {t_b} assigned {t_assigned - t_created:.1f}s after it was created; "
                f"{t_c} never")
    finally:
        raw.close()
        ms.cleanup()


# ---------------------------------------------------------------------------
# 3. describe and list (Java Admin, confluent-kafka and kafka-python admin)


def describe_groups(ctx):
    """A consumer group (two Java members, group.protocol=consumer, uniform) and a classic
    group (one Java member, group.protocol=classic, range) on one topic.
    Admin.describeConsumerGroups: the consumer group has type CONSUMER, state Stable,
    assignor uniform, a group epoch and a target assignment epoch, and each member its
    member epoch (that of the target assignment once reconciled), its assignment = its
    target assignment = what the member was given, upgraded = true (it speaks the consumer
    protocol); the classic group has type CLASSIC, assignor range, no epochs.
    Admin.listGroups and listConsumerGroups with withTypes(CONSUMER) list the consumer
    group and not the classic one, with withTypes(CLASSIC) the other way round (ListGroups
    v5 TypesFilter); confluent-kafka's list_consumer_groups(types=...) and kafka-python's
    list_groups(types_filter=...) agree, and confluent-kafka's describe_consumer_groups
    gives the same assignments and target assignments. kafka-python's DescribeGroups (the
    classic API) on the consumer group: GROUP_ID_NOT_FOUND. When one member closes, the
    other gets every partition with a higher member epoch; when both have closed, the
    group is Empty, still a consumer group, with its committed offsets."""
    import confluent_kafka as ckm
    topic = _topic(ctx, "kip848-describe", 4)
    parts = _parts(topic, 4)
    g_new, g_old = group_name("kip848-desc"), group_name("kip848-classic")
    acked = produce_values(ctx, topic, 400, f"desc-{uuid.uuid4().hex[:6]}")
    ms = Members()
    try:
        a, b = [ms.add(_member(ctx, "java", f"java#{i}", g_new, [topic], remote_assignor="uniform"))
                for i in ("A", "B")]
        c = ms.add(make_member("java", "java#classic", ctx.bootstrap, g_old, [topic], group_protocol="classic"))
        wait_stable848(ctx.bootstrap, g_new, [a, b], [2, 2], parts, assignor="uniform",
                       what="the consumer group: 2 partitions each")
        wait_stable(ctx.bootstrap, g_old, [c], [4], parts, what="the classic group: 4 partitions")
        wait_read([a, b], set(expected_positions(acked, topic)), timeout=60, what="the records (consumer group)")
        wait_read([c], set(expected_positions(acked, topic)), timeout=60, what="the records (classic group)")
        for m in (a, b):
            _ids(m)
        desc = java_describe(ctx, [g_new, g_old])
        log(f"describeConsumerGroups: {desc}")
        d = desc[g_new]
        check("error" not in d, f"describeConsumerGroups({g_new}): {d.get('error')}: {d.get('message')}")
        check(d["type"] == "CONSUMER" and d["state"] == "STABLE" and d["assignor"] == "uniform",
              f"describeConsumerGroups({g_new}): type {d['type']}, state {d['state']}, assignor {d['assignor']}; "
              f"expected CONSUMER, STABLE, uniform")
        check(isinstance(d.get("group_epoch"), int) and d["group_epoch"] > 0
              and d.get("target_assignment_epoch") == d["group_epoch"],
              f"describeConsumerGroups({g_new}): group epoch {d.get('group_epoch')}, target assignment epoch "
              f"{d.get('target_assignment_epoch')}; expected a positive group epoch and the target assignment of "
              f"that epoch (the group is stable)")
        by_id = {x["member_id"]: x for x in d["members"]}
        check(sorted(by_id) == sorted([a.member_id, b.member_id]),
              f"describeConsumerGroups({g_new}) members {sorted(by_id)}, expected {sorted([a.member_id, b.member_id])}")
        epochs = {}
        for m in (a, b):
            x = by_id[m.member_id]
            own = sorted([t, p] for t, p in m.assignment)
            check(x["assignment"] == own and x.get("target_assignment") == own,
                  f"{m.name}: assignment {x['assignment']}, target assignment {x.get('target_assignment')}, the "
                  f"member itself has {own}")
            check(x.get("member_epoch") == d["target_assignment_epoch"] and x.get("member_epoch") == m.generation,
                  f"{m.name}: member epoch {x.get('member_epoch')} (the consumer says {m.generation}), expected the "
                  f"target assignment epoch {d['target_assignment_epoch']}")
            check(x.get("upgraded") is True, f"{m.name}: upgraded {x.get('upgraded')}, expected true (a member of "
                                             f"the consumer protocol)")
            check(x["client_id"] == m.client_id and "127.0.0.1" in (x["host"] or "") and x["instance_id"] is None,
                  f"{m.name}: client id {x['client_id']!r}, host {x['host']!r}, instance id {x['instance_id']!r}")
            epochs[m.name] = x["member_epoch"]
        o = desc[g_old]
        check("error" not in o and o["type"] == "CLASSIC" and o["state"] == "STABLE" and o["assignor"] == "range",
              f"describeConsumerGroups({g_old}) (classic): {o}")
        check(len(o["members"]) == 1 and o["members"][0]["assignment"] == sorted([topic, p] for p in range(4)),
              f"describeConsumerGroups({g_old}) members {o['members']}")
        oc = o["members"][0]
        check(oc.get("member_epoch") is None and oc.get("target_assignment") is None and oc.get("upgraded") is None,
              f"describeConsumerGroups({g_old}): a classic member has no member epoch, target assignment or "
              f"upgraded flag, got {oc}")

        # ListGroups with a type filter: Java (listGroups, listConsumerGroups), confluent-kafka, kafka-python
        ck_admin = admin(ctx.bootstrap)  # (kept: a collected AdminClient fails its futures with _DESTROY)
        for want, yes, no in (("CONSUMER", g_new, g_old), ("CLASSIC", g_old, g_new)):
            lj = java_list(ctx, [want])
            for api in ("list_groups", "list_consumer_groups"):
                ids = {x["group_id"]: x for x in lj[api]}
                check(yes in ids and no not in ids, f"Admin.{api}(withTypes({want})): lists {yes}: {yes in ids}, "
                                                    f"{no}: {no in ids}; expected only {yes}")
                check(ids[yes]["type"] == want and ids[yes]["state"] == "STABLE",
                      f"Admin.{api}(withTypes({want})): {ids[yes]}")
            lc = ck_admin.list_consumer_groups(types={getattr(ckm.ConsumerGroupType, want)},
                                               request_timeout=20).result(30)
            ids = {x.group_id: x for x in lc.valid}
            listed = [(x.group_id, x.type, x.state) for x in lc.valid]
            check(yes in ids and no not in ids, f"confluent-kafka list_consumer_groups(types={{{want}}}): lists {yes}: "
                                                f"{yes in ids}, {no}: {no in ids}; expected only {yes}; listed "
                                                f"{listed}, errors {lc.errors}")
            check(getattr(ids[yes].type, "name", None) == want, f"confluent-kafka: {yes} listed as {ids[yes].type}")
            from kafka import KafkaAdminClient
            kp = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="compat-kip848-list")
            try:
                ids = {x["group_id"]: x for x in kp.list_groups(types_filter=[want.lower()])}
                check(yes in ids and no not in ids,
                      f"kafka-python list_groups(types_filter=[{want.lower()!r}]): lists {yes}: {yes in ids}, "
                      f"{no}: {no in ids}; expected only {yes}")
                if want == "CONSUMER":
                    # the classic API on a consumer group
                    # (kafka-python reports a group's error in its entry: "error")
                    kp_desc = kp.describe_groups([g_new]).get(g_new) or {}
                    check("GroupIdNotFoundError" in str(kp_desc.get("error")),
                          f"kafka-python describe_groups (DescribeGroups) of the consumer group {g_new}: {kp_desc}, "
                          f"expected GROUP_ID_NOT_FOUND (not a classic group)")
            finally:
                kp.close()
        dc = describe_ck(ctx.bootstrap, g_new)
        check(dc["type"] == "CONSUMER" and dc["state"] == "STABLE"
              and sorted(sorted(x["assignment"]) for x in dc["members"]) == sorted(sorted(m.assignment) for m in (a, b))
              and all(x["target"] == x["assignment"] for x in dc["members"]),
              f"confluent-kafka describe_consumer_groups({g_new}): {dc}")
        check(describe_ck(ctx.bootstrap, g_old)["type"] == "CLASSIC", f"confluent-kafka: {g_old} is not CLASSIC")

        # one member leaves: the other gets everything, at a higher epoch
        a.close()
        wait_stable848(ctx.bootstrap, g_new, [b], [4], parts, what=f"{b.name} to get every partition")
        _ids(b)
        d2 = java_describe(ctx, [g_new])[g_new]
        check(len(d2["members"]) == 1 and d2["members"][0]["member_id"] == b.member_id
              and d2["members"][0]["member_epoch"] > epochs[b.name] and d2["group_epoch"] > d["group_epoch"],
              f"after {a.name} left: {d2}; expected {b.name} alone at a member epoch above {epochs[b.name]} and a "
              f"group epoch above {d['group_epoch']}")
        hw = high_watermarks(ctx, topic)
        wait_committed(ctx.bootstrap, g_new, topic, hw, members=[b])
        b.close()
        c.close()
        d3 = java_describe(ctx, [g_new])[g_new]
        check(d3["type"] == "CONSUMER" and d3["state"] == "EMPTY" and not d3["members"],
              f"after every member left, describeConsumerGroups says {d3}; expected an Empty consumer group")
        cm = committed(ctx.bootstrap, g_new, topic, range(4))
        check(cm == hw, f"committed offsets of the empty consumer group {cm}, expected {hw}")
        return (f"group epoch {d['group_epoch']}, member epochs {epochs}; after a member left: group epoch "
                f"{d2['group_epoch']}, member epoch {d2['members'][0]['member_epoch']}")
    finally:
        ms.cleanup()


# ---------------------------------------------------------------------------
# 4. static membership


def static(ctx):
    """Two static members (group.instance.id, Java, group.protocol=consumer) split 4
    partitions on the shared broker (Kafka's default session timeout of 45 s). One closes
    (a static member leaves with member epoch -2: it stays in the group, its partitions
    assigned to it) and a new process with the same group.instance.id comes back well within
    the session timeout: it gets the same partitions back under a new member id and resumes
    at the committed offsets; the other member sees no revocation or assignment and keeps
    its member epoch; nothing is consumed twice."""
    topic = _topic(ctx, "kip848-static", 4)
    parts = _parts(topic, 4)
    group = group_name("kip848-static")
    tag = f"static-{uuid.uuid4().hex[:6]}"
    ia, ib = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    ms = Members()
    try:
        acked = produce_values(ctx, topic, 2000, tag)
        a = ms.add(_member(ctx, "java", "java#A", group, [topic], instance_id=ia, max_poll=100))
        b = ms.add(_member(ctx, "java", "java#B", group, [topic], instance_id=ib, max_poll=100))
        d = wait_stable848(ctx.bootstrap, group, [a, b], [2, 2], parts, what="two static members, 2 partitions each")
        inst = {x["member_id"]: x["instance_id"] for x in d["members"]}
        check(inst.get(a.member_id) == ia and inst.get(b.member_id) == ib,
              f"ConsumerGroupDescribe group.instance.id per member {inst}, expected {a.member_id}: {ia}, "
              f"{b.member_id}: {ib}")
        wait_read([a, b], set(expected_positions(acked, topic)), timeout=90, what="the first 2000 records")
        wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[a, b])

        mine = set(a.assignment)
        epoch_b = _ids(b).get("generation")
        epoch_a = _ids(a).get("generation")
        n_b = b.n_events()
        a.close()
        c_closed = committed(ctx.bootstrap, group, topic, range(4))
        d = describe_ck(ctx.bootstrap, group)
        listed = {x["instance_id"]: x for x in d["members"]}
        check(ia in listed and listed[ia]["assignment"] == mine,
              f"right after static member {a.name} closed (member epoch -2), ConsumerGroupDescribe lists "
              f"{[(x['member_id'], x['instance_id'], sorted(x['assignment'])) for x in d['members']]}; expected it to "
              f"stay a member with its partitions {sorted(mine)} until its session times out")
        a2 = ms.add(_member(ctx, "java", "java#A'", group, [topic], instance_id=ia, max_poll=100))
        a2.wait(lambda m: m.assignment == mine, 60, f"the returning static member to get {sorted(mine)} back")
        wait_stable848(ctx.bootstrap, group, [a2, b], [2, 2], parts, what="the static member back")
        check(a2.member_id != a.member_id, f"the returning static member has the old member id {a.member_id}")
        epoch_a2 = _ids(a2).get("generation")
        acked.update(produce_values(ctx, topic, 500, tag, start=2000))
        wait_read([a, a2, b], set(expected_positions(acked, topic)), timeout=90,
                  what="the records produced after the static member came back")
        wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[a2, b])
        reb = _rebalance_events(b, n_b)
        check(not reb, f"{b.name} saw partitions revoked or assigned while static member {a.name} was away: "
                       f"{[(e['ev'], e.get('parts')) for e in reb[:4]]}")
        epoch_b2 = _ids(b).get("generation")
        check(epoch_b2 == epoch_b, f"{b.name}'s member epoch went from {epoch_b} to {epoch_b2} while static member "
                                   f"{a.name} was away and came back")
        everyone = [a, a2, b]
        check_values(everyone, expected_positions(acked, topic))
        dups = duplicates(everyone)
        check(not dups, f"{len(dups)} records consumed twice across the static member's return, "
                        f"e.g. {sorted(dups)[:5]}")
        first = {}
        for t, p, o, _ in a2.records:
            first.setdefault(p, o)
        want_first = {p: c_closed[p] for _, p in mine}
        check(first == want_first, f"{a2.name} started at offsets {first}, the offsets committed when {a.name} closed "
                                   f"were {want_first}")
        _close_all([a2, b])
        return (f"{a.name} (epoch {epoch_a}) came back as {a2.name} (epoch {epoch_a2}) with "
                f"{sorted(p for _, p in mine)}; {b.name} stayed at epoch {epoch_b}")
    finally:
        ms.cleanup()


# ---------------------------------------------------------------------------
# 5. the group across a broker restart


def restart(ctx, kind):
    """Two members (group.protocol=consumer, group.remote.assignor=range: 2 consecutive
    partitions each) consume a continuous stream and commit after
    every batch; the broker is stopped (SIGTERM) and started on the same data directory.
    The group comes back from __consumer_offsets: still a CONSUMER group, every OffsetCommit
    acknowledged before the stop still there; the members resume (note: whether they kept
    their member ids) until every record was consumed, the only records consumed twice
    being at offsets not committed at the stop; in the end the group is Stable with both,
    2 partitions each, and has committed the high watermarks."""
    broker = ctx.private_broker(QUICK_GROUP_BROKER)
    topic = _topic(ctx, "kip848-restart", 4)
    parts = _parts(topic, 4)
    group = group_name("kip848-restart")
    ms = Members()
    prod = None
    try:
        members = [ms.add(_member(ctx, kind, f"{kind}#{i}", group, [topic], remote_assignor="range", max_poll=50))
                   for i in (1, 2)]
        wait_stable848(ctx.bootstrap, group, members, [2, 2], parts, assignor="range",
                       what="two members, 2 partitions each (range assignor)")
        for m in members:
            ps = sorted(p for _, p in m.assignment)
            check(ps[-1] - ps[0] == len(ps) - 1, f"{m.name} was assigned partitions {ps} by the range assignor, "
                                                 f"not a range")
        ids_before = {m.name: m.member_id for m in members}
        prod = PacedProducer(ctx.bootstrap, topic, 4000, f"kip848-restart-{uuid.uuid4().hex[:6]}", step=40,
                             interval=0.1)
        prod.start()
        wait_until(lambda: sum(len(m.records) for m in members) >= 800, 90, "800 records consumed before the restart")
        t_stop = time.time()
        broker.stop()
        acked_commits: dict[int, int] = {}
        for m in members:
            for e in m.events:
                if e["ev"] == "commit" and e["t"] < t_stop:
                    for _, p, o in e["offsets"]:
                        acked_commits[p] = max(acked_commits.get(p, -1), o)
        broker.start()
        d = wait_until(lambda: describe_ck(ctx.bootstrap, group), 60, "ConsumerGroupDescribe after the restart")
        check(d["type"] == "CONSUMER", f"after the restart the group is {d['type']}, expected CONSUMER (loaded from "
                                       f"__consumer_offsets)")
        check_resumed(ctx, group, topic, range(4), members, prod, acked_commits)
        dups = duplicates(members)
        for m in members:
            if hasattr(m, "request_ids"):
                _ids(m)
        wait_stable848(ctx.bootstrap, group, members, [2, 2], parts, timeout=60, assignor="range",
                       what="the group to be stable with both members after the restart")
        kept = [m.name for m in members if m.member_id == ids_before[m.name]]
        _close_all(members)
        broker.stop()
        broker.check_verify_logs()
        return (f"{len(dups)} consumed again after the restart; member ids kept across the restart: "
                f"{kept or 'none'}")
    finally:
        if prod is not None:
            prod.stop_flag.set()
        ms.cleanup()


# ---------------------------------------------------------------------------
# 6. migration between the classic and the consumer protocol


def migration(ctx):
    """One group, a classic member (Java, group.protocol=classic, range) first. With Kafka's
    default group.consumer.migration.policy=bidirectional, a member of the consumer protocol
    (Java, group.protocol=consumer, uniform) joining the classic group upgrades it: the
    group becomes a CONSUMER group (describeConsumerGroups: the classic member upgraded =
    false, the other true) and the two share the partitions 2/2. When the consumer-protocol
    member leaves, the group is downgraded to a CLASSIC group and the classic member gets
    every partition again. Records produced in each phase are consumed exactly once, and
    the group has committed the high watermarks."""
    topic = _topic(ctx, "kip848-migration", 4)
    parts = _parts(topic, 4)
    group = group_name("kip848-migration")
    tag = f"mig-{uuid.uuid4().hex[:6]}"
    ms = Members()
    try:
        c = ms.add(make_member("java", "java#classic", ctx.bootstrap, group, [topic], group_protocol="classic",
                               max_poll=100))
        wait_stable(ctx.bootstrap, group, [c], [4], parts, what="the classic member alone")
        d0 = java_describe(ctx, [group])[group]
        check(d0.get("type") == "CLASSIC", f"the group of a classic member: {d0}")
        acked = produce_values(ctx, topic, 500, tag)
        wait_read([c], set(expected_positions(acked, topic)), timeout=60, what="the first records (classic)")

        k = ms.add(_member(ctx, "java", "java#consumer", group, [topic], remote_assignor="uniform", max_poll=100))
        wait_stable848(ctx.bootstrap, group, [c, k], [2, 2], parts, timeout=90,
                       what="the consumer-protocol member to upgrade the group and share it with the classic one")
        d1 = java_describe(ctx, [group])[group]
        up = {x["member_id"]: x.get("upgraded") for x in d1["members"]}
        check(d1["type"] == "CONSUMER" and up.get(c.member_id) is False and up.get(k.member_id) is True,
              f"after the consumer-protocol member joined: type {d1['type']}, upgraded flags {up}; expected a "
              f"CONSUMER group, the classic member {c.member_id} upgraded=false, {k.member_id} upgraded=true")
        acked.update(produce_values(ctx, topic, 500, tag, start=500))
        wait_read([c, k], set(expected_positions(acked, topic)), timeout=60, what="the records of the mixed group")
        wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[c, k])

        k.close()

        def downgraded():
            d = java_describe(ctx, [group])[group]
            return d if d.get("type") == "CLASSIC" else None
        d2 = wait_until(downgraded, 60, "the group to be downgraded to a classic group once the last "
                                        "consumer-protocol member left")
        wait_stable(ctx.bootstrap, group, [c], [4], parts, what="the classic member to get every partition back")
        d2 = java_describe(ctx, [group])[group]
        check(d2["type"] == "CLASSIC" and d2["state"] == "STABLE" and d2["assignor"] == "range"
              and len(d2["members"]) == 1 and d2["members"][0]["member_id"] == c.member_id,
              f"after the downgrade: {d2}")
        acked.update(produce_values(ctx, topic, 500, tag, start=1000))
        expected = expected_positions(acked, topic)
        wait_read([c, k], set(expected), timeout=60, what="the records after the downgrade")
        wait_committed(ctx.bootstrap, group, topic, high_watermarks(ctx, topic), members=[c])
        check_values([c, k], expected)
        dups = duplicates([c, k])
        check(not dups, f"{len(dups)} records consumed twice across the upgrade and downgrade, e.g. {sorted(dups)[:5]}")
        c.close()
        return (f"upgraded to CONSUMER when the consumer-protocol member joined (shared 2/2, upgraded flags {up}); "
                f"downgraded to CLASSIC ({d2['assignor']}) when it left")
    finally:
        ms.cleanup()


# ---------------------------------------------------------------------------
# 7. hand-made wrong requests

BIG_SUBSCRIPTION = 5_000       # topic names of ~100 bytes: ~0.5 MB, one record in __consumer_offsets
HUGE_SUBSCRIPTION = 10_000     # of ~170 bytes: ~1.7 MB, more than a __consumer_offsets batch may be


def bad_input(ctx):
    """ConsumerGroupHeartbeat (API key 68, v1 unless said) and OffsetCommit / OffsetFetch
    for a consumer group, hand-made (kafka-python's request machinery with Kafka's schemas),
    get exactly Kafka 4.4's answers:

    * a member joins (member epoch 0, client-made member id): NONE, an epoch and an
      assignment; the same member with a smaller or greater epoch: FENCED_MEMBER_EPOCH;
      an unknown member id with an epoch > 0, or leaving (-1): UNKNOWN_MEMBER_ID;
    * joins with an empty member id at v1: INVALID_REQUEST (at v0 the coordinator makes
      one up: NONE); an empty group id, no subscription (neither topic names nor regex), no
      rebalance timeout, or owned partitions null: INVALID_REQUEST; an empty topic list, or
      both topic names and a regex: NONE; a regex that is not one:
      INVALID_REGULAR_EXPRESSION; an unknown server assignor: UNSUPPORTED_ASSIGNOR; a second
      member with a static member's instance id: UNRELEASED_INSTANCE_ID; 5,000 topic names
      (0.5 MB): NONE; 10,000 longer ones (1.7 MB, more than a __consumer_offsets batch may
      hold): UNKNOWN_SERVER_ERROR and no member added;
    * a classic group of another protocol type (JoinGroup "compat-raw") cannot become a
      consumer group: GROUP_ID_NOT_FOUND; a group with committed offsets only is
      converted (NONE) and keeps them;
    * OffsetCommit v9 at the member's epoch: NONE; with an epoch older than its
      partitions' assignment (KIP-1251) or greater: STALE_MEMBER_EPOCH; from an unknown member: UNKNOWN_MEMBER_ID; from no member (empty
      id, generation -1) while the group has members: UNKNOWN_MEMBER_ID; v8 from the
      member: UNSUPPORTED_VERSION; OffsetFetch v9 with a stale epoch: STALE_MEMBER_EPOCH,
      an unknown member: UNKNOWN_MEMBER_ID, none (admin): NONE;
    * ConsumerGroupDescribe of an unknown group and of a classic group: GROUP_ID_NOT_FOUND;
      DescribeGroups v6 of a consumer group: GROUP_ID_NOT_FOUND.

    Afterwards the raw member still heartbeats (NONE), leaves (-1: NONE), and a real
    consumer (confluent-kafka, group.protocol=consumer) joins the same group and consumes
    from the committed offsets."""
    import confluent_kafka as ckm
    from kafka.protocol.admin.groups import DescribeGroupsRequest
    from kafka.protocol.consumer import JoinGroupRequest, OffsetCommitRequest, OffsetFetchRequest
    topic = _topic(ctx, "kip848-bad", 2)
    tag = f"bad-{uuid.uuid4().hex[:6]}"
    acked = produce_values(ctx, topic, 100, tag)
    raw = Raw(ctx.bootstrap)
    problems: list[str] = []
    answers: list[str] = []
    ms = Members()

    def expect(what, got, want):
        ok = got == want
        if not ok:
            problems.append(f"{what}: got {got}, expected {want}")
        answers.append(f"{what}: {got}")
        log(f"{'ok ' if ok else 'BAD'} {what}: {got}")
        return ok

    def hb(group, member_id, epoch, **kw):
        r = raw.heartbeat(group, member_id, epoch, **kw)
        if r.error_code:
            log(f"  ({ename(r.error_code)}: {r.error_message!r})")
        return r

    def join(group, member_id=None, **kw):
        kw.setdefault("topics", [topic])
        kw.setdefault("owned", [])
        kw.setdefault("rebalance_timeout_ms", 30000)
        return hb(group, member_id if member_id is not None else str(uuid.uuid4()), 0, **kw)

    def new_id():
        return str(uuid.uuid4())

    try:
        g = group_name("kip848-bad")
        mid = new_id()
        r = join(g, mid)
        check(ename(r.error_code) == "NONE" and r.member_epoch > 0 and r.member_id == mid,
              f"ConsumerGroupHeartbeat join: {ename(r.error_code)} {r.error_message!r}, member {r.member_id}, "
              f"epoch {r.member_epoch}")
        epoch = r.member_epoch
        # until the coordinator has assigned the topic's partitions (the assignment is computed
        # as the member joins, or a heartbeat later), acknowledging them as owned
        owned = [(tp.topic_id, list(tp.partitions)) for tp in (r.assignment.topic_partitions if r.assignment else [])]

        def assigned():
            nonlocal epoch, owned
            if sum(len(ps) for _, ps in owned) == 2:
                return True
            rr = hb(g, mid, epoch)
            check(ename(rr.error_code) == "NONE", f"heartbeat of the joined member: {ename(rr.error_code)}")
            epoch = rr.member_epoch
            if rr.assignment is not None:
                owned = [(tp.topic_id, list(tp.partitions)) for tp in rr.assignment.topic_partitions]
            return False
        wait_until(assigned, 30, "the raw member to be assigned both partitions", interval=0.3)
        r = hb(g, mid, epoch, owned=owned)
        expect("heartbeat acknowledging the assignment", ename(r.error_code), "NONE")
        epoch = r.member_epoch
        if epoch < 2:
            # A smaller epoch must not be 0 (a rejoin): a member joining and leaving moves
            # the group, and this member with it, past epoch 1.
            other = new_id()
            check(ename(join(g, other).error_code) == "NONE", "a second member's join")
            check(ename(hb(g, other, -1).error_code) == "NONE", "the second member's leave")

            def moved():
                nonlocal epoch
                rr = hb(g, mid, epoch, owned=owned)
                check(ename(rr.error_code) == "NONE", f"heartbeat of the member: {ename(rr.error_code)}")
                epoch = rr.member_epoch
                return epoch >= 2
            wait_until(moved, 30, "the member to move past epoch 1", interval=0.3)

        expect("heartbeat with a smaller member epoch", ename(hb(g, mid, epoch - 1).error_code), "FENCED_MEMBER_EPOCH")
        expect("heartbeat with a greater member epoch", ename(hb(g, mid, epoch + 1).error_code), "FENCED_MEMBER_EPOCH")
        expect("heartbeat of an unknown member id, epoch 5", ename(hb(g, new_id(), 5).error_code), "UNKNOWN_MEMBER_ID")
        expect("leave (-1) of an unknown member id", ename(hb(g, new_id(), -1).error_code), "UNKNOWN_MEMBER_ID")
        expect("join with an empty member id at v1", ename(join(g, "").error_code), "INVALID_REQUEST")
        g0 = group_name("kip848-bad-v0")
        r0 = join(g0, "", version=0)
        expect("join with an empty member id at v0 (the coordinator makes one up)",
               (ename(r0.error_code), bool(r0.member_id), r0.member_epoch > 0), ("NONE", True, True))
        if r0.member_id:
            expect("leave of the member made up at v0", ename(hb(g0, r0.member_id, -1, version=0).error_code), "NONE")

        g2 = group_name("kip848-bad-join")
        expect("join with an empty group id", ename(join("", coordinator_of=g2).error_code), "INVALID_REQUEST")
        expect("join without a subscription (no topic names, no regex)", ename(join(g2, topics=None).error_code),
               "INVALID_REQUEST")
        expect("join without a rebalance timeout (-1)", ename(join(g2, rebalance_timeout_ms=-1).error_code),
               "INVALID_REQUEST")
        expect("join with owned partitions null", ename(join(g2, owned=None).error_code), "INVALID_REQUEST")
        expect("join with regex '[' (not a regular expression)", ename(join(g2, topics=None, regex="[").error_code),
               "INVALID_REGULAR_EXPRESSION")
        expect("join with server assignor 'no-such-assignor'",
               ename(join(g2, assignor="no-such-assignor").error_code), "UNSUPPORTED_ASSIGNOR")
        left = []
        for what, kw in (("join with an empty topic list", {"topics": []}),
                         ("join with topic names and a regex", {"regex": "compat\\.kip848-bad.*"})):
            m = new_id()
            expect(what, ename(join(g2, m, **kw).error_code), "NONE")
            left.append(m)
        s1, s2, inst = new_id(), new_id(), f"inst-{uuid.uuid4().hex[:6]}"
        expect("static member join", ename(join(g2, s1, instance_id=inst).error_code), "NONE")
        expect("a second member with the same instance id", ename(join(g2, s2, instance_id=inst).error_code),
               "UNRELEASED_INSTANCE_ID")
        left.append(s1)
        big = new_id()
        names = [f"compat.kip848-no-such-topic-{i:06d}-" + "x" * 64 for i in range(BIG_SUBSCRIPTION)]
        expect(f"join subscribed to {BIG_SUBSCRIPTION} topic names (~0.5 MB)",
               ename(join(g2, big, topics=names).error_code), "NONE")
        left.append(big)
        huge = new_id()
        names = [f"compat.kip848-no-such-topic-{i:06d}-" + "x" * 140 for i in range(HUGE_SUBSCRIPTION)]
        expect(f"join subscribed to {HUGE_SUBSCRIPTION} topic names (~1.7 MB)",
               ename(join(g2, huge, topics=names).error_code), "UNKNOWN_SERVER_ERROR")
        expect("leave of the member whose join failed", ename(hb(g2, huge, -1).error_code), "UNKNOWN_MEMBER_ID")
        for m in left:
            expect("leave", ename(hb(g2, m, -1, instance_id=inst if m == s1 else None).error_code), "NONE")

        # classic groups
        gc = group_name("kip848-bad-classic")
        P = JoinGroupRequest.JoinGroupRequestProtocol

        def classic_join(member_id=""):
            return raw.send(JoinGroupRequest(group_id=gc, session_timeout_ms=30000, rebalance_timeout_ms=5000,
                                             member_id=member_id, group_instance_id=None, protocol_type="compat-raw",
                                             protocols=[P(name="p1", metadata=b"x")], reason=None), gc)
        j = classic_join()
        j = classic_join(j.member_id)
        check(ename(j.error_code) == "NONE", f"classic JoinGroup: {ename(j.error_code)}")
        expect("join of a classic group of protocol type compat-raw", ename(join(gc).error_code), "GROUP_ID_NOT_FOUND")
        expect("ConsumerGroupDescribe of that classic group", ename(raw.describe([gc])[gc].error_code),
               "GROUP_ID_NOT_FOUND")
        unknown = group_name("kip848-bad-unknown")
        expect("ConsumerGroupDescribe of an unknown group", ename(raw.describe([unknown])[unknown].error_code),
               "GROUP_ID_NOT_FOUND")
        go = group_name("kip848-bad-offsets")
        a = admin(ctx.bootstrap)
        a.alter_consumer_group_offsets([ckm.ConsumerGroupTopicPartitions(go, [ckm.TopicPartition(topic, 0, 7)])],
                                       request_timeout=20)[go].result(30)
        mo = new_id()
        expect("join of a group with committed offsets only (converted)", ename(join(go, mo).error_code), "NONE")
        d = raw.describe([go])[go]
        expect("ConsumerGroupDescribe of the converted group", (ename(d.error_code), d.group_state),
               ("NONE", "Stable"))
        expect("leave of its member", ename(hb(go, mo, -1).error_code), "NONE")
        expect("the converted group's committed offsets", committed(ctx.bootstrap, go, topic, [0, 1], a), {0: 7, 1: -1})

        # OffsetCommit / OffsetFetch of a consumer group
        _T = OffsetCommitRequest.OffsetCommitRequestTopic
        _P = _T.OffsetCommitRequestPartition

        def commit(member, ep, version=9, offset=5):
            req = OffsetCommitRequest(group_id=g, generation_id_or_member_epoch=ep, member_id=member,
                                      group_instance_id=None, retention_time_ms=-1,
                                      topics=[_T(name=topic, partitions=[_P(partition_index=0, committed_offset=offset,
                                                                            committed_leader_epoch=-1,
                                                                            committed_metadata="")])],
                                      min_version=version, max_version=version)
            return ename(raw.send(req, g).topics[0].partitions[0].error_code)
        expect("OffsetCommit v9 at the member's epoch (offset 5)", commit(mid, epoch), "NONE")
        # An older epoch is accepted for partitions assigned at that epoch or before
        # (KIP-1251); epoch 0 is older than any assignment.
        expect("OffsetCommit v9 with an epoch older than the partitions' assignment", commit(mid, 0, offset=1),
               "STALE_MEMBER_EPOCH")
        expect("OffsetCommit v9 with a greater epoch", commit(mid, epoch + 1, offset=1), "STALE_MEMBER_EPOCH")
        expect("OffsetCommit v9 from an unknown member", commit(new_id(), epoch, offset=1), "UNKNOWN_MEMBER_ID")
        expect("OffsetCommit v9 from no member (empty id, -1) to a group with members", commit("", -1, offset=1),
               "UNKNOWN_MEMBER_ID")
        expect("OffsetCommit v8 from the member", commit(mid, epoch, version=8, offset=1), "UNSUPPORTED_VERSION")
        G = OffsetFetchRequest.OffsetFetchRequestGroup

        def fetch(member, ep):
            topics = [G.OffsetFetchRequestTopics(name=topic, partition_indexes=[0, 1])]
            req = OffsetFetchRequest(groups=[G(group_id=g, member_id=member, member_epoch=ep, topics=topics)],
                                     require_stable=True, min_version=9, max_version=9)
            gr = raw.send(req, g).groups[0]
            offsets = {p.partition_index: p.committed_offset for t in gr.topics for p in t.partitions}
            return ename(gr.error_code), offsets
        expect("OffsetFetch v9 at the member's epoch", fetch(mid, epoch), ("NONE", {0: 5, 1: -1}))
        expect("OffsetFetch v9 with a smaller epoch", fetch(mid, epoch - 1)[0], "STALE_MEMBER_EPOCH")
        expect("OffsetFetch v9 from an unknown member", fetch(new_id(), epoch)[0], "UNKNOWN_MEMBER_ID")
        expect("OffsetFetch v9 from no member (admin)", fetch(None, -1), ("NONE", {0: 5, 1: -1}))
        dg = raw.send(DescribeGroupsRequest(groups=[g], include_authorized_operations=False, min_version=6,
                                            max_version=6), g).groups[0]
        expect("DescribeGroups v6 of the consumer group", ename(dg.error_code), "GROUP_ID_NOT_FOUND")

        # the member still works, leaves; a real consumer takes over from the committed offsets
        r = hb(g, mid, epoch)
        expect("heartbeat of the member after all that", (ename(r.error_code), r.member_epoch), ("NONE", epoch))
        expect("leave of the member", ename(hb(g, mid, -1).error_code), "NONE")
        check(not problems, "Kafka's answers differ:\n  " + "\n  ".join(problems))

        m = ms.add(_member(ctx, "confluent-kafka", "confluent-kafka#1", g, [topic]))
        want = {k for k in expected_positions(acked, topic) if not (k[1] == 0 and k[2] < 5)}
        wait_read([m], want, timeout=60, what="a real consumer of the group to consume from the committed offsets")
        got = {(t, p, o) for t, p, o, _ in m.records}
        check(got == want, f"the consumer read {len(got)} records, expected those from offset 5 on partition 0 and "
                           f"from 0 on partition 1 ({len(want)}); extra {sorted(got - want)[:5]}")
        m.close()
        return f"{len(answers)} answers as Kafka's"
    finally:
        raw.close()
        ms.cleanup()
