#!/usr/bin/env bash
# Installs what `make bench` needs, when missing, and prints rdkafka_performance's path:
# - rdkafka_performance, librdkafka's own load generator, built from Debian's librdkafka
#   source package (the example needs the source tree's headers and its ./configure
#   output) against the system librdkafka;
# - perf (Debian's linux-perf), for the profile summary; best effort, as some machines
#   do not allow it;
# - Apache Kafka (compat/kafka: the broker, its storage tool and its perf-test tools, the
#   version compat/kafka/pom.xml names), which the run measures beside Riffle; resolved
#   with Maven as compat/install.sh does, with a JDK and Maven from Debian if missing.
# Usage: benches/install.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
bin=$out/rdkafka_performance
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! command -v perf >/dev/null 2>&1; then
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq linux-perf; } >/dev/null 2>&1 \
    || echo "benches/install.sh: could not install perf; the report will have no profile" >&2
fi
kafka_dir="$here/../compat/kafka"
kafka_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$kafka_dir/pom.xml" | head -1)"
if ! ls "$kafka_dir/target/kafka-$kafka_version/lib/"kafka_2.13-*.jar >/dev/null 2>&1; then
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq openjdk-17-jdk-headless maven; } >/dev/null
  fi
  echo "benches/install.sh: resolving Apache Kafka $kafka_version (compat/kafka)" >&2
  (cd "$kafka_dir" && mvn -q -B -Dstyle.color=never package >&2)
fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$out"
if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
  else
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/debian-src.list >/dev/null
  fi
  $SUDO apt-get update -qq >/dev/null
fi
need=()
for p in librdkafka-dev zlib1g-dev dpkg-dev gcc; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq >/dev/null || true
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
(cd "$src" && apt-get source -qq librdkafka >/dev/null 2>&1)
dir=$(ls -d "$src"/librdkafka-*/ | head -1)
(cd "$dir" && ./configure >/dev/null 2>&1)
gcc -O2 -w -I"$dir/src" -include "$dir/config.h" "$dir/examples/rdkafka_performance.c" \
  -o "$bin" -lrdkafka -lpthread -lm -lz
echo "$bin"
