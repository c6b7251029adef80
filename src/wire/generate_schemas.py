#!/usr/bin/env python3
"""Regenerates src/wire/schemas.json: the wire layout of every Kafka request, response
and header, as Apache Kafka's own message definitions give it (the JSON files shipped in
the kafka-clients jar, the same definitions kafka-protocol is generated from).

Only what the frame validator needs is kept: field names, types, versions, nullable,
tagged and flexible versions. Descriptions, defaults and entity types are dropped, and
shared structs (commonStructs) are written out where they are used.

    python3 src/wire/generate_schemas.py 4.1.0

The Kafka version must be the one kafka-protocol's release was generated from
(`cargo test wire::` checks that every message's versions agree).
"""
import io
import json
import os
import re
import subprocess
import sys
import zipfile

KEEP_FIELD = ("name", "type", "versions", "nullableVersions", "taggedVersions", "tag", "flexibleVersions")
KEEP_MESSAGE = ("name", "type", "apiKey", "validVersions", "flexibleVersions")


def jar_path(version):
    subprocess.run(["mvn", "-q", "dependency:get", f"-Dartifact=org.apache.kafka:kafka-clients:{version}"], check=True)
    m2 = os.path.expanduser("~/.m2/repository/org/apache/kafka/kafka-clients")
    return os.path.join(m2, version, f"kafka-clients-{version}.jar")


def strip_comments(text):
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def fields_of(fields, common):
    out = []
    for f in fields:
        g = {k: f[k] for k in KEEP_FIELD if k in f}
        element = f["type"].removeprefix("[]")
        if "fields" in f:
            g["fields"] = fields_of(f["fields"], common)
        elif element in common:
            g["fields"] = fields_of(common[element], common)
        out.append(g)
    return out


def main():
    version = sys.argv[1] if len(sys.argv) > 1 else "4.1.0"
    messages = []
    with zipfile.ZipFile(jar_path(version)) as jar:
        for name in sorted(jar.namelist()):
            if not (name.startswith("common/message/") and name.endswith(".json")):
                continue
            spec = json.loads(strip_comments(jar.read(name).decode()))
            if spec["type"] not in ("request", "response", "header"):
                continue
            common = {c["name"]: c["fields"] for c in spec.get("commonStructs", [])}
            m = {k: spec[k] for k in KEEP_MESSAGE if k in spec}
            m["fields"] = fields_of(spec.get("fields", []), common)
            messages.append(m)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas.json")
    with open(out, "w") as f:
        json.dump({"kafka": version, "messages": messages}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(messages)} messages from Kafka {version} -> {out}")


if __name__ == "__main__":
    main()
