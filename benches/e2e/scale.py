"""How much each part of a run does: the full run, or --quick."""

import os
from dataclasses import dataclass

from .settings import HEAPS


@dataclass(frozen=True)
class Scale:
    """How much each part does. QUICK only checks that the script works end to end."""
    small: int            # messages of 100 B in a produce or consume run
    large: int            # messages of 1 KiB
    warm: int             # messages of 100 B in the warm-up before each measured run
    repeats: int          # of each single-broker case
    cluster_repeats: int  # of each three-broker case
    latency: int          # messages of a latency run at LATENCY_RATE, after latency_skip
    latency_skip: int     # the first messages of a latency run, not counted (clients starting)
    round_trips: int      # messages of EndToEndLatency (one at a time)
    startups: tuple       # (Riffle, Kafka) starts timed to the first ApiVersions
    heaps: tuple
    many: int             # messages of 100 B into 1,000 partitions (Riffle's start-up)
    many_starts: int
    profile: int          # messages of 1 KiB in each profiled Riffle run


def full_scale():
    # Three-broker rows once by default: a Kafka cluster's start and controlled stop take
    # ~20 s of a 2-core machine per run, and there are 12 such runs per repeat.
    reps = int(os.environ.get("RIFFLE_BENCH_REPEATS", "3"))
    creps = int(os.environ.get("RIFFLE_BENCH_CLUSTER_REPEATS", "1"))
    return Scale(1_000_000, 200_000, 100_000, reps, creps, 50_000, 5_000, 5_000, (15, 3), HEAPS,
                 300_000, 10, 600_000)


def quick_scale():
    reps = int(os.environ.get("RIFFLE_BENCH_REPEATS", "1"))
    return Scale(20_000, 5_000, 2_000, reps, int(os.environ.get("RIFFLE_BENCH_CLUSTER_REPEATS", "1")),
                 3_000, 500, 300, (3, 1), ("1G", "128m"), 20_000, 2, 20_000)
