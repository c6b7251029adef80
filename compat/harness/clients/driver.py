"""Clients behind a driver program of the suite's own (compat/java, compat/go):
one process per command, the request as JSON on stdin, exactly one JSON answer
on stdout. Every error the client reported to the driver comes back counted by
its Kafka name, and the scenario's note lists them (``errors seen``)."""

from __future__ import annotations

import base64
import json
import subprocess

from ..common import CheckFailed, Record, Skip, check, log, note_errors, note_logged_errors
from .base import Client


def _b64(b):
    return None if b is None else base64.b64encode(b).decode()


def wire_messages(msgs) -> list[dict]:
    """Messages as the drivers take them: key, value and header values in base64."""
    return [{"key": _b64(m.key), "value": _b64(m.value), "headers": [[k, _b64(v)] for k, v in m.headers],
             "timestamp": m.timestamp} for m in msgs]


def _unb64(s):
    return None if s is None else base64.b64decode(s)


def run_driver(column: str, argv: list[str], command: str, request: dict, timeout: float = 120,
               ok_required=True, cwd=None, env=None) -> dict:
    """Runs one driver command: the request as JSON on stdin, one JSON answer on stdout
    (compat/java, compat/go, and kafkajs's compat/js/driver.js)."""
    payload = json.dumps(request).encode()
    log(f"$ {column} driver {command} (request {len(payload)} bytes)")
    try:
        p = subprocess.run(argv, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           cwd=cwd, env=env)
    except subprocess.TimeoutExpired as e:
        err = (e.stderr or b"").decode("utf-8", "replace")[-3000:]
        raise CheckFailed(f"{column} `{command}` did not finish within {timeout}s; stderr tail:\n{err}") from None
    err = p.stderr.decode("utf-8", "replace")
    note_logged_errors(column, err)
    if err.strip():
        log(f"{column} stderr:\n" + err[-4000:])
    lines = [ln for ln in p.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]
    try:
        res = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise CheckFailed(f"{column} `{command}` exited {p.returncode} without a JSON result; "
                          f"stdout {p.stdout[-500:]!r}; stderr tail:\n{err[-2000:]}") from None
    note_errors(column, res.get("errors") or {})
    if ok_required and not res.get("ok"):
        raise CheckFailed(f"{column} `{command}` failed: {res.get('type')}: {res.get('error')}\n"
                          f"stderr tail:\n{err[-1500:]}")
    return res


def conn_request(ctx) -> dict:
    from ..security import java_conf
    out = {"bootstrap": ctx.bootstrap}
    sec = getattr(ctx, "security", None)
    if sec:
        out["security"] = sec
        out["clientConfig"] = java_conf(sec)
    return out


class DriverClient(Client):
    """A client behind a driver program that speaks the suite's command protocol
    (compat/java, compat/go): version, create-topic, delete-topic, produce,
    offsets, offsets-by-timestamp, metadata, describe-configs, read, admin."""
    idempotence = True

    def __init__(self, column):
        self.name = column
        self._version = None

    def argv(self, command: str) -> list[str]:
        raise NotImplementedError

    def describe_version(self, v: dict) -> str:
        raise NotImplementedError

    @staticmethod
    def conn(ctx) -> dict:
        """Where and how to connect: ctx.bootstrap, and with ctx.security (TLS / SASL)
        the client-neutral settings (``security``, the Go driver) and the Java client's
        properties (``clientConfig``)."""
        return conn_request(ctx)

    def run(self, command, request, timeout=120, ok_required=True):
        return run_driver(self.name, self.argv(command), command, request, timeout=timeout, ok_required=ok_required)

    def version(self):
        try:
            if self._version is None:
                self._version = self.run("version", {}, timeout=60)
            return self.describe_version(self._version)
        except (Skip, CheckFailed) as e:
            return f"{self.name} (unavailable: {e})"

    def create_topic(self, ctx, topic, partitions=3, configs=None, replication_factor=1):
        self.run("create-topic", {**self.conn(ctx), "topic": topic, "partitions": partitions,
                                  "replicationFactor": replication_factor, "configs": configs or {}}, timeout=90)

    def delete_topic(self, ctx, topic):
        self.run("delete-topic", {**self.conn(ctx), "topic": topic}, timeout=60)

    def produce(self, ctx, topic, msgs, *, compression=None, idempotent=False, timeout=180):
        req = {**self.conn(ctx), "topic": topic, "compression": compression or "none",
               "idempotent": bool(idempotent), "messages": wire_messages(msgs)}
        res = self.run("produce", req, timeout=timeout)
        check(not res["failed"], f"{self.name}: {len(res['failed'])} messages not acknowledged, first: "
                                 f"{res['failed'][:3]}")
        acks = res["acks"]
        check(len(acks) == len(msgs), f"{self.name} returned {len(acks)} acknowledgements for {len(msgs)} messages")
        return {m.value: (p, o) for m, (p, o) in zip(msgs, acks)}

    def watermarks(self, ctx, topic):
        res = self.run("offsets", {**self.conn(ctx), "topic": topic}, timeout=60)
        return {o["partition"]: (o["low"], o["high"]) for o in res["partitions"]}

    def offsets_for_time(self, ctx, topic, partitions, ts):
        res = self.run("offsets-by-timestamp", {**self.conn(ctx), "topic": topic, "timestamp": ts},
                       timeout=60)
        return {o["partition"]: o["offset"] for o in res["partitions"] if o["partition"] in partitions}

    def metadata(self, ctx, topic):
        res = self.run("metadata", {**self.conn(ctx), "topic": topic}, timeout=60)
        topics = {name: {int(p): v["leader"] for p, v in parts.items()} for name, parts in res["topics"].items()}
        for name in res["listed"]:
            topics.setdefault(name, {})
        return {"brokers": {(b[0], b[1], b[2]) for b in res["brokers"]}, "topics": topics,
                "cluster_id": res["cluster_id"], "listed": res["listed"], "controller": res["controller"]}

    def describe_topic_configs(self, ctx, topic):
        res = self.run("describe-configs", {**self.conn(ctx), "topic": topic}, timeout=60)
        return {name: (v, src) for name, (v, src) in res["configs"].items()}

    def read_all(self, ctx, topic, timeout=90):
        res = self.run("read", {**self.conn(ctx), "topic": topic, "timeoutMs": int(timeout * 1000)},
                       timeout=timeout + 30)
        return [Record(partition=r["partition"], offset=r["offset"], key=_unb64(r["key"]), value=_unb64(r["value"]),
                       headers=[(k, _unb64(v)) for k, v in r["headers"]], timestamp=r["timestamp"],
                       ts_type=r["timestampType"])
                for r in res["records"]]


class ListOffsetsBySpec:
    """For a driver whose client lists offsets by spec (the Java AdminClient,
    franz-go's kadm): ``offsets-by-timestamp`` with earliest / latest /
    max-timestamp (KIP-734)."""

    def list_offsets(self, ctx, topic, spec):
        """{partition: (offset, timestamp)} for ``spec``."""
        res = self.run("offsets-by-timestamp", {**self.conn(ctx), "topic": topic, "spec": spec},
                       timeout=60)
        return {o["partition"]: (o["offset"], o.get("timestamp", -1)) for o in res["partitions"]}
