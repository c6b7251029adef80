"""Progress lines, stamped with the minutes and seconds since the benchmark started."""

import time


STARTED = time.monotonic()


def log(msg):
    m, sec = divmod(int(time.monotonic() - STARTED), 60)
    print(f"[e2e {m:3d}:{sec:02d}] {msg}", flush=True)
