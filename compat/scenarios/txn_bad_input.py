"""Transactions (issue 12): hostile and wrong transactional requests, hand-made.

* ``txn-bad-input`` (kafka-python's protocol classes on raw connections, each request
  pinned to a version): wrong and hostile transactional requests get exactly Kafka
  4.4's error codes: transactional Produce batches outside a transaction (no
  transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED; a non-transactional or
  made-up producer id: INVALID_PRODUCER_ID_MAPPING; the partition not added:
  INVALID_TXN_STATE up to Produce v10, TRANSACTION_ABORTABLE from v11; a wrong
  epoch: INVALID_PRODUCER_EPOCH) and control batches from a client (INVALID_RECORD,
  after the transactional checks), none of them appended; AddPartitionsToTxn with a
  wrong epoch (PRODUCER_FENCED v2+, INVALID_PRODUCER_EPOCH v0-1), an unknown producer
  or transactional id (INVALID_PRODUCER_ID_MAPPING), an unknown topic or partition
  (UNKNOWN_TOPIC_OR_PARTITION for it, OPERATION_NOT_ATTEMPTED for the others); EndTxn
  with no transaction (INVALID_TXN_STATE, but v5 aborts: an epoch bump), a stale epoch
  (PRODUCER_FENCED / INVALID_PRODUCER_EPOCH), unknown ids, a retried commit (NONE) and
  an abort after a commit (INVALID_TXN_STATE); InitProducerId with a transaction
  timeout outside (0, transaction.max.timeout.ms] (INVALID_TRANSACTION_TIMEOUT) or an
  empty transactional id (INVALID_REQUEST); FindCoordinator(TRANSACTION) with an
  empty key (Kafka answers it: NONE) and an unknown key type (INVALID_REQUEST);
  WriteTxnMarkers from a client for an unknown topic or partition
  (UNKNOWN_TOPIC_OR_PARTITION; no authorizer, so no CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

import time
import uuid

from harness.common import CheckFailed, check, log, wait_until
from harness.txn_clients import ConfluentBackend, high_watermarks

# A producer id no producer was ever given (Kafka and riffle hand them out from 0 up).
MADE_UP_PID = 7_000_000_000_123
# What a broker answers while it is still getting ready (__transaction_state being
# created or loaded, the producer id manager starting) or while a transaction's
# markers are still being written: asked again until a deadline, as clients do.
_NOT_READY = ("COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "NOT_COORDINATOR",
              "CONCURRENT_TRANSACTIONS")
# Produce versions: 8 (before KIP-890), 11 (KIP-890 part 1: TRANSACTION_ABORTABLE), 12
# (KIP-890 part 2: the leader adds the partition itself; not used where nothing may be
# appended)
PRODUCE_V_OLD, PRODUCE_V, PRODUCE_V_TV2 = 8, 11, 12


def _ename(code) -> str:
    """Kafka's name of an error code."""
    if code == 0:
        return "NONE"
    import kafka.errors as Errors
    cls = Errors.for_code(code)
    return cls.message if getattr(cls, "errno", None) == code else f"error code {code}"


class _TxnRaw:
    """A kafka-python admin client's connections, for hand-made requests to one node."""

    def __init__(self, bootstrap):
        from kafka import KafkaAdminClient
        self.a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000,
                                  client_id=f"compat-txn-raw-{uuid.uuid4().hex[:4]}")

    def send(self, req, node):
        async def go():
            return await self.a._manager.send(req, node_id=node)  # noqa: SLF001
        return self.a._manager.run(go)  # noqa: SLF001

    def leader(self, topic, partition):
        for t in self.a.describe_topics([topic]):
            for p in t.get("partitions", []):
                if p["partition_index"] == partition:
                    return p["leader_id"]
        raise CheckFailed(f"no leader for {topic} [{partition}] in kafka-python's metadata")

    def brokers(self):
        return {b["broker_id"] for b in self.a.describe_cluster()["brokers"]}

    def close(self):
        self.a.close()


def _record_batch(pid, epoch, seq, transactional, records) -> bytes:
    """One uncompressed v2 record batch (kafka-python's builder)."""
    from kafka.record.memory_records import MemoryRecordsBuilder
    from harness.common import now_ms
    b = MemoryRecordsBuilder(2, 0, 1 << 20, transactional=transactional, producer_id=pid, producer_epoch=epoch,
                             base_sequence=seq)
    ts = now_ms()
    for k, v in records:
        b.append(ts, k, v)
    b.close()
    return bytes(b.buffer())


def _control_batch(pid, epoch, attributes, commit=True) -> bytes:
    """A batch holding one end-transaction marker record (key: version 0, type 1 =
    commit / 0 = abort; value: version 0, coordinator epoch 0), with the given
    attributes bits (0x20 control, 0x10 transactional) and base sequence -1, as a
    coordinator writes it; the CRC recomputed."""
    import struct
    from kafka.record.util import calc_crc32c
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 0)
    buf = bytearray(_record_batch(pid, epoch, 0 if pid >= 0 else -1, False, [(key, value)]))
    attrs = struct.unpack(">h", buf[21:23])[0]
    buf[21:23] = struct.pack(">h", (attrs & ~0x30) | attributes)
    buf[53:57] = struct.pack(">i", -1)  # base sequence
    buf[17:21] = struct.pack(">I", calc_crc32c(bytes(buf[21:])))
    return bytes(buf)


def txn_bad_input(ctx):
    """Wrong and hostile transactional requests, each pinned to a protocol version, get
    exactly the error codes Kafka 4.4 answers (see the module doc); none of the rejected
    Produce requests appends anything."""
    from kafka.protocol.metadata import FindCoordinatorRequest
    from kafka.protocol.producer import (AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
                                         ProduceRequest, WriteTxnMarkersRequest)
    from harness.clients import get_client
    ck = get_client("confluent-kafka")
    topic = ctx.topic("kafka-python.txn-bad")
    other = ctx.topic("kafka-python.txn-bad-2")
    missing = ctx.topic("kafka-python.txn-bad-missing")  # never created
    ck.create_topic(ctx, topic, 1)
    ck.create_topic(ctx, other, 2)
    raw = _TxnRaw(ctx.bootstrap)
    problems: list[str] = []
    checked = [0]

    def expect(what, got, want):
        checked[0] += 1
        ok = got == want
        if not ok:
            problems.append(f"{what}: got {got!r}, expected {want!r}")
        log(f"{'ok ' if ok else 'BAD'} {what}: {got!r}")
        return ok

    def ready(what, fn, timeout=60):
        """fn() again while it answers one of _NOT_READY, until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            got = fn()
            name = got[0] if isinstance(got, tuple) else got
            if name not in _NOT_READY or time.monotonic() > deadline:
                return got
            log(f"{what}: {name}: again")
            time.sleep(0.25)

    def v(cls, version, **kw):
        return cls(**kw, min_version=version, max_version=version)

    try:
        leader = raw.leader(topic, 0)
        brokers = raw.brokers()
        tid = f"compat-bad-{uuid.uuid4().hex[:8]}"
        tid2 = f"compat-bad2-{uuid.uuid4().hex[:8]}"
        tid3 = f"compat-bad3-{uuid.uuid4().hex[:8]}"

        def find(keys, version=4, key_type=1):
            res = raw.send(v(FindCoordinatorRequest, version, key_type=key_type, coordinator_keys=list(keys)), leader)
            return [(c.key, _ename(c.error_code), c.node_id) for c in res.coordinators]

        def find_one(key):
            got = ready(f"FindCoordinator(TRANSACTION, {key!r})", lambda: find([key])[0][1:])
            check(got[0] == "NONE", f"FindCoordinator(TRANSACTION, {key!r}): {got}")
            return got[1]
        coords = {t: find_one(t) for t in (tid, tid2, tid3)}
        coord = coords[tid]

        def init(txn_id, timeout_ms=60000, version=4):
            node = coords.get(txn_id, coord) if txn_id is not None else leader
            res = raw.send(v(InitProducerIdRequest, version, transactional_id=txn_id,
                             transaction_timeout_ms=timeout_ms, producer_id=-1, producer_epoch=-1), node)
            return _ename(res.error_code), res.producer_id, res.producer_epoch

        def init_ok(txn_id):
            got = ready(f"InitProducerId({txn_id})", lambda: init(txn_id))
            check(got[0] == "NONE", f"InitProducerId(transactional id {txn_id}): {got[0]}")
            return got[1], got[2]

        def produce(records, txn_id, version, t=topic, partition=0):
            T = ProduceRequest.TopicProduceData
            res = raw.send(v(ProduceRequest, version, transactional_id=txn_id, acks=-1, timeout_ms=15000,
                             topic_data=[T(name=t, partition_data=[T.PartitionProduceData(index=partition,
                                                                                          records=records)])]),
                           leader)
            pr = res.responses[0].partition_responses[0]
            if pr.error_code and getattr(pr, "error_message", None):
                log(f"  (error message: {pr.error_message!r})")
            return _ename(pr.error_code)

        def add(txn_id, pid, epoch, topics, version=3):
            T = AddPartitionsToTxnRequest.AddPartitionsToTxnTopic
            res = raw.send(v(AddPartitionsToTxnRequest, version, v3_and_below_transactional_id=txn_id,
                             v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
                             v3_and_below_topics=[T(name=t, partitions=ps) for t, ps in topics]),
                           coords.get(txn_id, coord))
            return {(tr.name, pr.partition_index): _ename(pr.partition_error_code)
                    for tr in res.results_by_topic_v3_and_below for pr in tr.results_by_partition}

        def end(txn_id, pid, epoch, commit, version=4):
            res = raw.send(v(EndTxnRequest, version, transactional_id=txn_id, producer_id=pid, producer_epoch=epoch,
                             committed=commit), coords.get(txn_id, coord))
            if version >= 5:
                return _ename(res.error_code), res.producer_id, res.producer_epoch
            return _ename(res.error_code)

        def hw():
            return high_watermarks(ctx, topic)[0]

        # -- producer ids: a non-transactional one, and tid's (initialised twice: epoch + 1)
        got = ready("InitProducerId (no transactional id)", lambda: init(None))
        check(got[0] == "NONE", f"InitProducerId without a transactional id: {got[0]}")
        ipid, iep = got[1], got[2]
        pid, ep0 = init_ok(tid)
        pid_again, ep = init_ok(tid)
        expect("InitProducerId again for the same transactional id: same producer id, epoch + 1",
               (pid_again, ep), (pid, ep0 + 1))
        log(f"producer ids: non-transactional {ipid}/{iep}, {tid} {pid}/{ep}, coordinator {coord}, leader {leader}")
        hw0 = hw()
        rec = [(b"bad", b"must-not-be-appended")]

        # -- (a) transactional batches outside a transaction
        expect(f"Produce v{PRODUCE_V}: transactional batch of a non-transactional producer id, no transactional id",
               produce(_record_batch(ipid, iep, 0, True, rec), None, PRODUCE_V),
               "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
        expect(f"Produce v{PRODUCE_V}: transactional batch of a non-transactional producer id, with {tid}",
               produce(_record_batch(ipid, iep, 0, True, rec), tid, PRODUCE_V), "INVALID_PRODUCER_ID_MAPPING")
        for pv in (PRODUCE_V, PRODUCE_V_TV2):
            expect(f"Produce v{pv}: transactional batch of a made-up producer id, with {tid}",
                   produce(_record_batch(MADE_UP_PID, 0, 0, True, rec), tid, pv), "INVALID_PRODUCER_ID_MAPPING")
        expect(f"Produce v{PRODUCE_V_OLD}: transactional batch of {tid}'s producer, partition not added "
               f"(no AddPartitionsToTxn)", produce(_record_batch(pid, ep, 0, True, rec), tid, PRODUCE_V_OLD),
               "INVALID_TXN_STATE")
        expect(f"Produce v{PRODUCE_V}: transactional batch of {tid}'s producer, partition not added",
               produce(_record_batch(pid, ep, 0, True, rec), tid, PRODUCE_V), "TRANSACTION_ABORTABLE")
        expect(f"Produce v{PRODUCE_V}: transactional batch of {tid}'s producer with epoch {ep + 1} (current {ep})",
               produce(_record_batch(pid, ep + 1, 0, True, rec), tid, PRODUCE_V), "INVALID_PRODUCER_EPOCH")

        # -- (b) control batches from a client: the transactional checks come first
        expect(f"Produce v{PRODUCE_V}: control batch (attributes 0x30, commit marker), no transactional id",
               produce(_control_batch(pid, ep, 0x30), None, PRODUCE_V), "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
        expect(f"Produce v{PRODUCE_V}: control batch (0x30, commit marker) with {tid}, partition not added",
               produce(_control_batch(pid, ep, 0x30), tid, PRODUCE_V), "TRANSACTION_ABORTABLE")
        expect(f"Produce v{PRODUCE_V}: control batch (0x20, commit marker), no producer id, no transactional id",
               produce(_control_batch(-1, -1, 0x20), None, PRODUCE_V), "INVALID_RECORD")
        expect(f"AddPartitionsToTxn v3 {tid} [{topic}-0]", add(tid, pid, ep, [(topic, [0])]),
               {(topic, 0): "NONE"})
        for pv in (PRODUCE_V_OLD, PRODUCE_V):
            expect(f"Produce v{pv}: control batch (0x30, commit marker) with {tid}, partition in its transaction",
                   produce(_control_batch(pid, ep, 0x30), tid, pv), "INVALID_RECORD")
        expect(f"Produce v{PRODUCE_V}: control batch (0x30, abort marker) with {tid}, partition in its transaction",
               produce(_control_batch(pid, ep, 0x30, commit=False), tid, PRODUCE_V), "INVALID_RECORD")
        expect(f"Produce v{PRODUCE_V}: control batch (0x20, commit marker) of {tid}'s producer, partition in its "
               f"transaction", produce(_control_batch(pid, ep, 0x20), tid, PRODUCE_V), "INVALID_RECORD")
        expect("high watermark after the rejected Produce requests (nothing appended)", hw(), hw0)

        # -- (c) AddPartitionsToTxn (tid's transaction is ongoing, with topic-0)
        for e_ in (ep - 1, ep + 1):
            expect(f"AddPartitionsToTxn v3 with epoch {e_} (current {ep})", add(tid, pid, e_, [(other, [0])]),
                   {(other, 0): "PRODUCER_FENCED"})
        expect(f"AddPartitionsToTxn v1 with epoch {ep - 1} (current {ep})", add(tid, pid, ep - 1, [(other, [0])], 1),
               {(other, 0): "INVALID_PRODUCER_EPOCH"})
        expect("AddPartitionsToTxn v3 with a made-up producer id", add(tid, MADE_UP_PID, 0, [(other, [0])]),
               {(other, 0): "INVALID_PRODUCER_ID_MAPPING"})
        expect("AddPartitionsToTxn v3 with the non-transactional producer id", add(tid, ipid, iep, [(other, [0])]),
               {(other, 0): "INVALID_PRODUCER_ID_MAPPING"})
        expect("AddPartitionsToTxn v3 with an unknown transactional id",
               add(f"compat-never-{uuid.uuid4().hex[:8]}", pid, ep, [(other, [0])]),
               {(other, 0): "INVALID_PRODUCER_ID_MAPPING"})
        expect("AddPartitionsToTxn v3 with an unknown topic among known ones",
               add(tid, pid, ep, [(topic, [0]), (missing, [0]), (other, [0, 1])]),
               {(topic, 0): "OPERATION_NOT_ATTEMPTED", (missing, 0): "UNKNOWN_TOPIC_OR_PARTITION",
                (other, 0): "OPERATION_NOT_ATTEMPTED", (other, 1): "OPERATION_NOT_ATTEMPTED"})
        expect("AddPartitionsToTxn v3 with an unknown partition of a known topic",
               add(tid, pid, ep, [(other, [0, 99])]),
               {(other, 0): "OPERATION_NOT_ATTEMPTED", (other, 99): "UNKNOWN_TOPIC_OR_PARTITION"})

        # -- (d) EndTxn: tid's transaction aborted (a marker in topic-0), then retried
        expect(f"EndTxn v4 abort of {tid}'s transaction", end(tid, pid, ep, False), "NONE")
        expect("EndTxn v4 abort retried", ready("EndTxn v4 abort retried", lambda: end(tid, pid, ep, False)), "NONE")
        expect("EndTxn v4 commit after the abort", end(tid, pid, ep, True), "INVALID_TXN_STATE")
        # tid2: initialised, nothing begun
        pid2, ep2_0 = init_ok(tid2)
        for version, commit in ((1, True), (4, True), (4, False), (5, True)):
            expect(f"EndTxn v{version} {'commit' if commit else 'abort'} with no transaction in flight",
                   end(tid2, pid2, ep2_0, commit, version), "INVALID_TXN_STATE" if version < 5 else
                   ("INVALID_TXN_STATE", -1, -1))
        _, ep2 = init_ok(tid2)
        for version, commit, want in ((1, True, "INVALID_PRODUCER_EPOCH"), (4, True, "PRODUCER_FENCED"),
                                      (4, False, "PRODUCER_FENCED"), (5, False, ("PRODUCER_FENCED", -1, -1))):
            expect(f"EndTxn v{version} {'commit' if commit else 'abort'} with the stale epoch {ep2_0} "
                   f"(current {ep2})", end(tid2, pid2, ep2_0, commit, version), want)
        expect("EndTxn v4 with a made-up producer id", end(tid2, MADE_UP_PID, 0, True), "INVALID_PRODUCER_ID_MAPPING")
        expect("EndTxn v4 with an unknown transactional id",
               end(f"compat-never-{uuid.uuid4().hex[:8]}", pid2, ep2, True), "INVALID_PRODUCER_ID_MAPPING")
        expect("EndTxn v4 with an empty transactional id", end("", pid2, ep2, True), "INVALID_REQUEST")
        # tid2 commits one record; the commit retried is fine, an abort after it is not
        expect(f"AddPartitionsToTxn v3 {tid2} [{topic}-0]", add(tid2, pid2, ep2, [(topic, [0])]),
               {(topic, 0): "NONE"})
        expect(f"Produce v{PRODUCE_V}: {tid2}'s record in its transaction",
               produce(_record_batch(pid2, ep2, 0, True, [(b"ok", b"committed")]), tid2, PRODUCE_V), "NONE")
        expect(f"EndTxn v4 commit of {tid2}'s transaction", end(tid2, pid2, ep2, True), "NONE")
        expect("EndTxn v4 commit retried", ready("EndTxn v4 commit retried", lambda: end(tid2, pid2, ep2, True)),
               "NONE")
        expect("EndTxn v4 abort after the commit", end(tid2, pid2, ep2, False), "INVALID_TXN_STATE")
        # tid3: EndTxn v5 (transaction version 2) aborts even with nothing in flight, bumping the epoch
        pid3, ep3 = init_ok(tid3)
        expect("EndTxn v5 abort with no transaction in flight (transaction version 2: the epoch is bumped)",
               end(tid3, pid3, ep3, False, 5), ("NONE", pid3, ep3 + 1))

        # -- (e) InitProducerId transaction timeouts (transaction.max.timeout.ms = 900000)
        for t_ms in (900001, 0, -1):
            expect(f"InitProducerId v4 with transaction_timeout_ms {t_ms}",
                   init(f"compat-bad-timeout-{uuid.uuid4().hex[:8]}", t_ms)[0], "INVALID_TRANSACTION_TIMEOUT")
        tid4 = f"compat-bad-timeout-{uuid.uuid4().hex[:8]}"
        coords[tid4] = find_one(tid4)
        expect("InitProducerId v4 with transaction_timeout_ms 900000 (the maximum)",
               ready("InitProducerId 900000", lambda: init(tid4, 900000))[0], "NONE")
        expect("InitProducerId v4 without a transactional id, transaction_timeout_ms 900001 (not checked)",
               init(None, 900001)[0], "NONE")
        expect("InitProducerId v4 with an empty transactional id", init("")[0], "INVALID_REQUEST")

        # -- (f) FindCoordinator
        got = ready("FindCoordinator v3 (TRANSACTION, '')", lambda: (lambda r: (_ename(r.error_code), r.node_id))(
            raw.send(v(FindCoordinatorRequest, 3, key="", key_type=1), leader)))
        expect("FindCoordinator v3 key_type TRANSACTION with an empty key (Kafka 4.4 answers it)",
               (got[0], got[1] in brokers), ("NONE", True))
        got = ready("FindCoordinator v4 (TRANSACTION, ['', tid])", lambda: (lambda r: (r[0][1], r))(find(["", tid])))
        expect("FindCoordinator v4 key_type TRANSACTION, keys ['', <a transactional id>]",
               [(k, e, n in brokers) for k, e, n in got[1]], [("", "NONE", True), (tid, "NONE", True)])
        expect("FindCoordinator v4 with key type 7 (none such)", [(k, e) for k, e, _ in find([tid], key_type=7)],
               [(tid, "INVALID_REQUEST")])

        # -- (g) WriteTxnMarkers from a client (no authorizer: no CLUSTER_AUTHORIZATION_FAILED)
        M = WriteTxnMarkersRequest.WritableTxnMarker
        for t, parts in ((missing, [0]), (other, [99])):
            res = raw.send(v(WriteTxnMarkersRequest, 1, markers=[
                M(producer_id=MADE_UP_PID, producer_epoch=0, transaction_result=True, coordinator_epoch=0,
                  topics=[M.WritableTxnMarkerTopic(name=t, partition_indexes=parts)])]), leader)
            expect(f"WriteTxnMarkers v1 for {'an unknown topic' if t == missing else 'an unknown partition'}",
                   [(m.producer_id, [(tr.name, [(p.partition_index, _ename(p.error_code)) for p in tr.partitions])
                                     for tr in m.topics]) for m in res.markers],
                   [(MADE_UP_PID, [(t, [(parts[0], "UNKNOWN_TOPIC_OR_PARTITION")])])])

        # -- what is in the log: tid's abort marker, tid2's record and its commit marker
        want_hw = hw0 + 3
        last = {}

        def settled():
            last["hw"] = hw()
            return last["hw"] == want_hw
        try:
            wait_until(settled, 30, "the markers")
        except CheckFailed:
            pass
        expect("high watermark at the end (an abort marker, one record, a commit marker)", last["hw"], want_hw)
        other_hw = high_watermarks(ctx, other)
        expect(f"high watermarks of {other} (nothing written)", other_hw, {0: 0, 1: 0})
        for iso in ("read_committed", "read_uncommitted"):
            recs = ConfluentBackend().read(ctx, topic, iso, {0: last["hw"]}, timeout=60)
            expect(f"{iso} read of {topic}", [(r.offset, r.key, r.value) for r in recs],
                   [(hw0 + 1, b"ok", b"committed")])
    finally:
        raw.close()
    check(not problems, f"{len(problems)} of {checked[0]} answers differ from Kafka's:\n  - " + "\n  - ".join(problems))
    return f"{checked[0]} answers as Kafka's"
