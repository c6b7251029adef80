#!/usr/bin/env bash
# kcat (librdkafka) session. Usage: kcat.sh BOOTSTRAP
# Every step runs even if an earlier one fails; failures are reported as "STEP-ERROR".
set -u
B=$1
T=kcat-topic
FAIL=0
K() { timeout 60 kcat -b "$B" -X client.id=riffle-fixture-kcat "$@"; }
step() {
    local name=$1; shift
    echo "=== STEP $name"
    if ! "$@"; then echo "STEP-ERROR $name (exit $?)"; FAIL=1; fi
}
now_ms() { date +%s%3N; }
msgs() { # N messages "key<i>:value<i>" with a prefix
    local prefix=$1 n=$2
    for i in $(seq 1 "$n"); do echo "key$((i % 7)):$prefix-value-$i"; done
}
produce() { # produce LABEL N [kcat args...]
    local label=$1 n=$2; shift 2
    msgs "$label" "$n" | K -P -t "$T" -K: -H "source=kcat" -H "label=$label" "$@"
}

# Metadata: all topics, then a named topic (auto-created through metadata).
step metadata-all K -L
step metadata-named-autocreate K -L -t kcat-auto
step metadata-named-again K -L -t kcat-auto -J

# Produce to a topic that does not exist yet: producer metadata auto-creates it.
step produce-plain produce plain 20
TS_AFTER_PLAIN=$(now_ms)
sleep 0.05
for codec in gzip snappy lz4 zstd; do
    step "produce-$codec" produce "$codec" 20 -z "$codec"
done
step produce-acks1 produce acks1 10 -X acks=1
step produce-acksall produce acksall 10 -X acks=all
step produce-acks0 produce acks0 10 -X acks=0
step produce-idempotent produce idem 20 -X enable.idempotence=true
step produce-idempotent-zstd produce idemzstd 10 -X enable.idempotence=true -z zstd
# Explicit partition, null key (-Z sends empty key as NULL) and a tombstone-ish empty value.
step produce-partition1 bash -c "printf 'k:v1\nk:v2\n:nullkey\n' | timeout 60 kcat -b '$B' -P -t '$T' -p 1 -K: -Z"

# Fetch from the beginning to the end of every partition (group-less).
step consume-all K -C -t "$T" -o beginning -e -q -f '%t %p %o %T %k=%s headers=[%h]\n'
step consume-partition1 K -C -t "$T" -p 1 -o beginning -e -q -f '%p %o %k=%s\n'
step consume-compressed-check bash -c "timeout 60 kcat -b '$B' -C -t '$T' -o beginning -e -q -f '%s\n' | sort | uniq -c | awk '{print \$2}' | sed 's/-value-.*//' | sort | uniq -c"
# Tiny fetch limits: many Fetch requests, each with at least one whole batch (KIP-74).
step consume-small-chunks bash -c "timeout 60 kcat -b '$B' -C -t '$T' -o 3 -e -q -X message.max.bytes=1000 -X fetch.max.bytes=1000 -X max.partition.fetch.bytes=300 -X fetch.wait.max.ms=100 -f '%p %o\n' | wc -l"
# Relative offset from the end (ListOffsets latest), by timestamp (ListOffsets timestamp).
step consume-last3 K -C -t "$T" -o -3 -e -q -f '%p %o %s\n'
step consume-from-timestamp K -C -t "$T" -o "s@$TS_AFTER_PLAIN" -e -q -c 5 -f '%p %o %T %s\n'
# Query mode: offsets for timestamp, latest (-1) and earliest (-2).
step query-ts K -Q -t "$T:0:$TS_AFTER_PLAIN" -t "$T:1:$TS_AFTER_PLAIN" -t "$T:2:$TS_AFTER_PLAIN"
step query-latest K -Q -t "$T:0:-1" -t "$T:1:-1" -t "$T:2:-1"
step query-earliest K -Q -t "$T:0:-2" -t "$T:1:-2" -t "$T:2:-2"
# Fetch from an out-of-range offset: expect OFFSET_OUT_OF_RANGE then reset to end.
step consume-out-of-range K -C -t "$T" -p 0 -o 100000 -e -q -X auto.offset.reset=earliest -c 2 -f '%p %o %s\n'
# Consume the auto-created empty topic.
step consume-empty K -C -t kcat-auto -o beginning -e -q
step metadata-final K -L

exit $FAIL
