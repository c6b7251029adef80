"""Kafka Connect (compat/connect: connect-runtime and connect-file): a distributed
worker keeps its configs, offsets and statuses in topics on the broker; a file
source connector writes a file into a topic, a file sink connector writes the
topic back out; the worker is stopped and started again and resumes from its
stored offsets."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

from harness.clients import get_client
from harness.common import Skip, check, compat_dir, free_port, log, wait_until

CONNECT_DIR = os.path.join(compat_dir(), "connect")


def _lib():
    libs = sorted(glob.glob(os.path.join(CONNECT_DIR, "target", "kafka-*", "lib")))
    if not libs:
        raise Skip("Kafka Connect is not installed (run compat/install.sh)")
    return libs[-1]


class Worker:
    def __init__(self, props_path, log_path, port):
        self.argv = ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                     "-cp", os.path.join(_lib(), "*"), "org.apache.kafka.connect.cli.ConnectDistributed", props_path]
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log(f"Connect worker started (pid {self.proc.pid}), REST {self.url}, log {self.log_path}")
        wait_until(lambda: self.get("/") is not None, 120, "the Connect worker's REST API")

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode()
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read().decode()[:500]}") from None

    def get(self, path):
        try:
            return self.request("GET", path)
        except (OSError, RuntimeError):
            return None

    def stop(self):
        """SIGTERM: Connect stops its connectors, commits their offsets and leaves the group."""
        self.proc.terminate()
        return self.proc.wait(90)


def _lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def connect(ctx):
    if not shutil.which("java"):
        raise Skip("java is not installed")
    ck = get_client("confluent-kafka")
    run = uuid.uuid4().hex[:8]
    work = os.path.join(ctx.workdir, "connect", run)
    os.makedirs(work)
    topic = ctx.topic("connect.lines")
    ck.create_topic(ctx, topic, 3)
    internal = {k: f"compat-connect-{run}-{k}" for k in ("configs", "offsets", "status")}
    port = free_port()
    props = os.path.join(work, "worker.properties")
    with open(props, "w") as f:
        f.write("\n".join([
            f"bootstrap.servers={ctx.bootstrap}",
            f"group.id=compat-connect-{run}",
            "key.converter=org.apache.kafka.connect.storage.StringConverter",
            "value.converter=org.apache.kafka.connect.storage.StringConverter",
            f"config.storage.topic={internal['configs']}",
            f"offset.storage.topic={internal['offsets']}",
            f"status.storage.topic={internal['status']}",
            "config.storage.replication.factor=1",
            "offset.storage.replication.factor=1",
            "status.storage.replication.factor=1",
            "offset.flush.interval.ms=500",
            f"listeners=http://127.0.0.1:{port}",
            "rest.advertised.host.name=127.0.0.1",
            f"rest.advertised.port={port}",
            "scheduled.rebalance.max.delay.ms=2000",
            "",
        ]))
    source, sink = os.path.join(work, "source.txt"), os.path.join(work, "sink.txt")
    first = [f"line {i} {uuid.uuid4().hex}" for i in range(2000)]
    with open(source, "w") as f:
        f.write("\n".join(first) + "\n")
    w = Worker(props, os.path.join(work, "worker.log"), port)
    try:
        w.start()
        w.request("POST", "/connectors", {"name": "file-source", "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "file": source, "topic": topic, "tasks.max": "1", "batch.size": "200"}})
        w.request("POST", "/connectors", {"name": "file-sink", "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": sink, "topics": topic, "tasks.max": "1"}})

        def running():
            st = [w.get(f"/connectors/{n}/status") for n in ("file-source", "file-sink")]
            return all(s and s["connector"]["state"] == "RUNNING" and s["tasks"]
                       and all(t["state"] == "RUNNING" for t in s["tasks"]) for s in st)
        wait_until(running, 90, "both connectors and their tasks RUNNING")
        wait_until(lambda: len(_lines(sink)) >= len(first), 120, f"{len(first)} lines in the sink file")
        # three partitions: the sink writes each partition in order, not the file's order
        got = _lines(sink)
        check(sorted(got) == sorted(first), f"sink file after round 1: {len(got)} lines, {len(set(got))} distinct, "
                                            f"{len(set(first) - set(got))} missing")
        # the worker's own topics, as Connect created them
        for k, t in internal.items():
            cfg = ck.describe_topic_configs(ctx, t)
            check(cfg.get("cleanup.policy", (None,))[0] == "compact", f"{t}: cleanup.policy {cfg.get('cleanup.policy')}")
        code = w.stop()
        log(f"worker stopped: exit {code}")
        # more lines while the worker is down; it resumes from the stored offsets
        second = [f"line {i} {uuid.uuid4().hex}" for i in range(2000, 3000)]
        with open(source, "a") as f:
            f.write("\n".join(second) + "\n")
        w.start()
        wait_until(lambda: len(_lines(sink)) >= len(first) + len(second), 120,
                   f"{len(first) + len(second)} lines in the sink file after the restart")
        got = _lines(sink)
        missing = set(first + second) - set(got)
        check(not missing, f"{len(missing)} lines never reached the sink file")
        dup = len(got) - len(set(got))
        check(dup == 0, f"{dup} lines written twice after a clean stop and restart (offsets not resumed)")
        w.request("DELETE", "/connectors/file-source")
        w.request("DELETE", "/connectors/file-sink")
        w.stop()
        return f"{len(got)} lines through a file source and sink; restart resumed with no duplicate"
    finally:
        if w.proc and w.proc.poll() is None:
            w.proc.kill()
