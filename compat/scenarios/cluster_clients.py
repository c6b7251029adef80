"""The 3-node cluster scenarios (scenarios/cluster.py) with the clients behind a
driver program: the Java client and franz-go. Leader failover under the client's
idempotent acks=all producer, controller failover followed by the client's admin,
producer and reader, and group coordinator failover under the client's group member.
The faults and the checks are those of the confluent-kafka scenarios."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid

from harness.clients import get_client
from harness.clients.driver import wire_messages
from harness.common import CheckFailed, check, log, make_messages, note_errors, note_logged_errors, verify_records, wait_until
from harness.groups import PacedProducer, committed, make_member
from scenarios.cluster import (FAILOVER_KEYS, FAILOVER_PARTITIONS, _finish, _kill_active_controller, _read_group,
                               _wait_isr)

FAILOVER_MESSAGES = 50_000


class StreamingProduce:
    """The client's driver producing ``msgs`` (idempotent, acks=all) in a process of its
    own, reporting how many are acknowledged as it goes (``progress`` lines)."""

    def __init__(self, ctx, client, topic, msgs, log_path):
        self.client, self.msgs, self.log_path = client, msgs, log_path
        self.acked = 0
        self.result = None
        req = {"bootstrap": ctx.bootstrap, "topic": topic, "idempotent": True, "compression": "none",
               "progressEvery": 200, "maxInFlight": 2000,
               "messages": wire_messages(msgs)}
        self.proc = subprocess.Popen(client.argv("produce"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(log_path, "ab"), start_new_session=True)
        threading.Thread(target=self._feed, args=(json.dumps(req).encode(),), daemon=True).start()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _feed(self, payload):
        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.close()
        except OSError:
            pass

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if "progress" in line:
                self.acked = line["progress"]
            else:
                self.result = line

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout):
        self.proc.wait(timeout)
        self.reader.join(30)
        res = self.result or {}
        note_errors(self.client.name, res.get("errors") or {})
        with open(self.log_path, errors="replace") as f:
            note_logged_errors(self.client.name, f.read())
        check(res.get("ok"), f"{self.client.name} produce failed: {res.get('type')}: {res.get('error')}")
        check(not res["failed"], f"{len(res['failed'])} of {len(self.msgs)} messages failed (the producer must ride "
                                 f"out the failover): {res['failed'][:5]}")
        return {m.value: (p, o) for m, (p, o) in zip(self.msgs, res["acks"])}


def _fail_over_while_producing(cl, topic, victim, prod, kill_at, restart_at):
    """SIGKILLs the leader of partition 0 once ``kill_at`` records are acknowledged and
    restarts it once ``restart_at`` are and a new leader is in metadata."""
    t_kill = moved_at = None
    moved_to = None
    restarted = False
    deadline = time.monotonic() + 360
    while prod.running():
        check(time.monotonic() < deadline, f"{prod.acked} of {len(prod.msgs)} acknowledged after 360 s")
        if t_kill is None and prod.acked >= kill_at:
            cl.kill(victim)
            t_kill = time.monotonic()
            log(f"SIGKILLed node {victim} (leader of p0) with {prod.acked} acknowledged")
        if t_kill is not None and moved_at is None:
            try:
                pm = cl.metadata(topic, exclude=victim).partition(topic, 0)
                if pm is not None and pm.leader >= 0 and pm.leader != victim:
                    moved_at, moved_to = time.monotonic() - t_kill, pm.leader
            except Exception as e:  # noqa: BLE001 - retried
                log(f"metadata while the leader is down: {e!r}")
        if moved_at is not None and not restarted and prod.acked >= restart_at:
            cl.restart(victim, wait=False)
            restarted = True
            log(f"restarted node {victim} with {prod.acked} acknowledged; p0 moved to {moved_to} after {moved_at:.1f}s")
        time.sleep(0.05)
    return prod.finish(60), t_kill, moved_at, moved_to, restarted


def leader_failover(ctx, client_name):
    """RF=3, 6 partitions, min.insync.replicas=2; the client's idempotent acks=all
    producer sends 50,000 keyed messages; the leader of partition 0 is SIGKILLed
    once 30% are acknowledged and restarted once 60% are and another node's
    metadata names a new leader. Every message acknowledged, a fresh group reads
    each exactly once at its acknowledged offset, in order per partition."""
    client = get_client(client_name)
    cl = ctx.private_cluster()
    topic = ctx.topic(f"{client_name}.cluster.failover")
    cl.create_topic(topic, FAILOVER_PARTITIONS, 3, {"min.insync.replicas": "2"})
    victim = cl.leader(topic, 0)
    check(victim in cl.nodes, f"partition 0 has no leader: {cl.metadata(topic).describe(topic)}")
    msgs = make_messages(f"{client_name}-failover", FAILOVER_MESSAGES, FAILOVER_KEYS)
    kill_at, restart_at = int(len(msgs) * 0.3), int(len(msgs) * 0.6)
    prod = StreamingProduce(ctx, client, topic, msgs, os.path.join(ctx.workdir, f"{client_name}-failover-producer.log"))
    try:
        acked, t_kill, moved_at, moved_to, restarted = _fail_over_while_producing(cl, topic, victim, prod, kill_at,
                                                                                  restart_at)
    finally:
        if prod.running():
            prod.proc.kill()
    check(t_kill is not None, f"the kill point ({kill_at} acknowledged) was never reached")
    if moved_at is None:
        wait_until(lambda: (cl.metadata(topic, exclude=victim).partition(topic, 0).leader not in (-1, victim)), 60,
                   "a new leader of partition 0 in metadata")
    if not restarted:
        cl.restart(victim, wait=False)
        log(f"restarted node {victim} after the producer finished")
    cl.wait_brokers({victim}, 60, f"node {victim} registered again", exclude=victim)
    records = _read_group(ctx, topic, f"compat-{client_name}-failover-{uuid.uuid4().hex[:8]}")
    summary = verify_records(records, msgs, partitions=FAILOVER_PARTITIONS,
                             contiguous_from={p: 0 for p in range(FAILOVER_PARTITIONS)}, delivered=acked,
                             partition_send_order=True)
    log(f"read back: {summary}")
    _wait_isr(cl, topic, FAILOVER_PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR")
    moved = f"new leader {moved_to} in metadata after {moved_at:.1f}s" if moved_at is not None else "moved"
    return _finish(cl, f"{client_name}: p0 leader {victim} SIGKILLed at {kill_at} acked, {moved}; "
                       f"{len(acked)} acked, 0 failed, read back exactly once")


def controller_failover(ctx, client_name):
    """SIGKILL of the active controller (the metadata quorum's leader, from
    DescribeQuorum); once another node is active controller, the client's admin
    creates an RF=2 topic, its idempotent producer writes 3,000 messages and its
    reader reads them back exactly; the client's metadata names a running broker
    as controller (a broker to send controller-bound requests to, in Kafka a
    random live one, not the active controller); the Java client's
    describeMetadataQuorum names the new active controller; the killed node
    restarts and rejoins."""
    client = get_client(client_name)
    cl = ctx.private_cluster()
    old, new, failover, _ = _kill_active_controller(cl)
    live = ",".join(cl.node(i).bootstrap for i in cl.live())
    from types import SimpleNamespace
    view = SimpleNamespace(bootstrap=live)
    topic = ctx.topic(f"{client_name}.cluster.afterfailover")
    # the client's own admin, producer and reader, through the surviving nodes: an RF=2
    # topic (two brokers are left), retried while the new controller settles
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_topic(view, topic, 3, replication_factor=2)
            break
        except CheckFailed as e:
            if "TopicExists" in str(e) or "TOPIC_ALREADY_EXISTS" in str(e):
                break
            check(time.monotonic() < deadline, f"{client_name} CreateTopics after the failover: {e}")
            time.sleep(0.5)
    # a broker lists the topic once it has applied the controller's records (KRaft:
    # eventually, after CreateTopics returned)
    parts = wait_until(lambda: (lambda ps: ps if len(ps) == 3 and all(pm.leader >= 0 for pm in ps.values()) else None)(
        cl.metadata(topic).topics.get(topic, {})), 30, f"{topic}: 3 partitions with a leader in metadata")
    replicas = {p: sorted(pm.replicas) for p, pm in parts.items()}
    check(all(len(r) == 2 and old not in r for r in replicas.values()),
          f"RF=2 topic on the live nodes, got replicas {replicas}")
    msgs = make_messages(f"{client_name}-ctl", 3000, 30)
    acked = client.produce(view, topic, msgs, idempotent=True)
    records = client.read_all(view, topic)
    verify_records(records, msgs, partitions=3, contiguous_from={p: 0 for p in range(3)}, delivered=acked,
                   partition_send_order=True)
    seen = client.metadata(view, topic).get("controller")
    check(seen in cl.live(), f"{client_name} metadata names controller {seen}, not a running broker "
                             f"(running: {cl.live()}, the killed one: {old})")
    quorum = ""
    if client_name.startswith("java"):
        # Admin.describeMetadataQuorum: the new active controller as leader, all three
        # voters, a committed offset
        q = client.run("describe-quorum", {"bootstrap": live}, timeout=60)
        voters = {v[0]: v[1] for v in q["voters"]}
        now = cl.active_controller()
        check(q["leaderId"] == now and now != old and sorted(voters) == sorted(cl.ids()) and q["highWatermark"] > 0
              and voters[q["leaderId"]] >= q["highWatermark"],
              f"describeMetadataQuorum: {q}, expected leader {now} (the harness's DescribeQuorum, "
              f"kafka-python: {new} after the failover, {old} killed), voters {sorted(cl.ids())}")
        quorum = f"; describeMetadataQuorum: leader {q['leaderId']} epoch {q['leaderEpoch']}, HW {q['highWatermark']}"
    cl.restart(old)
    cl.wait_brokers(set(cl.ids()), 60, f"node {old} registered again")
    return _finish(cl, f"{client_name}: active controller {old} SIGKILLed, {new} after {failover:.1f}s; CreateTopics, "
                       f"3000 idempotent messages and read-back through {client_name}{quorum}")


def group_failover(ctx, client_name):
    """A group member of the client (synchronous commit after every batch) reads an
    RF=3 topic while a producer keeps producing; the group's coordinator is SIGKILLed.
    The member keeps consuming and its commits succeed again through the new
    coordinator; every acknowledged message is consumed (at least once), and the
    committed offsets end at the high watermarks."""
    cl = ctx.private_cluster()
    topic = ctx.topic(f"{client_name}.cluster.group")
    cl.create_topic(topic, 3, 3)
    group = f"compat-{client_name}-cluster-group-{uuid.uuid4().hex[:8]}"
    prod = PacedProducer(ctx.bootstrap, topic, 6000, "grp", step=50, interval=0.05)
    prod.start()
    m = make_member(client_name, f"{client_name}#1", ctx.bootstrap, group, [topic]).start()
    try:
        m.wait(lambda s: len(s.assignment) == 3 and len(s.records) >= 300, 90, "3 partitions and 300 records read")
        def describe():
            a = cl.admin()  # held while the future runs: a dropped AdminClient fails its requests
            return a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        d = wait_until(describe, 60, f"DescribeConsumerGroups {group}")
        victim = d.coordinator.id
        check(victim in cl.nodes, f"coordinator {victim} is not a node")
        cl.kill(victim)
        t_kill = time.time()
        log(f"SIGKILLed node {victim}, the coordinator of {group}")
        m.wait(lambda s: any(e["ev"] == "commit" and e["t"] > t_kill for e in s.events), 120,
               "a commit that succeeded after the coordinator was killed")
        again = next(e["t"] for e in m.events if e["ev"] == "commit" and e["t"] > t_kill) - t_kill
        check(prod.done.wait(120) and not prod.errors, f"producer: {prod.errors[:3]}")
        want = set(prod.acked)
        m.wait(lambda s: want <= {r[3] for r in s.records}, 120, "every acknowledged message consumed")
        extra = {r[3] for r in m.records} - want
        check(not extra, f"{len(extra)} consumed messages were never acknowledged")
        m.close()
        check(m.exit_code == 0, f"{client_name} member exited {m.exit_code}: {m.failure()}")
    finally:
        m.cleanup()
        prod.stop_flag.set()
    wm = get_client("confluent-kafka").watermarks(ctx, topic)
    got = committed(ctx.bootstrap, group, topic, [0, 1, 2])
    check(got == {p: hi for p, (_, hi) in wm.items()}, f"committed offsets {got} != high watermarks {wm}")
    cl.restart(victim)
    _wait_isr(cl, topic, 3, lambda isr, pm: victim in isr, 90, f"restarted node {victim} back in the ISRs")
    reread = len(m.records) - len({r[3] for r in m.records})
    return _finish(cl, f"{client_name}: coordinator {victim} SIGKILLed; commits succeeded again after {again:.1f}s; "
                       f"{len(want)} messages consumed ({reread} re-read), commits at the high watermarks")


def _stored_bytes(cl, node, topic, partition):
    """Bytes of record data node ``node`` still stores for the partition (its log
    segments; a directory gone, or moved aside for deletion, holds none)."""
    d = os.path.join(cl.node(node).data_dir, f"{topic}-{partition}")
    if not os.path.isdir(d):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


def _wait_partitions(cl, topic, want, what, timeout=60):
    """Until ``want(partition, pm)`` holds for every partition of ``topic``."""
    md = wait_until(lambda: (lambda m: m if m.topics.get(topic) and all(want(p, pm) for p, pm in m.topics[topic].items())
                             else None)(cl.metadata(topic)), timeout, f"{topic}: {what}")
    log(f"{what}: {md.describe(topic)}")


def reassignment(ctx, client_name):
    """Partition reassignment through the client's Admin (KIP-455): an RF=1 topic of 3
    partitions holding 3,000 messages; each partition is moved to the two nodes that do
    not hold it (RF 1 -> 2). Refusals first, with Kafka's error codes: an unknown broker,
    a cancel with nothing in progress. Once no reassignment is listed, every partition's
    replicas and ISR are its target, the node it left stores none of it, and the
    messages read back exactly. Then a reassignment that cannot complete (the added node
    is down) is listed as ongoing with that node adding, and cancelling it puts the
    replicas back; the down node, unregistered, can no longer be reassigned to until it
    restarts and registers again, and then it is."""
    client = get_client(client_name)
    cl = ctx.private_cluster()
    topic = ctx.topic(f"{client_name}.cluster.reassign")
    cl.create_topic(topic, 3, 1)
    before = {p: pm.replicas[0] for p, pm in cl.metadata(topic).topics[topic].items()}
    msgs = make_messages(f"{client_name}-reassign", 3000, 30)
    acked = client.produce(ctx, topic, msgs, idempotent=True)
    req = {"bootstrap": ctx.bootstrap, "topic": topic, "partitions": 3}

    def reassign(targets):
        return client.run("reassign", {**req, "targets": targets}, timeout=90)["results"]

    def ongoing():
        return client.run("list-reassignments", req, timeout=60)["ongoing"]

    refused = reassign({"0": [before[0], 99], "1": None})
    check(refused == {"0": "INVALID_REPLICA_ASSIGNMENT", "1": "NO_REASSIGNMENT_IN_PROGRESS"},
          f"an unknown broker and a cancel with nothing in progress: {refused}")
    targets = {p: [n for n in cl.ids() if n != b] for p, b in before.items()}
    moved = reassign({str(p): t for p, t in targets.items()})
    check(set(moved.values()) == {"NONE"}, f"reassignments refused: {moved}")
    wait_until(lambda: not ongoing(), 120, "no reassignment listed any more")
    _wait_partitions(cl, topic, lambda p, pm: pm.replicas == targets[p] and sorted(pm.isr) == sorted(targets[p]),
                     "every partition on its target replicas, all in sync")
    wait_until(lambda: all(_stored_bytes(cl, b, topic, p) == 0 for p, b in before.items()), 60,
               "the nodes reassigned away from store none of their old partitions")
    records = client.read_all(ctx, topic)
    verify_records(records, msgs, partitions=3, contiguous_from={p: 0 for p in range(3)}, delivered=acked,
                   partition_send_order=True)
    # a reassignment back to a node that cannot catch up (killed, fenced, still
    # registered) stays in progress until cancelled
    controller = cl.active_controller()
    p, z = next(((p, b) for p, b in before.items() if b != controller), (None, None))
    cancelled = "no node other than the active controller to stop"
    if p is not None:
        cl.kill(z)
        wait_until(lambda: z not in cl.broker_ids(), 60, f"the killed node {z} fenced")
        grow = reassign({str(p): targets[p] + [z]})
        check(grow == {str(p): "NONE"}, f"adding the fenced node {z} back to partition {p}: {grow}")
        now = ongoing().get(str(p))
        check(now is not None and now["adding"] == [z] and not now["removing"]
              and sorted(now["replicas"]) == sorted(targets[p] + [z]),
              f"listed reassignment of partition {p} while node {z} is down: {now}")
        undo = reassign({str(p): None})
        check(undo == {str(p): "NONE"}, f"cancelling: {undo}")
        wait_until(lambda: not ongoing(), 60, "the cancelled reassignment no longer listed")
        _wait_partitions(cl, topic, lambda q, pm: pm.replicas == targets[q], "the cancelled partition back on its replicas")
        # the node, unregistered while down, is no broker to reassign to until it registers again
        gone = client.run("unregister-broker", {"bootstrap": ctx.bootstrap, "broker": z}, timeout=60)["result"]
        check(gone == "NONE", f"UnregisterBroker {z}: {gone}")
        unknown = reassign({str(p): targets[p] + [z]})
        check(unknown == {str(p): "INVALID_REPLICA_ASSIGNMENT"}, f"reassigning to the unregistered node {z}: {unknown}")
        cl.restart(z)
        again = reassign({str(p): targets[p] + [z]})
        check(again == {str(p): "NONE"}, f"adding node {z}, registered again, to partition {p}: {again}")
        wait_until(lambda: not ongoing(), 120, f"node {z} added to partition {p}")
        _wait_partitions(cl, topic, lambda q, pm: q != p or sorted(pm.isr) == sorted(targets[p] + [z]),
                         f"partition {p} on 3 replicas, all in sync")
        cancelled = (f"p{p} + node {z} (down) listed as adding, then cancelled; node {z} unregistered (refused as a "
                     f"target), restarted and added")
    return _finish(cl, f"{client_name}: 3 partitions moved RF 1 -> 2 off {sorted(set(before.values()))}; "
                       f"{len(acked)} messages read back exactly; {cancelled}")
