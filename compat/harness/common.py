"""Shared helpers for the compatibility scenarios: message generation,
verification of what was read back against what was sent, polling helpers.

Everything here is client-agnostic. Client specific code lives in
harness/clients/*.py, scenarios in scenarios/*.py.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field


class Skip(Exception):
    """Raised by a scenario that cannot run in this environment (reason = message)."""


class CheckFailed(AssertionError):
    """A compatibility check failed: the broker (or client) misbehaved."""


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def log(msg):
    """Scenario progress log (goes to the per-scenario log file)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# Errors the clients reported during this scenario (its own process): client ->
# Kafka error name -> count. run.py lists them in the scenario's note, so that a
# client's retries never hide what the broker answered.
ERRORS_SEEN: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def note_errors(client: str, errors: dict[str, int]):
    for name, n in errors.items():
        ERRORS_SEEN[client][name] += n


_KAFKA_ERROR_NAMES: dict[str, str] | None = None


def _error_vocabulary() -> dict[str, str]:
    """Every way the clients spell a broker error, mapped to Kafka's name: the name
    itself (NOT_LEADER_OR_FOLLOWER), kafka-python's exception class
    (NotLeaderForPartitionError) and librdkafka's description ("Broker: Not leader for
    partition"), all found by the error's code."""
    global _KAFKA_ERROR_NAMES
    if _KAFKA_ERROR_NAMES is None:
        import inspect
        import kafka.errors as ke
        names: dict[str, str] = {}
        by_code: dict[int, str] = {}
        for cls_name, c in inspect.getmembers(ke, inspect.isclass):
            if issubclass(c, ke.BrokerResponseError) and getattr(c, "message", None) and c.errno:
                names[c.message] = c.message
                names[cls_name] = c.message
                by_code[c.errno] = c.message
        try:
            import confluent_kafka as ck
            for attr in dir(ck.KafkaError):
                code = getattr(ck.KafkaError, attr)
                if isinstance(code, int) and code in by_code:
                    names[ck.KafkaError(code).str()] = by_code[code]
        except ImportError:
            pass
        _KAFKA_ERROR_NAMES = names
    return _KAFKA_ERROR_NAMES


def note_logged_errors(client: str, text: str):
    """Counts the broker errors a client's own log or messages mention, in any of the
    clients' spellings: also the errors it retried without reporting them to the
    application."""
    import re
    vocabulary = _error_vocabulary()
    found: dict[str, int] = defaultdict(int)
    for word in re.findall(r"\b[A-Z][A-Za-z_]{3,}\b", text):
        if word in vocabulary:
            found[vocabulary[word]] += 1
    for desc in re.findall(r"Broker: [^:()\n\]\[]+", text):
        name = vocabulary.get(desc.strip())
        if name:
            found[name] += 1
    if found:
        note_errors(f"{client} (log)", found)


def errors_seen_note() -> str | None:
    parts = [f"{c}: " + ", ".join(f"{e} x{n}" for e, n in sorted(errs.items()))
             for c, errs in sorted(ERRORS_SEEN.items()) if errs]
    return ("errors seen: " + "; ".join(parts)) if parts else None


def now_ms() -> int:
    return int(time.time() * 1000)


class Deliveries:
    """A confluent-kafka producer's delivery reports (pass it as ``on_delivery``):
    acknowledged value -> (partition, offset), failed value -> error name."""

    def __init__(self):
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.failed: dict[bytes, str] = {}

    def __call__(self, err, m):
        if err is None:
            self.acked[m.value()] = (m.partition(), m.offset())
        else:
            self.failed[m.value()] = err.name()

    def error_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for name in self.failed.values():
            counts[name] += 1
        return counts

    def failures(self, n: int = 3, since: int = 0) -> list[str]:
        """The first ``n`` failures from the ``since``-th on, for messages."""
        return [f"{v[:40]!r}: {e}" for v, e in list(self.failed.items())[since:since + n]]


def wait_until(fn, timeout, what, interval=0.2):
    """Poll fn() until it returns a truthy value; return that value.

    Exceptions raised by fn are remembered and retried until the deadline.
    Raises CheckFailed on timeout (including the last exception seen)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (CheckFailed, Skip):
            raise
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc is not None else ""
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def retry_kafka(fn, codes, timeout=60.0, interval=0.2):
    """fn() again while it raises a confluent-kafka KafkaException whose code is in
    ``codes`` (an answer Kafka gives while it is still getting ready, which the
    client hands back instead of retrying), until ``timeout``; then, or for any
    other error, the exception is raised as is."""
    import confluent_kafka as ck
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ck.KafkaException as e:
            if e.args[0].code() not in codes or time.monotonic() > deadline:
                raise
            time.sleep(interval)


def commit_sync(consumer, offsets, timeout=60):
    """A synchronous confluent-kafka commit, again while the group's coordinator is not
    there yet: librdkafka hands a commit that meets NOT_COORDINATOR (or no coordinator
    known yet) back to the caller, and Kafka answers so while it creates
    __consumer_offsets or loads the group."""
    import confluent_kafka as cklib
    return retry_kafka(lambda: consumer.commit(offsets=offsets, asynchronous=False),
                       (cklib.KafkaError.NOT_COORDINATOR, cklib.KafkaError._WAIT_COORD,
                        cklib.KafkaError.COORDINATOR_LOAD_IN_PROGRESS, cklib.KafkaError.COORDINATOR_NOT_AVAILABLE),
                       timeout)


def unique_topic(base: str) -> str:
    """A unique topic name. Deliberately uses '.', '_' and '-' (all legal)."""
    h = uuid.uuid4().hex
    return f"compat.{base.replace('/', '_')}-{h[:8]}_{h[8:12]}"


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def split_hostport(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host.strip("[]"), int(port)


# --------------------------------------------------------------------------
# Messages


@dataclass
class Msg:
    """A message as sent by a producer."""
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: int | None = None  # None: producer/broker sets it (kcat)


@dataclass
class Record:
    """A record as read back by a consumer, normalised across clients."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int
    ts_type: str | None = None  # "create" | "logappend" | None (client can't tell)


def make_messages(tag: str, n: int = 10_000, nkeys: int = 200, *, start: int = 0,
                  explicit_ts: bool = True, per_message_headers: bool = True,
                  constant_headers: list[tuple[str, bytes]] | None = None,
                  base_ts: int | None = None, ts_step: int = 1) -> list[Msg]:
    """Deterministic keyed messages.

    Message i has key ``key-(i % nkeys)`` and per-key sequence number
    ``i // nkeys``, which is carried in the value (and in a header when the
    client supports per-message headers). Values are unique, printable and
    contain no tab/newline/comma so that kcat's text output is parseable.
    ``start`` lets a later batch continue the sequence of an earlier one.
    """
    if base_ts is None:
        # an hour in the past: clearly distinct from the broker's clock, and
        # well within any default retention
        base_ts = now_ms() - 3_600_000
    msgs = []
    for i in range(start, start + n):
        k = i % nkeys
        seq = i // nkeys
        key = f"key-{k:03d}".encode()
        # a little variety so that compressed batches are not trivial
        pad = ("abcdefghij"[(i * 7) % 10] * (20 + (i % 37)))
        value = f"{tag}|key-{k:03d}|seq={seq:06d}|i={i:06d}|{pad}".encode()
        if per_message_headers:
            headers = [("seq", str(seq).encode()),
                       ("src", tag.encode()),
                       ("bin", bytes([0, 255, i % 256, 10, 9])),
                       ("dup", b"first"),
                       ("dup", b"second"),
                       ("empty", b"")]
        else:
            headers = list(constant_headers or [])
        ts = base_ts + i * ts_step if explicit_ts else None
        msgs.append(Msg(key=key, value=value, headers=headers, timestamp=ts))
    return msgs


def _fmt(b):
    if b is None:
        return "None"
    s = repr(b)
    return s if len(s) < 120 else s[:117] + "..."


def verify_records(records: list[Record], sent: list[Msg], *, partitions: int,
                   ts_window: tuple[int, int] | None = None,
                   contiguous_from: dict[int, int] | None = None,
                   delivered: dict[bytes, tuple[int, int]] | None = None,
                   check_ts_type: bool = True,
                   partition_send_order: bool = False) -> dict:
    """Check that ``records`` (everything read from a topic) is exactly ``sent``.

    - count, no missing and no duplicated message (values are unique);
    - key, value, headers (order and duplicates included) and timestamp equal
      to what was sent (explicit timestamps), or, for messages sent without a
      timestamp, a CreateTime inside ``ts_window`` (inclusive, ms);
    - each key lives in exactly one partition, and per key the offsets
      increase with the sequence number (per-key order);
    - per partition, offsets are strictly increasing in read order and, when
      ``contiguous_from`` is given ({partition: first offset}), contiguous
      from that first offset (a fresh topic written by one non-transactional
      producer has no gaps);
    - if ``delivered`` (value -> (partition, offset) from the producer's
      acknowledgements) is given, the record is at the acknowledged position;
    - with ``partition_send_order``, every partition holds its messages in
      exactly the order they were sent (idempotent producer guarantee).

    Returns a small summary dict; raises CheckFailed listing the problems.
    """
    problems: list[str] = []

    def problem(msg):
        problems.append(msg)

    by_value = {}
    for idx, m in enumerate(sent):
        by_value[m.value] = idx
    check(len(by_value) == len(sent), "test bug: sent values are not unique")

    seen: dict[int, Record] = {}
    unknown = 0
    dups = 0
    for r in records:
        idx = by_value.get(r.value)
        if idx is None:
            unknown += 1
            if unknown <= 3:
                problem(f"read a record that was never sent: p{r.partition}@{r.offset} "
                        f"key={_fmt(r.key)} value={_fmt(r.value)}")
            continue
        if idx in seen:
            dups += 1
            if dups <= 3:
                o = seen[idx]
                problem(f"message read twice: value={_fmt(r.value)} at p{o.partition}@{o.offset} "
                        f"and p{r.partition}@{r.offset}")
            continue
        seen[idx] = r
    missing = [i for i in range(len(sent)) if i not in seen]
    if missing:
        problem(f"{len(missing)} of {len(sent)} sent messages were not read back "
                f"(first missing: {_fmt(sent[missing[0]].value)})")
    if unknown > 3:
        problem(f"... {unknown} unknown records in total")
    if dups > 3:
        problem(f"... {dups} duplicated records in total")

    field_problems = 0
    for idx, r in seen.items():
        m = sent[idx]
        errs = []
        if r.key != m.key:
            errs.append(f"key {_fmt(r.key)} != sent {_fmt(m.key)}")
        if r.headers != m.headers:
            errs.append(f"headers {r.headers!r} != sent {m.headers!r}")
        if m.timestamp is not None:
            if r.timestamp != m.timestamp:
                errs.append(f"timestamp {r.timestamp} != sent {m.timestamp}")
        elif ts_window is not None:
            lo, hi = ts_window
            if not (lo <= r.timestamp <= hi):
                errs.append(f"timestamp {r.timestamp} outside produce window [{lo}, {hi}]")
        if check_ts_type and r.ts_type is not None and r.ts_type != "create":
            errs.append(f"timestamp type {r.ts_type!r}, expected CreateTime")
        if delivered is not None and m.value in delivered:
            dp = delivered[m.value]
            if dp != (r.partition, r.offset):
                errs.append(f"read at p{r.partition}@{r.offset} but producer was acked p{dp[0]}@{dp[1]}")
        if errs:
            field_problems += 1
            if field_problems <= 5:
                problem(f"p{r.partition}@{r.offset} value={_fmt(r.value)}: " + "; ".join(errs))
    if field_problems > 5:
        problem(f"... {field_problems} records with wrong fields in total")

    # per key: one partition, order by sequence == order by offset
    key_parts = defaultdict(set)
    key_recs = defaultdict(list)
    for idx, r in seen.items():
        key_parts[r.key].add(r.partition)
        key_recs[r.key].append((idx, r))
    multi = {k: sorted(v) for k, v in key_parts.items() if len(v) > 1}
    if multi:
        k, v = next(iter(multi.items()))
        problem(f"{len(multi)} keys found in more than one partition (e.g. {_fmt(k)} in {v})")
    order_bad = 0
    for k, lst in key_recs.items():
        lst.sort(key=lambda t: t[0])  # send order
        offs = [r.offset for _, r in lst]
        if len({r.partition for _, r in lst}) == 1 and any(b <= a for a, b in zip(offs, offs[1:])):
            order_bad += 1
            if order_bad <= 2:
                problem(f"per-key order broken for {_fmt(k)}: offsets in send order {offs[:12]}...")
    if order_bad > 2:
        problem(f"... per-key order broken for {order_bad} keys")

    # per partition: range, strictly increasing read order, contiguity
    per_part = defaultdict(list)
    for r in records:
        per_part[r.partition].append(r.offset)
    for p, offs in sorted(per_part.items()):
        if not (0 <= p < partitions):
            problem(f"record in partition {p}, topic has {partitions} partitions")
        if any(b <= a for a, b in zip(offs, offs[1:])):
            bad = next(i for i, (a, b) in enumerate(zip(offs, offs[1:])) if b <= a)
            problem(f"partition {p}: offsets not strictly increasing in read order "
                    f"(... {offs[max(0, bad - 2):bad + 3]} ...)")
        if contiguous_from is not None:
            first = contiguous_from.get(p, 0)
            exp = list(range(first, first + len(offs)))
            if sorted(offs) != exp:
                gaps = sorted(set(exp) - set(offs))[:5]
                problem(f"partition {p}: offsets not contiguous from {first} "
                        f"(got {len(offs)} records, min {min(offs)}, max {max(offs)}, first gaps {gaps})")
    if partition_send_order:
        by_part = defaultdict(list)
        for idx, r in seen.items():
            by_part[r.partition].append((r.offset, idx))
        for p, lst in sorted(by_part.items()):
            lst.sort()
            idxs = [i for _, i in lst]
            bad = [j for j in range(1, len(idxs)) if idxs[j] <= idxs[j - 1]]
            if bad:
                j = bad[0]
                problem(f"partition {p}: {len(bad)} messages out of send order, e.g. offset {lst[j][0]} holds "
                        f"message #{idxs[j]} after message #{idxs[j - 1]}")
    if len(sent) >= 100 and partitions > 1 and records and len(per_part) < 2:
        problem(f"all {len(records)} records are in one partition: keys were not spread "
                f"over the {partitions} partitions")

    if problems:
        raise CheckFailed(f"{len(problems)} problem(s) reading back {len(sent)} messages "
                          f"({len(records)} records read):\n  - " + "\n  - ".join(problems))
    return {"records": len(records),
            "per_partition": {p: len(v) for p, v in sorted(per_part.items())}}


def counts_by_partition(records: list[Record]) -> dict[int, int]:
    out = defaultdict(int)
    for r in records:
        out[r.partition] += 1
    return dict(out)


def compat_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_codecs(data_dirs: list[str], topic: str) -> dict[int, dict[int, int]]:
    """The codecs of the record batches a broker stored for ``topic``, read from its
    segment files (Kafka's on-disk format): {partition: {codec id: batches}}."""
    import glob
    import struct
    out: dict[int, dict[int, int]] = {}
    for d in data_dirs:
        for seg in glob.glob(os.path.join(d, f"{glob.escape(topic)}-*", "*.log")):
            part = int(os.path.basename(os.path.dirname(seg)).rsplit("-", 1)[1])
            with open(seg, "rb") as f:
                b = f.read()
            pos = 0
            while pos + 61 <= len(b):
                length = struct.unpack(">i", b[pos + 8:pos + 12])[0]
                if length <= 0:
                    break
                attrs = struct.unpack(">h", b[pos + 21:pos + 23])[0]
                counts = out.setdefault(part, {})
                counts[attrs & 7] = counts.get(attrs & 7, 0) + 1
                pos += 12 + length
    return out
