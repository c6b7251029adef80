"""kafkajs, driven through node compat/js/driver.js.

kafkajs has no consumer without a consumer group: it reads its own data back
with a group consumer of a fresh group (driver.js `consume`).
COMPAT_KAFKAJS_GROUP_CONSUMER=0 reads kafkajs data back with confluent-kafka
instead (for a broker without consumer groups; the rows then say so).
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid

from ..common import CheckFailed, Record, Skip, check, compat_dir
from .base import Client
from .driver import conn_request, run_driver, wire_messages

GROUP_CONSUMER = os.environ.get("COMPAT_KAFKAJS_GROUP_CONSUMER", "1") == "1"

JS_DIR = os.path.join(compat_dir(), "js")
DRIVER = os.path.join(JS_DIR, "driver.js")


def _unb64(s):
    return None if s is None else base64.b64decode(s)


def run_node(command: str, request: dict, timeout: float = 120) -> dict:
    if not shutil.which("node"):
        raise Skip("node is not installed")
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")):
        raise Skip("kafkajs is not installed (run compat/install.sh: npm ci in compat/js)")
    return run_driver("kafkajs", ["node", DRIVER, command], command, request, timeout=timeout, cwd=JS_DIR,
                      env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))


class KafkaJS(Client):
    name = "kafkajs"
    idempotence = True
    time_past_end_is_high_watermark = True

    def __init__(self):
        self._ck = None
        self._version = None
        self.reads_itself = GROUP_CONSUMER
        self.reader_note = ("" if GROUP_CONSUMER else
                            "data read back with confluent-kafka (kafkajs can only consume in a group; "
                            "COMPAT_KAFKAJS_GROUP_CONSUMER=0)")

    def confluent(self):
        if self._ck is None:
            from .confluent import Confluent
            self._ck = Confluent()
        return self._ck

    def _info(self):
        if self._version is None:
            self._version = run_node("version", {}, timeout=30)
        return self._version

    def version(self):
        try:
            v = self._info()
            return f"kafkajs {v['kafkajs']} (node {v['node']})"
        except (Skip, CheckFailed) as e:
            return f"kafkajs (unavailable: {e})"

    def codec_skip_reason(self, codec):
        st = self._info()["codecs"].get(codec)
        if not st or not st.get("ok"):
            return f"kafkajs {codec} codec package not installable/loadable: {st and st.get('error')}"
        return None

    def create_topic(self, ctx, topic, partitions=3, configs=None):
        run_node("create-topic", {**conn_request(ctx), "topic": topic, "partitions": partitions,
                                  "configs": configs or {}}, timeout=90)
        # kafkajs waited for leaders; also make sure the topic is in metadata
        md = self.metadata(ctx, topic)
        check(len(md["topics"].get(topic, {})) == partitions,
              f"kafkajs metadata after createTopics: {md['topics'].get(topic)}")

    def delete_topic(self, ctx, topic):
        run_node("delete-topic", {**conn_request(ctx), "topic": topic}, timeout=60)

    def produce(self, ctx, topic, msgs, *, compression=None, idempotent=False, timeout=180):
        req = {**conn_request(ctx), "topic": topic, "compression": compression or "none",
               "idempotent": bool(idempotent), "messages": wire_messages(msgs)}
        res = run_node("produce", req, timeout=timeout)
        if res.get("unavailable"):
            raise Skip(res["unavailable"])
        acks = res["acks"]
        check(len(acks) == len(msgs), f"kafkajs returned {len(acks)} acknowledgements for {len(msgs)} messages")
        return {m.value: (p, o) for m, (p, o) in zip(msgs, acks)}

    def watermarks(self, ctx, topic):
        res = run_node("offsets", {**conn_request(ctx), "topic": topic}, timeout=60)
        return {o["partition"]: (o["low"], o["high"]) for o in res["partitions"]}

    def offsets_for_time(self, ctx, topic, partitions, ts):
        """Note: kafkajs maps 'no offset for this timestamp' (-1) to the high
        watermark itself; the caller accounts for that."""
        res = run_node("offsets-by-timestamp", {**conn_request(ctx), "topic": topic, "timestamp": ts},
                       timeout=60)
        return {o["partition"]: o["offset"] for o in res["partitions"] if o["partition"] in partitions}

    def metadata(self, ctx, topic):
        res = run_node("metadata", {**conn_request(ctx), "topic": topic}, timeout=60)
        topics = {}
        for t in res["metadata"]:
            topics[t["name"]] = {p["partitionId"]: p["leader"] for p in t["partitions"]}
        for name in res["topics"]:
            topics.setdefault(name, {})
        c = res["cluster"]
        return {"brokers": {(b["nodeId"], b["host"], b["port"]) for b in c["brokers"]},
                "topics": topics, "cluster_id": c.get("clusterId"), "listed": res["topics"]}

    def describe_topic_configs(self, ctx, topic):
        res = run_node("describe-configs", {**conn_request(ctx), "topic": topic}, timeout=60)
        rs = res["resources"]
        check(len(rs) == 1, f"kafkajs describeConfigs returned {len(rs)} resources")
        r = rs[0]
        check(r.get("errorCode", 0) == 0, f"kafkajs describeConfigs error: {r}")
        return {e["configName"]: (e.get("configValue"), e.get("configSource")) for e in r["configEntries"]}

    def read_all(self, ctx, topic, timeout=90):
        if not GROUP_CONSUMER:
            return self.confluent().read_all(ctx, topic, timeout=timeout)
        wm = self.watermarks(ctx, topic)
        expected = sum(hi - lo for lo, hi in wm.values())
        res = run_node("consume", {**conn_request(ctx), "topic": topic, "expected": expected,
                                   "groupId": f"compat-{uuid.uuid4().hex[:8]}", "timeoutMs": int(timeout * 1000)},
                       timeout=timeout + 30)
        return [Record(partition=r["partition"], offset=r["offset"], key=_unb64(r["key"]), value=_unb64(r["value"]),
                       headers=[(k, _unb64(v)) for k, v in r["headers"]], timestamp=r["timestamp"],
                       ts_type={0: "create", 1: "logappend"}.get(r.get("timestampType")))
                for r in res["records"]]
