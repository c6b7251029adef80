"""The consumer group protocol (KIP-848) on the 3-node cluster under faults: the group
coordinator SIGKILLed while the group consumes and commits.

Members are the group workers of harness/groups.py with ``group_protocol="consumer"``
(the Java client 4.4 and confluent-kafka / librdkafka 2.16), the cluster is the
fault-injection cluster of scenarios/cluster.py (harness/cluster.py: 3 combined nodes,
``__consumer_offsets`` with 10 partitions, replication factor 3), run against riffle or
Apache Kafka (``--flavour kafka``) alike. The coordinator of a group is the leader of its
``__consumer_offsets`` partition (Kafka's ``abs(groupId.hashCode()) % partitions``),
asked with FindCoordinator (kafka-python); the group's view is ConsumerGroupDescribe sent
by hand (harness/kip848.py Raw) to the coordinator, and the members' own views (assign /
revoke / lost events, the Java client's member epoch).

Every wait is a condition polled with a deadline; the failover times are reported in the
note, never asserted. The scenario ends like the other cluster scenarios: a clean SIGTERM
stop of every node and the segment check of every data directory.
"""

from __future__ import annotations

import threading
import time
import uuid

import confluent_kafka as ckm

from harness.common import CheckFailed, check, log, wait_until
from harness.groups import (Members, admin, check_values, committed, duplicates, expected_positions, group_name,
                            high_watermarks, make_member, wait_committed, wait_read)
from harness.kip848 import NOT_READY, Raw, check_exclusive, ename, first_read_after, wait_stable848
from scenarios.cluster import _finish, _wait_isr

OFFSETS_TOPIC = "__consumer_offsets"

# The cluster's group settings: heartbeats every second (Kafka's default interval is 5 s,
# and its minimum too, lowered here) so that the three members settle quickly; Kafka's
# default session timeout (45 s), so that the failover happens well within the members'
# sessions, as it does with Kafka's defaults.
FAILOVER_OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "1000",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.session.timeout.ms": "45000",
}
FAILOVER_PARTITIONS = 6
# the members, one of each client with the consumer protocol the harness drives easily;
# 6 partitions, uniform assignor: 2 each
KINDS = ("java", "confluent-kafka", "java")


def _java_hash(s: str) -> int:
    """Java's String.hashCode (UTF-16 code units, 32-bit overflow)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str, partitions: int) -> int:
    """The __consumer_offsets partition of a group: Kafka's Utils.abs(groupId.hashCode()) % n
    (Utils.abs maps Integer.MIN_VALUE to 0)."""
    h = _java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def _group_on_partition(base: str, partition: int, partitions: int) -> str:
    """A new group name whose __consumer_offsets partition is ``partition``."""
    while True:
        g = group_name(base)
        if offsets_partition(g, partitions) == partition:
            return g


def _find_coordinator(cl, group: str) -> int:
    """FindCoordinator (key type GROUP, kafka-python) through the running nodes."""
    raw = Raw(cl.live_bootstrap)
    try:
        return raw.coordinator(group, timeout=15)
    finally:
        raw.close()


def _coordinator(cl, group: str, partition: int, exclude: int | None = None, timeout: float = 90.0) -> int:
    """Until FindCoordinator names a running node (not ``exclude``) that the metadata of the
    live node running the longest also names as the leader of the group's __consumer_offsets
    partition."""
    state = {}

    def ok():
        c = _find_coordinator(cl, group)
        md = cl.metadata(OFFSETS_TOPIC)
        pm = md.partition(OFFSETS_TOPIC, partition)
        state.update(find=c, leader=None if pm is None else pm.leader, isr=None if pm is None else pm.isr)
        return c if (c != exclude and c in cl.live() and pm is not None and pm.leader == c) else None
    try:
        return wait_until(ok, timeout, "FindCoordinator of the group naming a running node"
                                       + (f" other than {exclude}" if exclude is not None else "")
                                       + f", the leader of {OFFSETS_TOPIC} [{partition}]", interval=0.3)
    except CheckFailed as e:
        raise CheckFailed(f"{e}; last seen: FindCoordinator {state.get('find')}, {OFFSETS_TOPIC} [{partition}] "
                          f"leader {state.get('leader')} isr {state.get('isr')}") from None


def _describe(cl, group: str, timeout: float = 90.0) -> dict:
    """ConsumerGroupDescribe (v0, by hand) sent to the group's coordinator, asked again (with
    a new FindCoordinator) while it answers that it is not ready: {state, group_epoch,
    assignment_epoch, assignor, members: {member id: {epoch, client_id, assignment,
    target}}} with assignments as sets of (topic, partition)."""
    def ask():
        raw = Raw(cl.live_bootstrap)
        try:
            d = raw.describe([group])[group]
        finally:
            raw.close()
        err = ename(d.error_code)
        if err in NOT_READY:
            log(f"ConsumerGroupDescribe({group}): {err}, asked again")
            return None
        check(err == "NONE", f"ConsumerGroupDescribe({group}): {err} {d.error_message!r}")

        def tps(a):
            return {(t.topic_name, p) for t in (a.topic_partitions if a else []) for p in t.partitions}
        return {"state": d.group_state, "group_epoch": d.group_epoch, "assignment_epoch": d.assignment_epoch,
                "assignor": d.assignor_name,
                "members": {m.member_id: {"epoch": m.member_epoch, "client_id": m.client_id,
                                          "assignment": tps(m.assignment), "target": tps(m.target_assignment)}
                            for m in d.members}}
    return wait_until(ask, timeout, f"ConsumerGroupDescribe({group}) from its coordinator", interval=0.3)


def _brief(d: dict) -> str:
    ms = ", ".join(f"{mid}: epoch {x['epoch']} {sorted(p for _, p in x['assignment'])}"
                   for mid, x in sorted(d["members"].items()))
    return (f"{d['state']}, group epoch {d['group_epoch']}, assignment epoch {d['assignment_epoch']}, "
            f"assignor {d['assignor']}; members {ms}")


def _java_epochs(members) -> dict[str, int]:
    """The member epoch each Java member has itself (groupMetadata().generationId(), through an
    "ids" event asked for now)."""
    out = {}
    for m in members:
        if not m.name.startswith("java"):
            continue
        n = m.n_events()
        m.request_ids()
        e = m.wait(lambda mm: next((x for x in mm.events[n:] if x["ev"] == "ids"), None), 60, f"{m.name}'s ids")
        out[m.name] = e.get("generation")
    return out


class _Producer(threading.Thread):
    """An idempotent acks=all confluent-kafka producer writing ``step`` keyed records every
    ``interval`` s until stopped (pacing, not synchronisation); acks in ``acked`` (value ->
    (partition, offset)), delivery errors in ``errors``."""

    def __init__(self, bootstrap, topic, tag, step=20, interval=0.05):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.tag, self.step, self.interval = bootstrap, topic, tag, step, interval
        self.acked: dict[str, tuple[int, int]] = {}
        self.errors: list[str] = []
        self.done = threading.Event()
        self.stop_flag = threading.Event()

    def run(self):
        import confluent_kafka as ck
        p = ck.Producer({"bootstrap.servers": self.bootstrap, "broker.address.family": "v4", "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 120000})

        def cb(err, m):
            if err is None:
                self.acked[m.value().decode()] = (m.partition(), m.offset())
            else:
                self.errors.append(str(err))
        try:
            i = 0
            while not self.stop_flag.is_set():
                for _ in range(self.step):
                    p.produce(self.topic, key=f"k{i % 97:03d}".encode(), value=f"{self.tag}|{i:07d}".encode(),
                              on_delivery=cb)
                    i += 1
                p.poll(0)
                time.sleep(self.interval)
            left = p.flush(120)
            if left:
                self.errors.append(f"{left} messages unacknowledged after flush")
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.done.set()


def _acked_commits(members, before: float) -> dict[int, int]:
    """The highest offset per partition whose OffsetCommit a member had acknowledged before ``before``."""
    out: dict[int, int] = {}
    for m in members:
        for e in m.events_of("commit"):
            if e["t"] < before:
                for _, p, o in e["offsets"]:
                    out[p] = max(out.get(p, -1), o)
    return out


def coordinator_failover(ctx):
    """Three members with group.protocol=consumer (Java, confluent-kafka, Java; uniform
    assignor: 2 partitions each) consume an RF=3, 6-partition topic (min.insync.replicas=2)
    while an idempotent producer keeps producing, and commit after every batch. The group's
    coordinator (FindCoordinator = the leader of its __consumer_offsets partition) is
    SIGKILLed. Another node becomes the coordinator (FindCoordinator and the partition's
    leader), loads the group from __consumer_offsets and the group goes on as it was:
    ConsumerGroupDescribe from the new coordinator shows the same members (member ids), the
    same group epoch, assignment epoch and member epochs as before the kill (the members were
    not fenced: no member lost its partitions or rejoined, and the Java members' own member
    epochs are unchanged), Stable with the same assignment; every OffsetCommit acknowledged
    before the kill is still there (committed offset >= per partition). Every acknowledged
    record is consumed at least once (at its acknowledged offset), none again below an offset
    committed before the kill, no partition is ever owned by two members at once, and the
    group commits the high watermarks. Then the killed node restarts and gets back into the
    ISRs. Note: the time from the kill to the group consuming again (every member's commits
    acknowledged again and every partition read again)."""
    cl = ctx.private_cluster(FAILOVER_OVERRIDES)
    n_offsets = int(cl.overrides["offsets.topic.num.partitions"])
    topic = ctx.topic("kip848-failover")
    cl.create_topic(topic, FAILOVER_PARTITIONS, 3, config={"min.insync.replicas": "2"})
    parts = {(topic, p) for p in range(FAILOVER_PARTITIONS)}
    group = group_name("kip848-failover")
    opart = offsets_partition(group, n_offsets)
    ms = Members()
    prod = None
    try:
        members = [ms.add(make_member(kind, f"{kind}#{i}", ctx.bootstrap, group, [topic], group_protocol="consumer",
                                      remote_assignor="uniform", max_poll=50))
                   for i, kind in enumerate(KINDS, 1)]
        wait_stable848(ctx.bootstrap, group, members, [2, 2, 2], parts, timeout=120, assignor="uniform",
                       what="three members with 2 partitions each (uniform assignor)")
        prod = _Producer(ctx.bootstrap, topic, f"kip848-fo-{uuid.uuid4().hex[:6]}")
        prod.start()
        wait_until(lambda: all(len(m.records) >= 100 and m.events_of("commit") for m in members), 90,
                   "each member to read 100 records and commit")

        # the group and its coordinator before the kill
        victim = _coordinator(cl, group, opart)
        before = _describe(cl, group)
        log(f"coordinator of {group} ({OFFSETS_TOPIC} [{opart}]): node {victim}; ConsumerGroupDescribe: "
            f"{_brief(before)}")
        ids = {m.name: m.member_id for m in members}
        check(before["state"] == "Stable" and set(before["members"]) == set(ids.values()),
              f"before the kill: ConsumerGroupDescribe {_brief(before)}; expected Stable with the members "
              f"{ids}")
        for m in members:
            check(before["members"][m.member_id]["assignment"] == set(m.assignment),
                  f"before the kill: {m.name} has {sorted(m.assignment)}, ConsumerGroupDescribe says "
                  f"{sorted(before['members'][m.member_id]['assignment'])}")
        epochs_own = _java_epochs(members)
        a = admin(cl.live_bootstrap)
        # A witness: the members keep their positions across the failover and commit above
        # them, which would cover up offsets the new coordinator did not load. Offsets of
        # another group on the same __consumer_offsets partition, committed through the Admin
        # API (OffsetCommit outside any member) and never changed, must come back as they are.
        witness = _group_on_partition("kip848-failover-witness", opart, n_offsets)
        w_offsets = {p: 10 * (p + 1) for p in range(FAILOVER_PARTITIONS)}
        w_tps = [ckm.TopicPartition(topic, p, o) for p, o in w_offsets.items()]
        a.alter_consumer_group_offsets([ckm.ConsumerGroupTopicPartitions(witness, w_tps)],
                                       request_timeout=20)[witness].result(30)
        check(committed(cl.live_bootstrap, witness, topic, range(FAILOVER_PARTITIONS), a) == w_offsets,
              f"the witness group's offsets as committed: {w_offsets}")
        c_before = committed(cl.live_bootstrap, group, topic, range(FAILOVER_PARTITIONS), a)
        n_ev = {m.name: m.n_events() for m in members}
        cl.kill(victim)
        t_kill = time.time()
        acked = _acked_commits(members, t_kill)
        log(f"SIGKILLed node {victim}, the coordinator of {group}; committed before: {c_before}, acknowledged "
            f"commits: {acked}; Java members' own epochs: {epochs_own}")

        # the new coordinator
        new = _coordinator(cl, group, opart, exclude=victim, timeout=120)
        t_new = time.time() - t_kill
        log(f"new coordinator of {group}: node {new} ({t_new:.1f}s after the kill)")

        # the group consuming again: every member's commits acknowledged after the kill,
        # every partition read after the kill
        def again():
            for m in members:
                f = m.failure()
                if f:
                    raise CheckFailed(f"group member failed after the coordinator was killed: {f}")
            firsts = {}
            for m in members:
                c = [e["t"] for e in m.events_of("commit", since=t_kill)]
                if not c:
                    return None
                firsts[m.name] = min(c)
            reads = {tp[1]: first_read_after(members, tp, t_kill) for tp in sorted(parts)}
            if not all(reads.values()):
                return None
            return firsts, reads
        try:
            commits_again, reads_again = wait_until(again, 120, "every member to commit again and every partition "
                                                                "to be read again after the kill")
        except CheckFailed as e:
            raise CheckFailed(f"{e}; members: "
                              + "; ".join(f"{m.name}: last events {m.brief_events(6)}" for m in members)) from None
        t_again = max(max(commits_again.values()), max(r[0] for r in reads_again.values())) - t_kill
        log(f"after the kill: first acknowledged commit per member "
            f"{ {n: round(t - t_kill, 2) for n, t in commits_again.items()} }, first read per partition "
            f"{ {p: (round(r[0] - t_kill, 2), r[1]) for p, r in reads_again.items()} }")

        # the group as the new coordinator has it; a new AdminClient: librdkafka's admin keeps
        # the coordinator it found for a group, and waits for that (killed) node until its
        # request times out, again and again
        a = admin(cl.live_bootstrap)
        c_after = committed(cl.live_bootstrap, group, topic, range(FAILOVER_PARTITIONS), a)
        lost = {p: (max(c_before[p], acked.get(p, -1)), c_after[p]) for p in range(FAILOVER_PARTITIONS)
                if c_after[p] < max(c_before[p], acked.get(p, -1))}
        check(not lost, f"committed offsets lost in the failover (partition: (committed before the kill, after)): "
                        f"{lost}; before {c_before}, acknowledged commits {acked}, after {c_after}")
        w_after = committed(cl.live_bootstrap, witness, topic, range(FAILOVER_PARTITIONS), a)
        check(w_after == w_offsets, f"the offsets of group {witness} (same {OFFSETS_TOPIC} partition, committed "
                                    f"through the Admin API before the kill) on the new coordinator: {w_after}, "
                                    f"expected {w_offsets}")
        after = _describe(cl, group)
        log(f"ConsumerGroupDescribe from the new coordinator {new}: {_brief(after)}")
        epochs_own_after = _java_epochs(members)
        wait_stable848(cl.live_bootstrap, group, members, [2, 2, 2], parts, timeout=60, assignor="uniform",
                       what="the group Stable with its three members on the new coordinator")
        ids_after = {m.name: m.member_id for m in members}
        check(ids_after == ids and set(after["members"]) == set(ids.values()),
              f"member ids before the kill {ids}, after {ids_after}; ConsumerGroupDescribe from the new "
              f"coordinator lists {sorted(after['members'])}")
        check(after["group_epoch"] >= before["group_epoch"],
              f"the group epoch went back from {before['group_epoch']} to {after['group_epoch']} on the new "
              f"coordinator")
        # what Kafka does: the new coordinator loads the group as it was, the members heartbeat
        # to it with their epochs, and nothing changes
        same = {"state": (before["state"], after["state"]),
                "group epoch": (before["group_epoch"], after["group_epoch"]),
                "assignment epoch": (before["assignment_epoch"], after["assignment_epoch"]),
                "assignor": (before["assignor"], after["assignor"])}
        for mid, x in before["members"].items():
            y = after["members"][mid]
            same[f"member {mid} epoch"] = (x["epoch"], y["epoch"])
            same[f"member {mid} assignment"] = (sorted(x["assignment"]), sorted(y["assignment"]))
            same[f"member {mid} target assignment"] = (sorted(x["target"]), sorted(y["target"]))
        same.update({f"{n}'s own member epoch": (epochs_own[n], epochs_own_after[n]) for n in epochs_own})
        changed = {k: v for k, v in same.items() if v[0] != v[1]}
        check(not changed, f"the group changed across the coordinator failover (before, after): {changed}; before "
                           f"{_brief(before)}; after {_brief(after)}")
        moved = {m.name: [(e["ev"], e.get("parts")) for e in m.events[n_ev[m.name]:]
                          if e["ev"] in ("assign", "revoke", "lost") and e.get("parts")] for m in members}
        moved = {n: v for n, v in moved.items() if v}
        check(not moved, f"members saw partitions assigned, revoked or lost across the coordinator failover "
                         f"(fenced, or a rebalance): {moved}")

        # more records through the new coordinator, then every record consumed
        n_read = sum(len(m.records) for m in members)
        wait_until(lambda: sum(len(m.records) for m in members) >= n_read + 1000, 90,
                   "1000 more records consumed after the failover")
        prod.stop_flag.set()
        prod.join(150)
        check(prod.done.is_set(), "the producer did not finish")
        check(not prod.errors, f"producer errors: {prod.errors[:3]}")
        expected = expected_positions(prod.acked, topic)
        wait_read(members, set(expected), timeout=120, what=f"all {len(expected)} acknowledged records to be consumed")
        check_values(members, expected)
        hw = high_watermarks(ctx, topic)
        wait_committed(cl.live_bootstrap, group, topic, hw, timeout=90, members=members)
        dups = duplicates(members)
        floor = {p: max(c_before[p], acked.get(p, -1)) for p in range(FAILOVER_PARTITIONS)}
        bad = {k: w for k, w in dups.items() if k[2] < floor[k[1]]}
        check(not bad, f"{len(bad)} records consumed again below the offsets committed before the kill {floor}, "
                       f"e.g. {sorted(bad.items())[:5]}")
        owners = check_exclusive(members)
        hand_overs = sum(len(v) for v in owners.values()) - len(owners)
        for m in members:
            if m.alive():
                m._request_close()
        for m in members:
            m.close(60)
    finally:
        if prod is not None:
            prod.stop_flag.set()
        ms.cleanup()
    cl.restart(victim)
    _wait_isr(cl, topic, FAILOVER_PARTITIONS, lambda isr, pm: victim in isr, 90,
              f"restarted node {victim} back in the ISRs")
    member_epochs = sorted(x["epoch"] for x in after["members"].values())
    note = (f"coordinator {victim} ({OFFSETS_TOPIC} [{opart}]) SIGKILLed; node {new} named by FindCoordinator "
            f"{t_new:.1f}s later; group consuming again {t_again:.1f}s after the kill (commits acknowledged "
            f"again per member: {', '.join(f'{n} {t - t_kill:.1f}s' for n, t in commits_again.items())}); "
            f"group epoch {before['group_epoch']} -> {after['group_epoch']}, assignment epoch "
            f"{before['assignment_epoch']} -> {after['assignment_epoch']}, member epochs {member_epochs} and "
            f"member ids unchanged, nobody fenced; a witness group's offsets on the same partition intact; "
            f"{len(expected)} records, {len(dups)} consumed twice, "
            f"{hand_overs} ownership hand-overs")
    log(note)
    return _finish(cl, note)
