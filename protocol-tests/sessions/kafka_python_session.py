#!/usr/bin/env python3
"""kafka-python session. Usage: kafka_python_session.py BOOTSTRAP

Every step runs even if an earlier one fails; failures are printed as "STEP-ERROR",
expected broker errors (e.g. creating an existing topic) as "EXPECTED".
"""
import logging
import sys
import time
import traceback
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic, OffsetSpec
from kafka.errors import KafkaError

B = sys.argv[1]
T = "kp-topic"
FAILED = []
COMMON = {"bootstrap_servers": B, "client_id": "riffle-fixture-kafka-python", "request_timeout_ms": 15000}
# KAFKA_PYTHON_API_VERSION=1.1.0 pins the broker version kafka-python assumes (no
# ApiVersions request), which makes it use the older request versions of that release.
if len(sys.argv) > 2 and sys.argv[2]:
    COMMON["api_version"] = tuple(int(x) for x in sys.argv[2].split("."))
    print("api_version pinned to", COMMON["api_version"])
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")


PINNED = COMMON.get("api_version")


def needs(version, what):
    """False (and says so) when the pinned broker version is older than `version`."""
    if PINNED is not None and PINNED < version:
        print("SKIP %s: needs broker %s, pinned to %s" % (what, version, PINNED))
        return False
    return True


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


def expect_error(name_part, fn):
    try:
        r = fn()
    except KafkaError as e:
        if name_part in type(e).__name__ or name_part in str(e):
            print("EXPECTED", repr(e))
            return
        raise
    print("UNEXPECTED success (expected %s): %r" % (name_part, r))


admin = KafkaAdminClient(**COMMON)


@step("metadata-all")
def _():
    print("topics", admin.list_topics())
    print("describe_topics(None)", admin.describe_topics())


@step("describe-cluster")
def _():
    try:
        print(admin.describe_cluster())
    except KeyError as e:
        # kafka-python 3.0.x pops 'endpoint_type' unconditionally, but that field only
        # exists in DescribeCluster v1+; when it negotiates v0 (broker pinned < 3.7) it
        # fails client-side. Show the raw v0 response instead.
        if "endpoint_type" not in str(e):
            raise
        print("CLIENT-BUG kafka-python describe_cluster with DescribeCluster v0: KeyError %s" % e)
        from kafka.protocol.admin import DescribeClusterRequest

        async def send():
            return await admin._manager.send(DescribeClusterRequest(include_cluster_authorized_operations=True))
        resp = admin._manager.run(send)
        print("raw", resp)
        if resp.error_code != 0 or not resp.brokers:
            print("UNEXPECTED: DescribeCluster v%d response %r" % (resp.version, resp))


@step("create-topics")
def _():
    r = admin.create_topics([
        NewTopic(T, num_partitions=3, replication_factor=1,
                 topic_configs={"retention.ms": "3600000", "cleanup.policy": "delete"}),
        NewTopic("kp-to-delete", num_partitions=1, replication_factor=1),
    ], timeout_ms=10000)
    print(r)


@step("create-topics-validate-only")
def _():
    print(admin.create_topics([NewTopic("kp-validate", num_partitions=2, replication_factor=1,
                                        topic_configs={"retention.ms": "60000"})], validate_only=True))
    if "kp-validate" in admin.list_topics():
        print("UNEXPECTED: validate_only created kp-validate")


@step("create-topics-already-exists")
def _():
    expect_error("TopicAlreadyExists", lambda: admin.create_topics([NewTopic(T, 3, 1)]))


@step("create-topics-default-partitions")
def _():
    if not needs((2, 4), "CreateTopics with default partitions (v4+)"):
        return
    # num_partitions=-1/replication_factor=-1: broker defaults (CreateTopics v4+).
    print(admin.create_topics([NewTopic("kp-defaults")]))
    d = admin.describe_topics(["kp-defaults"])
    print("kp-defaults partitions", len(d[0]["partitions"]))
    if len(d[0]["partitions"]) != 3:
        print("UNEXPECTED: kp-defaults has %d partitions, num.partitions=3" % len(d[0]["partitions"]))


@step("metadata-named")
def _():
    d = admin.describe_topics([T])
    print(d)
    tid = d[0].get("topic_id")
    if tid and tid != uuid.UUID(int=0):
        # KIP-516: describe by topic id (Metadata v12+).
        print("by id", admin.describe_topics([tid if isinstance(tid, uuid.UUID) else uuid.UUID(str(tid))]))


def produce(label, n, topic=T, **conf):
    p = KafkaProducer(**COMMON, linger_ms=5, **conf)
    futs = [p.send(topic, key=("key%d" % (i % 7)).encode(), value=("%s-value-%d" % (label, i)).encode(),
                   headers=[("source", b"kafka-python"), ("label", label.encode())])
            for i in range(n)]
    p.flush(30)
    md = [f.get(timeout=30) for f in futs]
    print(label, "delivered", len(md), "offsets", sorted({(m.partition, m.offset) for m in md})[:3], "...")
    p.close(timeout=10)


TS_BEFORE = int(time.time() * 1000)
step("produce-plain")(lambda: produce("plain", 15))
time.sleep(0.05)
TS_MID = int(time.time() * 1000)
time.sleep(0.05)
CODECS = ["gzip", "snappy", "lz4"] + (["zstd"] if needs((2, 1), "zstd") else [])
for codec in CODECS:
    step("produce-" + codec)(lambda c=codec: produce(c, 15, compression_type=c))
step("produce-acks1")(lambda: produce("acks1", 10, acks=1))
step("produce-acksall")(lambda: produce("acksall", 10, acks="all"))
step("produce-acks0")(lambda: produce("acks0", 10, acks=0))
step("produce-idempotent")(lambda: produce("idem", 15, enable_idempotence=True))
step("produce-idempotent-gzip")(lambda: produce("idemgzip", 10, enable_idempotence=True, compression_type="gzip"))
step("produce-autocreate")(lambda: produce("auto", 3, topic="kp-auto"))


@step("produce-idempotent-multi-batch")
def _():
    # One idempotent producer, several flushed rounds: sequence numbers continue per
    # partition across Produce requests.
    p = KafkaProducer(**COMMON, linger_ms=5, enable_idempotence=True, compression_type="lz4"
                      if needs((0, 11), "lz4") else None)
    n = 0
    for r in range(3):
        futs = [p.send(T, key=("key%d" % (i % 7)).encode(), value=("idemmulti-value-%d-%d" % (r, i)).encode(),
                       headers=[("label", b"idemmulti")]) for i in range(8)]
        p.flush(30)
        n += len([f.get(timeout=30) for f in futs])
    p.close(timeout=10)
    print("delivered", n)

EXPECTED_TOTAL = 15 * (1 + len(CODECS)) + 10 * 3 + 15 + 10 + 24


@step("fetch-beginning-to-end")
def _():
    c = KafkaConsumer(**COMMON, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                      fetch_max_wait_ms=200)
    tps = [TopicPartition(T, p) for p in range(3)]
    c.assign(tps)
    c.seek_to_beginning()
    end = c.end_offsets(tps)
    n, per_label, headers_ok = 0, {}, True
    deadline = time.time() + 30
    while any(c.position(tp) < end[tp] for tp in tps) and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                n += 1
                label = m.value.decode().split("-value-")[0]
                per_label[label] = per_label.get(label, 0) + 1
                if dict(m.headers).get("label") != label.encode():
                    headers_ok = False
    print("consumed", n, "per label", per_label, "headers ok", headers_ok, "end", end)
    c.close()
    if not headers_ok:
        raise RuntimeError("headers did not round-trip")
    if n < EXPECTED_TOTAL - 10:
        raise RuntimeError("consumed %d, expected about %d" % (n, EXPECTED_TOTAL))


@step("fetch-small-chunks")
def _():
    # Tiny fetch limits: many Fetch requests (and, where the client uses them, fetch
    # sessions), each answered with at least one whole batch (KIP-74).
    c = KafkaConsumer(**COMMON, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100,
                      max_partition_fetch_bytes=300, fetch_max_bytes=600)
    tps = [TopicPartition(T, p) for p in range(3)]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, 3)  # inside a batch
    end = c.end_offsets(tps)
    n, first, fetches = 0, {}, 0
    deadline = time.time() + 30
    while any(c.position(tp) < end[tp] for tp in tps) and time.time() < deadline:
        fetches += 1
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                first.setdefault(tp.partition, m.offset)
                n += 1
    c.close()
    print("consumed", n, "in", fetches, "polls; first offsets", first, "end", end)
    if any(o != 3 for o in first.values()):
        print("UNEXPECTED: first offsets %r, expected 3" % first)
    if n != sum(end.values()) - 3 * len(tps):
        print("UNEXPECTED: consumed %d, expected %d" % (n, sum(end.values()) - 3 * len(tps)))


@step("list-offsets-consumer")
def _():
    c = KafkaConsumer(**COMMON, group_id=None, enable_auto_commit=False)
    tps = [TopicPartition(T, p) for p in range(3)]
    print("beginning", c.beginning_offsets(tps))
    print("end", c.end_offsets(tps))
    print("for_times(mid)", c.offsets_for_times({tp: TS_MID for tp in tps}))
    print("for_times(before)", c.offsets_for_times({tp: TS_BEFORE - 3600_000 for tp in tps}))
    print("for_times(future)", c.offsets_for_times({tp: int(time.time() * 1000) + 3600_000 for tp in tps}))
    c.close()


@step("list-offsets-admin")
def _():
    if not needs((3, 0), "KafkaAdminClient.list_partition_offsets (ListOffsets v7+)"):
        return
    tps = [TopicPartition(T, p) for p in range(3)]
    for spec in [OffsetSpec.EARLIEST, OffsetSpec.LATEST, OffsetSpec.MAX_TIMESTAMP, TS_MID]:
        print(spec, admin.list_partition_offsets({tp: spec for tp in tps}))


def describe_configs_unsupported():
    """Riffle answers DescribeConfigs v1-4 only; with the broker pinned to < 1.1
    kafka-python sends v0 without consulting ApiVersions, and the broker closes the
    connection (as it does for any unsupported version)."""
    if PINNED is not None and PINNED < (1, 1):
        print("EXPECTED: skipping the rest of this step, DescribeConfigs v0 is unsupported")
        return True
    return False


@step("list-offsets-inside-compressed-batch")
def _():
    # One gzip batch of 20 records 10 ms apart. Kafka looks inside the batch: the offset
    # for TS0+55 is 6 (timestamp TS0+60) and MAX_TIMESTAMP is offset 19.
    t = "kp-ts"
    admin.create_topics([NewTopic(t, 1, 1)])
    ts0 = int(time.time() * 1000) - 60_000
    p = KafkaProducer(**COMMON, linger_ms=200, compression_type="gzip")
    for i in range(20):
        p.send(t, key=b"k", value=b"a" * 200 + str(i).encode(), partition=0, timestamp_ms=ts0 + 10 * i,
               headers=[("label", b"ts")])
    p.flush(30)
    p.close(timeout=10)
    tp = TopicPartition(t, 0)
    c = KafkaConsumer(**COMMON, group_id=None, enable_auto_commit=False)
    r = c.offsets_for_times({tp: ts0 + 55})[tp]
    c.close()
    got = {"offsets_for_times+55": (r.offset, r.timestamp - ts0)}
    want = {"offsets_for_times+55": (6, 60)}
    if needs((3, 0), "MAX_TIMESTAMP (ListOffsets v7+)"):
        r = admin.list_partition_offsets({tp: OffsetSpec.MAX_TIMESTAMP})[tp]
        got["max_timestamp"] = (r.offset, r.timestamp - ts0)
        want["max_timestamp"] = (19, 190)
    print("got (offset, timestamp-TS0):", got)
    for k, v in want.items():
        if got[k] != v:
            print("UNEXPECTED: ListOffsets %s in a gzip batch: got %r, Kafka answers %r" % (k, got[k], v))


@step("describe-configs")
def _():
    try:
        r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, T),
                                    ConfigResource(ConfigResourceType.BROKER, "1")])
    except KafkaError as e:
        if describe_configs_unsupported():
            print("EXPECTED", repr(e))
            return
        raise
    print(r)


@step("describe-configs-all-synonyms")
def _():
    if describe_configs_unsupported():
        return
    r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, T, configs={"retention.ms": None, "segment.bytes": None}),
                                ConfigResource(ConfigResourceType.BROKER, "1")],
                               include_synonyms=True, config_filter="all")
    for rtype, by_name in r.items():
        for name, cfgs in by_name.items():
            print(rtype, name, len(cfgs), "entries", {k: v for k, v in cfgs.items() if k in ("retention.ms", "segment.bytes", "num.partitions")})


@step("describe-configs-unknown-topic")
def _():
    if describe_configs_unsupported():
        return
    # kafka-python's describe_configs ignores per-resource error codes, so look at the
    # raw response (private API; the request is the same one describe_configs sends).
    res = [ConfigResource(ConfigResourceType.TOPIC, "kp-nope")]
    print("describe_configs:", admin.describe_configs(res))
    try:
        req = admin._describe_configs_request(res, False)

        async def send():
            return await admin._manager.send(req)
        resp = admin._manager.run(send)
    except AttributeError as e:
        print("raw check skipped:", e)
        return
    codes = [r.error_code for r in resp.results]
    print("raw error codes", codes, [r.error_message for r in resp.results])
    if codes != [3]:
        print("UNEXPECTED: error codes %r for an unknown topic, expected [3]" % codes)


@step("delete-topics")
def _():
    topics = ["kp-to-delete", "kp-auto", "kp-ts"] + (["kp-defaults"] if "kp-defaults" in admin.list_topics() else [])
    print(admin.delete_topics(topics, timeout_ms=10000))


@step("delete-topic-by-id")
def _():
    # KIP-516: DeleteTopics v6 addresses topics by id.
    if not needs((2, 8), "DeleteTopics by topic id (v6)"):
        return
    admin.create_topics([NewTopic("kp-delete-by-id", 1, 1)])
    tid = admin.describe_topics(["kp-delete-by-id"])[0]["topic_id"]
    tid = tid if isinstance(tid, uuid.UUID) else uuid.UUID(str(tid))
    print("deleting", tid, admin.delete_topics([tid], timeout_ms=10000))
    if "kp-delete-by-id" in admin.list_topics():
        print("UNEXPECTED: kp-delete-by-id still listed after delete by id")


@step("delete-topics-unknown")
def _():
    expect_error("UnknownTopicOrPartition", lambda: admin.delete_topics(["kp-nope"], timeout_ms=10000))


@step("metadata-final")
def _():
    left = admin.list_topics()
    print("topics", left)
    for t in ("kp-to-delete", "kp-auto", "kp-defaults"):
        if t in left:
            print("UNEXPECTED: %s still listed after delete" % t)


admin.close()
print("FAILED steps:", FAILED)
sys.exit(1 if FAILED else 0)
