"""Transactions (issue 12) through every client that has a transactional API:
confluent-kafka, kafka-python (3.x), kafkajs, the Java client (4.4 and 3.9),
franz-go and sarama. Validated against Apache Kafka (``--flavour kafka``).

* ``txn-commit-abort``: one transactional producer, six transactions over the
  three partitions of a topic, interleaved: four commit (100 records), two
  abort (50). A read_committed consumer reads exactly the committed records,
  each once, at its acknowledged offset, in send order per partition; a
  read_uncommitted one reads all 150. Each transaction leaves one control
  record (marker) in every partition it wrote to, so every high watermark is
  records + markers; the read_committed end offset (the last stable offset,
  ListOffsets with isolation READ_COMMITTED) reaches the high watermark.
* ``txn-consume-transform-produce``: a transactional loop reads an input topic
  in a consumer group (read_committed, no auto commit), writes one transformed
  record per input record to an output topic and commits the consumed offsets
  through the transaction (sendOffsetsToTransaction and its equivalents). The
  third batch is aborted, then reprocessed from the committed positions: the
  aborted outputs are never read_committed, the aborted offsets never become
  the group's, the output has exactly one result per input, and in the end
  the group's committed offsets are the input's end offsets.
* ``txn-fencing``: producer A opens a transaction and writes; producer B with
  the same transactional.id initialises, which fences A and aborts A's open
  transaction. A's further send and commit fail with a fenced error (nothing
  of them is written); B's committed records are visible, A's never are
  (read_uncommitted still shows A's records, with the abort markers).
* ``txn-timeout`` (private broker with a 1 s
  ``transaction.abort.timed.out.transaction.cleanup.interval.ms``): a producer
  with ``transaction.timeout.ms=3000`` writes in a transaction and its process
  exits without ending it. Another producer commits records after them: a
  read_committed consumer eventually reads those (the coordinator aborts the
  stuck transaction, the last stable offset moves on) and never the stuck ones.
* ``txn-bad-input`` (scenarios/txn_bad_input.py): hand-made transactional requests
  get exactly Kafka 4.4's error codes.
* ``txn-compaction`` (scenarios/txn_compaction.py): the cleaner on a transactional,
  compacted topic.

Nothing waits on a sleep: reads run until the records every partition must end
with have been delivered (the last committed record's acknowledged offset),
with generous deadlines.

The clients' transactional adaptors are in harness/txn_clients.py.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict

from harness.common import CheckFailed, Msg, check, log, make_messages, verify_records, wait_until
from harness.txn_clients import PARTITIONS, backend, high_watermarks

TXN_CLIENTS = ("confluent-kafka", "kafka-python", "kafkajs", "java", "java-3.9", "franz-go", "sarama")
TIMEOUT_CLIENTS = TXN_CLIENTS
# commit 100 records in 4 transactions, abort 50 in 2, interleaved
SCHEDULE = ("commit", "abort", "commit", "commit", "abort", "commit")
PER_TXN = 25
# what a fenced producer may be told: Kafka's PRODUCER_FENCED / INVALID_PRODUCER_EPOCH,
# librdkafka's own _FENCED
FENCED = ("PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH", "_FENCED")
# the transaction coordinator aborts timed-out transactions every second (default 10 s)
TIMEOUT_BROKER = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"}


def transaction_scenarios():
    from scenarios import Scenario
    T = "scenarios.transactions"
    S = []
    for c in TXN_CLIENTS:
        S.append(Scenario(c, "txn-commit-abort", f"{T}:commit_abort", (c,), cost=2, timeout=300))
        S.append(Scenario(c, "txn-consume-transform-produce", f"{T}:consume_transform_produce", (c,), cost=3,
                          timeout=360))
        S.append(Scenario(c, "txn-fencing", f"{T}:fencing", (c,), cost=2, timeout=300))
    for c in TIMEOUT_CLIENTS:
        S.append(Scenario(c, "txn-timeout", f"{T}:txn_timeout", (c,), managed_only=True, cost=3, timeout=360))
    S.append(Scenario("kafka-python", "txn-bad-input", "scenarios.txn_bad_input:txn_bad_input", cost=1, timeout=180))
    S.append(Scenario("confluent-kafka", "txn-compaction", "scenarios.txn_compaction:txn_compaction",
                      managed_only=True, cost=4, timeout=360))
    return S


# ---------------------------------------------------------------------------
# helpers


def placed(msgs: list[Msg]) -> list[tuple[Msg, int]]:
    """Explicit partitions, by key (make_messages: key index = i % nkeys, nkeys a multiple
    of 3): each key in one partition, every batch of consecutive messages over all three."""
    return [(m, int(m.key.decode().rsplit("-", 1)[1]) % PARTITIONS) for m in msgs]


def until_after(acks) -> dict[int, int]:
    """{partition: acknowledged offset of its last record + 1}: a reader is done with a
    partition once it has delivered that record (or its position is past it)."""
    out: dict[int, int] = {}
    for p, o in acks:
        out[p] = max(out.get(p, 0), o + 1)
    return out


def is_fenced(name) -> bool:
    return name is not None and any(f in str(name) for f in FENCED)


def expected_high_watermarks(txns) -> dict[int, int]:
    """Records plus one marker per ended transaction in every partition it wrote to."""
    hw: dict[int, int] = defaultdict(int)
    for outcome, pms in txns:
        for _, p in pms:
            hw[p] += 1
        if outcome in ("commit", "abort", "fenced-abort"):
            for p in {p for _, p in pms}:
                hw[p] += 1
    return dict(hw)


def check_end_offsets(ctx, b, topic, want_hw: dict[int, int] | None, what: str):
    """The high watermarks are ``want_hw`` (when given), and the client's read_committed
    end offsets (the last stable offset) reach them once no transaction is open."""
    hw = high_watermarks(ctx, topic)
    if want_hw is not None:
        want = {p: want_hw.get(p, 0) for p in hw}
        check(hw == want, f"{what}: high watermarks {hw}, expected {want} (records + one control record per "
                          f"transaction and partition)")
    lso = b.read_committed_end(ctx, topic)
    if lso is None:
        return f"{b.name} lists no read_committed end offsets"
    last = {}

    def stable():
        last["lso"] = b.read_committed_end(ctx, topic)
        return last["lso"] == hw
    try:
        wait_until(stable, 60, "the last stable offsets to reach the high watermarks")
    except CheckFailed:
        raise CheckFailed(f"{what}: {b.name}'s read_committed end offsets {last.get('lso')} never reached the high "
                          f"watermarks {hw}") from None
    return None


def produce_plain(ctx, topic, pms: list[tuple[Msg, int]]) -> dict[bytes, tuple[int, int]]:
    """Non-transactional records with explicit partitions (confluent-kafka, acks=all)."""
    import confluent_kafka as ck
    from harness.common import Deliveries
    from harness.clients.confluent import _base_conf
    conf = _base_conf(ctx.bootstrap)
    conf.update({"acks": "all", "linger.ms": 5, "enable.idempotence": True})
    p = ck.Producer(conf)
    d = Deliveries()
    for m, part in pms:
        p.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                  partition=part, on_delivery=d)
        p.poll(0)
    left = p.flush(60)
    check(left == 0 and not d.failed and len(d.acked) == len(pms),
          f"input produce: {left} unacknowledged, failures {d.failures()}")
    return d.acked


# ---------------------------------------------------------------------------
# scenarios


def commit_abort(ctx, client_name):
    """Six transactions of 25 records over three partitions, four committed and two
    aborted, interleaved: read_committed reads the 100 committed ones exactly, each
    once, in send order per partition and at its acknowledged offset;
    read_uncommitted reads all 150; every partition holds one marker per
    transaction; the read_committed end offset reaches the high watermark."""
    b = backend(client_name)
    topic = ctx.topic(f"{client_name}.txn")
    b.create_topic(ctx, topic)
    msgs = make_messages(f"{client_name}-txn", PER_TXN * len(SCHEDULE), 30)
    pms = placed(msgs)
    txns = [(o, pms[i * PER_TXN:(i + 1) * PER_TXN]) for i, o in enumerate(SCHEDULE)]
    txn_id = f"compat-{client_name}-{uuid.uuid4().hex[:8]}"
    acks = b.produce_txns(ctx, topic, txn_id, txns)
    delivered = {m.value: a for (m, _), a in zip(pms, acks)}
    for (m, p), a in zip(pms, acks):
        check(a[0] == p, f"{m.value[:40]!r} acknowledged in partition {a[0]}, sent to {p}")
    committed = [m for o, part in txns if o == "commit" for m, _ in part]
    c_acks = [delivered[m.value] for m in committed]
    log(f"{len(acks)} records acknowledged; reading read_committed until {until_after(c_acks)}")
    got = b.read(ctx, topic, "read_committed", until_after(c_acks))
    try:
        verify_records(got, committed, partitions=PARTITIONS, delivered=delivered, partition_send_order=True)
    except CheckFailed as e:
        aborted = {m.value for o, part in txns if o == "abort" for m, _ in part}
        n_ab = sum(r.value in aborted for r in got)
        raise CheckFailed(f"read_committed ({n_ab} aborted records among those read): {e}") from None
    everything = b.read(ctx, topic, "read_uncommitted", until_after(acks))
    verify_records(everything, msgs, partitions=PARTITIONS, delivered=delivered, partition_send_order=True)
    extra = check_end_offsets(ctx, b, topic, expected_high_watermarks(txns), "after 6 transactions")
    epoch = _producer_epoch(ctx, topic)
    if client_name in TRANSACTIONS_V2:
        # Transactions V2 (transaction.version 2): the epoch is bumped at every end.
        check(epoch >= len(SCHEDULE) - 1, f"{client_name} uses transactions V2: after {len(SCHEDULE)} transactions "
                                          f"the producer epoch is {epoch}, expected at least {len(SCHEDULE) - 1}")
    else:
        check(epoch == 0, f"{client_name} uses transactions V1: the producer epoch is {epoch}, expected 0")
    return (f"read_committed: {len(got)} of {len(msgs)} records (4 of 6 transactions committed), "
            f"read_uncommitted: {len(everything)}, producer epoch {epoch}" + (f"; {extra}" if extra else ""))


# Clients that use Kafka 4's transactions V2 when the broker finalizes transaction.version 2
TRANSACTIONS_V2 = ("java", "franz-go")


def _producer_epoch(ctx, topic):
    """The epoch of the (only) producer of partition 0, by DescribeProducers."""
    import kafka
    admin = kafka.KafkaAdminClient(bootstrap_servers=ctx.bootstrap)
    try:
        tp = kafka.TopicPartition(topic, 0)
        producers = admin.describe_producers([tp])[tp].active_producers
    finally:
        admin.close()
    check(len(producers) == 1, f"DescribeProducers of {topic}-0: {producers}, expected one producer")
    return producers[0].producer_epoch


def consume_transform_produce(ctx, client_name, n_input=120, max_poll=20, abort_batch=2):
    """Consume (group, read_committed, no auto commit) -> transform -> produce, with
    the consumed offsets committed in the transaction; the third batch aborted
    and reprocessed. Exactly one committed output per input; the aborted offsets
    never committed; the group ends at the input's end offsets."""
    from harness.clients import get_client
    from harness.groups import committed as group_committed
    b = backend(client_name)
    inp = ctx.topic(f"{client_name}.ctp-in")
    out = ctx.topic(f"{client_name}.ctp-out")
    get_client("confluent-kafka").create_topic(ctx, inp, PARTITIONS)
    b.create_topic(ctx, out)
    msgs = make_messages(f"{client_name}-ctp", n_input, 30, per_message_headers=False)
    produce_plain(ctx, inp, placed(msgs))
    group = f"compat-{client_name}-ctp-{uuid.uuid4().hex[:8]}"
    txn_id = f"compat-{client_name}-ctp-{uuid.uuid4().hex[:8]}"
    res = b.ctp(ctx, inp, out, group, txn_id, n_input, max_poll, abort_batch)
    log(f"{res['batches']} transactions, batch {res['abortedBatch']} aborted ({len(res['aborted'])} outputs); "
        f"committed before the abort {res['committedBefore']}, after it {res['committedAfterAbort']}")
    check(res["aborted"], "no batch was aborted")
    check(res["batches"] > abort_batch + 1, f"the aborted batch {abort_batch} was not in the middle "
                                            f"({res['batches']} transactions)")
    before = {p: res["committedBefore"].get(p, -1) for p in range(PARTITIONS)}
    check(res["committedAfterAbort"] == before,
          f"after the abort the group's committed offsets are {res['committedAfterAbort']}, not the ones of the "
          f"last committed transaction {before}: the aborted transaction's offsets took effect")
    expected = [Msg(key=m.key, value=b"out|" + m.value, headers=[], timestamp=None) for m in msgs]
    delivered = {v: (p, o) for p, o, v in res["outputs"]}
    check(len(res["outputs"]) == n_input, f"{len(res['outputs'])} outputs committed for {n_input} inputs")
    got = b.read(ctx, out, "read_committed", until_after([(p, o) for p, o, _ in res["outputs"]]))
    verify_records(got, expected, partitions=PARTITIONS, delivered=delivered, partition_send_order=True)
    aborted_values = Counter(v for _, _, v in res["aborted"])
    all_acks = [(p, o) for p, o, _ in res["outputs"] + res["aborted"]]
    everything = b.read(ctx, out, "read_uncommitted", until_after(all_acks))
    counts = Counter(r.value for r in everything)
    want = Counter({m.value: 1 for m in expected}) + aborted_values
    check(counts == want, f"read_uncommitted read {sum(counts.values())} outputs, expected {sum(want.values())} "
                          f"(every output once, the aborted batch's {len(res['aborted'])} twice); differences: "
                          f"{list((counts - want).items())[:3]} / {list((want - counts).items())[:3]}")
    hw = high_watermarks(ctx, inp)
    last = {}

    def at_end():
        last["c"] = group_committed(ctx.bootstrap, group, inp, list(range(PARTITIONS)))
        return last["c"] == hw
    try:
        wait_until(at_end, 60, "the group's committed offsets to reach the input's end offsets")
    except CheckFailed:
        raise CheckFailed(f"group {group}: committed offsets {last.get('c')}, input end offsets {hw}") from None
    extra = check_end_offsets(ctx, b, out, None, "output topic")
    return (f"{n_input} inputs, {res['batches']} transactions, batch {abort_batch} ({len(res['aborted'])} records) "
            f"aborted and reprocessed" + (f"; {extra}" if extra else ""))


def fencing(ctx, client_name):
    """Producer B initialising with A's transactional.id fences A and aborts A's
    open transaction; A's later send and commit fail as fenced; read_committed
    sees B's records only."""
    b = backend(client_name)
    topic = ctx.topic(f"{client_name}.fence")
    b.create_topic(ctx, topic)
    msgs = make_messages(f"{client_name}-fence", 60, 30)
    pms = placed(msgs)
    first, after, second = pms[:24], pms[24:30], pms[30:]
    txn_id = f"compat-{client_name}-fence-{uuid.uuid4().hex[:8]}"
    res = b.fence(ctx, topic, txn_id, first, after, second)
    log(f"fenced producer: send error {res['send_error']}, after-records acknowledged {res['after_acked']}, "
        f"commit error {res['commit_error']}")
    check(res["commit_error"] is not None, "the fenced producer's commitTransaction succeeded")
    check(is_fenced(res["commit_error"]) or is_fenced(res["send_error"]),
          f"the fenced producer was not told it is fenced: send {res['send_error']}, commit {res['commit_error']} "
          f"(expected one of {FENCED})")
    check(not res["after_acked"], "the fenced producer's records after the fencing were acknowledged")
    delivered = {m.value: a for (m, _), a in zip(first, res["first"])}
    delivered.update({m.value: a for (m, _), a in zip(second, res["second"])})
    got = b.read(ctx, topic, "read_committed", until_after(res["second"]))
    b_msgs = [m for m, _ in second]
    verify_records(got, b_msgs, partitions=PARTITIONS, delivered=delivered, partition_send_order=True)
    everything = b.read(ctx, topic, "read_uncommitted", until_after(res["first"] + res["second"]))
    verify_records(everything, [m for m, _ in first] + b_msgs, partitions=PARTITIONS, delivered=delivered,
                   partition_send_order=True)
    extra = check_end_offsets(ctx, b, topic, expected_high_watermarks([("fenced-abort", first), ("commit", second)]),
                              "after the fencing")
    return (f"fenced: send {res['send_error']}, commit {res['commit_error']}; read_committed {len(got)} "
            f"(B's), read_uncommitted {len(everything)}" + (f"; {extra}" if extra else ""))


def txn_timeout(ctx, client_name):
    """A transaction left open by a producer process that exited is aborted by the
    coordinator after transaction.timeout.ms (3 s): the records committed after it
    by another producer become readable with read_committed, the stuck ones never."""
    ctx.private_broker(TIMEOUT_BROKER)
    b = backend(client_name)
    topic = ctx.topic(f"{client_name}.txn-timeout")
    b.create_topic(ctx, topic, 2)
    msgs = make_messages(f"{client_name}-stuck", 60, 30)
    pms = [(m, p % 2) for m, p in placed(msgs)]
    stuck, later = pms[:20], pms[20:]
    t0 = time.monotonic()
    a_acks = b.produce_txns(ctx, topic, f"compat-{client_name}-stuck-{uuid.uuid4().hex[:8]}", [("open", stuck)],
                            timeout_ms=3000)
    log(f"stuck transaction written ({len(a_acks)} records), its producer exited")
    # information only (the coordinator may already have aborted it): the last stable offset
    # stays at the open transaction's first offset while it is open
    lso_open = b.read_committed_end(ctx, topic)
    hw_open = high_watermarks(ctx, topic)
    log(f"{time.monotonic() - t0:.1f}s after the stuck transaction began: read_committed end offsets {lso_open}, "
        f"high watermarks {hw_open}")
    b_acks = b.produce_txns(ctx, topic, f"compat-{client_name}-after-{uuid.uuid4().hex[:8]}", [("commit", later)])
    delivered = {m.value: a for (m, _), a in zip(stuck + later, a_acks + b_acks)}
    got = b.read(ctx, topic, "read_committed", until_after(b_acks), timeout=150)
    waited = time.monotonic() - t0
    verify_records(got, [m for m, _ in later], partitions=2, delivered=delivered, partition_send_order=True)
    everything = b.read(ctx, topic, "read_uncommitted", until_after(a_acks + b_acks))
    verify_records(everything, msgs, partitions=2, delivered=delivered, partition_send_order=True)
    extra = check_end_offsets(ctx, b, topic, expected_high_watermarks([("abort", stuck), ("commit", later)]),
                              "after the timed-out transaction")
    return (f"the later records were read_committed {waited:.1f}s after the stuck transaction began "
            f"(transaction.timeout.ms 3000; while it was open: read_committed end offsets {lso_open}, high "
            f"watermarks {hw_open})" + (f"; {extra}" if extra else ""))
