#!/usr/bin/env bash
# Install what the compatibility suite needs, idempotently and quietly:
# kcat (Debian), the Python clients (compat/requirements.txt) and kafkajs
# (compat/js, from package-lock.json). Run as root on Debian. Only installs
# what is missing; safe to run on every CI run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'compat/install.sh: %s\n' "$*" >&2; }

# --- kcat ---------------------------------------------------------------
if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat"
    if ! apt-get install -y -qq kcat >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq kcat >/dev/null
    fi
fi

# --- openssl (the security scenarios make their CA and certificates) -------
if ! command -v openssl >/dev/null 2>&1; then
    log "installing openssl"
    if ! apt-get install -y -qq openssl >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq openssl >/dev/null
    fi
fi

# --- node + npm (kafkajs) -------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs/npm"
    if ! apt-get install -y -qq nodejs npm >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq nodejs npm >/dev/null
    fi
fi

# --- Java client driver (compat/java), one build per kafka-clients version ---
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    log "installing a JDK and Maven"
    if ! apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null
    fi
fi
while read -r column version; do
    case "$column" in ''|'#'*) continue ;; esac
    out="$here/java/target/kafka-$version"
    # rebuilt when a source or the pom is newer than the driver jar
    if [ ! -f "$out/lib/riffle-compat-java-1.jar" ] || \
       [ -n "$(find "$here/java/src" "$here/java/pom.xml" -newer "$out/lib/riffle-compat-java-1.jar" -print -quit)" ]; then
        log "building the Java driver for kafka-clients $version ($column)"
        (cd "$here/java" && mvn -q -B -Dstyle.color=never -Dkafka.version="$version" package >/dev/null)
    fi
done < "$here/java/versions.txt"
# Kafka Streams (compat/streams) and Kafka Connect (compat/connect): one build each
for app in streams connect; do
    dir="$here/$app"
    jar="$(ls "$dir"/target/kafka-*/lib/riffle-compat-"$app"-1.jar 2>/dev/null | head -1 || true)"
    if [ -z "$jar" ] || [ -n "$(find "$dir/pom.xml" "$dir/src" -newer "$jar" -print -quit 2>/dev/null)" ]; then
        log "building compat/$app"
        (cd "$dir" && mvn -q -B -Dstyle.color=never package >/dev/null)
    fi
done

# Apache Kafka itself (compat/kafka: broker, storage and perf tools), the reference the
# suite (--flavour kafka) and the benchmarks run beside riffle
kafka_dir="$here/kafka"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$kafka_dir/pom.xml" | head -1)"
kafka_stamp="$kafka_dir/target/kafka-$kafka_version/resolved"  # the jars keep Maven's old mtimes
if [ ! -f "$kafka_stamp" ] || [ -n "$(find "$kafka_dir/pom.xml" -newer "$kafka_stamp" -print -quit)" ]; then
    log "resolving Apache Kafka $kafka_version (compat/kafka)"
    (cd "$kafka_dir" && mvn -q -B -Dstyle.color=never package >/dev/null && touch "$kafka_stamp")
fi

# --- Go client driver (compat/go: franz-go and sarama) ---------------------
if ! command -v go >/dev/null 2>&1; then
    log "installing Go"
    if ! apt-get install -y -qq golang-go >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq golang-go >/dev/null
    fi
fi
gobin="$here/go/bin/driver"
if [ ! -x "$gobin" ] || [ -n "$(find "$here/go" -maxdepth 1 \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -newer "$gobin" -print -quit)" ]; then
    log "building the Go driver (franz-go, sarama)"
    (cd "$here/go" && GOTOOLCHAIN=auto go build -o bin/driver .)
fi

# --- Python clients -------------------------------------------------------
py="${PYTHON:-python3}"
if ! "$py" - "$here/requirements.txt" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, ver = line.partition("==")
    try:
        if version(name) != ver:
            ok = False
    except PackageNotFoundError:
        ok = False
import confluent_kafka, kafka, snappy, lz4.frame, zstandard  # noqa: F401
sys.exit(0 if ok else 1)
PY
then
    log "installing Python packages from compat/requirements.txt"
    "$py" -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$here/requirements.txt"
fi

# --- kafkajs ---------------------------------------------------------------
if [ ! -d "$here/js/node_modules/kafkajs" ] || [ ! -d "$here/js/node_modules/zstd-napi" ]; then
    log "installing kafkajs (npm ci in compat/js)"
    if (cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>"$here/js/npm-ci.err"); then
        rm -f "$here/js/npm-ci.err"
    else
        # the lz4/zstd codecs are native modules; if they cannot be built,
        # install without them: kafkajs works and those codec rows SKIP
        log "npm ci failed (see compat/js/npm-ci.err); retrying without native codec builds"
        (cd "$here/js" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    fi
fi
