#!/usr/bin/env bash
# Dashboard under load (issue 7 acceptance): dmarc-web on loopback over a store of 10,000,000
# messages, wrk with 50 connections against the overview and messages pages (logged in: a session
# cookie set by a wrk Lua script), beside /healthz in the same run as the baseline. Target: p99
# under 200 ms. The store is built once by web_bench_seed and kept under build-release/web-bench.
# Usage: 40-web-wrk.sh SOURCE_TREE   (env: DMARC_WEB_BENCH_MESSAGES, DMARC_WEB_BENCH_SECONDS)
set -euo pipefail
top=${1:?usage: 40-web-wrk.sh SOURCE_TREE}
bin=$top/build-release/bin
messages=${DMARC_WEB_BENCH_MESSAGES:-10000000}
seconds=${DMARC_WEB_BENCH_SECONDS:-20}
work=$top/build-release/web-bench
store=$work/store-$messages.db
password="web bench password 1"
for tool in wrk curl; do
    command -v $tool >/dev/null || { echo "40-web-wrk: $tool is not installed"; exit 1; }
done
[ -x "$bin/dmarc-web" ] && [ -x "$bin/web_bench_seed" ] || {
    echo "40-web-wrk: build the release preset first (dmarc-web, web_bench_seed)"; exit 1; }
mkdir -p "$work"
# Rebuilt when missing or older than the seeder (a schema change comes with a rebuilt seeder).
if [ ! -s "$store" ] || [ "$bin/web_bench_seed" -nt "$store" ]; then
    rm -f "$store" "$store-wal" "$store-shm"
    "$bin/web_bench_seed" "$store.tmp" "$messages" 180 "$password"
    mv "$store.tmp" "$store"
    rm -f "$store.tmp-wal" "$store.tmp-shm"
fi

log=$work/dmarc-web.log
"$bin/dmarc-web" --store "$store" --listen 127.0.0.1:0 --threads 2 --reverse-dns no \
    > "$work/dmarc-web.out" 2> "$log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$work"/*.lua "$work"/jar; }
trap cleanup EXIT
base=
for _ in $(seq 100); do
    base=$(sed -nE 's/.*listening on (http:\/\/[0-9.]+:[0-9]+).*/\1/p' "$work/dmarc-web.out")
    [ -n "$base" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
[ -n "$base" ] || { echo "40-web-wrk: dmarc-web did not start"; exit 1; }

# Log in as a browser would: the login form's double-submit token, then the session cookie.
jar=$work/jar
csrf=$(curl -s -c "$jar" "$base/login" | sed -nE 's/.*name="csrf" value="([0-9a-f]+)".*/\1/p')
curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" --data-urlencode "user=bench" \
    --data-urlencode "password=$password" "$base/login"
session=$(awk '$6 == "dmarc_session" { print $7 }' "$jar")
[ -n "$session" ] || { echo "40-web-wrk: login failed"; exit 1; }

cat > "$work/report.lua" <<LUA
wrk.headers["Cookie"] = "dmarc_session=$session"
done = function(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                   summary.errors.status + summary.errors.timeout
    io.write(string.format("RESULT p50_ms=%.1f p99_ms=%.1f rps=%.0f requests=%d errors=%d\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests / (summary.duration / 1e6), summary.requests, errors))
end
LUA

# dmarc-web computes the first visit's aggregates in the background at start-up (App::warm):
# timed from its log. The first requests after it ("cold") then find them cached; wrk measures
# the dashboard as it is used: the same pages asked again and again.
for _ in $(seq 1200); do
    grep -q "caches warmed" "$log" && break
    sleep 0.1
done
sed -nE 's/^dmarc-web: caches warmed in (.*)/warm-up at start (background): \1/p' "$log"
for path in / /messages; do
    cold=$(curl -s -o /dev/null -w '%{time_total}' -b "dmarc_session=$session" "$base$path")
    echo "cold $path: ${cold}s"
done

declare -A p99
run() {
    local name=$1 path=$2
    local line
    line=$(wrk -t2 -c50 -d"${seconds}s" --timeout 10s -s "$work/report.lua" "$base$path" | grep '^RESULT')
    echo "$name ($path): ${line#RESULT }"
    p99[$name]=$(sed -nE 's/.*p99_ms=([0-9.]+).*/\1/p' <<<"$line")
}
echo "dmarc-web, $messages messages, wrk 50 connections, ${seconds}s each"
run healthz /healthz
run overview /
run messages /messages
statuses=$(grep -v '^dmarc-web:' "$log" | awk '{ print $(NF-3) }' | sort | uniq -c | tr '\n' ' ')
echo "statuses in the access log: $statuses"
awk -v o="${p99[overview]}" -v m="${p99[messages]}" -v h="${p99[healthz]}" 'BEGIN {
    printf "p99: overview %.1f ms, messages %.1f ms (baseline /healthz %.1f ms); target < 200 ms: %s\n",
        o, m, h, (o < 200 && m < 200) ? "met" : "NOT met" }'
