#!/usr/bin/env bash
# Soak (issue 8 item 5, not in CI): the release dmarc-milter with its spool (HistoryDatabase) and
# HistoryFile under 30 minutes of mixed load from build-release/bin/milter_load (the demo's
# scenarios: one message per connection paced, bursts of 50 per connection, and a flood of
# short connections, in turn), its RSS sampled every minute from /proc. Fails if the milter
# dies, if any message gets no answer, or if RSS grows more than 10% over the first sample after
# warm-up (the first fifth of the run, at least one sample).
#   $1                         the source tree (./run bench passes it)
#   DMARC_SOAK_SECONDS         run length (default 1800)
#   DMARC_SOAK_SAMPLE_SECONDS  sampling interval (default 60)
set -euo pipefail
top=${1:?usage: 90-soak.sh SOURCE_TREE}
seconds=${DMARC_SOAK_SECONDS:-1800}
interval=${DMARC_SOAK_SAMPLE_SECONDS:-60}
milter=$top/build-release/bin/dmarc-milter
load=$top/build-release/bin/milter_load
for b in "$milter" "$load"; do
    [ -x "$b" ] || { echo "soak: $b missing (build the release preset)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/dmarc-soak-XXXXXX)
milter_pid=
cleanup() {
    [ -n "$milter_pid" ] && kill "$milter_pid" 2>/dev/null && wait "$milter_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/milter.conf" <<EOF
AuthservID mx.demo.example
TestDNSData $top/demo/zone.txt
RejectFailures true
HoldQuarantinedMessages true
SPFSelfValidate true
HistoryFile $work/history.txt
HistoryDatabase $work/spool.db
EOF
socket="local:$work/milter.sock"
"$milter" -f -c "$work/milter.conf" -p "$socket" 2>"$work/milter.log" &
milter_pid=$!
for _ in $(seq 100); do [ -S "$work/milter.sock" ] && break; sleep 0.1; done
[ -S "$work/milter.sock" ] || { echo "soak: milter did not start" >&2; cat "$work/milter.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$milter_pid/status" 2>/dev/null || echo 0; }

# The load: milter_load runs of about ten seconds each, cycling through three shapes.
shapes=(
    "--connections 20 --rate 400 --messages 4000"                   # paced, 1 per connection
    "--connections 20 --per-connection 50 --messages 20000"         # long sessions, as fast as possible
    "--connections 100 --messages 8000"                             # many short connections
)
end=$((SECONDS + seconds))
(
    i=0
    while [ $SECONDS -lt $end ]; do
        # shellcheck disable=SC2086
        if ! "$load" --socket "$socket" --demo "$top/demo" ${shapes[$((i % 3))]} --json \
            >>"$work/load.jsonl" 2>>"$work/load.err"; then
            echo "error" >>"$work/load.failed"
        fi
        i=$((i + 1))
    done
) &
load_pid=$!

warmup=$((seconds / 5 > interval ? seconds / 5 : interval))
baseline=0
max_after=0
printf '%8s %10s %8s\n' "seconds" "rss_kB" "growth"
start=$SECONDS
while [ $SECONDS -lt $end ]; do
    sleep "$interval"
    kill -0 "$milter_pid" 2>/dev/null || { echo "soak: the milter died" >&2; tail -20 "$work/milter.log" >&2; exit 1; }
    rss=$(rss_kb)
    elapsed=$((SECONDS - start))
    if [ "$baseline" -eq 0 ] && [ "$elapsed" -ge "$warmup" ]; then baseline=$rss; fi
    growth="-"
    if [ "$baseline" -gt 0 ]; then
        growth=$(awk -v r="$rss" -v b="$baseline" 'BEGIN { printf "%+.1f%%", 100 * (r - b) / b }')
        [ "$rss" -gt "$max_after" ] && max_after=$rss
    fi
    printf '%8d %10d %8s\n' "$elapsed" "$rss" "$growth"
done
wait "$load_pid" || true
count_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
load_runs=$(count_lines "$work/load.jsonl")
load_errors=$(count_lines "$work/load.failed")
messages=$(sed -nE 's/.*"messages":([0-9]+).*/\1/p' "$work/load.jsonl" | awk '{ s += $1 } END { print s + 0 }')
errors=$(sed -nE 's/.*"errors":([0-9]+).*/\1/p' "$work/load.jsonl" | awk '{ s += $1 } END { print s + 0 }')
kill -0 "$milter_pid" 2>/dev/null || { echo "soak: the milter died" >&2; exit 1; }
kill -TERM "$milter_pid"
wait "$milter_pid" || true
milter_pid=
stats=$(grep -o 'stats: .*' "$work/milter.log" | tail -1)
echo "soak: ${seconds}s, $load_runs load runs, $messages messages, $errors unanswered; $stats"

status=0
if [ "$baseline" -le 0 ]; then
    echo "soak: no sample after warm-up (run longer than $((warmup + interval))s)" >&2
    status=1
else
    growth=$(awk -v m="$max_after" -v b="$baseline" 'BEGIN { printf "%.1f", 100 * (m - b) / b }')
    echo "soak: RSS after warm-up $baseline kB, highest $max_after kB: ${growth}% (limit 10%)"
    awk -v g="$growth" 'BEGIN { exit !(g > 10) }' && { echo "soak: RSS grew more than 10%" >&2; status=1; }
fi
if [ "$errors" -gt 0 ] || [ "$load_errors" -gt 0 ]; then
    echo "soak: $errors messages without an answer, $load_errors failed load runs" >&2
    tail -5 "$work/load.err" >&2 || true
    status=1
fi
exit $status
