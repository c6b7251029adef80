"""kcat-only scenarios: consumer start offsets (-o end/beginning/-N/N)."""

from __future__ import annotations

from harness.clients import get_client
from harness.clients.kcat import FMT, run_kcat
from harness.common import check, make_messages


def _read(ctx, kcat, topic, *extra):
    args = kcat.base(ctx) + ["-C", "-t", topic, "-e", "-q", "-X", "fetch.wait.max.ms=100", "-f", FMT] + list(extra)
    _, out, _ = run_kcat(args, timeout=60)
    lines = [ln for ln in out.decode("utf-8", "replace").split("\n") if ln]
    return [(int(ln.split("\t")[4]), int(ln.split("\t")[5]), ln.split("\t")[1]) for ln in lines]


def offsets(ctx):
    """`kcat -C -o end -e` prints nothing on a topic with data; -o beginning,
    -o -N (last N of each partition) and -p P -o N start where asked."""
    kcat = get_client("kcat")
    topic = ctx.topic("kcat.offsets")
    kcat.create_topic(ctx, topic, 3)
    msgs = make_messages("kcat-offsets", 900, 30, explicit_ts=False, per_message_headers=False,
                         constant_headers=[("src", b"kcat")])
    kcat.produce(ctx, topic, msgs, compression="gzip")  # -o N lands inside compressed batches
    wm = kcat.watermarks(ctx, topic)
    check(sum(hi for _, hi in wm.values()) == 900, f"high watermarks {wm} do not add up to 900")

    got = _read(ctx, kcat, topic, "-o", "end")
    check(got == [], f"`kcat -C -o end -e` returned {len(got)} old messages, e.g. {got[:3]}")

    everything = _read(ctx, kcat, topic, "-o", "beginning")
    check(len(everything) == 900, f"`-o beginning` returned {len(everything)} of 900 messages")
    sent = {m.value.decode() for m in msgs}
    check({v for _, _, v in everything} == sent, "`-o beginning` did not return exactly the sent values")

    got = _read(ctx, kcat, topic, "-o", "-10")
    exp = sorted((p, o) for p, (_, hi) in wm.items() for o in range(max(0, hi - 10), hi))
    check(sorted((p, o) for p, o, _ in got) == exp,
          f"`-o -10` returned {sorted((p, o) for p, o, _ in got)[:12]}..., expected the last 10 of each partition")

    p0_hi = wm[0][1]
    start = min(7, max(0, p0_hi - 1))
    got = _read(ctx, kcat, topic, "-p", "0", "-o", str(start))
    check([o for _, o, _ in got] == list(range(start, p0_hi)) and all(p == 0 for p, _, _ in got),
          f"`-p 0 -o {start}` returned offsets {[o for _, o, _ in got][:10]}..., expected {start}..{p0_hi - 1}")
    by_off = {(p, o): v for p, o, v in everything}
    check(all(by_off[(0, o)] == v for _, o, v in got), "`-p 0 -o N` values differ from the full read")
    return None
