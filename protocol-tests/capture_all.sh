#!/usr/bin/env bash
# Records one wire-protocol session per client into protocol-tests/fixtures/<client>/.
#
# For each client a fresh broker and a capturing proxy (capture.py) are started on free
# ports; the broker advertises the proxy's port so every connection goes through it.
# Logs of each run (broker, proxy, client) are kept under $WORK (default
# /tmp/riffle-capture); a summary of client errors and broker WARN/ERROR lines is printed.
#
# Usage: capture_all.sh [client...]    client ∈ kcat confluent-kafka kafka-python kafkajs
#        kafka-python-api-X.Y (kafka-python pinned to broker X.Y); default: all of
#        them, with the pins listed in LEGACY.
#
# Besides the *.bin frames, each fixture directory gets topics.txt: "name=topic_id" for
# every topic the session's broker created (ids as the broker logs them, URL-safe base64),
# so that a replay can map the topic ids inside recorded requests to its own topics.
#
# Env: RIFFLE=path/to/riffle  WORK=/tmp/riffle-capture  JS_DIR=/tmp/fixture-js (kafkajs and
#      kafkajs-snappy are npm-installed there if missing, never inside the repo)
#      SESSION_TIMEOUT=300 (seconds per client session)
# Needs: kcat, python3 with confluent_kafka and kafka (kafka-python), node + npm.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RIFFLE=${RIFFLE:-$REPO/target/release/riffle}
WORK=${WORK:-/tmp/riffle-capture}
JS_DIR=${JS_DIR:-/tmp/fixture-js}
FIXTURES=$HERE/fixtures
SESSION_TIMEOUT=${SESSION_TIMEOUT:-300}
# kafka-python pinned to older broker releases sends older request versions; each pin
# below adds versions the unpinned clients never send.
LEGACY=(0.11 1.0 1.1 2.0 2.1 2.4 2.8 3.0 3.5)
CLIENTS=("$@")
if [ ${#CLIENTS[@]} -eq 0 ]; then
    CLIENTS=(kcat confluent-kafka kafka-python kafkajs)
    for v in "${LEGACY[@]}"; do CLIENTS+=("kafka-python-api-$v"); done
fi

BROKER_PID= PROXY_PID=
cleanup() {
    for pid in $PROXY_PID $BROKER_PID; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    BROKER_PID= PROXY_PID=
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # wait_port PORT PID: until something accepts on PORT, or PID dies
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
strip_ansi() { sed -e 's/\x1b\[[0-9;]*m//g' "$@"; }

ensure_js() {
    if [ ! -d "$JS_DIR/node_modules/kafkajs" ] || [ ! -d "$JS_DIR/node_modules/kafkajs-snappy" ]; then
        mkdir -p "$JS_DIR"
        (cd "$JS_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-fund --no-audit kafkajs kafkajs-snappy) >&2
    fi
}

run_client() { # run_client CLIENT BOOTSTRAP
    case "$1" in
        kcat) "$HERE/sessions/kcat.sh" "$2" ;;
        confluent-kafka) python3 -u "$HERE/sessions/confluent_kafka_session.py" "$2" ;;
        kafka-python) python3 -u "$HERE/sessions/kafka_python_session.py" "$2" ;;
        # kafka-python pinned to an older broker release (kafka-python-api-2.4 etc.), so
        # that it sends that release's request versions.
        kafka-python-api-*) python3 -u "$HERE/sessions/kafka_python_session.py" "$2" "${1#kafka-python-api-}" ;;
        kafkajs) ensure_js && NODE_PATH="$JS_DIR/node_modules" node "$HERE/sessions/kafkajs_session.js" "$2" ;;
        *) echo "unknown client $1" >&2; return 2 ;;
    esac
}

SUMMARY=()
for client in "${CLIENTS[@]}"; do
    run=$WORK/$client
    out=$FIXTURES/$client
    rm -rf "$run" "$out"
    mkdir -p "$run/data" "$out"
    bport=$(free_port); pport=$(free_port)
    while [ "$pport" = "$bport" ]; do pport=$(free_port); done
    echo "##### $client: broker 127.0.0.1:$bport, proxy 127.0.0.1:$pport, logs in $run" >&2

    "$RIFFLE" serve \
        --override "listeners=PLAINTEXT://127.0.0.1:$bport" \
        --override "advertised.listeners=PLAINTEXT://127.0.0.1:$pport" \
        --override "log.dirs=$run/data" \
        --override num.partitions=3 2>"$run/broker.log" &
    BROKER_PID=$!
    if ! wait_port "$bport" "$BROKER_PID"; then
        echo "broker did not start:" >&2; cat "$run/broker.log" >&2; cleanup; SUMMARY+=("$client: BROKER DID NOT START"); continue
    fi
    python3 -u "$HERE/capture.py" --listen "127.0.0.1:$pport" --upstream "127.0.0.1:$bport" --out "$out" 2>"$run/proxy.log" &
    PROXY_PID=$!
    if ! wait_port "$pport" "$PROXY_PID"; then
        echo "proxy did not start:" >&2; cat "$run/proxy.log" >&2; cleanup; SUMMARY+=("$client: PROXY DID NOT START"); continue
    fi

    timeout --kill-after=10 "$SESSION_TIMEOUT" bash -c "$(declare -f run_client ensure_js); HERE='$HERE' JS_DIR='$JS_DIR'; run_client '$client' '127.0.0.1:$pport'" >"$run/client.log" 2>&1
    rc=$?
    sleep 0.5   # let the last frames reach the proxy
    cleanup

    # Topic ids the capture broker assigned, for replays of requests that carry ids.
    strip_ansi "$run/broker.log" | sed -n 's/.*created topic topic=\([^ ]*\) .*topic_id=\([A-Za-z0-9_-]*\).*/\1=\2/p' >"$out/topics.txt"

    # Offline check of what the broker wrote.
    "$RIFFLE" verify-logs --log-dirs "$run/data" >"$run/verify.log" 2>&1
    vrc=$?

    nframes=$(find "$out" -name '*.bin' | wc -l)
    bytes=$(du -sh "$out" | cut -f1)
    SUMMARY+=("$client: session exit $rc, $nframes frames ($bytes), verify-logs exit $vrc")
    while IFS= read -r l; do SUMMARY+=("  client: $l"); done < <(grep -E 'STEP-ERROR|Traceback|KafkaJSError|UNEXPECTED' "$run/client.log" | head -40)
    while IFS= read -r l; do
        # kafka-python pinned below 1.1 sends DescribeConfigs v0, which Riffle does not serve.
        case "$client:$l" in
            kafka-python-api-0.*:*"DescribeConfigs v0 is not supported"*|kafka-python-api-1.0:*"DescribeConfigs v0 is not supported"*) l="$l  (expected)" ;;
        esac
        SUMMARY+=("  broker: $l")
    done < <(strip_ansi "$run/broker.log" | grep -E ' (WARN|ERROR) ' | head -40)
    while IFS= read -r l; do SUMMARY+=("  verify: $l"); done < <(grep -E 'CORRUPT' "$run/verify.log" | head -10)
done

echo
echo "##### summary"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "##### captured (client api version count)"
for d in "$FIXTURES"/*/; do
    c=$(basename "$d")
    ls "$d" | sed -n 's/^[0-9]*_\(.*\)_v\([0-9]*\)\.bin$/\1 \2/p' | sort -k1,1 -k2,2n | uniq -c | awk -v c="$c" '{printf "%-24s %-16s v%-3s %d\n", c, $2, $3, $1}'
done
