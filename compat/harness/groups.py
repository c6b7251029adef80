"""Consumer-group members in processes of their own, and group admin helpers.

A member is one consumer process of a group:

* ``PyMember``: confluent-kafka or kafka-python, harness/group_worker.py;
* ``KcatMember``: ``kcat -G`` (its rebalance lines on stderr give its own view
  of the assignment, its records come from ``-f`` on stdout);
* ``JsMember``: kafkajs, ``node js/driver.js group-worker``.

All of them produce the same events (see group_worker.py) which a reader
thread collects; the scenario waits on conditions over them with deadlines.
Records are (topic, partition, offset, value) with value a str.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

from .common import CheckFailed, check, log, note_logged_errors, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "group_worker.py")
JS_DIR = os.path.join(os.path.dirname(HERE), "js")

SESSION_MS = 6000
HEARTBEAT_MS = 500
# broker settings that make group scenarios quick (a managed shared broker
# gets them from run.py, private brokers from here)
BROKER_GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "500",
                          "group.min.session.timeout.ms": "1000"}


_log_lock = threading.Lock()


def glog(msg):
    """log() from several reader threads without interleaving lines."""
    with _log_lock:
        log(msg)


def _preexec():
    os.setpgrp()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG
    except OSError:
        pass


def group_name(base):
    return f"compat.{base}-{uuid.uuid4().hex[:10]}"


class Member:
    """One consumer process of a group. Subclasses start the process and turn
    its output into events."""

    kind = "?"

    def __init__(self, name, bootstrap, group, topics, **cfg):
        self.name = name
        self.bootstrap = bootstrap
        self.group = group
        self.topics = list(topics)
        self.cfg = cfg
        self.client_id = cfg.get("client_id") or f"compat-{name}"
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self.assignment: set[tuple[str, int]] = set()
        self.records: list[tuple[str, int, int, str]] = []
        self.member_id = None
        self.generation = None
        self.exit_code = None
        self.stderr_tail: list[str] = []
        self.killed = False
        # the client's column in the table ("kafkajs#2" is a kafkajs member)
        self.column = name.split("#")[0]

    # -- events ----------------------------------------------------------
    def _add(self, ev):
        ev.setdefault("t", time.time())
        with self.cond:
            kind = ev["ev"]
            if kind == "assign":
                if ev.get("assignment") is not None:
                    self.assignment = {tuple(x) for x in ev["assignment"]}
                elif ev.get("incremental"):
                    self.assignment |= {tuple(x) for x in ev["parts"]}
                else:
                    self.assignment = {tuple(x) for x in ev["parts"]}
            elif kind in ("revoke", "lost"):
                if ev.get("assignment") is not None and kind == "revoke":
                    self.assignment = {tuple(x) for x in ev["assignment"]}
                elif ev.get("incremental") or kind == "lost":
                    self.assignment -= {tuple(x) for x in ev["parts"]}
                else:
                    self.assignment = set()
            elif kind == "recs":
                self.records.extend(tuple(r) for r in ev["recs"])
            if ev.get("member_id"):
                self.member_id = ev["member_id"]
            if ev.get("generation") is not None:
                self.generation = ev["generation"]
            if kind in ("error", "fatal", "commit_failed"):
                glog(f"{self.name}: {kind}: {ev.get('error')}")
                note_logged_errors(self.column, str(ev.get("error")))
            elif kind not in ("recs", "commit", "committed_event"):
                glog(f"{self.name}: {kind} {json.dumps({k: v for k, v in ev.items() if k not in ('ev', 'tb')})[:400]}")
            if kind == "fatal" and ev.get("tb"):
                glog(f"{self.name} traceback:\n{ev['tb']}")
            self.events.append(ev)
            self.cond.notify_all()

    def _reader(self, stream, parse):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line:
                continue
            try:
                parse(line)
            except Exception as e:  # noqa: BLE001
                glog(f"{self.name}: cannot handle output line {line[:200]!r}: {e!r}")

    def _stderr_reader(self, stream):
        def keep(line):
            self.stderr_tail.append(line)
            del self.stderr_tail[:-40]
            note_logged_errors(self.column, line)
            if not line.startswith("% Reached end"):
                glog(f"{self.name} stderr: {line[:300]}")
        self._reader(stream, keep)

    def _waiter(self):
        rc = self.proc.wait()
        # Whoever waits for the exit reads the records next: take in all the
        # output the process wrote first.
        for t in self._readers:
            t.join(10)
        with self.cond:
            self.exit_code = rc
            self.events.append({"ev": "exit", "rc": rc, "t": time.time()})
            self.cond.notify_all()
        glog(f"{self.name}: process exited {rc}")

    def _spawn(self, argv, *, stdin=True, cwd=None, env=None, stdout_parse=None, stderr_parse=None):
        glog(f"{self.name}: $ {' '.join(a if len(a) < 120 else a[:117] + '...' for a in argv)}")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                                     preexec_fn=_preexec)
        out = threading.Thread(target=self._reader, args=(self.proc.stdout, stdout_parse), daemon=True)
        if stderr_parse is None:
            err = threading.Thread(target=self._stderr_reader, args=(self.proc.stderr,), daemon=True)
        else:
            err = threading.Thread(target=self._reader, args=(self.proc.stderr, stderr_parse), daemon=True)
        self._readers = [out, err]
        for t in self._readers:
            t.start()
        threading.Thread(target=self._waiter, daemon=True).start()

    def wait(self, pred, timeout, what):
        """Wait until pred(self) is true (evaluated under the lock)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self)
                if v:
                    return v
                if any(e["ev"] == "fatal" for e in self.events):
                    f = next(e for e in self.events if e["ev"] == "fatal")
                    raise CheckFailed(f"{self.name} failed while waiting for {what}: {f.get('error')}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckFailed(f"{self.name}: timed out after {timeout}s waiting for {what}; "
                                      f"assignment {sorted(self.assignment)}, {len(self.records)} records, "
                                      f"last events {self.brief_events(8)}")
                self.cond.wait(min(left, 0.5))

    def brief_events(self, n=10):
        out = []
        for e in self.events[-n:]:
            d = {k: v for k, v in e.items() if k not in ("t", "tb", "recs")}
            if e["ev"] == "recs":
                d["n"] = len(e["recs"])
            out.append(d)
        return out

    def events_of(self, *kinds, since=0.0):
        with self.cond:
            return [e for e in self.events if e["ev"] in kinds and e["t"] >= since]

    def n_events(self):
        with self.cond:
            return len(self.events)

    def snapshot(self):
        with self.cond:
            return set(self.assignment), list(self.records), len(self.events)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def failure(self):
        """A fatal error or an unexpected exit, else None."""
        with self.cond:
            for e in self.events:
                if e["ev"] == "fatal":
                    return f"{self.name}: {e.get('error')}"
            if self.exit_code not in (None, 0) and not self.killed:
                return f"{self.name}: process exited {self.exit_code}; stderr tail: {self.stderr_tail[-5:]}"
        return None

    # -- control -----------------------------------------------------------
    def kill(self):
        """SIGKILL (a crash: nothing is committed, the group is not left)."""
        self.killed = True
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        glog(f"{self.name}: SIGKILLed")

    def close(self, timeout=60):
        """Graceful close; fails if the member does not exit cleanly."""
        if not self.alive():
            return
        self._request_close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CheckFailed(f"{self.name} did not close within {timeout}s; last events {self.brief_events()}"
                              ) from None
        self.wait(lambda m: m.exit_code is not None, 10, "exit status")
        check(self.exit_code == 0, f"{self.name} exited {self.exit_code} on close; stderr tail: "
                                   f"{self.stderr_tail[-8:]}; last events {self.brief_events()}")

    def cleanup(self):
        if self.alive():
            self.killed = True
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    def _send(self, line):
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass


class PyMember(Member):
    """confluent-kafka or kafka-python, via group_worker.py."""

    def __init__(self, kind, name, bootstrap, group, topics, **cfg):
        super().__init__(name, bootstrap, group, topics, **cfg)
        self.kind = kind

    def start(self):
        cfg = {"client": self.kind, "bootstrap": self.bootstrap, "group": self.group, "topics": self.topics,
               "client_id": self.client_id, "session_timeout_ms": SESSION_MS, "heartbeat_ms": HEARTBEAT_MS}
        cfg.update({k: v for k, v in self.cfg.items() if k != "client_id"})
        self._spawn([sys.executable, WORKER, json.dumps(cfg)],
                    stdout_parse=lambda line: self._add(json.loads(line)))
        return self

    def _request_close(self):
        self._send("close")

    def request_ids(self):
        self._send("ids")


_KCAT_REBALANCE = re.compile(r"^% Group (\S+) rebalanced \(memberid ([^)]*)\): (assigned|revoked): ?(.*)$")
_KCAT_TP = re.compile(r"(\S+) \[(\d+)\]")


class KcatMember(Member):
    """``kcat -G group topic``: records on stdout (-f), rebalances on stderr.

    kcat commits with librdkafka's auto-commit (every ``auto.commit.interval.ms``,
    and when it closes on SIGINT); ``count`` = ``-c N`` (exit after N records)."""

    kind = "kcat"

    def start(self):
        argv = ["kcat", "-b", self.bootstrap, "-X", "broker.address.family=v4", "-G", self.group, *self.topics,
                "-u", "-f", r"%t\t%p\t%o\t%s\n",
                "-X", f"client.id={self.client_id}",
                "-X", f"session.timeout.ms={SESSION_MS}", "-X", f"heartbeat.interval.ms={HEARTBEAT_MS}",
                "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=200",
                "-X", "fetch.wait.max.ms=100", "-X", "topic.metadata.refresh.interval.ms=2000"]
        for k, v in (self.cfg.get("x") or {}).items():
            argv += ["-X", f"{k}={v}"]
        if self.cfg.get("count"):
            argv += ["-c", str(self.cfg["count"])]
        self._spawn(argv, stdin=False, stdout_parse=self._parse_out, stderr_parse=self._parse_err)
        return self

    def _parse_out(self, line):
        f = line.split("\t")
        if len(f) != 4:
            self._add({"ev": "error", "error": f"unparseable kcat output line {line[:200]!r}"})
            return
        self._add({"ev": "recs", "recs": [[f[0], int(f[1]), int(f[2]), f[3]]]})

    def _parse_err(self, line):
        self.stderr_tail.append(line)
        del self.stderr_tail[:-40]
        m = _KCAT_REBALANCE.match(line)
        if m:
            parts = sorted([t, int(p)] for t, p in _KCAT_TP.findall(m.group(4)))
            self._add({"ev": "assign" if m.group(3) == "assigned" else "revoke", "parts": parts,
                       "incremental": False, "member_id": m.group(2), "line": line})
        elif line.startswith("% ERROR") or line.startswith("%3|") or line.startswith("%4|"):
            self._add({"ev": "error", "error": line})
        elif not line.startswith("% Reached end"):
            glog(f"{self.name} stderr: {line[:300]}")

    def _request_close(self):
        # kcat stops its loop on SIGINT/SIGTERM, closes the consumer (final
        # commit of the stored offsets, LeaveGroup) and exits 0
        self.proc.send_signal(signal.SIGTERM)


class JsMember(Member):
    """kafkajs group consumer (driver.js group-worker)."""

    kind = "kafkajs"

    def start(self):
        req = {"bootstrap": self.bootstrap, "groupId": self.group, "topics": self.topics,
               "clientId": self.client_id, "sessionTimeout": SESSION_MS, "heartbeatInterval": HEARTBEAT_MS}
        req.update({k: v for k, v in self.cfg.items() if k != "client_id"})
        self._spawn(["node", os.path.join(JS_DIR, "driver.js"), "group-worker"], cwd=JS_DIR,
                    env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"),
                    stdout_parse=lambda line: self._add(json.loads(line)))
        self._send(json.dumps(req))
        return self

    def _request_close(self):
        self._send("close")


class DriverMember(Member):
    """A group consumer of a driver client: the Java client (riffle.compat.GroupWorker)
    or franz-go / sarama (compat/go worker.go), with group_worker.py's
    configuration, commands and events."""

    def __init__(self, kind, name, bootstrap, group, topics, **cfg):
        super().__init__(name, bootstrap, group, topics, **cfg)
        self.kind = kind

    def start(self):
        from .clients import get_client
        cfg = {"bootstrap": self.bootstrap, "group": self.group, "topics": self.topics,
               "client_id": self.client_id, "session_timeout_ms": SESSION_MS, "heartbeat_ms": HEARTBEAT_MS}
        cfg.update({k: v for k, v in self.cfg.items() if k != "client_id"})
        self._spawn(get_client(self.kind).argv("group-worker"), stdout_parse=lambda line: self._add(json.loads(line)))
        self._send(json.dumps(cfg))
        return self

    def _request_close(self):
        self._send("close")

    def request_ids(self):
        self._send("ids")


def make_member(kind, name, bootstrap, group, topics, **cfg) -> Member:
    if kind == "kcat":
        return KcatMember(name, bootstrap, group, topics, **cfg)
    if kind == "kafkajs":
        return JsMember(name, bootstrap, group, topics, **cfg)
    if kind.startswith("java") or kind in ("franz-go", "sarama"):
        return DriverMember(kind, name, bootstrap, group, topics, **cfg)
    return PyMember(kind, name, bootstrap, group, topics, **cfg)


class Members:
    """The members a scenario started; all are SIGKILLed at the end."""

    def __init__(self):
        self.all: list[Member] = []

    def add(self, m: Member) -> Member:
        self.all.append(m)
        return m.start()

    def cleanup(self):
        for m in self.all:
            m.cleanup()

    def check_healthy(self, members=None):
        for m in members or self.all:
            f = m.failure()
            if f:
                raise CheckFailed(f"group member failed: {f}")


# ---------------------------------------------------------------------------
# producing and the confluent AdminClient view of groups


def produce_values(ctx, topic, n, tag, *, start=0, nkeys=97):
    """n keyed messages, value "<tag>|<i>"; returns {value: (partition, offset)}."""
    from .clients import get_client
    from .common import Msg
    msgs = [Msg(key=f"k{i % nkeys:03d}".encode(), value=f"{tag}|{i:07d}".encode(), headers=[])
            for i in range(start, start + n)]
    delivered = get_client("confluent-kafka").produce(ctx, topic, msgs)
    return {v.decode(): po for v, po in delivered.items()}


class PacedProducer(threading.Thread):
    """Produces n messages in steps of ``step`` every ``interval`` s (a
    continuous stream for failover scenarios); acks in self.acked."""

    def __init__(self, bootstrap, topic, n, tag, step=50, interval=0.1):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.n, self.tag, self.step, self.interval = \
            bootstrap, topic, n, tag, step, interval
        self.acked: dict[str, tuple[int, int]] = {}
        self.errors: list[str] = []
        self.produced = 0
        self.done = threading.Event()
        self.stop_flag = threading.Event()

    def run(self):
        import confluent_kafka as ck
        p = ck.Producer({"bootstrap.servers": self.bootstrap, "broker.address.family": "v4", "acks": "all",
                         "linger.ms": 5, "message.timeout.ms": 60000})

        def cb(err, m):
            if err is None:
                self.acked[m.value().decode()] = (m.partition(), m.offset())
            else:
                self.errors.append(str(err))
        try:
            i = 0
            while i < self.n and not self.stop_flag.is_set():
                for _ in range(min(self.step, self.n - i)):
                    p.produce(self.topic, key=f"k{i % 97:03d}".encode(), value=f"{self.tag}|{i:07d}".encode(),
                              on_delivery=cb)
                    i += 1
                self.produced = i
                p.poll(0)
                time.sleep(self.interval)
            left = p.flush(60)
            if left:
                self.errors.append(f"{left} messages unacknowledged after flush")
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.done.set()


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "socket.timeout.ms": 30000})


def describe(bootstrap, group, a=None):
    """confluent AdminClient.describe_consumer_groups -> dict."""
    a = a or admin(bootstrap)
    d = a.describe_consumer_groups([group], request_timeout=20)[group].result(timeout=30)
    members = []
    for m in d.members:
        parts = set()
        if m.assignment is not None:
            parts = {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
        members.append({"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                        "instance_id": m.group_instance_id, "assignment": parts})
    state = getattr(d.state, "name", str(d.state))
    return {"state": state, "members": members, "assignor": d.partition_assignor,
            "simple": d.is_simple_consumer_group}


def coordinator_ready(a, group, timeout=60):
    """Until the group's coordinator answers DescribeGroups. confluent-kafka 2.16's
    list_consumer_group_offsets crashes the process (SIGSEGV) when the coordinator
    answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS, as Kafka does while
    it creates __consumer_offsets or loads a group after a restart; DescribeGroups
    reports those as errors."""
    import confluent_kafka as ck

    def ready():
        try:
            a.describe_consumer_groups([group], request_timeout=10)[group].result(15)
            return True
        except ck.KafkaException as e:
            if e.args[0].code() in (ck.KafkaError.NOT_COORDINATOR, ck.KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                    ck.KafkaError.COORDINATOR_NOT_AVAILABLE, ck.KafkaError._TIMED_OUT,
                                    ck.KafkaError._TRANSPORT):
                return False
            return True  # any other answer: the coordinator is there
    wait_until(ready, timeout, f"the coordinator of group {group} to answer")


def committed(bootstrap, group, topic, partitions, a=None) -> dict[int, int]:
    """OffsetFetch through the AdminClient: {partition: offset} (-1: none)."""
    import confluent_kafka as ck
    from confluent_kafka import ConsumerGroupTopicPartitions
    a = a or admin(bootstrap)
    coordinator_ready(a, group)
    req = ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, p) for p in partitions])
    res = a.list_consumer_group_offsets([req], request_timeout=20)[group].result(timeout=30)
    out = {}
    for tp in res.topic_partitions:
        check(tp.error is None, f"list_consumer_group_offsets({group}) p{tp.partition}: {tp.error}")
        out[tp.partition] = tp.offset if tp.offset >= 0 else -1
    return out


def high_watermarks(ctx, topic) -> dict[int, int]:
    from .clients import get_client
    return {p: hi for p, (_, hi) in get_client("confluent-kafka").watermarks(ctx, topic).items()}


def wait_stable(bootstrap, group, members: list[Member], sizes: dict[str, int] | list[int], all_parts,
                timeout=60, what="the group to settle"):
    """Until every member's own view of its assignment has the expected size,
    the views are disjoint and cover ``all_parts``, and DescribeGroups says
    Stable with exactly these members and the same assignments."""
    a = admin(bootstrap)
    want_sizes = sizes if isinstance(sizes, dict) else {m.name: s for m, s in zip(members, sizes)}
    state = {}

    def ok():
        for m in members:
            f = m.failure()
            if f:
                raise CheckFailed(f"group member failed while waiting for {what}: {f}")
        views = {m.name: m.snapshot()[0] for m in members}
        state["views"] = views
        if any(len(views[n]) != s for n, s in want_sizes.items()):
            return False
        union = set().union(*views.values())
        if union != set(all_parts) or sum(len(v) for v in views.values()) != len(union):
            return False
        d = describe(bootstrap, group, a)
        state["describe"] = d
        if d["state"] != "STABLE" or len(d["members"]) != len(members):
            return False
        desc_sets = sorted(sorted(x["assignment"]) for x in d["members"])
        return desc_sets == sorted(sorted(v) for v in views.values())

    try:
        wait_until(ok, timeout, what, interval=0.3)
    except CheckFailed as e:
        views = {n: sorted(v) for n, v in state.get("views", {}).items()}
        d = state.get("describe")
        if d:
            d = dict(d, members=[dict(x, assignment=sorted(x["assignment"])) for x in d["members"]])
        raise CheckFailed(f"{e}\n  members' own assignments: {views}\n  DescribeGroups: {d}\n  "
                          f"expected sizes {want_sizes} covering {len(all_parts)} partitions") from None
    return state["describe"]


def wait_committed(bootstrap, group, topic, target: dict[int, int], timeout=60, members=()):
    a = admin(bootstrap)
    last = {}

    def ok():
        for m in members:
            f = m.failure()
            if f:
                raise CheckFailed(f"group member failed while waiting for commits: {f}")
        last["c"] = committed(bootstrap, group, topic, sorted(target), a)
        return last["c"] == target

    try:
        wait_until(ok, timeout, f"group {group} to commit {target}")
    except CheckFailed as e:
        raise CheckFailed(f"{e}; committed offsets last seen: {last.get('c')}") from None


def wait_read(members: list[Member], expected: set, timeout=60, what="every message to be read", extra=None):
    """Until the union of the members' (topic, partition, offset) covers expected."""
    state = {}

    def ok():
        for m in members:
            f = m.failure()
            if f and not m.killed:
                raise CheckFailed(f"group member failed while waiting for {what}: {f}")
        got = set()
        for m in members:
            got.update((t, p, o) for t, p, o, _ in m.snapshot()[1])
        state["missing"] = expected - got
        return not state["missing"] and (extra is None or extra())

    try:
        wait_until(ok, timeout, what, interval=0.2)
    except CheckFailed as e:
        miss = sorted(state.get("missing", ()))
        per = {m.name: (sorted(m.assignment), len(m.records)) for m in members}
        raise CheckFailed(f"{e}: {len(miss)} of {len(expected)} still unread (first {miss[:5]}); "
                          f"members (assignment, records read): {per}") from None


def expected_positions(acked: dict[str, tuple[int, int]], topic) -> dict[tuple[str, int, int], str]:
    return {(topic, p, o): v for v, (p, o) in acked.items()}


def check_values(members, expected: dict[tuple[str, int, int], str]):
    """Every record read is one that was produced at that position."""
    for m in members:
        for t, p, o, v in m.records:
            ev = expected.get((t, p, o))
            check(ev is not None and ev == v,
                  f"{m.name} read {v!r} at {t}[{p}]@{o}, but the producer's acknowledgement put "
                  f"{ev!r} there")


def duplicates(members):
    """{(t, p, o): [member names]} for positions read more than once."""
    seen: dict[tuple[str, int, int], list[str]] = {}
    for m in members:
        for t, p, o, _ in m.records:
            seen.setdefault((t, p, o), []).append(m.name)
    return {k: v for k, v in seen.items() if len(v) > 1}


# ---------------------------------------------------------------------------
# raw group requests (kafka-python's protocol classes), for what no client API
# sends on purpose: requests from a member the group has already fenced


def raw_fenced_requests(bootstrap, group, member_id, generation, topic, partition, offset):
    """OffsetCommit and Heartbeat as (member_id, generation) would send them.

    Returns {"OffsetCommit": error name, "Heartbeat": error name}."""
    import kafka.errors as Errors
    from kafka import KafkaAdminClient
    from kafka.protocol.consumer import HeartbeatRequest, OffsetCommitRequest

    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000, client_id="compat-raw")
    try:
        _T = OffsetCommitRequest.OffsetCommitRequestTopic
        _P = _T.OffsetCommitRequestPartition

        async def go():
            node = await a._find_coordinator_id(group)  # noqa: SLF001
            commit = OffsetCommitRequest(
                group_id=group, generation_id_or_member_epoch=generation, member_id=member_id,
                group_instance_id=None, retention_time_ms=-1,
                topics=[_T(name=topic, partitions=[_P(partition_index=partition, committed_offset=offset,
                                                      committed_leader_epoch=-1, committed_metadata="zombie")])],
                max_version=8)
            r = await a._manager.send(commit, node_id=node)  # noqa: SLF001
            c_err = r.topics[0].partitions[0].error_code
            hb = HeartbeatRequest(group_id=group, generation_id=generation, member_id=member_id,
                                  group_instance_id=None)
            r = await a._manager.send(hb, node_id=node)  # noqa: SLF001
            return {"OffsetCommit": Errors.for_code(c_err).__name__,
                    "Heartbeat": Errors.for_code(r.error_code).__name__}
        return a._manager.run(go)  # noqa: SLF001
    finally:
        a.close()


def check_resumed(ctx, group, topic, partitions, members, prod, acked_commits, what="the restart"):
    """After a broker restart (or stop): every OffsetCommit acknowledged before it is
    still there, the producer finished, every acknowledged record is read and the group
    commits up to the high watermarks, and nothing below an offset committed before is
    read again."""
    c_after = wait_until(lambda: committed(ctx.bootstrap, group, topic, partitions), 60,
                         f"OffsetFetch after {what}")
    for p, o in acked_commits.items():
        check(c_after[p] >= o, f"partition {p}: an OffsetCommit of offset {o} was acknowledged before {what}, "
                               f"after it the committed offset is {c_after[p]}")
    prod.join(180)
    check(prod.done.is_set() and not prod.errors, f"producer: done={prod.done.is_set()} errors={prod.errors[:3]}")
    expected = expected_positions(prod.acked, topic)
    wait_read(members, set(expected), timeout=120, what=f"every record to be read after {what}")
    hw = high_watermarks(ctx, topic)
    wait_committed(ctx.bootstrap, group, topic, hw, timeout=60, members=members)
    check_values(members, expected)
    dups = duplicates(members)
    bad = {k: w for k, w in dups.items() if k[2] < acked_commits.get(k[1], -1)}
    check(not bad, f"{len(bad)} records read again below the offsets committed (and acknowledged) before "
                   f"{what} {acked_commits}, e.g. {sorted(bad.items())[:5]}")
