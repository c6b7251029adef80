#!/bin/bash
# The broker's CPU cost of TLS on the produce and fetch paths: one riffle broker with a
# PLAINTEXT and an SSL listener per run, librdkafka's rdkafka_performance producing then
# consuming N messages of 100 bytes over one of them; prints the broker's CPU seconds
# (user + system, from /proc) for each phase. Plaintext fetches go out with sendfile(2);
# TLS ones are read into memory and encrypted (rustls), which is what this measures.
#
# Usage: benches/tls_cost.sh [N]   (after `make build` and benches/install.sh)
set -euo pipefail
N=${1:-3000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/target/release/riffle
P=$(bash "$ROOT/benches/install.sh" "$ROOT/target/bench-tools" | tail -1)
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$D"' EXIT
cd "$D"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in srv.key -out srv.p8
cat srv.p8 srv.pem > server.pem
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tck=$(getconf CLK_TCK)
for proto in plaintext ssl; do
    pp=$(free_port); sp=$(free_port)
    rm -rf data; mkdir data
    "$R" serve --override log.dirs="$D/data" --override "listeners=PLAINTEXT://127.0.0.1:$pp,SSL://127.0.0.1:$sp" \
        --override ssl.keystore.type=PEM --override ssl.keystore.location="$D/server.pem" --override num.partitions=6 > broker.log 2>&1 &
    pid=$!
    sleep 1
    if [ $proto = ssl ]; then X=(-X security.protocol=ssl -X ssl.ca.location="$D/ca.pem"); port=$sp; else X=(); port=$pp; fi
    cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
    c0=$(cpu)
    "$P" -P -t bench -b 127.0.0.1:$port -s 100 -c "$N" "${X[@]}" -X linger.ms=5 -X batch.num.messages=10000 -q >/dev/null 2>&1
    c1=$(cpu)
    "$P" -C -t bench -p 0 -p 1 -p 2 -p 3 -p 4 -p 5 -b 127.0.0.1:$port -c "$N" -o beginning -e "${X[@]}" -q >/dev/null 2>&1 || true
    c2=$(cpu)
    printf '%-9s %d x 100 B: broker CPU produce %.2f s, fetch %.2f s\n' $proto "$N" "$(echo "($c1-$c0)/$tck" | bc -l)" "$(echo "($c2-$c1)/$tck" | bc -l)"
    kill $pid; wait $pid 2>/dev/null || true
done
