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

# --- node + npm (kafkajs) -------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing nodejs/npm"
    if ! apt-get install -y -qq nodejs npm >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq nodejs npm >/dev/null
    fi
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
