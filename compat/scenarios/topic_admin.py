"""Topic administration through the stock admin clients: confluent-kafka's
AdminClient, kafka-python's KafkaAdminClient and kafkajs's admin
(driver.js topic-admin): CreatePartitions, (Incremental)AlterConfigs +
DescribeConfigs, a config change taking effect at once, DeleteRecords and
ListOffsets by timestamp. Runs on the shared broker.

Each client gets a small adapter (Ck/Kp/Js below) that returns errors as
text instead of raising, so that the scenario can check them."""

from __future__ import annotations

import re
import time

from harness.clients import get_client
from harness.common import CheckFailed, Msg, check, log, now_ms, wait_until

DEFAULT_MAX_MESSAGE_BYTES = "1048588"


def _norm(s):
    return re.sub(r"[^a-z]", "", str(s).lower())


def _src_name(s):
    """Config source as a Kafka enum name (clients report names or numbers)."""
    names = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
             4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG"}
    if isinstance(s, int):
        return names.get(s, str(s))
    s = getattr(s, "name", str(s))
    return s.split(".")[-1].upper()


# ---------------------------------------------------------------------------
# adapters: every method returns (result, error text or None)


class Ck:
    name = "confluent-kafka"
    incremental = True

    def __init__(self, ctx):
        self.ctx = ctx
        self.client = get_client("confluent-kafka")
        self.a = self.client.admin(ctx)

    @staticmethod
    def _err(e):
        err = e.args[0] if e.args else e
        if hasattr(err, "name") and callable(err.name):
            return f"{err.name()} {err.str()}"
        return f"{type(e).__name__} {e}"

    def _wait(self, fut):
        try:
            return fut.result(timeout=60), None
        except Exception as e:  # noqa: BLE001
            return None, self._err(e)

    def create_partitions(self, topic, count, validate_only=False):
        from confluent_kafka.admin import NewPartitions
        fs = self.a.create_partitions([NewPartitions(topic, count)], validate_only=validate_only,
                                      request_timeout=30, operation_timeout=30)
        return self._wait(fs[topic])

    def partition_count(self, topic):
        md = self.a.list_topics(topic, timeout=15).topics.get(topic)
        if md is None or md.error is not None:
            return None
        return len([p for p in md.partitions.values() if p.error is None and p.leader >= 0])

    def alter(self, topic, configs, *, validate_only=False, resource="topic", name=None):
        """IncrementalAlterConfigs; configs: {key: value, or None to DELETE}."""
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
        entries = []
        for k, v in configs.items():
            if isinstance(v, tuple):  # ("APPEND" | "SUBTRACT", value)
                entries.append(ConfigEntry(k, v[1], incremental_operation=getattr(AlterConfigOpType, v[0])))
            else:
                entries.append(ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET if v is not None
                                           else AlterConfigOpType.DELETE))
        res = ConfigResource(ResourceType.TOPIC if resource == "topic" else ResourceType.BROKER, name or topic,
                             incremental_configs=entries)
        fs = self.a.incremental_alter_configs([res], validate_only=validate_only, request_timeout=30)
        return self._wait(fs[res])

    def alter_legacy(self, topic, configs):
        """The non-incremental AlterConfigs (replaces every override)."""
        from confluent_kafka.admin import ConfigResource, ResourceType
        res = ConfigResource(ResourceType.TOPIC, topic, set_config=dict(configs))
        fs = self.a.alter_configs([res], request_timeout=30)
        return self._wait(fs[res])

    def describe(self, topic):
        from confluent_kafka.admin import ConfigResource, ResourceType
        res = ConfigResource(ResourceType.TOPIC, topic)
        entries, err = self._wait(self.a.describe_configs([res], request_timeout=30)[res])
        if err:
            raise CheckFailed(f"confluent AdminClient.describe_configs({topic}): {err}")
        return {k: (e.value, _src_name(e.source)) for k, e in entries.items()}

    def delete_records(self, topic, partition, offset):
        """-> (low watermark, error)"""
        import confluent_kafka as cklib
        tp = cklib.TopicPartition(topic, partition, offset)
        fs = self.a.delete_records([tp], request_timeout=30, operation_timeout=30)
        r, err = self._wait(next(iter(fs.values())))
        return (None if r is None else r.low_watermark), err

    def list_offsets(self, topic, partition, spec):
        """spec: 'earliest', 'latest' or a timestamp -> offset"""
        import confluent_kafka as cklib
        from confluent_kafka.admin import OffsetSpec
        s = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest()}.get(spec) \
            if isinstance(spec, str) else OffsetSpec.for_timestamp(spec)
        fs = self.a.list_offsets({cklib.TopicPartition(topic, partition): s}, request_timeout=30)
        r, err = self._wait(next(iter(fs.values())))
        if err:
            raise CheckFailed(f"confluent AdminClient.list_offsets({topic} p{partition}, {spec}): {err}")
        return r.offset

    def produce_one(self, topic, partition, value):
        from scenarios.semantics import _produce_one
        return _produce_one(self.ctx, "confluent-kafka", topic, Msg(key=b"k", value=value), partition=partition)

    def read_partition(self, topic, partition, hw):
        """A consumer from the beginning of one partition up to hw."""
        import confluent_kafka as cklib
        c = self.client.consumer(self.ctx)
        out = []
        try:
            c.assign([cklib.TopicPartition(topic, partition, cklib.OFFSET_BEGINNING)])
            deadline = time.monotonic() + 30
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"confluent consumer from the beginning of p{partition}: "
                                                   f"{len(out)} records in 30s, high watermark {hw}")
                for m in c.consume(500, timeout=0.5):
                    if m.error() is None:
                        out.append((m.offset(), m.value()))
                    elif m.error().code() != cklib.KafkaError._PARTITION_EOF:
                        raise CheckFailed(f"confluent consumer p{partition}: {m.error()}")
        finally:
            c.close()
        return out


class Kp:
    name = "kafka-python"
    incremental = True

    def __init__(self, ctx):
        from kafka import KafkaAdminClient
        self.ctx = ctx
        self.client = get_client("kafka-python")
        self.a = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000,
                                  client_id="riffle-compat-topic-admin")

    def close(self):
        self.a.close()

    @staticmethod
    def _err(e):
        return f"{type(e).__name__} {e}"

    def create_partitions(self, topic, count, validate_only=False):
        try:
            return self.a.create_partitions({topic: count}, timeout_ms=30000, validate_only=validate_only), None
        except Exception as e:  # noqa: BLE001
            return None, self._err(e)

    def partition_count(self, topic):
        ts = self.a.describe_topics([topic])
        if not ts or ts[0].get("error_code", 0) != 0:
            return None
        return len([p for p in ts[0]["partitions"] if p["error_code"] == 0 and p["leader_id"] >= 0])

    def _alter(self, configs, resource, name, validate_only, incremental):
        from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType
        rtype = ConfigResourceType.TOPIC if resource == "topic" else ConfigResourceType.BROKER
        def op(v):
            if isinstance(v, tuple):  # ("APPEND" | "SUBTRACT", value)
                return getattr(AlterConfigOp, v[0]), v[1]
            return (AlterConfigOp.SET, v) if v is not None else (AlterConfigOp.DELETE, None)
        cfg = {k: op(v) for k, v in configs.items()} if incremental else dict(configs)
        try:
            res = self.a.alter_configs([ConfigResource(rtype, name, configs=cfg)], validate_only=validate_only,
                                       raise_on_unknown=False, incremental=incremental)
        except Exception as e:  # noqa: BLE001
            return None, self._err(e)
        r = res.get(rtype.name.lower(), {}).get(name)
        return (r, None) if r == "OK" else (None, str(r))

    def alter(self, topic, configs, *, validate_only=False, resource="topic", name=None):
        return self._alter(configs, resource, name or topic, validate_only, True)

    def alter_legacy(self, topic, configs):
        # kafka-python fills in the other dynamic overrides before sending
        # AlterConfigs (so that they are not reset): not a replace
        return self._alter(configs, "topic", topic, False, False)

    def describe(self, topic):
        return {k: (v, _src_name(s)) for k, (v, s) in self.client.describe_topic_configs(self.ctx, topic).items()}

    def delete_records(self, topic, partition, offset):
        from kafka import TopicPartition
        try:
            r = self.a.delete_records({TopicPartition(topic, partition): offset}, timeout_ms=30000)
        except Exception as e:  # noqa: BLE001
            return None, self._err(e)
        v = r.get(TopicPartition(topic, partition))
        return (v.get("low_watermark") if v else None), None

    def list_offsets(self, topic, partition, spec):
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec
        s = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST}.get(spec) if isinstance(spec, str) else spec
        tp = TopicPartition(topic, partition)
        r = self.a.list_partition_offsets({tp: s})
        return r[tp].offset

    def produce_one(self, topic, partition, value):
        from scenarios.semantics import _produce_one
        return _produce_one(self.ctx, "kafka-python", topic, Msg(key=b"k", value=value), partition=partition)

    def read_partition(self, topic, partition, hw):
        from kafka import TopicPartition
        c = self.client.consumer(self.ctx)
        tp = TopicPartition(topic, partition)
        out = []
        try:
            c.assign([tp])
            c.seek_to_beginning(tp)
            deadline = time.monotonic() + 30
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"kafka-python consumer from the beginning of p{partition}: "
                                                   f"{len(out)} records in 30s, high watermark {hw}")
                for recs in c.poll(timeout_ms=500).values():
                    out.extend((r.offset, r.value) for r in recs)
        finally:
            c.close()
        return out


class Js:
    name = "kafkajs"
    incremental = False  # kafkajs 2.2.4 only has the (replacing) AlterConfigs

    def __init__(self, ctx):
        self.ctx = ctx

    def _op(self, op):
        from harness.clients.kafkajs import run_node
        res = run_node("topic-admin", {"bootstrap": self.ctx.bootstrap, "ops": [op]}, timeout=90)
        r = res["results"][0]
        if r["ok"]:
            return r["result"], None
        texts = []
        e = r["error"]
        while e:
            parts = e.get("partitions") or []
            detail = "; ".join(f"p{p['partition']}: {(p.get('error') or {}).get('type')}" for p in parts)
            texts.append(f"{e.get('type') or ''} {e.get('name')}: {e.get('message')}{' [' + detail + ']' if detail else ''}")
            e = e.get("cause")
        return None, " <- caused by ".join(texts)

    def create_partitions(self, topic, count, validate_only=False):
        return self._op({"op": "create-partitions", "topic": topic, "count": count, "validateOnly": validate_only})

    def partition_count(self, topic):
        r, err = self._op({"op": "metadata", "topic": topic})
        if err:
            return None
        return len([p for p in r["partitions"] if p["leader"] >= 0 and not p.get("errorCode")])

    def alter(self, topic, configs, *, validate_only=False, resource="topic", name=None):
        """AlterConfigs: the given values replace every override."""
        return self._op({"op": "alter-configs", "topic": topic, "resource": resource, "name": name or topic,
                         "configs": {k: v for k, v in configs.items() if v is not None},
                         "validateOnly": validate_only})

    alter_legacy = alter

    def describe(self, topic):
        r, err = self._op({"op": "describe-configs", "topic": topic})
        if err:
            raise CheckFailed(f"kafkajs describeConfigs({topic}): {err}")
        res = r["resources"][0]
        check(res.get("errorCode", 0) == 0, f"kafkajs describeConfigs error: {res}")
        return {e["configName"]: (e.get("configValue"), _src_name(e.get("configSource")))
                for e in res["configEntries"]}

    def delete_records(self, topic, partition, offset):
        # kafkajs's deleteTopicRecords returns nothing: the low watermark is read with fetchTopicOffsets
        r, err = self._op({"op": "delete-records", "topic": topic,
                           "partitions": [{"partition": partition, "offset": offset}]})
        if err:
            return None, err
        return self.list_offsets(topic, partition, "earliest"), None

    def list_offsets(self, topic, partition, spec):
        if isinstance(spec, str):
            r, err = self._op({"op": "offsets", "topic": topic})
            check(err is None, f"kafkajs fetchTopicOffsets({topic}): {err}")
            p = next(p for p in r["partitions"] if p["partition"] == partition)
            return p["low"] if spec == "earliest" else p["high"]
        r, err = self._op({"op": "offsets-by-timestamp", "topic": topic, "timestamp": spec})
        check(err is None, f"kafkajs fetchTopicOffsetsByTimestamp({topic}, {spec}): {err}")
        return next(p for p in r["partitions"] if p["partition"] == partition)["offset"]

    def produce_one(self, topic, partition, value):
        import base64
        from harness.clients.kafkajs import run_node
        try:
            res = run_node("produce", {"bootstrap": self.ctx.bootstrap, "topic": topic, "compression": "none",
                                       "messages": [{"key": base64.b64encode(b"k").decode(),
                                                     "value": base64.b64encode(value).decode(), "headers": [],
                                                     "timestamp": None, "partition": partition}]}, timeout=60)
        except CheckFailed as e:
            return str(e).splitlines()[0], None
        return None, tuple(res["acks"][0])

    def read_partition(self, topic, partition, hw):
        """kafkajs can only consume in a group: a fresh group from the
        beginning, every partition up to its high watermark; the records of
        ``partition`` are returned."""
        import uuid
        from harness.clients.kafkajs import _unb64, run_node
        r, err = self._op({"op": "offsets", "topic": topic})
        check(err is None, f"kafkajs fetchTopicOffsets: {err}")
        until = {str(p["partition"]): p["high"] for p in r["partitions"]}
        res = run_node("consume", {"bootstrap": self.ctx.bootstrap, "topic": topic, "until": until, "expected": 0,
                                   "groupId": f"compat-ta-{uuid.uuid4().hex[:8]}", "timeoutMs": 60000},
                       timeout=90)
        return sorted((x["offset"], _unb64(x["value"])) for x in res["records"] if x["partition"] == partition)


ADAPTERS = {"confluent-kafka": Ck, "kafka-python": Kp, "kafkajs": Js}


# ---------------------------------------------------------------------------


def topic_admin(ctx, client_name):
    """Through ``client_name``'s admin API, on a 3-partition topic:

    - CreatePartitions: validate_only to 6 changes nothing; 3 -> 6 works
      (metadata shows 6 partitions with leaders); to 4 (fewer, also
      validate_only) and to 6 (equal) gives INVALID_PARTITIONS; a record
      produced to partition 5 by the client lands at p5@0 and is read back
      (confluent: also by a group member subscribed before the expansion).
    - Configs: retention.ms and max.message.bytes=20000 set
      (IncrementalAlterConfigs; kafkajs: AlterConfigs) are described with
      source DYNAMIC_TOPIC_CONFIG; a 50 kB record is then refused with
      MESSAGE_TOO_LARGE at once (no restart); a bad value, a value below the
      minimum, an unknown key and a broker resource give INVALID_CONFIG, and a
      request mixing a valid and an invalid value changes nothing;
      validate_only changes nothing; removing the override (DELETE, or for
      AlterConfigs a set without it) restores the default and a 50 kB record
      is accepted; confluent's legacy AlterConfigs replaces all overrides.
      IncrementalAlterConfigs APPEND compact to cleanup.policy gives
      "delete,compact" and a record without a key is refused at once
      (INVALID_RECORD); SUBTRACT compact gives "delete" again; APPEND to a
      non-list config gives INVALID_CONFIG.
    - CreatePartitions / AlterConfigs of a topic that does not exist:
      UNKNOWN_TOPIC_OR_PARTITION. DeleteRecords on a cleanup.policy=compact
      topic: POLICY_VIOLATION, nothing deleted (as Kafka); once altered to
      compact,delete it works.
    - DeleteRecords on a partition of 100 records (timestamps 1 s apart):
      ListOffsets by timestamp (admin API) finds the exact record; delete
      below 40 returns low watermark 40, ListOffsets EARLIEST = 40, a consumer
      from the beginning starts at 40, a timestamp of a deleted record maps to
      40; deleting below 20 then changes nothing; beyond the high watermark
      gives OFFSET_OUT_OF_RANGE; -1 moves the start to the high watermark."""
    A = ADAPTERS[client_name](ctx)
    try:
        return _topic_admin(ctx, client_name, A)
    finally:
        if hasattr(A, "close"):
            A.close()


def _topic_admin(ctx, client_name, A):
    client = get_client(client_name)
    ck = get_client("confluent-kafka")
    topic = ctx.topic(f"{client_name}.topicadmin")
    client.create_topic(ctx, topic, 3)
    problems = []

    def expect_error(label, err, want):
        log(f"{label}: {err}")
        if err is None:
            problems.append(f"{label}: succeeded, expected {want}")
        elif _norm(want) not in _norm(err):
            problems.append(f"{label}: got {err!r}, expected {want}")

    def expect_ok(label, res_err):
        res, err = res_err
        log(f"{label}: {res if err is None else err}")
        if err is not None:
            problems.append(f"{label}: failed: {err}")
        return res

    def described(want, timeout=20.0, of=None):
        """DescribeConfigs of the topic once it shows ``want`` ({key: (value,
        source), or a predicate on (value, source)}), or the last description
        after ``timeout`` seconds (the checks that follow then report it).
        Kafka (KRaft) answers an AlterConfigs once its controller committed
        the change, and its broker applies it a little later: a describe right
        after an alter may show the previous state (eventually consistent)."""
        def matches(cfg):
            return all((w(cfg.get(k)) if callable(w) else cfg.get(k) == w) for k, w in want.items())
        deadline = time.monotonic() + timeout
        while True:
            cfg = A.describe(of or topic)
            if matches(cfg) or time.monotonic() >= deadline:
                return cfg
            time.sleep(0.2)

    # -- CreatePartitions --------------------------------------------------------
    member = None
    if client_name == "confluent-kafka":
        # a group member subscribed before the expansion (metadata refreshed every second)
        import uuid
        import confluent_kafka as cklib
        member = cklib.Consumer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4",
                                 "group.id": f"compat-ta-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
                                 "topic.metadata.refresh.interval.ms": 1000, "session.timeout.ms": 6000,
                                 "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100})
        member.subscribe([topic])
        member.consume(10, timeout=1.0)
    expect_ok("CreatePartitions 3 -> 6 validate_only", A.create_partitions(topic, 6, validate_only=True))
    n = A.partition_count(topic)
    if n != 3:
        problems.append(f"after CreatePartitions validate_only the topic has {n} partitions, expected 3")
    expect_ok("CreatePartitions 3 -> 6", A.create_partitions(topic, 6))
    wait_until(lambda: A.partition_count(topic) == 6, 30, f"{client_name} metadata to show 6 partitions with leaders")
    _, err = A.create_partitions(topic, 4)
    expect_error("CreatePartitions 6 -> 4 (decrease)", err, "INVALID_PARTITIONS")
    _, err = A.create_partitions(topic, 5, validate_only=True)
    expect_error("CreatePartitions 6 -> 5 (decrease) validate_only", err, "INVALID_PARTITIONS")
    _, err = A.create_partitions(topic, 6)
    expect_error("CreatePartitions 6 -> 6 (same count)", err, "INVALID_PARTITIONS")
    n = A.partition_count(topic)
    if n != 6:
        problems.append(f"after the refused CreatePartitions the topic has {n} partitions, expected 6")
    err, pos = A.produce_one(topic, 5, b"to-partition-5")
    if err is not None or pos != (5, 0):
        problems.append(f"{client_name} produce to the new partition 5: error {err}, position {pos}, expected p5@0")
    else:
        got = A.read_partition(topic, 5, 1)
        if got != [(0, b"to-partition-5")]:
            problems.append(f"{client_name} read of partition 5: {got}, expected [(0, b'to-partition-5')]")
    wm = ck.watermarks(ctx, topic)
    if {p: wm[p] for p in (3, 4)} != {3: (0, 0), 4: (0, 0)}:
        problems.append(f"new partitions 3 and 4 should be empty: watermarks {wm}")
    if member is not None:
        # the member subscribed before the expansion gets partition 5 (rebalance on the new
        # partition count) and reads the record
        got = []
        deadline = time.monotonic() + 45
        try:
            while not got and time.monotonic() < deadline:
                for m in member.consume(10, timeout=0.5):
                    if m.error() is None and m.partition() == 5:
                        got.append((m.offset(), m.value()))
        finally:
            member.close()
        if got[:1] != [(0, b"to-partition-5")]:
            problems.append(f"a group member subscribed before CreatePartitions did not get the record of the new "
                            f"partition 5 within 45s: {got}")

    # -- configs -----------------------------------------------------------------
    how = "IncrementalAlterConfigs" if A.incremental else "AlterConfigs"
    expect_ok(f"{how} retention.ms=86400000, max.message.bytes=20000",
              A.alter(topic, {"retention.ms": "86400000", "max.message.bytes": "20000"}))
    cfg = described({"retention.ms": ("86400000", "DYNAMIC_TOPIC_CONFIG"),
                     "max.message.bytes": ("20000", "DYNAMIC_TOPIC_CONFIG")})
    for k, v in (("retention.ms", "86400000"), ("max.message.bytes", "20000")):
        if cfg.get(k) != (v, "DYNAMIC_TOPIC_CONFIG"):
            problems.append(f"after {how}, DescribeConfigs {k} = {cfg.get(k)}, expected ({v!r}, DYNAMIC_TOPIC_CONFIG)")
    big = b"x" * 50_000
    err, _ = A.produce_one(topic, 0, big)
    # MESSAGE_TOO_LARGE (librdkafka: MSG_SIZE_TOO_LARGE, kafka-python: MessageSizeTooLargeError)
    expect_error(f"{client_name} 50 kB record after max.message.bytes=20000", err, "TOO_LARGE")
    err, pos = A.produce_one(topic, 0, b"y" * 5_000)
    if err is not None:
        problems.append(f"5 kB record with max.message.bytes=20000 refused: {err}")

    for label, configs, want in (
            ("retention.ms=soon (not a number)", {"retention.ms": "soon"}, "INVALID_CONFIG"),
            ("segment.bytes=1 (below the minimum)", {"segment.bytes": "1"}, "INVALID_CONFIG"),
            ("unknown key no.such.config", {"no.such.config": "1"}, "INVALID_CONFIG"),
            ("a valid retention.ms=1234 with cleanup.policy=shred",
             {"retention.ms": "1234", "max.message.bytes": "20000", "cleanup.policy": "shred"}, "INVALID_CONFIG")):
        _, err = A.alter(topic, configs)
        expect_error(f"{how} {label}", err, want)
    # broker configs: only those Kafka changes at run time (checked without changing
    # them: the broker is shared with other scenarios)
    bid = str(_broker_id(ctx))
    _, err = A.alter(topic, {"log.dirs": "/elsewhere"}, resource="broker", name=bid)
    expect_error(f"{how} of a static broker config (log.dirs)", err, "INVALID_REQUEST")
    expect_ok(f"{how} of a dynamic broker config (log.retention.ms) validate_only",
              A.alter(topic, {"log.retention.ms": "1000"}, resource="broker", name=bid, validate_only=True))
    expect_ok(f"{how} retention.ms=5555 validate_only",
              A.alter(topic, {"retention.ms": "5555", "max.message.bytes": "20000"}, validate_only=True))
    _, err = A.alter(topic, {"retention.ms": "soon", "max.message.bytes": "20000"}, validate_only=True)
    expect_error(f"{how} retention.ms=soon validate_only", err, "INVALID_CONFIG")
    if A.incremental:
        expect_ok(f"{how} DELETE of a key that has no override (segment.jitter.ms)",
                  A.alter(topic, {"segment.jitter.ms": None}))
    cfg = described({"retention.ms": ("86400000", "DYNAMIC_TOPIC_CONFIG"),
                     "max.message.bytes": ("20000", "DYNAMIC_TOPIC_CONFIG")})
    for k, v in (("retention.ms", "86400000"), ("max.message.bytes", "20000")):
        if cfg.get(k) != (v, "DYNAMIC_TOPIC_CONFIG"):
            problems.append(f"after refused / validate-only changes {k} = {cfg.get(k)}, expected ({v!r}, "
                            f"DYNAMIC_TOPIC_CONFIG) unchanged")
    if A.incremental:
        expect_ok(f"{how} DELETE max.message.bytes", A.alter(topic, {"max.message.bytes": None}))
    else:
        expect_ok(f"{how} with retention.ms only (drops max.message.bytes)",
                  A.alter(topic, {"retention.ms": "86400000"}))
    cfg = described({"retention.ms": ("86400000", "DYNAMIC_TOPIC_CONFIG"),
                     "max.message.bytes": lambda v: v is not None and v[1] != "DYNAMIC_TOPIC_CONFIG"})
    if cfg.get("retention.ms") != ("86400000", "DYNAMIC_TOPIC_CONFIG"):
        problems.append(f"retention.ms after removing max.message.bytes: {cfg.get('retention.ms')}")
    mmb = cfg.get("max.message.bytes")
    if mmb is None or mmb[1] == "DYNAMIC_TOPIC_CONFIG" or mmb[0] != DEFAULT_MAX_MESSAGE_BYTES:
        problems.append(f"max.message.bytes after removing the override: {mmb}, expected the default "
                        f"{DEFAULT_MAX_MESSAGE_BYTES} (source DEFAULT_CONFIG)")
    err, pos = A.produce_one(topic, 0, big)
    if err is not None:
        problems.append(f"50 kB record refused after max.message.bytes was reset to the default: {err}")
    if client_name == "confluent-kafka":
        # the legacy AlterConfigs replaces the whole set of overrides
        expect_ok("AlterConfigs (legacy) segment.ms=3600000", A.alter_legacy(topic, {"segment.ms": "3600000"}))
        cfg = described({"segment.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG"),
                         "retention.ms": lambda v: v is not None and v[1] != "DYNAMIC_TOPIC_CONFIG"})
        if cfg.get("segment.ms") != ("3600000", "DYNAMIC_TOPIC_CONFIG"):
            problems.append(f"after AlterConfigs segment.ms = {cfg.get('segment.ms')}")
        if cfg.get("retention.ms", (None, None))[1] == "DYNAMIC_TOPIC_CONFIG":
            problems.append(f"AlterConfigs without retention.ms kept its override {cfg.get('retention.ms')}: "
                            f"AlterConfigs must replace all overrides (reset the others to their defaults)")
    elif client_name == "kafka-python":
        expect_ok("AlterConfigs (non-incremental, kafka-python keeps the other overrides) segment.ms=3600000",
                  A.alter_legacy(topic, {"segment.ms": "3600000"}))
        cfg = described({"segment.ms": ("3600000", "DYNAMIC_TOPIC_CONFIG")})
        if cfg.get("segment.ms") != ("3600000", "DYNAMIC_TOPIC_CONFIG"):
            problems.append(f"after AlterConfigs segment.ms = {cfg.get('segment.ms')}")

    if A.incremental:
        # list configs: APPEND / SUBTRACT (from the default "delete"), in effect at once
        expect_ok(f"{how} APPEND cleanup.policy compact", A.alter(topic, {"cleanup.policy": ("APPEND", "compact")}))
        cfg = described({"cleanup.policy": ("delete,compact", "DYNAMIC_TOPIC_CONFIG")})
        if cfg.get("cleanup.policy") != ("delete,compact", "DYNAMIC_TOPIC_CONFIG"):
            problems.append(f"after APPEND compact, cleanup.policy = {cfg.get('cleanup.policy')}, expected "
                            f"('delete,compact', DYNAMIC_TOPIC_CONFIG)")
        err, _ = _produce_keyless(ctx, client_name, topic, 2)
        expect_error(f"{client_name} record without a key after cleanup.policy became delete,compact", err,
                     "INVALID_RECORD")
        expect_ok(f"{how} SUBTRACT cleanup.policy compact",
                  A.alter(topic, {"cleanup.policy": ("SUBTRACT", "compact")}))
        cfg = described({"cleanup.policy": lambda v: v is not None and v[0] == "delete"})
        if cfg.get("cleanup.policy", (None,))[0] != "delete":
            problems.append(f"after SUBTRACT compact, cleanup.policy = {cfg.get('cleanup.policy')}, expected 'delete'")
        err, _ = _produce_keyless(ctx, client_name, topic, 2)
        if err is not None:
            problems.append(f"record without a key after SUBTRACT compact (cleanup.policy=delete) refused: {err}")
        _, err = A.alter(topic, {"retention.ms": ("APPEND", "5")})
        expect_error(f"{how} APPEND to retention.ms (not a list)", err, "INVALID_CONFIG")

    # -- a topic that does not exist -----------------------------------------------
    missing = ctx.topic("never-created")
    _, err = A.create_partitions(missing, 4)
    # UNKNOWN_TOPIC_OR_PARTITION (librdkafka: UNKNOWN_TOPIC_OR_PART)
    expect_error("CreatePartitions of a topic that does not exist", err, "UNKNOWN_TOPIC_OR_PART")
    _, err = A.alter(missing, {"retention.ms": "1000"})
    expect_error(f"{how} on a topic that does not exist", err, "UNKNOWN_TOPIC_OR_PART")

    # -- DeleteRecords on a compacted topic: Kafka refuses it (POLICY_VIOLATION) -----
    compacted = ctx.topic(f"{client_name}.topicadmin-compacted")
    client.create_topic(ctx, compacted, 1, configs={"cleanup.policy": "compact"})
    _produce_to(ctx, compacted, 0, [Msg(key=b"c%d" % i, value=b"c%d" % i) for i in range(10)])
    low, err = A.delete_records(compacted, 0, 5)
    expect_error("DeleteRecords on a cleanup.policy=compact topic (Kafka: 'Records of partition ... can not be "
                 "deleted due to the configured policy')", err, "POLICY_VIOLATION")
    lo = ck.watermarks(ctx, compacted)[0][0]
    if lo != 0:
        problems.append(f"DeleteRecords on a compact-only topic moved its log start offset to {lo}")
    # with compact,delete it is allowed
    expect_ok(f"{how} cleanup.policy=compact,delete", A.alter(compacted, {"cleanup.policy": "compact,delete"}))
    cfg = described({"cleanup.policy": lambda v: v is not None and set(v[0].split(",")) == {"compact", "delete"}},
                    of=compacted)
    if set(cfg.get("cleanup.policy", ("",))[0].split(",")) != {"compact", "delete"}:
        problems.append(f"after {how} cleanup.policy=compact,delete: {cfg.get('cleanup.policy')}")
    low, err = A.delete_records(compacted, 0, 7)
    if err is not None or low != 7:
        problems.append(f"DeleteRecords before offset 7 on a cleanup.policy=compact,delete topic: low watermark {low}, "
                        f"error {err}; expected 7")

    # -- ListOffsets by timestamp and DeleteRecords ----------------------------------
    base = now_ms() - 3_600_000
    msgs = [Msg(key=b"d%03d" % i, value=b"del-%03d" % i, timestamp=base + i * 1000) for i in range(100)]
    _produce_to(ctx, topic, 1, msgs)
    by_ts = [(base + 10_500, 11), (base, 0), (base + 99_000, 99), (base - 60_000, 0),
             (base + 200_000, 100 if client_name == "kafkajs" else -1)]  # kafkajs: -1 -> high watermark
    for ts, want in by_ts:
        got = A.list_offsets(topic, 1, ts)
        if got != want:
            problems.append(f"ListOffsets by timestamp base{ts - base:+d} ms on p1: {got}, expected {want}")
    low, err = A.delete_records(topic, 1, 40)
    if err is not None or low != 40:
        problems.append(f"DeleteRecords p1 before offset 40: low watermark {low}, error {err}; expected 40")
    for spec, want in (("earliest", 40), ("latest", 100), (base + 10_000, 40), (base + 50_000, 50)):
        got = A.list_offsets(topic, 1, spec)
        if got != want:
            problems.append(f"after DeleteRecords(40), ListOffsets {spec if isinstance(spec, str) else f'timestamp base{spec - base:+d} ms'}"
                            f" on p1: {got}, expected {want}")
    got = A.read_partition(topic, 1, 100)
    if [o for o, _ in got] != list(range(40, 100)) or any(v != b"del-%03d" % o for o, v in got):
        problems.append(f"{client_name} consumer from the beginning after DeleteRecords(40): offsets "
                        f"{[o for o, _ in got][:3]}...{[o for o, _ in got][-2:]} ({len(got)}), expected 40..99")
    low, err = A.delete_records(topic, 1, 20)
    if err is not None or low != 40:
        problems.append(f"DeleteRecords p1 before offset 20 (below the log start 40): low watermark {low}, "
                        f"error {err}; expected 40, no error, nothing changed")
    _, err = A.delete_records(topic, 1, 1000)
    expect_error("DeleteRecords p1 before offset 1000 (beyond the high watermark 100)", err, "OFFSET_OUT_OF_RANGE")
    low, err = A.delete_records(topic, 1, -1)
    if err is not None or low != 100:
        problems.append(f"DeleteRecords p1 offset -1 (the high watermark): low watermark {low}, error {err}; "
                        f"expected 100")
    wm = ck.watermarks(ctx, topic)
    if wm[1] != (100, 100):
        problems.append(f"after DeleteRecords(-1) p1 watermarks {wm[1]}, expected (100, 100)")

    err, pos = A.produce_one(topic, 1, b"after-delete")
    if err is not None or pos != (1, 100):
        problems.append(f"produce after DeleteRecords(-1): error {err}, position {pos}, expected p1@100")
    if problems:
        raise CheckFailed(f"{len(problems)} topic-admin problem(s) with {client_name}:\n  - " + "\n  - ".join(problems))
    return None


def _produce_keyless(ctx, client_name, topic, partition):
    """One record with a null key; kafkajs produces with confluent-kafka here."""
    from scenarios.semantics import _produce_one
    name = client_name if client_name in ("confluent-kafka", "kafka-python") else "confluent-kafka"
    return _produce_one(ctx, name, topic, Msg(key=None, value=b"no key"), partition=partition)


def _broker_id(ctx):
    md = get_client("confluent-kafka").metadata(ctx, None)
    return sorted(md["brokers"])[0][0]


def _log_segments(broker, topic, p):
    from scenarios.logpolicy import _segments
    return _segments(broker, topic, p)


def _produce_to(ctx, topic, partition, msgs, linger=5, chunk=None):
    """Produce to one partition (confluent-kafka, acks=all); with ``chunk``,
    a flush after every ``chunk`` records (batches of at most that many)."""
    import confluent_kafka as cklib
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                        "linger.ms": linger})
    acked, errors = [], []

    def cb(err, m):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append(m.offset())
    for i, m in enumerate(msgs):
        p.produce(topic, key=m.key, value=m.value, timestamp=m.timestamp or 0, partition=partition, on_delivery=cb)
        if chunk and (i + 1) % chunk == 0:
            check(p.flush(60) == 0, "records not acknowledged within 60s")
    check(p.flush(60) == 0, "records not acknowledged within 60s")
    check(not errors, f"produce to p{partition}: {errors[:3]}")
    check(len(acked) == len(msgs), f"p{partition}: {len(acked)} acknowledgements for {len(msgs)} records")


def topic_admin_restart(ctx):
    """Admin changes survive restarts (private broker, confluent-kafka):
    CreatePartitions 3 -> 6 (with a record in partition 5), topic configs set
    with IncrementalAlterConfigs (max.message.bytes=20000, internal.segment.bytes=16384:
    later rolls follow it) and DeleteRecords (p0, inside its second segment:
    the first segment's files go). After a clean restart (SIGTERM): 6
    partitions, the record in p5, the configs described as
    DYNAMIC_TOPIC_CONFIG and enforced (50 kB refused), ListOffsets EARLIEST
    of p0 unchanged and a consumer from the beginning starts there. After a
    SIGKILL and restart: partitions, data and configs again (the log start
    offset is not required: Kafka checkpoints it periodically). verify-logs
    after a clean stop."""
    broker = ctx.private_broker()
    A = Ck(ctx)
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.admin-restart")
    ck.create_topic(ctx, topic, 3, configs={"internal.segment.bytes": "65536"})
    _, err = A.create_partitions(topic, 6)
    check(err is None, f"CreatePartitions 3 -> 6: {err}")
    wait_until(lambda: A.partition_count(topic) == 6, 30, "6 partitions in metadata")
    err, pos = A.produce_one(topic, 5, b"in-p5")
    check(err is None and pos == (5, 0), f"produce to p5: {err} {pos}")
    _produce_to(ctx, topic, 0, [Msg(key=b"r%03d" % i, value=b"r-%03d" % i + b"." * 1000) for i in range(100)],
                chunk=10)
    configs = {"max.message.bytes": "20000", "retention.ms": "86400000", "internal.segment.bytes": "16384"}
    _, err = A.alter(topic, configs)
    check(err is None, f"IncrementalAlterConfigs {configs}: {err}")
    # Kafka applies a config change a moment after acknowledging it
    wait_until(lambda: A.describe(topic).get("internal.segment.bytes", (None,))[0] == "16384", 20,
               "DescribeConfigs to show internal.segment.bytes=16384")
    segs = _log_segments(broker, topic, 0)
    check(len(segs) >= 2, f"100 records of 1 kB with internal.segment.bytes=65536: segments {segs}, expected at least 2")
    low, err = A.delete_records(topic, 0, segs[1][0] + 5)
    check(err is None and low == segs[1][0] + 5, f"DeleteRecords p0 before {segs[1][0] + 5}: {low} {err}")
    wait_until(lambda: _log_segments(broker, topic, 0)[0][0] == segs[1][0], 30,
               f"the segment files of p0 wholly below the new log start {low} to be removed (segments {segs})")
    log_start = low
    # internal.segment.bytes=16384 (altered) applies to the next rolls: 60 kB more in p2 -> at least 3 segments
    _produce_to(ctx, topic, 2, [Msg(key=b"s%03d" % i, value=b"." * 1000) for i in range(60)], chunk=5)
    segs2 = _log_segments(broker, topic, 2)
    check(len(segs2) >= 3 and all(sz <= 16384 + 1100 for _, sz in segs2[:-1]),
          f"p2 after 60 kB with internal.segment.bytes altered to 16384: segments {segs2}")

    def verify(label, check_start=True):
        problems = []
        A2 = Ck(ctx)
        n = wait_until(lambda: A2.partition_count(topic), 30, f"{label}: topic in metadata")
        if n != 6:
            problems.append(f"{n} partitions, expected 6 (CreatePartitions lost)")
        got = A2.read_partition(topic, 5, 1) if n == 6 else []
        if got != [(0, b"in-p5")]:
            problems.append(f"partition 5 holds {got}, expected [(0, b'in-p5')]")
        cfg = A2.describe(topic)
        for k, v in configs.items():
            if cfg.get(k) != (v, "DYNAMIC_TOPIC_CONFIG"):
                problems.append(f"{k} = {cfg.get(k)}, expected ({v!r}, DYNAMIC_TOPIC_CONFIG)")
        err, _ = A2.produce_one(topic, 1, b"z" * 50_000)
        if err is None or "toolarge" not in _norm(err):
            problems.append(f"50 kB record with max.message.bytes=20000: {err or 'accepted'}, expected MESSAGE_TOO_LARGE")
        lo, hi = ck.watermarks(ctx, topic)[0]
        if hi != 100:
            problems.append(f"p0 high watermark {hi}, expected 100")
        if check_start:
            if lo != log_start:
                problems.append(f"p0 log start offset {lo}, expected {log_start} (DeleteRecords lost)")
            got = A2.read_partition(topic, 0, 100)
            if [o for o, _ in got] != list(range(log_start, 100)):
                problems.append(f"consumer from the beginning of p0 read offsets {[o for o, _ in got][:3]}..., "
                                f"expected {log_start}..99")
        elif not 0 <= lo <= log_start:
            problems.append(f"p0 log start offset {lo}, expected at most {log_start}")
        check(not problems, f"after {label}:\n  - " + "\n  - ".join(problems))

    broker.restart()
    verify("a clean restart (SIGTERM)")
    broker.kill()
    broker.start()
    verify("a SIGKILL and restart", check_start=False)
    broker.stop()
    broker.check_verify_logs()
    return None
