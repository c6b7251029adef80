#!/usr/bin/env python3
"""Self-test of the suite's verification logic (no broker needed).

Feeds verify_records() a correct read-back and a series of broken ones (a
lost message, a duplicate, a reordered key, a changed header, a rewritten
timestamp, ...) and checks that each broken one is rejected: the scenarios
must fail on a broken broker, not only pass on a good one. The same for the
verification of compacted logs (scenarios/logpolicy.py: a lost newest
record, an older value kept, an offset read twice, a tombstone, ...).

    python3 compat/selftest.py
"""

from __future__ import annotations

import copy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.common import CheckFailed, Record, make_messages, verify_records  # noqa: E402


def good_readback(msgs, partitions=3):
    """What a correct broker returns: keys hashed to partitions, per
    partition in send order, contiguous offsets from 0."""
    nxt = [0] * partitions
    recs, delivered = [], {}
    for m in msgs:
        p = int(m.key.split(b"-")[1]) % partitions
        recs.append(Record(partition=p, offset=nxt[p], key=m.key, value=m.value, headers=list(m.headers),
                           timestamp=m.timestamp, ts_type="create"))
        delivered[m.value] = (p, nxt[p])
        nxt[p] += 1
    recs.sort(key=lambda r: (r.partition, r.offset))
    return recs, delivered


def compaction_selftest(say):
    """The compacted-log verification (scenarios/logpolicy.py) must reject
    broken cleaned read-backs too. Returns (checks, failures)."""
    from scenarios.logpolicy import Expect, _all_problems, _check_fields, _key

    exp = Expect()
    sent = {}
    off = [0, 0]
    for i in range(300):  # 3 rounds over 100 keys, 2 partitions
        k = i % 100
        p = k % 2
        v = b"v%03d-%d" % (k, i // 100)
        exp.add(_key(k), v, p, off[p])
        sent[v] = (_key(k), v, 1000 + i, [("h", b"x"), ("h", b"y")])
        off[p] += 1
    for k in range(10):  # tombstones for keys 0..9 (gone), 10..14 (kept)
        p = k % 2
        exp.add(_key(k), None, p, off[p])
        off[p] += 1
    for k in range(10, 15):
        p = k % 2
        exp.add(_key(k), None, p, off[p])
        off[p] += 1
    gone = frozenset(_key(k) for k in range(10))
    good = sorted((Record(p, o, key, v, list(sent[v][3]) if v else [], sent[v][2] if v else 0)
                   for key, (v, p, o) in exp.newest.items() if key not in gone),
                  key=lambda r: (r.partition, r.offset))
    checks = failures = 0
    if _all_problems(good, exp, "selftest", gone=gone) or _check_fields(good, sent, "selftest"):
        say("FAIL the compaction verification rejects a correct cleaned read-back")
        failures += 1

    def older_instead(rs):
        r = next(r for r in rs if r.key == _key(50))
        r.value, r.offset = b"v050-0", r.offset - 100  # not its acked offset either
    mutations = {
        "cleaned log: newest record lost": lambda rs: rs.pop(40),
        "cleaned log: older value kept instead of the newest": older_instead,
        "cleaned log: older value kept as well": lambda rs: rs.append(
            Record(0, 25, _key(50), b"v050-1", [], 0)),
        "cleaned log: offset read twice": lambda rs: rs.insert(5, rs[4]),
        "cleaned log: survivor at another offset": lambda rs: setattr(rs[3], "offset", rs[3].offset + 1),
        "cleaned log: record never produced": lambda rs: rs.append(Record(1, 9999, _key(1), b"junk", [], 0)),
        "cleaned log: tombstoned key still present": lambda rs: (rs.append(
            Record(exp.newest[_key(0)][1], exp.newest[_key(0)][2], _key(0), None, [], 0)),
            rs.sort(key=lambda r: (r.partition, r.offset))),
        "cleaned log: kept tombstone lost": lambda rs: rs.remove(next(r for r in rs if r.key == _key(12))),
        "cleaned log: repeated header name collapsed": lambda rs: rs[2].headers.pop(0),
        "cleaned log: timestamp changed": lambda rs: setattr(rs[6], "timestamp", rs[6].timestamp + 1),
    }
    for name, mutate in mutations.items():
        checks += 1
        rs = copy.deepcopy(good)
        mutate(rs)
        rs_sorted = sorted(rs, key=lambda r: r.partition)  # stable: keeps the read order per partition
        problems = _all_problems(rs_sorted, exp, "selftest", gone=gone) + _check_fields(rs_sorted, sent, "selftest")
        if problems:
            say(f"ok   rejected: {name}: {problems[0][:100]}")
        else:
            say(f"FAIL accepted a broken read-back: {name}")
            failures += 1
    return checks, failures


def main(quiet=False):
    out = [] if quiet else None

    def say(line):
        if out is None:
            print(line)
        else:
            out.append(line)

    msgs = make_messages("selftest", 2000, 50)
    good, delivered = good_readback(msgs)
    contiguous = {0: 0, 1: 0, 2: 0}
    verify_records(good, msgs, partitions=3, contiguous_from=contiguous, delivered=delivered,
                   partition_send_order=True)

    def swap_in_partition(rs):
        p0 = [i for i, r in enumerate(rs) if r.partition == 0]
        a, b = p0[3], p0[300]
        rs[a].value, rs[b].value = rs[b].value, rs[a].value
        rs[a].headers, rs[b].headers = rs[b].headers, rs[a].headers
        rs[a].key, rs[b].key = rs[b].key, rs[a].key
        rs[a].timestamp, rs[b].timestamp = rs[b].timestamp, rs[a].timestamp

    def move_key_to_other_partition(rs):
        r = next(r for r in rs if r.key == b"key-001")
        r.partition = (r.partition + 1) % 3

    mutations = {
        "lost message": lambda rs: rs.pop(1234),
        "duplicated message": lambda rs: rs.append(copy.deepcopy(rs[10])),
        "unknown record": lambda rs: rs.append(Record(0, 99999, b"key-000", b"junk", [], 0, "create")),
        "changed value byte": lambda rs: setattr(rs[5], "value", rs[5].value[:-1] + b"!"),
        "changed key": lambda rs: setattr(rs[7], "key", b"key-999"),
        "header dropped": lambda rs: rs[8].headers.pop(),
        "header order": lambda rs: rs[9].headers.reverse(),
        "empty header became null": lambda rs: setattr(rs[11], "headers",
                                                       [(k, (None if v == b"" else v)) for k, v in rs[11].headers]),
        "timestamp rewritten": lambda rs: setattr(rs[12], "timestamp", rs[12].timestamp + 1),
        "LogAppendTime type": lambda rs: setattr(rs[13], "ts_type", "logappend"),
        "offset gap": lambda rs: [setattr(r, "offset", r.offset + 1) for r in rs if r.partition == 1 and r.offset > 100],
        "offset not at acked position": lambda rs: delivered.__setitem__(rs[14].value, (rs[14].partition, 77777)),
        "per-key / partition order swapped": swap_in_partition,
        "key in two partitions": move_key_to_other_partition,
        "all in one partition": lambda rs: [setattr(r, "partition", 0) for r in rs],
        "offsets read out of order": lambda rs: rs.insert(0, rs.pop(5)),
    }
    failures = 0
    checks = 0
    # with the producer's acknowledged offsets (most clients), and without
    # them (kcat) and without the idempotent send-order check
    for with_acks in (True, False):
        for name, mutate in mutations.items():
            if not with_acks and name == "offset not at acked position":
                continue
            checks += 1
            rs = copy.deepcopy(good)
            saved = dict(delivered)
            mutate(rs)
            try:
                verify_records(rs, msgs, partitions=3, contiguous_from=contiguous,
                               delivered=delivered if with_acks else None, partition_send_order=with_acks)
            except CheckFailed as e:
                say(f"ok   rejected{'' if with_acks else ' (no acks)'}: {name}: "
                    f"{str(e).splitlines()[1].strip()[:100]}")
            else:
                say(f"FAIL accepted a broken read-back{'' if with_acks else ' (no acks)'}: {name}")
                failures += 1
            delivered.clear()
            delivered.update(saved)

    # kcat-style: no explicit timestamps, produce window check
    kmsgs = make_messages("selftest-kcat", 300, 10, explicit_ts=False, per_message_headers=False,
                          constant_headers=[("src", b"kcat")])
    recs, _ = good_readback(kmsgs)
    for r in recs:
        r.timestamp, r.ts_type = 1_000_500, None
    verify_records(recs, kmsgs, partitions=3, ts_window=(1_000_000, 1_001_000))
    try:
        verify_records(recs, kmsgs, partitions=3, ts_window=(1_000_600, 1_001_000))
        say("FAIL accepted a timestamp outside the produce window")
        failures += 1
    except CheckFailed:
        say("ok   rejected: timestamp outside the produce window")

    c_checks, c_failures = compaction_selftest(say)
    checks += c_checks
    failures += c_failures

    n = checks + 1
    say(f"{n - failures} passed, {failures} failed")
    if quiet:
        return failures, [ln for ln in out if ln.startswith("FAIL")]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
