"""The Go clients, franz-go (kgo, kadm) and IBM/sarama, driven through
compat/go (one binary, `driver <franz-go|sarama> <command>`), which
compat/install.sh builds with Go modules."""

from __future__ import annotations

import os

from ..common import Skip, compat_dir
from .driver import DriverClient, ListOffsetsBySpec

GO_DIR = os.path.join(compat_dir(), "go")
BINARY = os.path.join(GO_DIR, "bin", "driver")


def go_argv(client: str, *args) -> list[str]:
    if not os.access(BINARY, os.X_OK):
        raise Skip("the Go driver is not built (run compat/install.sh)")
    return [BINARY, client, *args]


class FranzGo(ListOffsetsBySpec, DriverClient):
    time_past_end_is_high_watermark = True  # kadm.ListOffsetsAfterMilli

    def __init__(self):
        super().__init__("franz-go")

    def argv(self, command):
        return go_argv(self.name, command)

    def describe_version(self, v):
        return f"franz-go {v['franz_go']} (kadm {v['kadm']})"


class Sarama(DriverClient):
    # sarama hands out no timestamp type: LogAppendTime records are checked by
    # their timestamps only
    ts_type_known = False

    def __init__(self):
        super().__init__("sarama")

    def argv(self, command):
        return go_argv(self.name, command)

    def describe_version(self, v):
        return f"sarama {v['sarama']} (protocol {v['protocol']})"
