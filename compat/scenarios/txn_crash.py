"""A single broker SIGKILLed with transactions open: after the restart the last stable
offsets and what read_committed consumers read are what they were before the kill
(the open transactions are rebuilt from the producer-state snapshots and the log),
and the open transaction is still aborted cleanly when its producer is fenced."""

from __future__ import annotations

import uuid

import confluent_kafka as cklib

from harness.clients import get_client
from harness.common import check, log

PARTITIONS = 2
# Longer than the scenario: only the fencing below may end the open transaction.
TXN_TIMEOUT_MS = 600_000


def _producer(ctx, txn_id):
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "transactional.id": txn_id,
                        "transaction.timeout.ms": TXN_TIMEOUT_MS, "linger.ms": 5})
    p.init_transactions(60)
    return p


def _send(p, topic, prefix, n):
    for i in range(n):
        p.produce(topic, key=f"{prefix}-{i}".encode(), value=f"{prefix}-{i}".encode(), partition=i % PARTITIONS)
    check(p.flush(60) == 0, f"{prefix}: records not acknowledged")


def _state(ck, ctx, topic):
    """(last stable offsets, high watermarks, read_committed values, read_uncommitted count)."""
    committed = {"isolation.level": "read_committed"}
    uncommitted = {"isolation.level": "read_uncommitted"}
    c = ck.consumer(ctx, committed)
    try:
        lso = {p: hi for p, (_, hi) in ck.watermarks(ctx, topic, c).items()}
    finally:
        c.close()
    c = ck.consumer(ctx, uncommitted)
    try:
        hw = {p: hi for p, (_, hi) in ck.watermarks(ctx, topic, c).items()}
    finally:
        c.close()
    values = sorted(r.value.decode() for r in ck.read_all(ctx, topic, extra=committed))
    return lso, hw, values


def crash_open_transactions(ctx):
    ck = get_client("confluent-kafka")
    ctx.private_broker()
    topic = ctx.topic("txn-crash")
    ck.create_topic(ctx, topic, PARTITIONS)
    ids = {k: f"compat-txn-crash-{k}-{uuid.uuid4().hex[:8]}" for k in ("a", "b", "c")}
    a = _producer(ctx, ids["a"])
    a.begin_transaction()
    _send(a, topic, "a1", 10)
    a.commit_transaction(60)
    # b's transaction stays open over the kill; c's is aborted before it.
    b = _producer(ctx, ids["b"])
    b.begin_transaction()
    _send(b, topic, "b1", 6)
    c = _producer(ctx, ids["c"])
    c.begin_transaction()
    _send(c, topic, "c1", 4)
    c.abort_transaction(60)
    a.begin_transaction()
    _send(a, topic, "a2", 10)
    a.commit_transaction(60)
    before = _state(ck, ctx, topic)
    log(f"before the kill: LSO {before[0]}, high watermarks {before[1]}, read_committed {len(before[2])}")
    want_before = sorted(f"a1-{i}" for i in range(10))
    check(before[2] == want_before, f"read_committed before the kill: {before[2]}, expected a1's 10 records only "
                                    "(b's open transaction holds a2 back)")
    check(all(before[0][p] < before[1][p] for p in before[0]), f"the open transaction holds the LSO below the high "
                                                               f"watermark: LSO {before[0]}, HW {before[1]}")
    ctx.broker.kill()
    ctx.broker.start()
    after = _state(ck, ctx, topic)
    log(f"after the restart: LSO {after[0]}, high watermarks {after[1]}, read_committed {len(after[2])}")
    check(after == before, f"across SIGKILL + restart: before {before[:2]} ({len(before[2])} read), "
                           f"after {after[:2]} ({len(after[2])} read)")
    # A new producer with b's id fences b and aborts its open transaction: a2 shows.
    b2 = _producer(ctx, ids["b"])
    b2.begin_transaction()
    _send(b2, topic, "b2", 4)
    b2.commit_transaction(60)
    a.begin_transaction()
    _send(a, topic, "a3", 4)
    a.commit_transaction(60)
    lso, hw, values = _state(ck, ctx, topic)
    want = sorted([f"a1-{i}" for i in range(10)] + [f"a2-{i}" for i in range(10)] + [f"b2-{i}" for i in range(4)]
                  + [f"a3-{i}" for i in range(4)])
    check(values == want, f"read_committed after fencing b: {len(values)} records, expected {len(want)}; "
                          f"unexpected {sorted(set(values) - set(want))[:5]}, missing {sorted(set(want) - set(values))[:5]}")
    check(lso == hw, f"no transaction open: LSO {lso} must equal the high watermarks {hw}")
    try:
        b.commit_transaction(30)
        raise AssertionError("the fenced producer committed")
    except cklib.KafkaException as e:
        log(f"fenced producer's commit refused: {e.args[0].name()}")
    except AssertionError as e:
        check(False, str(e))
    for p in (a, b2):
        p.flush(10)
    ctx.broker.stop()
    ctx.broker.check_verify_logs()
    return (f"LSO {before[0]} (high watermarks {before[1]}) and {len(before[2])} read_committed records the same "
            f"after SIGKILL + restart; {len(values)} after the open transaction was fenced")


def expiration(ctx):
    """`transactional.id.expiration.ms`: a transactional id with nothing in flight is
    described (DescribeTransactions, kafka-python's admin) while it lives and is gone
    (TRANSACTIONAL_ID_NOT_FOUND, not listed) once it has been idle that long."""
    import time

    import kafka
    from kafka.errors import TransactionalIdNotFoundError

    ck = get_client("confluent-kafka")
    ctx.private_broker({"transactional.id.expiration.ms": "3000",
                        "transaction.remove.expired.transaction.cleanup.interval.ms": "500"})
    topic = ctx.topic("txn-expiry")
    ck.create_topic(ctx, topic, PARTITIONS)
    txn_id = f"compat-txn-expiry-{uuid.uuid4().hex[:8]}"
    p = _producer(ctx, txn_id)
    p.begin_transaction()
    _send(p, topic, "e", 3)
    p.commit_transaction(60)
    admin = kafka.KafkaAdminClient(bootstrap_servers=ctx.bootstrap)
    try:
        # (Kafka may still be writing the markers: PrepareCommit for a moment.)
        deadline = time.monotonic() + 60
        while True:
            d = admin.describe_transactions([txn_id])[txn_id]
            if str(d.state).upper().endswith("COMPLETE_COMMIT"):
                break
            check(str(d.state).upper().endswith("PREPARE_COMMIT") and time.monotonic() < deadline,
                  f"after the commit: {d.state}, expected CompleteCommit")
            time.sleep(0.1)
        deadline = time.monotonic() + 90
        while True:
            try:
                admin.describe_transactions([txn_id])
            except TransactionalIdNotFoundError:
                break
            check(time.monotonic() < deadline, f"{txn_id} still described 90 s after its last use")
            time.sleep(0.5)
        listed = [t.transactional_id for ts in admin.list_transactions().values() for t in ts]
        check(txn_id not in listed, f"{txn_id} expired but still listed by ListTransactions")
    finally:
        admin.close()
    return f"{txn_id} described as {d.state} after its commit, then expired"
