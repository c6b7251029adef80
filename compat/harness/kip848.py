"""The consumer group protocol (KIP-848) for the scenarios of scenarios/consumer_groups.py:
raw ConsumerGroupHeartbeat / ConsumerGroupDescribe requests (kafka-python's request
machinery with Kafka's own schemas, read from the kafka-clients jar), the group's view through the
confluent-kafka AdminClient (ConsumerGroupDescribe: type, members, target assignments)
and the Java Admin (GroupAdmin.java: member epochs, ListGroups by type), per-partition
ownership intervals from the members' assign / revoke events, and waits.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import sys
import tempfile
import time
import uuid
import zipfile

from kafka.protocol.api_message import ApiMessage

from .common import CheckFailed, check, wait_until
from .groups import BROKER_GROUP_OVERRIDES, Member

_SCHEMAS = ("ConsumerGroupHeartbeatRequest", "ConsumerGroupHeartbeatResponse",
            "ConsumerGroupDescribeRequest", "ConsumerGroupDescribeResponse")


def _kafka_schemas():
    """Kafka's message schemas (common/message/*.json) for the requests kafka-python 3.0
    has no classes for: ConsumerGroupHeartbeat (API key 68) and ConsumerGroupDescribe
    (69). They are read from the kafka-clients jar the Java driver's build fetched
    (compat/install.sh) into a package of their own, which kafka-python's ``load_json``
    reads."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    jars = sorted(glob.glob(os.path.join(here, "java", "target", "kafka-4.*", "lib", "kafka-clients-4.*.jar")))
    if not jars:
        raise RuntimeError("no kafka-clients 4.x jar under compat/java/target: run compat/install.sh")
    jar = jars[-1]
    root = os.path.join(tempfile.gettempdir(), "riffle-compat-schemas-" + os.path.basename(jar)[:-4])
    package = os.path.join(root, "riffle_kafka_schemas")
    if not os.path.isdir(package):
        # Written aside and renamed into place: scenarios running at once may race here.
        os.makedirs(root, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=root)
        with zipfile.ZipFile(jar) as z:
            for name in _SCHEMAS:
                with open(os.path.join(scratch, name + ".json"), "wb") as f:
                    f.write(z.read(f"common/message/{name}.json"))
        with open(os.path.join(scratch, "__init__.py"), "w") as f:
            f.write("")
        try:
            os.rename(scratch, package)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("riffle_kafka_schemas")


kafka_schemas = _kafka_schemas()


class ConsumerGroupHeartbeatRequest(ApiMessage, load_json=kafka_schemas):
    pass


class ConsumerGroupHeartbeatResponse(ApiMessage, load_json=kafka_schemas):
    pass


class ConsumerGroupDescribeRequest(ApiMessage, load_json=kafka_schemas):
    pass


class ConsumerGroupDescribeResponse(ApiMessage, load_json=kafka_schemas):
    pass


# Broker settings for quick consumer-protocol groups (private brokers): heartbeats every
# 500 ms (Kafka's default and minimum: 5 s), sessions of 6 s (45 s), like the classic
# groups' members of the suite (harness/groups.py SESSION_MS, HEARTBEAT_MS).
CONSUMER_GROUP_OVERRIDES = {
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.session.timeout.ms": "1000",
}
QUICK_GROUP_BROKER = dict(BROKER_GROUP_OVERRIDES, **CONSUMER_GROUP_OVERRIDES)

# Kafka's names of error codes kafka-python 3.0 does not know (or names otherwise)
_NAMES = {0: "NONE", -1: "UNKNOWN_SERVER_ERROR", 128: "INVALID_REGULAR_EXPRESSION"}
# what a coordinator answers while __consumer_offsets is created or loaded
NOT_READY = ("COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "NOT_COORDINATOR")


def ename(code: int) -> str:
    """Kafka's name of an error code."""
    if code in _NAMES:
        return _NAMES[code]
    import kafka.errors as Errors
    cls = Errors.for_code(code)
    return cls.message if getattr(cls, "errno", None) == code else f"error code {code}"


class Raw:
    """A kafka-python admin client's connections, for hand-made group requests sent to
    the group's coordinator (FindCoordinator asked again while it is not ready)."""

    def __init__(self, bootstrap, client_id=None):
        from kafka import KafkaAdminClient
        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000,
                                  client_id=client_id or f"compat-raw848-{uuid.uuid4().hex[:4]}")
        self.coords: dict[str, int] = {}

    def coordinator(self, group, timeout=60):
        if group not in self.coords:
            # answers like COORDINATOR_NOT_AVAILABLE raise: wait_until asks again
            self.coords[group] = wait_until(
                lambda: (self.a._manager.run(self.a._find_coordinator_id, group),),  # noqa: SLF001
                timeout, f"the coordinator of group {group!r}", interval=0.3)[0]
        return self.coords[group]

    def send(self, req, group):
        """req to the coordinator of ``group``."""
        node = self.coordinator(group)

        async def go():
            return await self.a._manager.send(req, node_id=node)  # noqa: SLF001
        return self.a._manager.run(go)  # noqa: SLF001

    def heartbeat(self, group, member_id, epoch, *, version=1, topics=None, regex=None, assignor=None,
                  owned=None, rebalance_timeout_ms=-1, instance_id=None, coordinator_of=None):
        """One ConsumerGroupHeartbeat (to the coordinator of ``coordinator_of``, by default of
        ``group``); ``owned`` is TopicPartitions ([(topic id, [p...])] or None: unchanged).
        Asked again while the coordinator is not ready."""
        T = ConsumerGroupHeartbeatRequest.TopicPartitions
        kw = {} if version == 0 else {"subscribed_topic_regex": regex}
        req = ConsumerGroupHeartbeatRequest(
            group_id=group, member_id=member_id, member_epoch=epoch, instance_id=instance_id, rack_id=None,
            rebalance_timeout_ms=rebalance_timeout_ms, subscribed_topic_names=topics, server_assignor=assignor,
            topic_partitions=None if owned is None else [T(topic_id=t, partitions=list(ps)) for t, ps in owned],
            min_version=version, max_version=version, **kw)
        deadline = time.monotonic() + 60
        via = group if coordinator_of is None else coordinator_of
        while True:
            res = self.send(req, via)
            if ename(res.error_code) not in NOT_READY or time.monotonic() > deadline:
                return res
            if ename(res.error_code) == "NOT_COORDINATOR":
                self.coords.pop(via, None)
            time.sleep(0.25)

    def describe(self, groups, version=0):
        """ConsumerGroupDescribe of groups (sent to the first one's coordinator)."""
        res = self.send(ConsumerGroupDescribeRequest(group_ids=list(groups), include_authorized_operations=False,
                                                     min_version=version, max_version=version), groups[0])
        return {g.group_id: g for g in res.groups}

    def close(self):
        self.a.close()


# ---------------------------------------------------------------------------
# the group through admin clients


def describe_ck(bootstrap, group, a=None) -> dict:
    """confluent-kafka's AdminClient.describe_consumer_groups (ConsumerGroupDescribe for a
    consumer group): type, state, assignor and members with their assignment and target
    assignment (sets of (topic, partition))."""
    from .groups import admin
    a = a or admin(bootstrap)
    d = a.describe_consumer_groups([group], request_timeout=20)[group].result(timeout=30)

    def tps(ma):
        return None if ma is None else {(tp.topic, tp.partition) for tp in ma.topic_partitions}
    members = [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                "instance_id": m.group_instance_id, "assignment": tps(m.assignment) or set(),
                "target": tps(m.target_assignment)} for m in d.members]
    return {"type": getattr(d.type, "name", str(d.type)), "state": getattr(d.state, "name", str(d.state)),
            "assignor": d.partition_assignor, "members": members}


def java_describe(ctx, groups) -> dict:
    """Admin.describeConsumerGroups through the Java driver (GroupAdmin.java): {group: {type,
    state, assignor, group_epoch, target_assignment_epoch, members: [...]} or {error}}."""
    from .clients import get_client
    res = get_client("java").run("describe-groups", {"bootstrap": ctx.bootstrap, "groups": list(groups)})
    return res["groups"]


def java_list(ctx, types) -> dict:
    """Admin.listGroups / listConsumerGroups with withTypes(types): {"list_groups": [...],
    "list_consumer_groups": [...]}, each listing {group_id, type, protocol, state}."""
    from .clients import get_client
    return get_client("java").run("list-groups", {"bootstrap": ctx.bootstrap, "types": list(types)})


def wait_stable848(bootstrap, group, members: list[Member], sizes, all_parts, timeout=90,
                   what="the group to settle", assignor=None):
    """Until every member's own view has the expected size (``sizes``: a list matched as a
    multiset, or {name: size}), the views are disjoint and cover ``all_parts``, and
    ConsumerGroupDescribe (confluent AdminClient) says a CONSUMER group, Stable, with
    exactly these members (by member id), each with the assignment it sees itself and a
    target assignment equal to it (reconciled)."""
    from .groups import admin
    a = admin(bootstrap)
    state = {}

    def ok():
        for m in members:
            f = m.failure()
            if f:
                raise CheckFailed(f"group member failed while waiting for {what}: {f}")
        views = {m.name: m.snapshot()[0] for m in members}
        state["views"] = views
        if isinstance(sizes, dict):
            if any(len(views[n]) != s for n, s in sizes.items()):
                return False
        elif sorted(len(v) for v in views.values()) != sorted(sizes):
            return False
        union = set().union(*views.values())
        if union != set(all_parts) or sum(len(v) for v in views.values()) != len(union):
            return False
        if any(not m.member_id for m in members):
            for m in members:
                if not m.member_id and hasattr(m, "request_ids"):
                    m.request_ids()
            return False
        d = describe_ck(bootstrap, group, a)
        state["describe"] = d
        if d["type"] != "CONSUMER" or d["state"] != "STABLE" or len(d["members"]) != len(members):
            return False
        by_id = {x["member_id"]: x for x in d["members"]}
        for m in members:
            x = by_id.get(m.member_id)
            if x is None or x["assignment"] != views[m.name] or x["target"] != x["assignment"]:
                return False
        if assignor is not None and d["assignor"] != assignor:
            return False
        return True

    try:
        wait_until(ok, timeout, what, interval=0.3)
    except CheckFailed as e:
        views = {n: sorted(v) for n, v in state.get("views", {}).items()}
        d = state.get("describe")
        if d:
            d = dict(d, members=[dict(x, assignment=sorted(x["assignment"]),
                                      target=None if x["target"] is None else sorted(x["target"]))
                                 for x in d["members"]])
        raise CheckFailed(f"{e}\n  members' own assignments: {views}\n  member ids: "
                          f"{ {m.name: m.member_id for m in members} }\n  ConsumerGroupDescribe: {d}\n  "
                          f"expected sizes {sizes} covering {len(all_parts)} partitions"
                          + (f", assignor {assignor}" if assignor else "")) from None
    return state["describe"]


# ---------------------------------------------------------------------------
# ownership of partitions over time


def ownership(m: Member, end: float | None = None) -> dict[tuple[str, int], list[list[float]]]:
    """{(topic, partition): [[start, end], ...]}: when the member owned each partition, from
    its assign / revoke / lost events (incremental: an assign adds its parts, a revoke or
    lost removes its parts; an eager revoke or assign replaces everything). An interval
    still open ends at ``end`` (the member's kill or exit) or stays open (inf)."""
    owned: dict[tuple[str, int], float] = {}
    out: dict[tuple[str, int], list[list[float]]] = {}

    def close(tp, t):
        out.setdefault(tp, []).append([owned.pop(tp), t])
    with m.cond:
        events = list(m.events)
    for e in events:
        t = e["t"]
        parts = {tuple(x) for x in e.get("parts") or []}
        if e["ev"] == "assign":
            if not e.get("incremental"):
                for tp in [tp for tp in owned if tp not in parts]:
                    close(tp, t)
            for tp in parts:
                owned.setdefault(tp, t)
        elif e["ev"] in ("revoke", "lost"):
            gone = parts if (e.get("incremental") or e["ev"] == "lost") else set(owned)
            for tp in [tp for tp in owned if tp in gone]:
                close(tp, t)
        elif e["ev"] in ("closed", "exit"):
            for tp in list(owned):
                close(tp, t)
    for tp in list(owned):
        close(tp, end if end is not None else float("inf"))
    return out


# timestamps are milliseconds (Java and Go truncate, Python rounds): two events of different
# processes within this much of each other are not ordered by their timestamps
CLOCK_RESOLUTION = 0.002


def check_exclusive(members: list[Member], ends: dict[str, float] | None = None) -> dict:
    """No partition owned by two different members at any moment: their ownership
    intervals (see ownership()) of one partition never overlap (more than the timestamps'
    resolution). Also every record a member processed was read while it owned the
    partition. Returns {(topic, partition): [(member, start, end), ...]} sorted by start."""
    ends = ends or {}
    per_part: dict[tuple[str, int], list[tuple[str, float, float]]] = {}
    owned_by = {}
    for m in members:
        o = ownership(m, ends.get(m.name))
        owned_by[m.name] = o
        for tp, ivs in o.items():
            per_part.setdefault(tp, []).extend((m.name, s, e) for s, e in ivs)
    for tp, ivs in per_part.items():
        ivs.sort(key=lambda x: x[1])
        for i, (n1, s1, e1) in enumerate(ivs):
            for n2, s2, e2 in ivs[i + 1:]:
                if n1 != n2 and s2 < e1 - CLOCK_RESOLUTION and s1 < e2 - CLOCK_RESOLUTION:
                    raise CheckFailed(f"{tp[0]} [{tp[1]}] owned by {n1} from {s1:.3f} to {e1:.3f} and by {n2} from "
                                      f"{s2:.3f} to {e2:.3f} at the same time; owners in order: "
                                      f"{[(n, round(s, 3), round(e, 3)) for n, s, e in ivs]}")
    for m in members:
        with m.cond:
            batches = [e for e in m.events if e["ev"] == "recs"]
        for e in batches:
            for t, p, o, _ in e["recs"]:
                ivs = owned_by[m.name].get((t, p), [])
                if not any(s - CLOCK_RESOLUTION <= e["t"] <= en + CLOCK_RESOLUTION for s, en in ivs):
                    raise CheckFailed(f"{m.name} processed {t} [{p}] offset {o} at {e['t']:.3f}, when it did not own "
                                      f"the partition (its ownership: {ivs})")
    return per_part


def first_read_after(members: list[Member], tp, since: float):
    """(time, member name, offset) of the first record of partition tp another member
    processed after ``since``, or None."""
    best = None
    for m in members:
        with m.cond:
            events = list(m.events)
        for e in events:
            if e["ev"] != "recs" or e["t"] < since:
                continue
            offs = [o for t, p, o, _ in e["recs"] if (t, p) == tp]
            if offs:
                if best is None or e["t"] < best[0]:
                    best = (e["t"], m.name, offs[0])
                break
    return best


def sizes_note(members) -> str:
    return ", ".join(f"{m.name}: {sorted(p for _, p in m.assignment)}" for m in members)


def check_group_type(d: dict, want: str, what: str):
    check(d["type"] == want, f"{what}: the group's type is {d['type']}, expected {want}")
