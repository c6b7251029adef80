#!/usr/bin/env python3
"""confluent-kafka (librdkafka) session. Usage: confluent_kafka_session.py BOOTSTRAP

Every step runs even if an earlier one fails; failures are printed as "STEP-ERROR",
expected broker errors (e.g. creating an existing topic) as "EXPECTED".
"""
import sys
import time
import traceback

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer, TopicCollection,
                             TopicPartition, OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec, ResourceType

B = sys.argv[1]
T = "ck-topic"
FAILED = []
CLIENT = {"bootstrap.servers": B, "client.id": "riffle-fixture-confluent"}




def step(name):
    def deco(fn):
        print("=== STEP", name, flush=True)
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            FAILED.append(name)
            print("STEP-ERROR %s: %r" % (name, e), flush=True)
            traceback.print_exc(file=sys.stdout)
        return fn
    return deco


def wait_all(futures, expect_error=None):
    """Resolves a dict of admin futures; errors whose name contains expect_error are fine."""
    out = {}
    for k, f in futures.items():
        try:
            out[k] = f.result(timeout=30)
            if expect_error:
                print("UNEXPECTED success for %s (expected %s)" % (k, expect_error))
        except KafkaException as e:
            err = e.args[0]
            name = err.name() if isinstance(err, KafkaError) else str(err)
            if expect_error and expect_error in name:
                print("EXPECTED %s: %s" % (k, err))
            else:
                raise
    return out


admin = AdminClient(dict(CLIENT))


@step("metadata-all")
def _():
    md = admin.list_topics(timeout=10)
    print("brokers", md.brokers, "topics", sorted(md.topics))


@step("metadata-named-autocreate")
def _():
    # A producer handle's metadata request allows auto-creation.
    p = Producer(dict(CLIENT))
    md = p.list_topics(topic="ck-auto", timeout=10)
    t = md.topics["ck-auto"]
    print("ck-auto error", t.error, "partitions", sorted(t.partitions))
    if t.error is not None:
        raise RuntimeError(t.error)
    p.flush(5)


@step("create-topics")
def _():
    fs = admin.create_topics([
        NewTopic(T, num_partitions=3, replication_factor=1,
                 config={"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "1048588"}),
        NewTopic("ck-to-delete", num_partitions=1, replication_factor=1),
    ], operation_timeout=10, request_timeout=15)
    print(wait_all(fs))


@step("create-topics-validate-only")
def _():
    fs = admin.create_topics([NewTopic("ck-validate", num_partitions=2, replication_factor=1,
                                       config={"retention.ms": "60000"})], validate_only=True)
    print(wait_all(fs))
    md = admin.list_topics(timeout=10)
    if "ck-validate" in md.topics and md.topics["ck-validate"].error is None:
        print("UNEXPECTED: validate_only created ck-validate")


@step("create-topics-already-exists")
def _():
    wait_all(admin.create_topics([NewTopic(T, num_partitions=3, replication_factor=1)]), expect_error="TOPIC_ALREADY_EXISTS")


@step("create-topics-invalid-config")
def _():
    wait_all(admin.create_topics([NewTopic("ck-bad", num_partitions=1, replication_factor=1,
                                           config={"retention.ms": "not-a-number"})]), expect_error="INVALID_CONFIG")


@step("metadata-named")
def _():
    md = admin.list_topics(topic=T, timeout=10)
    print(T, sorted(md.topics[T].partitions))


@step("describe-topics")
def _():
    fs = admin.describe_topics(TopicCollection([T, "ck-auto"]))
    for k, v in wait_all(fs).items():
        print(k, v.topic_id, [p.id for p in v.partitions])


@step("describe-cluster")
def _():
    c = admin.describe_cluster(request_timeout=10).result()
    print("cluster", c.cluster_id, "controller", c.controller, "nodes", c.nodes)


def produce(label, n, conf, partition=None):
    delivered, errors = [], []

    def cb(err, msg):
        (errors if err else delivered).append(err or msg.offset())

    p = Producer({**CLIENT, "linger.ms": 5, **conf})
    for i in range(n):
        kw = {} if partition is None else {"partition": partition}
        p.produce(T, key=("key%d" % (i % 7)).encode(), value=("%s-value-%d" % (label, i)).encode(),
                  headers=[("source", b"confluent-kafka"), ("label", label.encode()), ("i", str(i).encode())],
                  on_delivery=cb, **kw)
    left = p.flush(30)
    print(label, "delivered", len(delivered), "errors", errors[:3], "left", left)
    if errors or left or (conf.get("acks") != "0" and len(delivered) != n):
        raise RuntimeError("%s: %d delivered, errors %r, %d left" % (label, len(delivered), errors[:3], left))


TS_BEFORE = int(time.time() * 1000)
step("produce-plain")(lambda: produce("plain", 15, {"compression.type": "none"}))
time.sleep(0.05)
TS_MID = int(time.time() * 1000)
time.sleep(0.05)
for codec in ["gzip", "snappy", "lz4", "zstd"]:
    step("produce-" + codec)(lambda c=codec: produce(c, 15, {"compression.type": c}))
step("produce-acks1")(lambda: produce("acks1", 10, {"acks": "1"}))
step("produce-acksall")(lambda: produce("acksall", 10, {"acks": "all"}))
step("produce-acks0")(lambda: produce("acks0", 10, {"acks": "0"}))
step("produce-idempotent")(lambda: produce("idem", 15, {"enable.idempotence": True}))
step("produce-idempotent-lz4")(lambda: produce("idemlz4", 10, {"enable.idempotence": True, "compression.type": "lz4"}))
step("produce-partition2")(lambda: produce("p2", 5, {}, partition=2))


@step("produce-idempotent-multi-batch")
def _():
    # Small batches and several in flight: sequence numbers continue per partition across
    # pipelined Produce requests.
    produce("idemmulti", 24, {"enable.idempotence": True, "batch.num.messages": 3, "linger.ms": 20})


@step("produce-to-autocreated-topic")
def _():
    p = Producer(dict(CLIENT))
    errs = []
    p.produce("ck-auto2", key=b"k", value=b"v", headers={"h": b"1"}, on_delivery=lambda e, m: e and errs.append(e))
    left = p.flush(30)
    if errs or left:
        raise RuntimeError("errors %r left %d" % (errs, left))


EXPECTED_TOTAL = 15 * 5 + 10 * 3 + 15 + 10 + 5 + 24


@step("fetch-beginning-to-end")
def _():
    c = Consumer({**CLIENT, "group.id": "riffle-fixture-unused", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(T, p, OFFSET_BEGINNING) for p in range(3)])
    eof, n, per_label, headers_ok = set(), 0, {}, True
    deadline = time.time() + 30
    while len(eof) < 3 and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        n += 1
        label = m.value().decode().split("-value-")[0]
        per_label[label] = per_label.get(label, 0) + 1
        hs = dict(m.headers() or [])
        if hs.get("label") != label.encode():
            headers_ok = False
    c.close()
    print("consumed", n, "per label", per_label, "headers ok", headers_ok)
    if len(eof) < 3:
        raise RuntimeError("did not reach the end of all partitions: eof %r" % eof)
    if not headers_ok:
        raise RuntimeError("headers did not round-trip")
    if n < EXPECTED_TOTAL - 10:  # acks=0 messages are not guaranteed
        raise RuntimeError("consumed %d, expected about %d" % (n, EXPECTED_TOTAL))


@step("fetch-small-chunks")
def _():
    # Tiny fetch limits: many Fetch requests, each answered with at least one whole batch
    # (KIP-74) even when the batch is larger than the limits.
    c = Consumer({**CLIENT, "group.id": "riffle-fixture-unused", "enable.auto.commit": False,
                  "enable.partition.eof": True, "message.max.bytes": 1000, "fetch.max.bytes": 1000, "max.partition.fetch.bytes": 300,
                  "isolation.level": "read_uncommitted", "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(T, p, 3) for p in range(3)])  # from offset 3: inside a batch
    eof, n, first = set(), 0, {}
    deadline = time.time() + 30
    while len(eof) < 3 and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        first.setdefault(m.partition(), m.offset())
        n += 1
    c.close()
    print("consumed", n, "first offsets", first, "eof", sorted(eof))
    if len(eof) < 3:
        raise RuntimeError("did not reach the end of all partitions: eof %r" % eof)
    if any(o != 3 for o in first.values()):
        print("UNEXPECTED: first offsets %r, expected 3" % first)


@step("list-offsets-consumer")
def _():
    c = Consumer({**CLIENT, "group.id": "riffle-fixture-unused", "enable.auto.commit": False})
    for p in range(3):
        lo, hi = c.get_watermark_offsets(TopicPartition(T, p), timeout=10, cached=False)
        print("watermarks", p, lo, hi)
    r = c.offsets_for_times([TopicPartition(T, p, TS_MID) for p in range(3)], timeout=10)
    print("offsets_for_times(mid)", [(x.partition, x.offset, x.error) for x in r])
    r = c.offsets_for_times([TopicPartition(T, p, TS_BEFORE - 3600_000) for p in range(3)], timeout=10)
    print("offsets_for_times(before)", [(x.partition, x.offset) for x in r])
    r = c.offsets_for_times([TopicPartition(T, p, int(time.time() * 1000) + 3600_000) for p in range(3)], timeout=10)
    print("offsets_for_times(future)", [(x.partition, x.offset) for x in r])
    c.close()


@step("list-offsets-admin")
def _():
    for name, spec in [("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                       ("max_timestamp", OffsetSpec.max_timestamp()), ("for_timestamp", OffsetSpec.for_timestamp(TS_MID))]:
        fs = admin.list_offsets({TopicPartition(T, p): spec for p in range(3)}, request_timeout=10)
        res = wait_all(fs)
        print(name, sorted((tp.partition, r.offset, r.timestamp) for tp, r in res.items()))


@step("list-offsets-inside-compressed-batch")
def _():
    # One gzip batch of 20 records 10 ms apart. Kafka looks inside the batch: the offset
    # for TS0+55 is 6 (timestamp TS0+60) and MAX_TIMESTAMP is offset 19.
    t = "ck-ts"
    wait_all(admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)]))
    ts0 = int(time.time() * 1000) - 60_000
    p = Producer({**CLIENT, "linger.ms": 200, "compression.type": "gzip"})
    for i in range(20):
        p.produce(t, key=b"k", value=b"a" * 200 + str(i).encode(), partition=0, timestamp=ts0 + 10 * i,
                  headers=[("label", b"ts")])
    p.flush(30)
    tp = TopicPartition(t, 0)
    got = {}
    for name, spec in [("for_timestamp+55", OffsetSpec.for_timestamp(ts0 + 55)), ("max_timestamp", OffsetSpec.max_timestamp())]:
        r = wait_all(admin.list_offsets({tp: spec}, request_timeout=10))[tp]
        got[name] = (r.offset, r.timestamp - ts0)
    c = Consumer({**CLIENT, "group.id": "riffle-fixture-unused", "enable.auto.commit": False})
    r = c.offsets_for_times([TopicPartition(t, 0, ts0 + 55)], timeout=10)[0]
    got["offsets_for_times+55"] = (r.offset, None)
    c.close()
    print("got (offset, timestamp-TS0):", got)
    want = {"for_timestamp+55": (6, 60), "max_timestamp": (19, 190), "offsets_for_times+55": (6, None)}
    for k, v in want.items():
        if got[k] != v:
            print("UNEXPECTED: ListOffsets %s in a gzip batch: got %r, Kafka answers %r" % (k, got[k], v))


@step("describe-configs")
def _():
    fs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, T), ConfigResource(ResourceType.BROKER, "1")],
                                request_timeout=10)
    for res, f in fs.items():
        cfg = f.result(timeout=30)
        print(res, len(cfg), "entries;",
              {k: (v.value, v.source) for k, v in cfg.items() if k in ("retention.ms", "cleanup.policy", "num.partitions", "log.dirs", "message.max.bytes")})
    if fs and list(fs.values())[0].result()["retention.ms"].value != "3600000":
        print("UNEXPECTED: retention.ms of %s is not 3600000" % T)


@step("describe-configs-unknown-topic")
def _():
    fs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, "ck-nope")], request_timeout=10)
    wait_all(fs, expect_error="UNKNOWN_TOPIC_OR_PART")


@step("delete-topics")
def _():
    print(wait_all(admin.delete_topics(["ck-to-delete", "ck-auto", "ck-auto2", "ck-ts"], operation_timeout=10, request_timeout=15)))


@step("delete-topics-unknown")
def _():
    wait_all(admin.delete_topics(["ck-nope"], operation_timeout=10), expect_error="UNKNOWN_TOPIC_OR_PART")


@step("metadata-final")
def _():
    md = admin.list_topics(timeout=10)
    print("topics", sorted(md.topics))
    for t in ("ck-to-delete", "ck-auto", "ck-auto2"):
        if t in md.topics:
            print("UNEXPECTED: %s still listed after delete" % t)


print("FAILED steps:", FAILED)
sys.exit(1 if FAILED else 0)
