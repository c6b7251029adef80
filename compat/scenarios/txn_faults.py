"""Transactions under faults on a 3-node cluster (issue 12): the transaction
coordinator SIGKILLed right after a commit or an abort, a partition leader
SIGKILLed and restarted under open transactions, a transaction checker under
random broker kills, and Kafka Streams with ``exactly_once_v2`` across broker
kills. confluent-kafka's transactional producer (librdkafka) and read_committed
consumers; Kafka Streams 4.4 (compat/streams) for the last one.

The cluster is the fault-injection cluster of scenarios/cluster.py with
``__transaction_state`` replicated on every node (``transaction.state.log.
replication.factor=3``, ``transaction.state.log.min.isr=2``, 10 partitions like
``__consumer_offsets``). The coordinator of a transactional id is asked with
FindCoordinator (key type TRANSACTION, kafka-python). Every wait is a polled
condition with a generous deadline; durations (how long after a kill committed
records became visible, a new coordinator answered) are reported in the notes,
never asserted. Each scenario ends like the other cluster scenarios: a clean
SIGTERM stop of every node and the segment check of every data directory.

What "visible" means: a read_committed consumer (assigned, no group) returns the
record. The checks compare what such consumers read, offset by offset, with the
producers' acknowledgements (partition and offset of every record) and the
outcome of every transaction.

This module registers the scenarios and holds the coordinator crashes and the
leader restart; the transaction checker is in txn_checker.py, the Streams
scenario in txn_streams_eos.py, the shared helpers in txn_fault_helpers.py.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import confluent_kafka as ckl

from harness.common import CheckFailed, check, log, wait_until
from scenarios import Scenario
from scenarios.cluster import _finish, _produce, _wait_isr
from scenarios.txn_fault_helpers import (TXN_SETTINGS, Reader, _check_exact, _end_offsets, _finish_reads, _items,
                                         _leaders, _new_coordinator, _pick_tids, _tx_producer, _txn_call,
                                         _txn_coordinators, _txn_send, _zombie_cannot_commit)


def txn_fault_scenarios() -> list[Scenario]:
    """The registry's entries (scenarios/__init__.py): managed only, each with a
    private 3-node cluster."""
    T = "scenarios.txn_faults"
    ck = "confluent-kafka"
    return [
        Scenario(ck, "cluster-txn-coordinator-crash", f"{T}:coordinator_crash_commit", managed_only=True, cost=6,
                 timeout=480),
        Scenario(ck, "cluster-txn-coordinator-crash-abort", f"{T}:coordinator_crash_abort", managed_only=True,
                 cost=6, timeout=480),
        Scenario(ck, "cluster-txn-broker-restart", f"{T}:broker_restart", managed_only=True, cost=6, timeout=480),
        Scenario(ck, "cluster-txn-checker", "scenarios.txn_checker:checker", managed_only=True, cost=10,
                 timeout=600),
        Scenario("java", "cluster-streams-eos", "scenarios.txn_streams_eos:streams_eos", managed_only=True, cost=9,
                 timeout=600),
    ]


# --------------------------------------------------------------------------
# 1. the transaction coordinator SIGKILLed right after EndTxn

CRASH_PARTITIONS = 6
CRASH_PER_PARTITION = 10


def coordinator_crash_commit(ctx):
    """A transactional producer commits T0, then writes T1 to all 6 partitions
    (RF=3, min.insync.replicas=2) and commits; the node coordinating its
    transactional.id (FindCoordinator) is SIGKILLed the moment
    commit_transaction returns, so its transaction markers may still be on
    their way. A read_committed consumer (polling throughout) must see all of T1
    (note: how long after the kill). A new producer with the same
    transactional.id initialises once another node coordinates it (note: when),
    which fences the first: that one cannot commit any more. The new producer
    aborts a transaction, then commits T3. In the end read_committed consumers
    read exactly T0, T1 and T3, once each, at their acknowledged offsets; the
    aborted and the zombie's records never; a read_uncommitted one finds the
    aborted records in the log."""
    cl = ctx.private_cluster(TXN_SETTINGS)
    topic = ctx.topic("cluster.txn-crash")
    parts = list(range(CRASH_PARTITIONS))
    cl.create_topic(topic, CRASH_PARTITIONS, 3, {"min.insync.replicas": "2"})
    tid = f"compat-txn-crash-{uuid.uuid4().hex[:8]}"
    p1 = _tx_producer(cl.bootstrap, tid)
    _txn_call(p1.init_transactions, f"init_transactions({tid})")
    victim = _txn_coordinators(cl, [tid])[tid]
    check(victim in cl.nodes, f"FindCoordinator names {victim} for {tid}, not a node of the cluster")
    expected: dict[bytes, tuple[int, int]] = {}

    p1.begin_transaction()
    expected.update(_txn_send(p1, topic, _items("t0", parts, CRASH_PER_PARTITION), "T0"))
    _txn_call(p1.commit_transaction, "commit of T0")
    reader = Reader(cl.bootstrap, topic, parts, "read_committed", "read_committed consumer")
    reader.wait_values(list(expected), 120, "T0 (committed, no fault yet)")

    p1.begin_transaction()
    t1 = _txn_send(p1, topic, _items("t1", parts, CRASH_PER_PARTITION), "T1")
    leaders = _leaders(cl, topic)
    _txn_call(p1.commit_transaction, "commit of T1")
    cl.kill(victim)
    t_kill = time.monotonic()
    led = [p for p, n in leaders.items() if n == victim]
    log(f"SIGKILLed node {victim}, the transaction coordinator of {tid}, right after commit_transaction(T1) "
        f"returned; it led partitions {led} of {topic}")
    expected.update(t1)

    reader.wait_values(list(t1), 180, "every record of T1 (committed just before its coordinator died)")
    with reader.lock:
        seen = [reader.first_seen[v] - t_kill for v in t1]
    visible_after = max(seen)
    new_coord, coord_after = _new_coordinator(cl, tid, victim, t_kill)
    log(f"T1 visible {visible_after:.2f}s after the kill (first record {min(seen):+.2f}s); FindCoordinator names "
        f"node {new_coord} after {coord_after:.1f}s")

    p2 = _tx_producer(cl.live_bootstrap, tid)
    init_took = _txn_call(p2.init_transactions, "init_transactions of a new producer with the same "
                                                "transactional.id after the coordinator's failover", 180)
    init_done = time.monotonic() - t_kill
    zombie_values, zombie_err = _zombie_cannot_commit(p1, topic, parts, "zombie")
    log(f"the first producer, fenced, could not commit: {zombie_err}")
    p2.begin_transaction()
    aborted = _txn_send(p2, topic, _items("t2aborted", parts, CRASH_PER_PARTITION), "T2 (to be aborted)")
    _txn_call(p2.abort_transaction, "abort of T2")
    p2.begin_transaction()
    t3 = _txn_send(p2, topic, _items("t3", parts, CRASH_PER_PARTITION), "T3")
    _txn_call(p2.commit_transaction, "commit of T3")
    expected.update(t3)
    reader.wait_values(list(t3), 120, "T3 (committed after the aborted T2)")

    cl.restart(victim)
    _wait_isr(cl, topic, CRASH_PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR of {topic}")
    figures = _finish_reads(cl, topic, parts, reader, expected, set(aborted) | set(zombie_values),
                            {**expected, **aborted}, "after the coordinator's crash")
    note = (f"coordinator {victim} of {tid} SIGKILLed right after commit_transaction returned (it led "
            f"partitions {led}): T1 visible to read_committed {visible_after:.2f}s after the kill "
            f"(first record {min(seen):+.2f}s); FindCoordinator named node {new_coord} after {coord_after:.1f}s; "
            f"init_transactions of a new producer done {init_done:.1f}s after the kill ({init_took:.1f}s); zombie "
            f"commit refused ({zombie_err}); aborted T2 never visible, T3 visible; {figures['fresh']} committed "
            f"records read exactly, {figures['uncommitted']} in the log")
    log(note)
    p2.close()  # (the fenced p1 is left alone: its close would try to abort)
    return _finish(cl, note)


def coordinator_crash_abort(ctx):
    """Two transactional ids with different coordinators. Producer 1 commits T0,
    writes A to all 6 partitions and aborts it; its coordinator is SIGKILLed the
    moment abort_transaction returns. Producer 2 (its coordinator alive) then
    writes B to all partitions (after A in each) and commits: B becomes visible
    to read_committed only once A's abort markers are written, i.e. the last
    stable offset moved past A (note: how long after the kill). A new producer
    1 (same transactional.id) initialises after the failover and commits C; the
    fenced first one cannot commit. In the end: exactly T0, B and C are read,
    never A nor the zombie's records; A is in the log (read_uncommitted)."""
    cl = ctx.private_cluster(TXN_SETTINGS)
    topic = ctx.topic("cluster.txn-crash-abort")
    parts = list(range(CRASH_PARTITIONS))
    cl.create_topic(topic, CRASH_PARTITIONS, 3, {"min.insync.replicas": "2"})
    tids = _pick_tids(cl, "compat-txn-crash-abort", 2,
                      lambda t, node, chosen: node in cl.nodes and node not in chosen.values())
    (tid1, victim), (tid2, other) = list(tids.items())
    log(f"{tid1}: coordinator {victim} (to be killed); {tid2}: coordinator {other}")
    p1 = _tx_producer(cl.bootstrap, tid1)
    p2 = _tx_producer(cl.bootstrap, tid2)
    _txn_call(p1.init_transactions, f"init_transactions({tid1})")
    _txn_call(p2.init_transactions, f"init_transactions({tid2})")
    expected: dict[bytes, tuple[int, int]] = {}

    p1.begin_transaction()
    expected.update(_txn_send(p1, topic, _items("t0", parts, CRASH_PER_PARTITION), "T0"))
    _txn_call(p1.commit_transaction, "commit of T0")
    reader = Reader(cl.bootstrap, topic, parts, "read_committed", "read_committed consumer")
    reader.wait_values(list(expected), 120, "T0 (committed, no fault yet)")

    p1.begin_transaction()
    aborted = _txn_send(p1, topic, _items("a", parts, CRASH_PER_PARTITION), "A (to be aborted)")
    leaders = _leaders(cl, topic)
    _txn_call(p1.abort_transaction, "abort of A")
    cl.kill(victim)
    t_kill = time.monotonic()
    led = [p for p, n in leaders.items() if n == victim]
    log(f"SIGKILLed node {victim}, the transaction coordinator of {tid1}, right after abort_transaction(A) "
        f"returned; it led partitions {led} of {topic}")

    p2.begin_transaction()
    b = _txn_send(p2, topic, _items("b", parts, CRASH_PER_PARTITION), "B (producer 2, after A)")
    behind = [v for v, (p, o) in b.items() if o <= max(o2 for v2, (p2_, o2) in aborted.items() if p2_ == p)]
    check(not behind, f"test bug: B records not after A in their partitions: {behind[:3]}")
    _txn_call(p2.commit_transaction, "commit of B")
    expected.update(b)
    reader.wait_values(list(b), 180, "every record of B (behind the aborted A in every partition)")
    with reader.lock:
        seen = [reader.first_seen[v] - t_kill for v in b]
    visible_after = max(seen)
    new_coord, coord_after = _new_coordinator(cl, tid1, victim, t_kill)
    log(f"B visible {visible_after:.2f}s after the kill; FindCoordinator names node {new_coord} for {tid1} "
        f"after {coord_after:.1f}s")

    p1b = _tx_producer(cl.live_bootstrap, tid1)
    init_took = _txn_call(p1b.init_transactions, "init_transactions of a new producer with the first "
                                                 "transactional.id after the coordinator's failover", 180)
    init_done = time.monotonic() - t_kill
    zombie_values, zombie_err = _zombie_cannot_commit(p1, topic, parts, "zombie")
    log(f"the first producer, fenced, could not commit: {zombie_err}")
    p1b.begin_transaction()
    c = _txn_send(p1b, topic, _items("c", parts, CRASH_PER_PARTITION), "C (the new producer 1)")
    _txn_call(p1b.commit_transaction, "commit of C")
    expected.update(c)
    reader.wait_values(list(c), 120, "C")

    cl.restart(victim)
    _wait_isr(cl, topic, CRASH_PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR of {topic}")
    figures = _finish_reads(cl, topic, parts, reader, expected, set(aborted) | set(zombie_values),
                            {**expected, **aborted}, "after the coordinator's crash")
    note = (f"coordinator {victim} of {tid1} SIGKILLed right after abort_transaction returned (it led partitions "
            f"{led}): B (another producer's, behind the aborted A) visible to read_committed "
            f"{visible_after:.2f}s after the kill; FindCoordinator named node {new_coord} after {coord_after:.1f}s; "
            f"init_transactions with that id done {init_done:.1f}s after the kill ({init_took:.1f}s); zombie commit "
            f"refused ({zombie_err}); A never visible; {figures['fresh']} committed records read exactly, "
            f"{figures['uncommitted']} in the log")
    log(note)
    for p in (p2, p1b):  # (the fenced p1 is left alone: its close would try to abort)
        p.close()
    return _finish(cl, note)


# --------------------------------------------------------------------------
# 2. a partition leader SIGKILLed and restarted under open transactions


def broker_restart(ctx):
    """One partition (RF=3, min.insync.replicas=2, auto.leader.rebalance.enable
    off) led by L, a node that is not the active controller; four transactional
    producers (c1, c2 to commit, a1, a2 to abort) whose coordinators are not L.
    5 plain records, then each producer begins and writes 5 records: the last
    stable offset (ListOffsets READ_COMMITTED) is c1's first offset and a
    read_committed consumer reads the 5 plain records only. L is SIGKILLed: the
    new leader keeps the transactions open (same LSO, same view). During the
    outage 5 more plain records, and c1, a1 write 5 more. L restarts and rejoins
    the ISR; c1 commits and a1 aborts (LSO: c2's first offset); L is made leader
    again (preferred election): from its rebuilt log and producer state the same
    LSO and view; c2 and a2 write 5 more on L, c2 commits and a2 aborts. At
    every step read_committed is exactly the committed records below the LSO; at
    the end every committed record once, at its acknowledged offset, none of
    a1/a2, and every record is in the log."""
    from confluent_kafka import ElectionType
    cl = ctx.private_cluster({**TXN_SETTINGS, "auto.leader.rebalance.enable": "false"})
    ctl = wait_until(lambda: (lambda c: c if c in cl.nodes else None)(cl.active_controller()), 60,
                     "an active controller")
    L = next(i for i in cl.ids() if i != ctl)
    topic = ctx.topic("cluster.txn-restart")
    cl.create_topic(topic, config={"min.insync.replicas": "2"},
                    replica_assignment=[[L] + [i for i in cl.ids() if i != L]])
    check(cl.leader(topic, 0) == L, f"{topic}[0] is not led by {L}: {cl.metadata(topic).describe(topic)}")
    tids = _pick_tids(cl, "compat-txn-restart", 4, lambda t, node, chosen: node in cl.nodes and node != L)
    names = ["c1", "a1", "c2", "a2"]
    prods = {}
    for name, (tid, coord) in zip(names, tids.items()):
        # c2 and a2 stay open across the kill, the restart and the election: a
        # transaction timeout well beyond that (Kafka's transaction.max.timeout.ms is 15 min)
        prods[name] = _tx_producer(cl.bootstrap, tid, **{"transaction.timeout.ms": 600_000})
        _txn_call(prods[name].init_transactions, f"init_transactions of {name} ({tid}, coordinator {coord})")
    log(f"partition leader L={L} (active controller {ctl}); coordinators "
        + ", ".join(f"{n}: {c}" for n, c in zip(names, tids.values())))

    acked: dict[bytes, tuple[int, int]] = {}
    owner: dict[bytes, str] = {}   # value -> "plain" or a producer name
    status = {"plain": "committed"}
    for n in names:
        status[n] = "open"
    counter = Counter()

    def plain(k, what):
        vals = [f"plain-{counter['plain'] + i:04d}".encode() for i in range(k)]
        counter["plain"] += k
        a, f = _produce(cl.live_bootstrap, topic, [_msg(v) for v in vals], partition=0,
                        **{"enable.idempotence": True, "message.timeout.ms": 120_000})
        check(not f and len(a) == k, f"plain records ({what}): {len(a)} of {k} acknowledged, failures {f}")
        acked.update(a)
        owner.update({v: "plain" for v in vals})

    def write(name, k, what):
        items = [(0, f"{name}-{counter[name] + i:04d}".encode()) for i in range(k)]
        counter[name] += k
        a = _txn_send(prods[name], topic, items, f"{name}: {what}")
        acked.update(a)
        owner.update({v: name for _, v in items})

    def stable(what):
        """The LSO is the first offset of the earliest open transaction, and a
        read_committed consumer reads exactly the committed records below it."""
        open_first = [o for v, (_, o) in acked.items() if status[owner[v]] == "open"]
        got = {}

        def lso_ok():
            got["hw"] = _end_offsets(cl, topic, [0], committed=False)[0]
            got["lso"] = _end_offsets(cl, topic, [0], committed=True)[0]
            if not open_first:  # the markers of the last commit / abort may still be on their way
                return got["lso"] == got["hw"]
            check(got["lso"] <= min(open_first),
                  f"{what}: last stable offset {got['lso']} beyond the first offset {min(open_first)} of the "
                  f"earliest open transaction (an open transaction's records exposed)")
            return got["lso"] == min(open_first)
        try:
            wait_until(lso_ok, 120, f"{what}: the last stable offset at the first offset of the earliest open "
                                    f"transaction ({min(open_first) if open_first else 'none open'})")
        except CheckFailed as e:
            raise CheckFailed(f"{e}; last answers: LSO {got.get('lso')}, high watermark {got.get('hw')}") from None
        want, hw = got["lso"], got["hw"]
        visible = {v: pos for v, pos in acked.items() if pos[1] < want and status[owner[v]] == "committed"}
        hidden = {v for v in acked if v not in visible}
        r = Reader(cl.live_bootstrap, topic, [0], "read_committed", f"read_committed consumer ({what})")
        try:
            # (not its position: librdkafka's stays behind aborted records whose abort
            # marker is beyond the last stable offset until it returns a later record)
            r.wait_values(list(visible), 120, f"the {len(visible)} committed records below the LSO {want}")
            reached = time.monotonic()
            wait_until(lambda: time.monotonic() - reached > 2, 10, "2 s more polling past the last stable offset")
            pos = r.positions()[0]
        finally:
            r.stop()
        check(pos <= want, f"{what}: read_committed consumer's position {pos}, beyond the last stable offset {want}")
        n = _check_exact(r, visible, hidden, f"{what}: read_committed below the last stable offset {want}")
        log(f"{what}: LSO {want}, high watermark {hw}: read_committed reads exactly the {n} committed records "
            f"below it")
        return want

    plain(5, "before the transactions")
    for n in names:
        prods[n].begin_transaction()
        write(n, 5, "before the kill")
    lso0 = stable("open transactions, before the kill")

    cl.kill(L)
    t_kill = time.monotonic()
    new = wait_until(lambda: (lambda pm: pm.leader if pm and pm.leader >= 0 and pm.leader != L else None)(
        cl.metadata(topic, exclude=L).partition(topic, 0)), 120, f"a new leader of {topic}[0] after the kill of {L}")
    moved_after = time.monotonic() - t_kill
    log(f"SIGKILLed the leader {L}; {new} leads after {moved_after:.1f}s")
    stable(f"on the new leader {new}, L={L} killed")
    plain(5, "during the outage")
    write("c1", 5, "during the outage")
    write("a1", 5, "during the outage")
    stable(f"on the new leader {new}, more records during the outage")

    t_restart = time.monotonic()
    cl.restart(L)
    _wait_isr(cl, topic, 1, lambda isr, pm: L in isr, 120, f"restarted node {L} back in the ISR")
    rejoin = time.monotonic() - t_restart
    _txn_call(prods["c1"].commit_transaction, "commit of c1 (L a follower again)")
    status["c1"] = "committed"
    _txn_call(prods["a1"].abort_transaction, "abort of a1 (L a follower again)")
    status["a1"] = "aborted"
    lso1 = stable(f"c1 committed, a1 aborted; leader {new}, L={L} a follower")

    admin = cl.admin()  # referenced until the result is in
    err = admin.elect_leaders(ElectionType.PREFERRED, [ckl.TopicPartition(topic, 0)]).result(timeout=60).get(
        ckl.TopicPartition(topic, 0))
    check(err is None, f"ElectLeaders (preferred) for {topic}[0]: {err}")
    wait_until(lambda: cl.leader(topic, 0, via=next(i for i in cl.live() if i != L)) == L, 60,
               f"{L} leading {topic}[0] again after the preferred election")
    stable(f"L={L} leader again after its restart (its own log and producer state)")
    write("c2", 5, f"on L={L} again")
    write("a2", 5, f"on L={L} again")
    _txn_call(prods["c2"].commit_transaction, "commit of c2 (on L)")
    status["c2"] = "committed"
    _txn_call(prods["a2"].abort_transaction, "abort of a2 (on L)")
    status["a2"] = "aborted"
    end = stable(f"every transaction complete, L={L} leader")

    committed = {v: pos for v, pos in acked.items() if status[owner[v]] == "committed"}
    aborted = {v for v in acked if status[owner[v]] == "aborted"}
    reader = Reader(cl.live_bootstrap, topic, [0], "read_committed", "read_committed consumer (final)")
    figures = _finish_reads(cl, topic, [0], reader, committed, aborted, acked, "after the leader's restart")
    note = (f"leader {L} SIGKILLed under 4 open transactions: {new} led after {moved_after:.1f}s with the same "
            f"LSO {lso0}; {L} back in the ISR {rejoin:.1f}s after its restart; LSO {lso1} after c1 committed and a1 "
            f"aborted, the same on {L} leading again; finally LSO = high watermark {end}, {figures['fresh']} "
            f"committed records read exactly, none of a1/a2 ({len(aborted)}), {figures['uncommitted']} in the log")
    log(note)
    for p in prods.values():
        p.close()
    return _finish(cl, note)


def _msg(v: bytes):
    from harness.common import Msg
    return Msg(key=v.split(b"-", 1)[0], value=v)
