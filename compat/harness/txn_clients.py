"""Transactional adaptors (backends) for the transaction scenarios
(scenarios/transactions.py, txn_bad_input.py, txn_compaction.py): one per client
with a transactional API. Each does transactional produce (commit / abort / left
open by an exiting process), isolation-aware reads up to given offsets, the
read_committed end offsets, the fencing sequence and the consume-transform-produce
loop. confluent-kafka and kafka-python run in process (an open transaction in a
child process, ``child_main``); kafkajs, the Java client (4.4 and 3.9), franz-go
and sarama through their drivers' JSON commands (``txn-produce``, ``txn-fence``,
``txn-ctp``, ``read`` / ``consume``, ``offsets``).

Client notes: franz-go's GroupTransactSession sends the consumed offsets
(AddOffsetsToTxn, TxnOffsetCommit) only when it commits, so its aborted
transaction carries outputs but no offsets; kafkajs's sendOffsets names the
group only (TxnOffsetCommit v1: no member id or generation); kafkajs's
admin.fetchTopicOffsets lists with isolation READ_COMMITTED (its "high" is the
last stable offset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

from .clients.driver import _unb64, wire_messages
from .common import CheckFailed, Msg, Record, check, compat_dir, log, note_errors, note_logged_errors, wait_until

PARTITIONS = 3


def wire(msg: Msg, partition: int) -> dict:
    """A message as the drivers take it, with its explicit partition."""
    return {**wire_messages([msg])[0], "partition": partition}


def _confluent_ends(ctx, topic, isolation) -> dict[int, int]:
    """ListOffsets latest of every partition (confluent-kafka) with ``isolation``."""
    from .clients import get_client
    cl = get_client("confluent-kafka")
    c = cl.consumer(ctx, {"isolation.level": isolation})
    try:
        return {p: hi for p, (_, hi) in cl.watermarks(ctx, topic, c).items()}
    finally:
        c.close()


def high_watermarks(ctx, topic) -> dict[int, int]:
    """ListOffsets latest with isolation READ_UNCOMMITTED (confluent-kafka; librdkafka's
    default isolation.level is read_committed, whose "high" is the last stable offset)."""
    return _confluent_ends(ctx, topic, "read_uncommitted")


# ---------------------------------------------------------------------------
# one backend per client: transactional produce, isolation-aware reads, the
# fencing sequence and the consume-transform-produce loop


class Backend:
    name = "?"

    def create_topic(self, ctx, topic, partitions=PARTITIONS):
        """With confluent-kafka's AdminClient, which waits until every partition's leader
        serves the topic (Kafka names a leader a moment before it does): topic creation
        is not what these scenarios are about."""
        from .clients import get_client
        get_client("confluent-kafka").create_topic(ctx, topic, partitions)

    def produce_txns(self, ctx, topic, txn_id, txns, timeout_ms=None) -> list[tuple[int, int]]:
        """``txns``: [(outcome, [(Msg, partition)])], outcome commit / abort / open (the
        last one: written and flushed, then the producer's process exits without
        ending it). One producer, one transaction after the other. Returns the
        acknowledged (partition, offset) of every message, in order."""
        raise NotImplementedError

    def read(self, ctx, topic, isolation, until, timeout=120) -> list[Record]:
        raise NotImplementedError

    def read_committed_end(self, ctx, topic) -> dict[int, int] | None:
        return None

    def fence(self, ctx, topic, txn_id, first, after, second) -> dict:
        """A: init, begin, ``first`` written (flushed); B (same id): init; A: ``after``
        sent, commit; B: begin, ``second``, commit. Returns {first: acks, second: acks,
        send_error, after_acked, commit_error}."""
        raise NotImplementedError

    def ctp(self, ctx, inp, out, group, txn_id, expected, max_poll, abort_batch) -> dict:
        """The consume-transform-produce loop (see the module doc). Returns {outputs:
        [(p, o, value)] of committed transactions, aborted: [(p, o, value)], batches,
        abortedBatch, committedBefore: {p: offset}, committedAfterAbort: {p: offset}}."""
        raise NotImplementedError


def _norm_ctp(res, values_b64=True):
    dec = _unb64 if values_b64 else (lambda v: v)
    return {"outputs": [(p, o, dec(v)) for p, o, v in res["outputs"]],
            "aborted": [(p, o, dec(v)) for p, o, v in res["aborted"]],
            "batches": res["batches"], "abortedBatch": res["abortedBatch"],
            "committedBefore": {int(p): o for p, o in res["committedBefore"].items()},
            "committedAfterAbort": {int(p): o for p, o in res["committedAfterAbort"].items()}}


def _record(r, ts_type) -> Record:
    """A record of a driver's answer (key, value and header values in base64)."""
    return Record(partition=r["partition"], offset=r["offset"], key=_unb64(r["key"]), value=_unb64(r["value"]),
                  headers=[(k, _unb64(v)) for k, v in r["headers"]], timestamp=r["timestamp"], ts_type=ts_type)


class DriverBackend(Backend):
    """java, java-3.9, franz-go, sarama (compat/java, compat/go) and kafkajs
    (compat/js/driver.js): the same JSON commands."""

    def __init__(self, name):
        self.name = name

    def call(self, command, request, timeout=180):
        if self.name == "kafkajs":
            from .clients.kafkajs import run_node
            return run_node(command, request, timeout=timeout)
        from .clients import get_client
        return get_client(self.name).run(command, request, timeout=timeout)

    def produce_txns(self, ctx, topic, txn_id, txns, timeout_ms=None):
        req = {"bootstrap": ctx.bootstrap, "topic": topic, "transactionalId": txn_id,
               "transactions": [{"outcome": o, "messages": [wire(m, p) for m, p in pms]} for o, pms in txns]}
        if timeout_ms:
            req["transactionTimeoutMs"] = timeout_ms
        res = self.call("txn-produce", req)
        acks = [tuple(a) for a in res["acks"]]
        check(len(acks) == sum(len(pms) for _, pms in txns),
              f"{self.name} txn-produce: {len(acks)} acknowledgements for {sum(len(p) for _, p in txns)} messages")
        return acks

    def read(self, ctx, topic, isolation, until, timeout=120):
        until = {str(p): o for p, o in until.items()}
        if self.name == "kafkajs":
            res = self.call("consume", {"bootstrap": ctx.bootstrap, "topic": topic, "until": until,
                                        "readUncommitted": isolation == "read_uncommitted",
                                        "groupId": f"compat-read-{uuid.uuid4().hex[:8]}",
                                        "timeoutMs": timeout * 1000}, timeout=timeout + 30)
            return [_record(r, {0: "create", 1: "logappend"}.get(r.get("timestampType"))) for r in res["records"]]
        res = self.call("read", {"bootstrap": ctx.bootstrap, "topic": topic, "isolation": isolation, "until": until,
                                 "timeoutMs": timeout * 1000}, timeout=timeout + 30)
        return [_record(r, r["timestampType"] if self.name != "sarama" else None) for r in res["records"]]

    def read_committed_end(self, ctx, topic):
        # kafkajs's admin.fetchTopicOffsets lists with isolation READ_COMMITTED
        res = self.call("offsets", {"bootstrap": ctx.bootstrap, "topic": topic, "isolation": "read_committed"},
                        timeout=60)
        return {o["partition"]: o["high"] for o in res["partitions"]}

    def fence(self, ctx, topic, txn_id, first, after, second):
        res = self.call("txn-fence", {"bootstrap": ctx.bootstrap, "topic": topic, "transactionalId": txn_id,
                                      "first": [wire(m, p) for m, p in first],
                                      "after": [wire(m, p) for m, p in after],
                                      "second": [wire(m, p) for m, p in second]})
        return {"first": [tuple(a) for a in res["first"]], "second": [tuple(a) for a in res["second"]],
                "send_error": res.get("sendError"), "after_acked": res.get("afterAcked"),
                "commit_error": res.get("commitError")}

    def ctp(self, ctx, inp, out, group, txn_id, expected, max_poll, abort_batch):
        res = self.call("txn-ctp", {"bootstrap": ctx.bootstrap, "input": inp, "output": out, "group": group,
                                    "transactionalId": txn_id, "expected": expected, "maxPoll": max_poll,
                                    "abortBatch": abort_batch, "timeoutMs": 180_000}, timeout=240)
        return _norm_ctp(res)


def _child_argv():
    return [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                  "from harness.txn_clients import child_main; child_main()", compat_dir()]


def child_main():
    """A producer process whose last transaction stays open: it writes, prints the
    acknowledgements and exits without ending the transaction or closing."""
    req = json.load(sys.stdin)
    b = backend(req["client"])
    txns = [(o, [(Msg(key=_unb64(m["key"]), value=_unb64(m["value"]),
                      headers=[(k, _unb64(v)) for k, v in m["headers"]], timestamp=m["timestamp"]), m["partition"])
                 for m in msgs]) for o, msgs in req["txns"]]
    out = {"ok": True}
    try:
        out["acks"] = b._produce_txns(req["bootstrap"], req["topic"], req["txn_id"], txns, req.get("timeout_ms"))
    except BaseException as e:  # noqa: BLE001
        out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no close, no abort: the transaction stays open


class PyBackend(Backend):
    """The in-process Python clients: the open transaction runs in a child process."""

    def produce_txns(self, ctx, topic, txn_id, txns, timeout_ms=None):
        if not any(o == "open" for o, _ in txns):
            return self._produce_txns(ctx.bootstrap, topic, txn_id, txns, timeout_ms)
        req = {"client": self.name, "bootstrap": ctx.bootstrap, "topic": topic, "txn_id": txn_id,
               "timeout_ms": timeout_ms,
               "txns": [(o, [dict(wire(m, p)) for m, p in pms]) for o, pms in txns]}
        p = subprocess.run(_child_argv(), input=json.dumps(req).encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=180)
        err = p.stderr.decode("utf-8", "replace")
        note_logged_errors(self.name, err)
        if err.strip():
            log(f"{self.name} producer process stderr:\n{err[-3000:]}")
        try:
            res = json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise CheckFailed(f"{self.name} producer process exited {p.returncode} without an answer") from None
        check(res["ok"], f"{self.name} producer process: {res.get('error')}")
        return [tuple(a) for a in res["acks"]]


class ConfluentBackend(PyBackend):
    name = "confluent-kafka"

    @staticmethod
    def _err(e):
        import confluent_kafka as ck
        if isinstance(e, ck.KafkaException) and e.args and isinstance(e.args[0], ck.KafkaError):
            return e.args[0].name()
        return type(e).__name__

    def _producer(self, bootstrap, txn_id, timeout_ms=None):
        import confluent_kafka as ck
        from .clients.confluent import _base_conf
        conf = _base_conf(bootstrap)
        conf.update({"transactional.id": txn_id, "acks": "all", "linger.ms": 5})
        if timeout_ms:
            # librdkafka: message.timeout.ms and socket.timeout.ms at most the transaction timeout
            conf.update({"transaction.timeout.ms": timeout_ms, "message.timeout.ms": timeout_ms,
                         "socket.timeout.ms": timeout_ms})
        return ck.Producer(conf)

    def _produce_txns(self, bootstrap, topic, txn_id, txns, timeout_ms=None):
        from .common import Deliveries
        p = self._producer(bootstrap, txn_id, timeout_ms)
        p.init_transactions(60)
        acks = []
        for outcome, pms in txns:
            p.begin_transaction()
            d = Deliveries()
            for m, part in pms:
                p.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                          partition=part, on_delivery=d)
                p.poll(0)
            check(p.flush(60) == 0, "transactional flush did not finish in 60 s")
            note_errors(self.name, d.error_counts())
            check(not d.failed, f"transactional sends failed: {d.failures()}")
            acks += [d.acked[m.value] for m, _ in pms]
            if outcome == "commit":
                p.commit_transaction(60)
            elif outcome == "abort":
                p.abort_transaction(60)
            else:
                return acks  # open: the caller's process exits
        p.flush(10)
        return acks

    def read(self, ctx, topic, isolation, until, timeout=120):
        import confluent_kafka as ck
        from .clients import get_client
        cl = get_client(self.name)
        c = cl.consumer(ctx, {"isolation.level": isolation})
        try:
            c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in until])
            return _poll_until(self.name, until, timeout, lambda: _confluent_batch(c, topic),
                               lambda: {tp.partition: tp.offset
                                        for tp in c.position([ck.TopicPartition(topic, p) for p in until])})
        finally:
            c.close()

    def read_committed_end(self, ctx, topic):
        return _confluent_ends(ctx, topic, "read_committed")

    def fence(self, ctx, topic, txn_id, first, after, second):
        import confluent_kafka as ck
        from .common import Deliveries
        a = self._producer(ctx.bootstrap, txn_id)
        a.init_transactions(60)
        a.begin_transaction()
        da = Deliveries()
        for m, part in first:
            a.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                      partition=part, on_delivery=da)
        check(a.flush(60) == 0 and not da.failed, f"A's first records: {da.failures()}")
        out = {"first": [da.acked[m.value] for m, _ in first]}
        b = self._producer(ctx.bootstrap, txn_id)
        b.init_transactions(60)
        log("B initialised: A is fenced")
        dafter = Deliveries()
        out["send_error"] = None
        try:
            for m, part in after:
                a.produce(topic, key=m.key, value=m.value, partition=part, on_delivery=dafter)
            a.flush(30)
        except Exception as e:  # noqa: BLE001 - the fatal error may come out of a delivery callback
            k = e if isinstance(e, ck.KafkaException) else e.__cause__
            out["send_error"] = self._err(k) if k is not None else type(e).__name__
            log(f"A's send: {k or e!r}")
        if dafter.failed and out["send_error"] is None:
            out["send_error"] = next(iter(dafter.failed.values()))
        out["after_acked"] = bool(dafter.acked)
        out["commit_error"] = None
        try:
            a.commit_transaction(30)
        except ck.KafkaException as e:
            out["commit_error"] = self._err(e)
            log(f"A's commit: {e}")
        note_errors(self.name, dafter.error_counts())
        b.begin_transaction()
        db = Deliveries()
        for m, part in second:
            b.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                      partition=part, on_delivery=db)
        check(b.flush(60) == 0 and not db.failed, f"B's records: {db.failures()}")
        b.commit_transaction(60)
        out["second"] = [db.acked[m.value] for m, _ in second]
        return out

    def ctp(self, ctx, inp, out, group, txn_id, expected, max_poll, abort_batch):
        import confluent_kafka as ck
        from .common import Deliveries
        from .clients.confluent import _base_conf
        conf = _base_conf(ctx.bootstrap)
        conf.update({"group.id": group, "isolation.level": "read_committed", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
        c = ck.Consumer(conf)
        p = self._producer(ctx.bootstrap, txn_id)
        p.init_transactions(60)
        c.subscribe([inp])
        parts = list(range(PARTITIONS))
        res = {"outputs": [], "aborted": [], "batches": 0, "abortedBatch": abort_batch, "committedBefore": {},
               "committedAfterAbort": {}}
        committed: dict[int, int] = {}
        processed = 0
        deadline = time.monotonic() + 180
        try:
            while processed < expected:
                check(time.monotonic() < deadline, f"consume-transform-produce: {processed} of {expected} "
                                                   f"processed in 180 s")
                batch = []
                for m in c.consume(num_messages=max_poll, timeout=0.5):
                    if m.error() is not None:
                        note_errors(self.name, {m.error().name(): 1})
                        raise CheckFailed(f"consumer error: {m.error()}")
                    batch.append(m)
                if not batch:
                    continue
                n = res["batches"]
                res["batches"] += 1
                p.begin_transaction()
                d = Deliveries()
                first, nxt = {}, {}
                for m in batch:
                    p.produce(out, key=m.key(), value=b"out|" + m.value(), partition=m.partition(), on_delivery=d)
                    first.setdefault(m.partition(), m.offset())
                    nxt[m.partition()] = m.offset() + 1
                p.send_offsets_to_transaction([ck.TopicPartition(inp, q, o) for q, o in nxt.items()],
                                              c.consumer_group_metadata(), 60)
                check(p.flush(60) == 0 and not d.failed, f"transformed records not acknowledged: {d.failures()}")
                acked = [(*d.acked[b"out|" + m.value()], b"out|" + m.value()) for m in batch]
                if n == abort_batch:
                    p.abort_transaction(60)
                    res["aborted"] = acked
                    res["committedBefore"] = dict(committed)

                    def fetched():
                        tps = c.committed([ck.TopicPartition(inp, q) for q in parts], timeout=30)
                        return {tp.partition: (tp.offset if tp.offset >= 0 else -1) for tp in tps}
                    res["committedAfterAbort"] = _committed_at_least(fetched, committed, parts)
                    for q, o in first.items():
                        c.seek(ck.TopicPartition(inp, q, o))
                else:
                    p.commit_transaction(60)
                    committed.update(nxt)
                    res["outputs"] += acked
                    processed += len(batch)
        finally:
            c.close()
        return res


def _confluent_batch(c, topic):
    import confluent_kafka as ck
    out = []
    for m in c.consume(1000, timeout=0.5):
        err = m.error()
        if err is not None:
            if err.code() == ck.KafkaError._PARTITION_EOF:
                continue
            note_errors("confluent-kafka", {err.name(): 1})
            raise CheckFailed(f"consumer error on {m.topic()} [{m.partition()}]: {err}")
        out.append(Record(partition=m.partition(), offset=m.offset(), key=m.key(), value=m.value(),
                          headers=list(m.headers() or []), timestamp=m.timestamp()[1],
                          ts_type={ck.TIMESTAMP_CREATE_TIME: "create",
                                   ck.TIMESTAMP_LOG_APPEND_TIME: "logappend"}.get(m.timestamp()[0])))
    return out


def _poll_until(name, until, timeout, batch, positions):
    """Reads until every partition has delivered its record at ``until - 1`` or its
    position is past it; records from ``until`` on are left out."""
    records = []
    reached = {p: o <= 0 for p, o in until.items()}
    deadline = time.monotonic() + timeout
    while not all(reached.values()):
        if time.monotonic() > deadline:
            got = Counter(r.partition for r in records)
            raise CheckFailed(f"{name}: read did not reach {until} within {timeout}s (records per partition "
                              f"{dict(got)}, done {reached})")
        for r in batch():
            if r.offset < until.get(r.partition, 0):
                records.append(r)
                if r.offset + 1 >= until[r.partition]:
                    reached[r.partition] = True
        for p, pos in positions().items():
            if pos is not None and pos >= until[p]:
                reached[p] = True
    return records


def _committed_at_least(fetch, committed, parts, timeout=60):
    """The group's committed offsets once every partition shows at least what the
    committed transactions stored (a fetch without require_stable may still show an
    older offset while the last commit's markers are being written)."""
    last = {}

    def ok():
        last["v"] = fetch()
        return all(last["v"].get(q, -1) >= committed.get(q, -1) for q in parts)
    try:
        wait_until(ok, timeout, "the committed offsets of the last committed transaction")
    except CheckFailed:
        pass  # reported as they are: the scenario compares
    return {q: last.get("v", {}).get(q, -1) for q in parts}


class KafkaPythonBackend(PyBackend):
    name = "kafka-python"

    @staticmethod
    def _err(e):
        """Kafka's name of a kafka-python error (its class's ``message``), else the class
        name and text."""
        msg = getattr(e, "message", None)
        if isinstance(msg, str) and msg.isupper():
            return msg
        return f"{type(e).__name__}: {e}"

    def _producer(self, bootstrap, txn_id, timeout_ms=None):
        from kafka import KafkaProducer
        kw = dict(bootstrap_servers=bootstrap, transactional_id=txn_id, enable_idempotence=True, acks="all",
                  linger_ms=5, client_id="riffle-compat-txn", request_timeout_ms=30000)
        if timeout_ms:
            kw["transaction_timeout_ms"] = timeout_ms
        return KafkaProducer(**kw)

    @staticmethod
    def _send_all(p, topic, pms):
        futs = [p.send(topic, key=m.key, value=m.value, headers=list(m.headers), partition=part,
                       timestamp_ms=m.timestamp) for m, part in pms]
        p.flush(timeout=60)
        out = []
        for f in futs:
            md = f.get(timeout=1)
            out.append((md.partition, md.offset))
        return out

    def _produce_txns(self, bootstrap, topic, txn_id, txns, timeout_ms=None):
        p = self._producer(bootstrap, txn_id, timeout_ms)
        p.init_transactions()
        acks = []
        for outcome, pms in txns:
            p.begin_transaction()
            acks += self._send_all(p, topic, pms)
            if outcome == "commit":
                p.commit_transaction()
            elif outcome == "abort":
                p.abort_transaction()
            else:
                return acks
        p.close(timeout=10)
        return acks

    def _consumer(self, ctx, **kw):
        from kafka import KafkaConsumer
        conf = dict(bootstrap_servers=ctx.bootstrap, group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest", fetch_max_wait_ms=100, client_id="riffle-compat-consumer",
                    request_timeout_ms=30000)
        conf.update(kw)
        return KafkaConsumer(**conf)

    def read(self, ctx, topic, isolation, until, timeout=120):
        from kafka import TopicPartition
        c = self._consumer(ctx, isolation_level=isolation)
        try:
            tps = [TopicPartition(topic, p) for p in until]
            c.assign(tps)
            c.seek_to_beginning(*tps)

            def batch():
                out = []
                for _, recs in c.poll(timeout_ms=500, max_records=2000).items():
                    for r in recs:
                        out.append(Record(partition=r.partition, offset=r.offset, key=r.key, value=r.value,
                                          headers=[(k, v) for k, v in (r.headers or [])], timestamp=r.timestamp,
                                          ts_type={0: "create", 1: "logappend"}.get(r.timestamp_type)))
                return out
            return _poll_until(self.name, until, timeout, batch, lambda: {tp.partition: c.position(tp) for tp in tps})
        finally:
            c.close()

    def read_committed_end(self, ctx, topic):
        from kafka import TopicPartition
        c = self._consumer(ctx, isolation_level="read_committed")
        try:
            parts = wait_until(lambda: c.partitions_for_topic(topic), 30, f"partitions of {topic}")
            return {tp.partition: o for tp, o in c.end_offsets([TopicPartition(topic, p) for p in parts]).items()}
        finally:
            c.close()

    def fence(self, ctx, topic, txn_id, first, after, second):
        a = self._producer(ctx.bootstrap, txn_id)
        a.init_transactions()
        a.begin_transaction()
        out = {"first": self._send_all(a, topic, first)}
        b = self._producer(ctx.bootstrap, txn_id)
        b.init_transactions()
        log("B initialised: A is fenced")
        out["send_error"], out["after_acked"] = None, False
        try:
            futs = [a.send(topic, key=m.key, value=m.value, partition=part) for m, part in after]
            a.flush(timeout=30)
            for f in futs:
                f.get(timeout=1)
            out["after_acked"] = True
        except Exception as e:  # noqa: BLE001
            out["send_error"] = self._err(e)
            log(f"A's send: {e!r}")
        out["commit_error"] = None
        try:
            a.commit_transaction()
        except Exception as e:  # noqa: BLE001
            out["commit_error"] = self._err(e)
            log(f"A's commit: {e!r}")
        try:
            a.close(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        b.begin_transaction()
        out["second"] = self._send_all(b, topic, second)
        b.commit_transaction()
        b.close(timeout=10)
        return out

    def ctp(self, ctx, inp, out, group, txn_id, expected, max_poll, abort_batch):
        from kafka import KafkaConsumer, TopicPartition
        from kafka.structs import OffsetAndMetadata
        c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, group_id=group, isolation_level="read_committed",
                          enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_poll,
                          fetch_max_wait_ms=100, client_id="riffle-compat-ctp", request_timeout_ms=30000)
        p = self._producer(ctx.bootstrap, txn_id)
        p.init_transactions()
        c.subscribe([inp])
        parts = list(range(PARTITIONS))
        res = {"outputs": [], "aborted": [], "batches": 0, "abortedBatch": abort_batch, "committedBefore": {},
               "committedAfterAbort": {}}
        committed: dict[int, int] = {}
        processed = 0
        deadline = time.monotonic() + 180
        try:
            while processed < expected:
                check(time.monotonic() < deadline, f"consume-transform-produce: {processed} of {expected} "
                                                   f"processed in 180 s")
                batch = [r for recs in c.poll(timeout_ms=500, max_records=max_poll).values() for r in recs]
                if not batch:
                    continue
                n = res["batches"]
                res["batches"] += 1
                p.begin_transaction()
                first, nxt = {}, {}
                futs = []
                for r in batch:
                    futs.append(p.send(out, key=r.key, value=b"out|" + r.value, partition=r.partition))
                    first.setdefault(r.partition, r.offset)
                    nxt[r.partition] = r.offset + 1
                p.send_offsets_to_transaction({TopicPartition(inp, q): OffsetAndMetadata(o, "", -1)
                                               for q, o in nxt.items()}, c.group_metadata())
                p.flush(timeout=60)
                acked = []
                for r, f in zip(batch, futs):
                    md = f.get(timeout=1)
                    acked.append((md.partition, md.offset, b"out|" + r.value))
                if n == abort_batch:
                    p.abort_transaction()
                    res["aborted"] = acked
                    res["committedBefore"] = dict(committed)

                    def fetched():
                        out_ = {}
                        for q in parts:
                            o = c.committed(TopicPartition(inp, q), timeout_ms=30000)
                            out_[q] = -1 if o is None else o
                        return out_
                    res["committedAfterAbort"] = _committed_at_least(fetched, committed, parts)
                    for q, o in first.items():
                        c.seek(TopicPartition(inp, q), o)
                else:
                    p.commit_transaction()
                    committed.update(nxt)
                    res["outputs"] += acked
                    processed += len(batch)
        finally:
            c.close()
            p.close(timeout=10)
        return res


def backend(name) -> Backend:
    if name == "confluent-kafka":
        return ConfluentBackend()
    if name == "kafka-python":
        return KafkaPythonBackend()
    return DriverBackend(name)
