"""The Java client (org.apache.kafka:kafka-clients), driven through
compat/java (riffle.compat.Driver), one JVM per command. Two columns: the
newest 4.x and the newest 3.9.x, as compat/java/versions.txt lists them;
compat/install.sh builds the driver for each with Maven."""

from __future__ import annotations

import os
import shutil

from ..common import Skip, compat_dir
from .driver import DriverClient, ListOffsetsBySpec

JAVA_DIR = os.path.join(compat_dir(), "java")
JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss1m",
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
             "-Dorg.slf4j.simpleLogger.logFile=System.err"]


def versions() -> dict[str, str]:
    """column name -> kafka-clients version"""
    out = {}
    with open(os.path.join(JAVA_DIR, "versions.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if len(line) == 2:
                out[line[0]] = line[1]
    return out


def classpath(column: str) -> str:
    v = versions()[column]
    lib = os.path.join(JAVA_DIR, "target", f"kafka-{v}", "lib")
    if not os.path.isfile(os.path.join(lib, "riffle-compat-java-1.jar")):
        raise Skip(f"the Java driver for kafka-clients {v} is not built (run compat/install.sh)")
    return os.path.join(lib, "*")


def java_argv(column: str, *args) -> list[str]:
    if not shutil.which("java"):
        raise Skip("java is not installed")
    return ["java", *JVM_FLAGS, "-cp", classpath(column), "riffle.compat.Driver", *args]


class Java(ListOffsetsBySpec, DriverClient):
    def __init__(self, column="java"):
        super().__init__(column)

    def argv(self, command):
        return java_argv(self.name, command)

    def describe_version(self, v):
        return f"kafka-clients {v['kafka_clients']} (Java {v['java']})"



class Java39(Java):
    def __init__(self):
        super().__init__("java-3.9")
