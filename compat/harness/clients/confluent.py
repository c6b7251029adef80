"""confluent-kafka (Python binding of librdkafka, current version via its wheel)."""

from __future__ import annotations

import time
import uuid

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from ..common import CheckFailed, Deliveries, Record, check, log, note_errors, retry_kafka, wait_until
from ..security import librdkafka_conf
from .base import Client

_TS_TYPES = {ck.TIMESTAMP_CREATE_TIME: "create", ck.TIMESTAMP_LOG_APPEND_TIME: "logappend"}


def _base_conf(bootstrap, security=None):
    conf = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "socket.timeout.ms": 30000,
        "error_cb": _error_cb,
    }
    conf.update(librdkafka_conf(security))
    return conf


def _conf(ctx):
    """_base_conf for ctx.bootstrap, with ctx.security (TLS / SASL) when it is set."""
    return _base_conf(ctx.bootstrap, getattr(ctx, "security", None))


def _error_cb(err):
    # connection level errors (e.g. while a broker restarts) are expected and
    # retried by librdkafka; log them so that a failing run can be understood, and
    # count them with the errors the client reported
    log(f"librdkafka error_cb: {err}")
    note_errors(Confluent.name, {err.name(): 1})


class Confluent(Client):
    name = "confluent-kafka"
    idempotence = True

    def version(self):
        v = ck.version()
        v = v[0] if isinstance(v, tuple) else v
        return f"confluent-kafka {v} (librdkafka {ck.libversion()[0]})"

    # -- admin ---------------------------------------------------------
    def admin(self, ctx):
        return AdminClient(_conf(ctx))

    def create_topic(self, ctx, topic, partitions=3, configs=None):
        a = self.admin(ctx)
        nt = NewTopic(topic, num_partitions=partitions, replication_factor=1, config=dict(configs or {}))
        fs = a.create_topics([nt], operation_timeout=30, request_timeout=30)
        try:
            fs[topic].result(timeout=60)
        except ck.KafkaException as e:
            raise CheckFailed(f"confluent AdminClient.create_topics({topic!r}, partitions={partitions}) "
                              f"failed: {e}") from None
        self.wait_topic_ready(ctx, topic, partitions)

    def delete_topic(self, ctx, topic):
        a = self.admin(ctx)
        fs = a.delete_topics([topic], operation_timeout=30, request_timeout=30)
        try:
            fs[topic].result(timeout=60)
        except ck.KafkaException as e:
            raise CheckFailed(f"confluent AdminClient.delete_topics({topic!r}) failed: {e}") from None

    def wait_topic_ready(self, ctx, topic, partitions, timeout=60):
        a = self.admin(ctx)

        def ready():
            md = a.list_topics(topic, timeout=10)
            t = md.topics.get(topic)
            if t is None or t.error is not None or len(t.partitions) != partitions:
                return False
            return all(p.error is None and p.leader >= 0 for p in t.partitions.values())
        wait_until(ready, timeout, f"topic {topic} to show {partitions} partitions with leaders (confluent metadata)")
        # and every leader serving it (Kafka names a leader before it has created the log)
        c = self.consumer(ctx)
        try:
            for p in range(partitions):
                self._watermark(c, topic, p, timeout)
        finally:
            c.close()

    def metadata(self, ctx, topic):
        a = self.admin(ctx)
        md = a.list_topics(timeout=15)
        out = {"brokers": {(b.id, b.host, b.port) for b in md.brokers.values()},
               "topics": {}, "cluster_id": md.cluster_id}
        for name, t in md.topics.items():
            if t.error is not None:
                continue
            out["topics"][name] = {p.id: p.leader for p in t.partitions.values()}
        return out

    def describe_cluster(self, ctx):
        a = self.admin(ctx)
        r = a.describe_cluster(request_timeout=15).result(timeout=30)
        return {"brokers": {(n.id, n.host, n.port) for n in r.nodes}, "cluster_id": r.cluster_id,
                "controller": r.controller.id if r.controller else None}

    def describe_topic_configs(self, ctx, topic):
        a = self.admin(ctx)
        res = ConfigResource(ResourceType.TOPIC, topic)
        fs = a.describe_configs([res], request_timeout=30)
        try:
            entries = fs[res].result(timeout=60)
        except ck.KafkaException as e:
            raise CheckFailed(f"confluent AdminClient.describe_configs(TOPIC {topic}) failed: {e}") from None
        from confluent_kafka.admin import ConfigSource

        def src(s):
            return ConfigSource(s).name if isinstance(s, int) else getattr(s, "name", str(s))
        return {name: (e.value, src(e.source)) for name, e in entries.items()}

    # -- produce -------------------------------------------------------
    def producer(self, ctx, *, compression=None, idempotent=False, extra=None):
        conf = _conf(ctx)
        conf.update({
            "acks": "all",
            "linger.ms": 5,
            "compression.type": compression or "none",
            "enable.idempotence": bool(idempotent),
            "message.timeout.ms": 60000,
        })
        conf.update(extra or {})
        return ck.Producer(conf)

    def produce(self, ctx, topic, msgs, *, compression=None, idempotent=False, timeout=120):
        p = self.producer(ctx, compression=compression, idempotent=idempotent)
        d = Deliveries()

        deadline = time.monotonic() + timeout
        for m in msgs:
            while True:
                try:
                    p.produce(topic, key=m.key, value=m.value, headers=m.headers or None,
                              timestamp=m.timestamp or 0, on_delivery=d)
                    break
                except BufferError:
                    p.poll(0.1)
                    check(time.monotonic() < deadline, "producer queue never drained")
            p.poll(0)
        left = p.flush(max(1.0, deadline - time.monotonic()))
        note_errors(self.name, d.error_counts())
        check(left == 0, f"{left} messages still unacknowledged after {timeout}s (flush)")
        check(not d.failed, f"{len(d.failed)} delivery failures, first: {d.failures()}")
        check(len(d.acked) == len(msgs), f"{len(d.acked)} delivery reports for {len(msgs)} messages")
        return d.acked

    # -- consume -------------------------------------------------------
    def consumer(self, ctx, extra=None):
        conf = _conf(ctx)
        conf.update({
            # librdkafka's Consumer insists on a group.id; we never join the
            # group nor commit: partitions are assigned manually.
            "group.id": f"compat-unused-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "check.crcs": True,  # a torn or corrupted batch must fail the read
        })
        conf.update(extra or {})
        return ck.Consumer(conf)

    def partitions(self, ctx, topic, c=None):
        own = c is None
        c = c or self.consumer(ctx)
        try:
            t = c.list_topics(topic, timeout=15).topics.get(topic)
            check(t is not None and t.error is None, f"topic {topic} not in metadata: {t and t.error}")
            return sorted(t.partitions)
        finally:
            if own:
                c.close()

    def watermarks(self, ctx, topic, c=None):
        own = c is None
        c = c or self.consumer(ctx)
        try:
            out = {}
            for p in self.partitions(ctx, topic, c):
                out[p] = self._watermark(c, topic, p)
            return out
        finally:
            if own:
                c.close()

    @staticmethod
    def _watermark(c, topic, p, timeout=60):
        """ListOffsets, again while the leader named in metadata cannot answer yet: Kafka
        lists a leader before its log is loaded (after a start or a crash recovery) and
        answers NOT_LEADER_OR_FOLLOWER until then; librdkafka does not retry this call."""
        return retry_kafka(lambda: c.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=15, cached=False),
                           (ck.KafkaError.NOT_LEADER_FOR_PARTITION, ck.KafkaError.LEADER_NOT_AVAILABLE,
                            ck.KafkaError.UNKNOWN_TOPIC_OR_PART, ck.KafkaError._TIMED_OUT), timeout)

    def offsets_for_time(self, ctx, topic, partitions, ts):
        c = self.consumer(ctx)
        try:
            res = c.offsets_for_times([ck.TopicPartition(topic, p, ts) for p in partitions], timeout=15)
            out = {}
            for tp in res:
                check(tp.error is None, f"offsets_for_times p{tp.partition} ts={ts}: {tp.error}")
                out[tp.partition] = tp.offset
            return out
        finally:
            c.close()

    def read_all(self, ctx, topic, timeout=90, extra=None):
        c = self.consumer(ctx, extra)
        try:
            wm = self.watermarks(ctx, topic, c)
            log(f"confluent read_all {topic}: watermarks {wm}")
            pos = {p: lo for p, (lo, hi) in wm.items()}
            c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in wm])
            records = []
            deadline = time.monotonic() + timeout
            while any(pos[p] < wm[p][1] for p in wm):
                if time.monotonic() > deadline:
                    raise CheckFailed(f"confluent consumer: timed out after {timeout}s reading {topic}: "
                                      f"positions {pos}, high watermarks { {p: h for p, (_, h) in wm.items()} }")
                for m in c.consume(1000, timeout=0.5):
                    err = m.error()
                    if err is not None:
                        if err.code() == ck.KafkaError._PARTITION_EOF:
                            continue
                        note_errors(self.name, {err.name(): 1})
                        if m.topic() == topic or err.fatal():
                            raise CheckFailed(f"confluent consumer error on {m.topic()} [{m.partition()}]: {err}")
                        log(f"confluent consumer: ignoring non-partition error: {err}")
                        continue
                    tstype, ts = m.timestamp()
                    records.append(Record(partition=m.partition(), offset=m.offset(), key=m.key(),
                                          value=m.value(), headers=list(m.headers() or []),
                                          timestamp=ts, ts_type=_TS_TYPES.get(tstype)))
                    pos[m.partition()] = max(pos[m.partition()], m.offset() + 1)
                # the consumer's own position also moves past offsets that are no records
                # (transaction markers, aborted records), which never come out of consume()
                for tp in c.position([ck.TopicPartition(topic, p) for p in wm]):
                    if tp.offset >= 0:
                        pos[tp.partition] = max(pos[tp.partition], tp.offset)
            return records
        finally:
            c.close()

    def read_from(self, ctx, topic, partition, offset, count, timeout=30):
        """Up to ``count`` records of one partition starting at ``offset``."""
        c = self.consumer(ctx)
        out = []
        try:
            c.assign([ck.TopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                for m in c.consume(count, timeout=0.5):
                    if m.error() is None:
                        out.append((m.offset(), m.value()))
                    elif m.error().code() != ck.KafkaError._PARTITION_EOF:
                        raise CheckFailed(f"fetch from p{partition}@{offset}: {m.error()}")
        finally:
            c.close()
        return out[:count]
