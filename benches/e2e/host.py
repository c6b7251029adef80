"""This machine: what it is, how busy its disks are, and its memory (scratch files that
make the page cache reuse memory the VM has backed)."""

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

from .settings import CORES, ROOT


def recycle_memory(path, nbytes):
    """Writes and deletes a scratch file of `nbytes`, so that the page cache a run is
    about to fill reuses memory this VM has already backed (see the report)."""
    block = b"\x5a" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(max(1, nbytes >> 20)):
            f.write(block)
    os.unlink(path)


def disk_busy_ms():
    """Per whole disk, the milliseconds it has spent doing I/O (/proc/diskstats io_ticks)."""
    out = {}
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if len(f) > 12 and not f[2].startswith(("loop", "ram", "zram")) and Path(f"/sys/block/{f[2]}").exists():
            out[f[2]] = int(f[12])
    return out


def file_write_cost(path, gib):
    """CPU seconds per GiB that this machine's kernel spends writing a file from memory
    (1 MiB writes), for a first fill of the page cache and for a second one into pages
    freed by deleting the first. On a VM the first touch of guest memory is paid to the
    host; writing the scratch file once also warms the memory the runs will use."""
    block = b"\xa5" * (1 << 20)
    costs = []
    for _ in range(2):
        t0 = os.times()
        with open(path, "wb") as f:
            for _ in range(gib << 10):
                f.write(block)
        t1 = os.times()
        os.unlink(path)
        costs.append((t1.user + t1.system - t0.user - t0.system) / gib)
    return costs


def machine():
    mem = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), 0)
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    java = subprocess.run(["java", "-version"], capture_output=True, text=True)
    jm = re.search(r'version "([^"]+)"', java.stderr + java.stdout)
    disks = sorted(disk_busy_ms())
    return {"cores": CORES, "mem_gib": mem / (1 << 20), "cpu": model, "kernel": platform.release(),
            "commit": commit + ("+dirty" if dirty else ""), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "java": jm.group(1) if jm else "?", "disks": ", ".join(disks) or "?"}
