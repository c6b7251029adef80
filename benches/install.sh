#!/usr/bin/env bash
# Installs what `make bench` needs, when missing, and prints rdkafka_performance's path:
# - rdkafka_performance, librdkafka's own load generator, built from Debian's librdkafka
#   source package (the example needs the source tree's headers and its ./configure
#   output) against the system librdkafka;
# - perf (Debian's linux-perf), for the profile summary; best effort, as some machines
#   do not allow it.
# Usage: benches/install.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
bin=$out/rdkafka_performance
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! command -v perf >/dev/null 2>&1; then
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq linux-perf; } >/dev/null 2>&1 \
    || echo "benches/install.sh: could not install perf; the report will have no profile" >&2
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
