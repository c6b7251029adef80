"""kafka-python (pure Python client)."""

from __future__ import annotations

import logging
import time

import kafka
import kafka.codec
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from ..common import CheckFailed, Record, check, log, note_logged_errors, wait_until
from ..security import kafka_python_conf
from .base import Client

logging.basicConfig(level=logging.WARNING, format="%(asctime)s kafka-python %(levelname)s %(name)s: %(message)s")


class _ErrorCounter(logging.Handler):
    """Counts the broker errors kafka-python logs (it logs the ones it retries)."""

    def emit(self, record):
        try:
            note_logged_errors("kafka-python", record.getMessage())
        except Exception:  # noqa: BLE001 - counting must never break the client
            pass


logging.getLogger("kafka").addHandler(_ErrorCounter(level=logging.WARNING))

_TS_TYPES = {0: "create", 1: "logappend"}


def _sec(ctx) -> dict:
    """kafka-python's TLS / SASL keyword arguments for ctx.security."""
    return kafka_python_conf(getattr(ctx, "security", None))


class KafkaPython(Client):
    name = "kafka-python"
    idempotence = True

    def version(self):
        return f"kafka-python {kafka.__version__}"

    def codec_skip_reason(self, codec):
        have = {"gzip": kafka.codec.has_gzip, "snappy": kafka.codec.has_snappy,
                "lz4": kafka.codec.has_lz4, "zstd": kafka.codec.has_zstd}[codec]()
        if not have:
            pkg = {"snappy": "python-snappy (or cramjam)", "lz4": "lz4", "zstd": "zstandard"}.get(codec, codec)
            return f"kafka-python {codec} support needs the python package {pkg}, not installed"
        return None

    # -- admin ---------------------------------------------------------
    def admin(self, ctx):
        return KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000,
                                client_id="riffle-compat-admin", **_sec(ctx))

    def create_topic(self, ctx, topic, partitions=3, configs=None):
        a = self.admin(ctx)
        try:
            spec = {"num_partitions": partitions, "replication_factor": 1}
            if configs:
                spec["configs"] = dict(configs)
            try:
                res = a.create_topics({topic: spec}, timeout_ms=30000)
            except Exception as e:  # noqa: BLE001
                raise CheckFailed(f"kafka-python KafkaAdminClient.create_topics({topic!r}) failed: {e!r}") from None
            for t in res.get("topics", []):
                check(t.get("error_code", 0) == 0, f"kafka-python create_topics error: {t}")
            wait_until(lambda: self._topic_ready(a, topic, partitions), 60,
                       f"topic {topic} with {partitions} partitions and leaders (kafka-python metadata)")
        finally:
            a.close()

    def delete_topic(self, ctx, topic):
        a = self.admin(ctx)
        try:
            res = a.delete_topics([topic], timeout_ms=30000)
        except Exception as e:  # noqa: BLE001
            raise CheckFailed(f"kafka-python KafkaAdminClient.delete_topics([{topic!r}]) failed: {e!r}") from None
        finally:
            a.close()
        log(f"kafka-python delete_topics: {res}")

    @staticmethod
    def _topic_ready(a, topic, partitions):
        ts = a.describe_topics([topic])
        if not ts:
            return False
        t = ts[0]
        if t.get("error_code", 0) != 0:
            return False
        parts = t.get("partitions", [])
        return len(parts) == partitions and all(p["leader_id"] >= 0 and p["error_code"] == 0 for p in parts)

    def metadata(self, ctx, topic):
        a = self.admin(ctx)
        try:
            # full MetadataResponse (brokers + topics): kafka-python's admin
            # exposes topics only, so use its (pinned-version) internal call
            md = a._manager.run(a._get_cluster_metadata, None)  # noqa: SLF001
            out = {"brokers": {(b["node_id"], b["host"], b["port"]) for b in md["brokers"]},
                   "topics": {}, "cluster_id": md.get("cluster_id")}
            for t in md["topics"]:
                if t.get("error_code", 0) != 0:
                    continue
                out["topics"][t["name"]] = {p["partition_index"]: p["leader_id"] for p in t["partitions"]}
            # and the public API for good measure
            out["listed"] = a.list_topics()
            return out
        finally:
            a.close()

    def describe_cluster(self, ctx):
        """DescribeCluster API (falls back to Metadata on brokers without it)."""
        a = self.admin(ctx)
        try:
            d = a.describe_cluster()
            return {"brokers": {(b["broker_id"], b["host"], b["port"]) for b in d["brokers"]},
                    "cluster_id": d.get("cluster_id"), "controller": d.get("controller_id")}
        finally:
            a.close()

    def describe_topic_configs(self, ctx, topic):
        a = self.admin(ctx)
        try:
            res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
            cfg = res.get("topic", {}).get(topic)
            check(cfg is not None, f"kafka-python describe_configs returned nothing for topic {topic}: {res}")
            out = {}
            for name, c in cfg.items():
                src = c.get("config_source")
                out[name] = (c.get("value"), None if src is None else getattr(src, "name", str(src)))
            return out
        finally:
            a.close()

    # -- produce -------------------------------------------------------
    def produce(self, ctx, topic, msgs, *, compression=None, idempotent=False, timeout=120):
        p = KafkaProducer(bootstrap_servers=ctx.bootstrap, acks="all", linger_ms=5,
                          compression_type=compression, enable_idempotence=bool(idempotent),
                          client_id="riffle-compat-producer", request_timeout_ms=30000,
                          delivery_timeout_ms=int(timeout * 1000), **_sec(ctx))
        try:
            futs = []
            for m in msgs:
                futs.append((m, p.send(topic, key=m.key, value=m.value, headers=list(m.headers),
                                       timestamp_ms=m.timestamp)))
            p.flush(timeout=timeout)
            delivered = {}
            errors = []
            for m, f in futs:
                try:
                    md = f.get(timeout=1)
                    delivered[m.value] = (md.partition, md.offset)
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
            check(not errors, f"{len(errors)} kafka-python sends failed, first: {errors[:3]}")
            return delivered
        finally:
            p.close(timeout=10)

    # -- consume -------------------------------------------------------
    def consumer(self, ctx, extra=None):
        # group_id=None: no group coordination at all, manual assignment only
        conf = dict(bootstrap_servers=ctx.bootstrap, group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest", fetch_max_wait_ms=100,
                    client_id="riffle-compat-consumer", request_timeout_ms=30000, **_sec(ctx))
        conf.update(extra or {})
        return KafkaConsumer(**conf)

    def watermarks(self, ctx, topic, c=None):
        own = c is None
        c = c or self.consumer(ctx)
        try:
            parts = wait_until(lambda: c.partitions_for_topic(topic), 30, f"kafka-python partitions of {topic}")
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            lo = c.beginning_offsets(tps)
            hi = c.end_offsets(tps)
            return {tp.partition: (lo[tp], hi[tp]) for tp in tps}
        finally:
            if own:
                c.close()

    def offsets_for_time(self, ctx, topic, partitions, ts):
        c = self.consumer(ctx)
        try:
            res = c.offsets_for_times({TopicPartition(topic, p): ts for p in partitions})
            return {tp.partition: (-1 if v is None else v.offset) for tp, v in res.items()}
        finally:
            c.close()

    def read_all(self, ctx, topic, timeout=90, extra=None):
        c = self.consumer(ctx, extra)
        try:
            wm = self.watermarks(ctx, topic, c)
            log(f"kafka-python read_all {topic}: watermarks {wm}")
            tps = [TopicPartition(topic, p) for p in wm]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            pos = {p: lo for p, (lo, _) in wm.items()}
            records = []
            deadline = time.monotonic() + timeout
            while any(pos[p] < wm[p][1] for p in wm):
                if time.monotonic() > deadline:
                    raise CheckFailed(f"kafka-python consumer: timed out after {timeout}s reading {topic}: "
                                      f"positions {pos}, high watermarks { {p: h for p, (_, h) in wm.items()} }")
                batch = c.poll(timeout_ms=500, max_records=2000)
                for tp, recs in batch.items():
                    for r in recs:
                        records.append(Record(partition=r.partition, offset=r.offset, key=r.key, value=r.value,
                                              headers=[(k, v) for k, v in (r.headers or [])],
                                              timestamp=r.timestamp, ts_type=_TS_TYPES.get(r.timestamp_type)))
                        pos[r.partition] = max(pos[r.partition], r.offset + 1)
            return records
        finally:
            c.close()
