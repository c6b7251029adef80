#!/usr/bin/env python3
"""One consumer-group member (confluent-kafka or kafka-python) in a process of
its own, so that a scenario can run several at once and SIGKILL one.

    python3 group_worker.py '<json config>'

Config keys: client ("confluent-kafka" | "kafka-python"), bootstrap, group,
topics (list), client_id, session_timeout_ms, heartbeat_ms, strategy
("range" | "roundrobin" | "cooperative-sticky"), instance_id (static member),
group_protocol ("classic" | "consumer": KIP-848, confluent-kafka only; the session
timeout, heartbeat interval and assignor are then the broker's, and rebalances are
incremental), remote_assignor (group.remote.assignor, "uniform" | "range"), pattern
(a regex subscription instead of topics; with the consumer protocol librdkafka sends
it to the broker as SubscribedTopicRegex),
max_poll (records per poll), stop_after (process that many records, commit,
close; with after_stop="hold": pause and stay in the group instead),
commit_every (commit after every N-th batch only: a window of processed but
uncommitted records, for failover),
batch_delay_ms (pause after each processed batch), offset_reset.

Every record handed to the application is "processed" (reported) and its
offset committed synchronously right after the batch (explicit offsets), and
again when partitions are revoked; so what the group has committed is always
exactly what was reported as read, except for a member killed between
processing and committing.

Events, one JSON object per line on stdout ("ev" is the kind):
  started   {member_id?}
  assign    {parts: [[topic, p], ...], incremental, assignment: [...], generation?, member_id?}
  revoke    {parts, incremental, assignment}
  lost      {parts}
  recs      {recs: [[topic, p, offset, value], ...]}
  commit    {offsets: [[topic, p, next_offset], ...]}
  commit_failed {error, offsets}
  error     {error}          (client error callback / exception; not fatal by itself)
  stopped_after {count}      (stop_after reached; committed)
  closed    {}
  fatal     {error}          (the worker gave up)
Commands on stdin, one per line: "ids" (emit an "ids" event: member id,
generation where the client tells), "close" (commit, close normally: a dynamic
member leaves the group; a static one does not), "exit" (exit at once
without closing, like a crash but via exit()).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback

CFG = json.loads(sys.argv[1])
_out_lock = threading.Lock()


def emit(ev, **kw):
    kw["ev"] = ev
    kw["t"] = round(time.time(), 3)
    line = json.dumps(kw)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


commands: queue.Queue = queue.Queue()


def _stdin_reader():
    for line in sys.stdin:
        line = line.strip()
        if line:
            commands.put(line)
    commands.put("eof")


def _val(b):
    if b is None:
        return None
    return b.decode("utf-8", "replace")


class Base:
    def __init__(self):
        self.processed: dict[tuple[str, int], int] = {}   # next offset to commit, per partition
        self.uncommitted: set[tuple[str, int]] = set()
        self.count = 0
        self.stop_after = CFG.get("stop_after")
        self.max_poll = int(CFG.get("max_poll", 200))
        self.delay = float(CFG.get("batch_delay_ms", 0)) / 1000.0
        # the consumer protocol (KIP-848) rebalances incrementally, like cooperative-sticky
        self.incremental = (CFG.get("strategy") == "cooperative-sticky"
                            or CFG.get("group_protocol", "classic") == "consumer")
        self.commit_every = max(1, int(CFG.get("commit_every", 1)))  # commit after every N-th batch
        self.batches = 0

    def process(self, recs):
        """recs: [(topic, p, offset, value)] as returned by the client."""
        out = []
        for t, p, o, v in recs:
            if self.stop_after is not None and self.count >= self.stop_after:
                break
            out.append([t, p, o, v])
            self.processed[(t, p)] = o + 1
            self.uncommitted.add((t, p))
            self.count += 1
        if out:
            emit("recs", recs=out)
        return len(out) < len(recs)  # True: the rest was not processed (stop_after)

    def pending(self, parts=None):
        keys = self.uncommitted if parts is None else [k for k in self.uncommitted if k in parts]
        return {k: self.processed[k] for k in keys}

    def commit_pending(self, parts=None, where="batch"):
        offs = self.pending(parts)
        if not offs:
            return True
        try:
            self.commit(offs)
        except Exception as e:  # noqa: BLE001 - reported, the scenario decides
            emit("commit_failed", error=f"{type(e).__name__}: {e}", where=where,
                 offsets=[[t, p, o] for (t, p), o in offs.items()])
            return False
        for k, o in offs.items():
            if self.processed.get(k) == o:
                self.uncommitted.discard(k)
        emit("commit", where=where, offsets=[[t, p, o] for (t, p), o in offs.items()])
        return True

    def run(self):
        threading.Thread(target=_stdin_reader, daemon=True).start()
        self.open()
        emit("started", **self.ids())
        holding = False
        while True:
            try:
                cmd = commands.get_nowait()
            except queue.Empty:
                cmd = None
            if cmd == "exit":
                os._exit(3)
            if cmd in ("close", "eof"):
                break
            if cmd == "ids":
                emit("ids", **self.ids())
            recs = self.poll()
            if holding:
                if recs:  # paused partitions return nothing; a new assignment might
                    self.pause_all()
                continue
            if recs:
                cut = self.process(recs)
                self.batches += 1
                if self.batches % self.commit_every == 0 or cut or (
                        self.stop_after is not None and self.count >= self.stop_after):
                    self.commit_pending()
                if cut or (self.stop_after is not None and self.count >= self.stop_after):
                    self.rewind()
                    emit("stopped_after", count=self.count)
                    if CFG.get("after_stop") == "hold":
                        # stay in the group (heartbeats, rebalances) but read nothing more
                        self.pause_all()
                        holding = True
                        continue
                    break
                if self.delay:
                    time.sleep(self.delay)
        self.commit_pending(where="close")
        self.close()
        emit("closed", count=self.count)

    def ids(self):
        return {}


# ---------------------------------------------------------------------------
class ConfluentWorker(Base):
    def open(self):
        import confluent_kafka as ck
        self.ck = ck
        conf = {
            "bootstrap.servers": CFG["bootstrap"],
            "broker.address.family": "v4",
            "group.id": CFG["group"],
            "client.id": CFG.get("client_id", "compat-group-worker"),
            "session.timeout.ms": int(CFG.get("session_timeout_ms", 6000)),
            "heartbeat.interval.ms": int(CFG.get("heartbeat_ms", 500)),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": CFG.get("offset_reset", "earliest"),
            "partition.assignment.strategy": CFG.get("strategy", "range"),
            "fetch.wait.max.ms": 100,
            "topic.metadata.refresh.interval.ms": 2000,
            "error_cb": lambda err: emit("error", error=str(err)),
        }
        if CFG.get("instance_id"):
            conf["group.instance.id"] = CFG["instance_id"]
        if CFG.get("group_protocol", "classic") != "classic":
            # KIP-848: librdkafka refuses the classic-only settings with group.protocol=consumer
            conf["group.protocol"] = CFG["group_protocol"]
            for k in ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy"):
                del conf[k]
        if CFG.get("remote_assignor"):
            conf["group.remote.assignor"] = CFG["remote_assignor"]
        self.c = ck.Consumer(conf)
        # a topic name starting with "^" is a regex for librdkafka
        topics = [CFG["pattern"]] if CFG.get("pattern") else CFG["topics"]
        self.c.subscribe(topics, on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost)

    def _assignment(self):
        try:
            return sorted([tp.topic, tp.partition] for tp in self.c.assignment())
        except Exception:  # noqa: BLE001 - e.g. while closing
            return None

    def ids(self):
        try:
            return {"member_id": self.c.memberid()}
        except Exception:  # noqa: BLE001
            return {}

    def on_assign(self, c, parts):
        if self.incremental:
            c.incremental_assign(parts)
        else:
            c.assign(parts)
        emit("assign", parts=sorted([tp.topic, tp.partition] for tp in parts), incremental=self.incremental,
             assignment=self._assignment(), **self.ids())

    def on_revoke(self, c, parts):
        keys = {(tp.topic, tp.partition) for tp in parts}
        self.commit_pending(keys, where="revoke")
        if self.incremental:
            c.incremental_unassign(parts)
        else:
            c.unassign()
        for k in keys:
            self.uncommitted.discard(k)
        emit("revoke", parts=sorted([tp.topic, tp.partition] for tp in parts), incremental=self.incremental,
             assignment=self._assignment())

    def on_lost(self, c, parts):
        for tp in parts:
            self.uncommitted.discard((tp.topic, tp.partition))
        if self.incremental:
            c.incremental_unassign(parts)
        else:
            c.unassign()
        emit("lost", parts=sorted([tp.topic, tp.partition] for tp in parts))

    def poll(self):
        out = []
        for m in self.c.consume(num_messages=self.max_poll, timeout=0.2):
            err = m.error()
            if err is not None:
                if err.code() != self.ck.KafkaError._PARTITION_EOF:
                    emit("error", error=f"consume: {err}")
                continue
            out.append((m.topic(), m.partition(), m.offset(), _val(m.value())))
        return out

    def commit(self, offs):
        tps = [self.ck.TopicPartition(t, p, o) for (t, p), o in offs.items()]
        res = self.c.commit(offsets=tps, asynchronous=False)
        bad = [tp for tp in (res or []) if tp.error is not None]
        if bad:
            raise RuntimeError(f"per-partition commit errors: {[(tp.partition, str(tp.error)) for tp in bad]}")

    def rewind(self):
        # a cut batch: move the positions back to the processed records
        for (t, p), o in self.processed.items():
            if any(tp.topic == t and tp.partition == p for tp in self.c.assignment()):
                self.c.seek(self.ck.TopicPartition(t, p, o))

    def pause_all(self):
        self.c.pause(self.c.assignment())

    def close(self):
        self.c.close()


# ---------------------------------------------------------------------------
class KafkaPythonWorker(Base):
    def open(self):
        import logging

        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.coordinator.assignors.range import RangePartitionAssignor
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
        from kafka.structs import OffsetAndMetadata, TopicPartition
        if CFG.get("group_protocol", "classic") != "classic" or CFG.get("pattern"):
            raise RuntimeError("kafka-python has no consumer group protocol (KIP-848) and no pattern "
                               "subscription in this worker")
        logging.basicConfig(level=os.environ.get("COMPAT_WORKER_LOGLEVEL", "WARNING"), stream=sys.stderr,
                            format="%(asctime)s kafka-python %(levelname)s %(name)s: %(message)s")
        self.TP, self.OAM = TopicPartition, OffsetAndMetadata
        strategies = {"range": (RangePartitionAssignor,), "roundrobin": (RoundRobinPartitionAssignor,),
                      "cooperative-sticky": (CooperativeStickyAssignor,),
                      "range,roundrobin": (RangePartitionAssignor, RoundRobinPartitionAssignor)}
        conf = dict(bootstrap_servers=CFG["bootstrap"], group_id=CFG["group"],
                    client_id=CFG.get("client_id", "compat-group-worker"),
                    session_timeout_ms=int(CFG.get("session_timeout_ms", 6000)),
                    heartbeat_interval_ms=int(CFG.get("heartbeat_ms", 500)),
                    # kafka-python runs listeners on its IO loop, where a
                    # blocking commit is not allowed; with auto-commit it
                    # commits the consumed positions itself before every
                    # rebalance (and we commit explicitly after every batch,
                    # so the periodic auto-commit never has anything new)
                    enable_auto_commit=True, auto_commit_interval_ms=3_600_000,
                    auto_offset_reset=CFG.get("offset_reset", "earliest"),
                    partition_assignment_strategy=strategies[CFG.get("strategy", "range")],
                    fetch_max_wait_ms=100, max_poll_records=self.max_poll,
                    metadata_max_age_ms=2000, request_timeout_ms=30000)
        if CFG.get("instance_id"):
            conf["group_instance_id"] = CFG["instance_id"]
        self.c = KafkaConsumer(**conf)
        w = self

        class L(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                for tp in revoked:
                    w.uncommitted.discard((tp.topic, tp.partition))
                emit("revoke", parts=sorted([tp.topic, tp.partition] for tp in revoked),
                     incremental=w.incremental, assignment=w._assignment())

            def on_partitions_assigned(self, assigned):
                emit("assign", parts=sorted([tp.topic, tp.partition] for tp in assigned),
                     incremental=w.incremental, assignment=w._assignment(), **w.ids())

            def on_partitions_lost(self, lost):
                for tp in lost:
                    w.uncommitted.discard((tp.topic, tp.partition))
                emit("lost", parts=sorted([tp.topic, tp.partition] for tp in lost))

        self.c.subscribe(CFG["topics"], listener=L())

    def _assignment(self):
        return sorted([tp.topic, tp.partition] for tp in self.c.assignment())

    def ids(self):
        try:
            md = self.c.group_metadata()
            return {"member_id": md.member_id, "generation": md.generation_id}
        except Exception:  # noqa: BLE001
            return {}

    def poll(self):
        out = []
        batch = self.c.poll(timeout_ms=200, max_records=self.max_poll)
        for tp, recs in batch.items():
            for r in recs:
                out.append((r.topic, r.partition, r.offset, _val(r.value)))
        return out

    def commit(self, offs):
        self.c.commit({self.TP(t, p): self.OAM(o, "", -1) for (t, p), o in offs.items()})

    def rewind(self):
        # positions may be past what was processed (stop_after cut a batch):
        # move them back so that nothing commits beyond the processed records
        for (t, p), o in self.processed.items():
            tp = self.TP(t, p)
            if tp in self.c.assignment():
                self.c.seek(tp, o)

    def pause_all(self):
        self.c.pause(*self.c.assignment())

    def close(self):
        self.c.close(autocommit=False)


def main():
    try:
        w = {"confluent-kafka": ConfluentWorker, "kafka-python": KafkaPythonWorker}[CFG["client"]]()
        w.run()
    except BaseException as e:  # noqa: BLE001
        emit("fatal", error=f"{type(e).__name__}: {e}", tb=traceback.format_exc()[-3000:])
        sys.stdout.flush()
        os._exit(2)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
