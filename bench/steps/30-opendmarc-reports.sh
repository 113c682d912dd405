#!/usr/bin/env bash
# dmarc-reporter against Debian's opendmarc-reports (issue 6 acceptance): reports built from a
# store of 1,000,000 messages over 1,000 policy domains (time and peak RSS of
# `dmarc-reporter --dry-run`), and opendmarc-reports --test (Perl, MariaDB on loopback) on a
# 100,000-message slice of the same history, with the ratio per message.
# Usage: bench/steps/30-opendmarc-reports.sh SOURCE_TREE   (after building build-release)
# Env: REPORTER_BENCH_MESSAGES (1000000), REPORTER_BENCH_SLICE (100000), REPORTER_BENCH_DOMAINS.
set -euo pipefail

# shellcheck source=bench/lib/mariadb.sh
. "$(dirname "$0")/../lib/mariadb.sh"

top=$(cd "${1:-.}" && pwd)
bin="$top/build-release/bin"
messages=${REPORTER_BENCH_MESSAGES:-1000000}
slice=${REPORTER_BENCH_SLICE:-100000}
domains=${REPORTER_BENCH_DOMAINS:-1000}
work="$top/build-release/reporter-bench"

for program in dmarc-reporter dmarc-collector reporter_history; do
    [ -x "$bin/$program" ] || { echo "$bin/$program missing: build the release preset" >&2; exit 1; }
done
rm -rf "$work"
mkdir -p "$work"

# "<wall seconds> <peak KiB> <CPU seconds>" of a /usr/bin/time -v log. The CPU time is the
# program's own (opendmarc-reports' MariaDB server is another process): on a loaded machine the
# wall time is what counts for the comparison, and the CPU time says how loaded it was.
time_and_rss() {
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
                    for (i = 1; i <= n; i++) s = s * 60 + p[i]; t = s }
                /Maximum resident set size/ { r = $2 }
                /User time|System time/ { c += $2 }
                END { printf "%.2f %d %.2f\n", t, r, c }' "$1"
}

# OpenDMARC's window is (now - 86400, now] by the wall clock: the history lies inside it.
begin=$(( $(date +%s) - 86300 ))
history="$work/history.txt"
"$bin/reporter_history" "$messages" "$domains" "$begin" >"$history"

# ---- ours ----
store="sqlite://$work/store.db"
"$bin/dmarc-collector" history --database "$store" --input "$history" >"$work/collector.out"
cat >"$work/reporter.conf" <<EOF
ReportEmail dmarc-reports@receiver.example
ReportOrg Receiver Example
PublicSuffixList $top/tests/data/psl/public_suffix_list.dat
SendPause 0
EOF
# Two days later: every period holding the history is complete (it spans two UTC days).
now=$((begin + 2 * 86400 + 86400))
/usr/bin/time -v "$bin/dmarc-reporter" --config "$work/reporter.conf" --database "$store" \
    --dry-run --now "$now" --output-dir "$work/ours" >"$work/reporter.out" 2>"$work/reporter.time"
read -r our_s our_kib our_cpu < <(time_and_rss "$work/reporter.time")
our_reports=$(find "$work/ours" -name '*.xml.gz' | wc -l)
grep -q "reports built" "$work/reporter.out" || { cat "$work/reporter.time" >&2; exit 1; }

# ---- opendmarc-reports on a slice, MariaDB on loopback (bench/lib/mariadb.sh) ----
sink_pid=
cleanup() {
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    mariadb_stop
    rm -rf "$work/history.txt" "$work/store.db"*
}
trap cleanup EXIT
mariadb_start "$work"
opendmarc_database
history_slice "$history" "$slice" "$work/slice.txt"
run_opendmarc_import "$work/slice.txt" "$work/import.err"
stored=$(sql -N -e "SELECT count(*) FROM opendmarc.messages")
[ "$stored" = "$slice" ] || { echo "opendmarc-import stored $stored of $slice" >&2; exit 1; }

# opendmarc-reports opens its SMTP session even with --test: a sink that accepts and discards.
smtp_port=$(free_port)
/usr/sbin/smtp-sink $( [ "$(id -u)" = 0 ] && echo "-u nobody" ) "127.0.0.1:$smtp_port" 10 \
    >/dev/null 2>&1 &
sink_pid=$!
sleep 0.5
mkdir -p "$work/theirs"
(cd "$work/theirs" && /usr/bin/time -v opendmarc-reports --dbhost=127.0.0.1 \
    --dbport="$mariadb_port" --dbname=opendmarc --dbuser=opendmarc --dbpasswd=opendmarc \
    --interval=86400 --test \
    --report-email=dmarc-reports@receiver.example --report-org=receiver.example \
    --smtp-server=127.0.0.1 --smtp-port="$smtp_port" >"$work/opendmarc-reports.out" \
    2>"$work/opendmarc-reports.time")
read -r their_s their_kib their_cpu < <(time_and_rss "$work/opendmarc-reports.time")
their_reports=$(grep -c "would email" "$work/opendmarc-reports.time" || true)

awk -v m="$messages" -v os="$our_s" -v ok="$our_kib" -v orp="$our_reports" -v oc="$our_cpu" \
    -v n="$slice" -v ts="$their_s" -v tk="$their_kib" -v trp="$their_reports" -v tc="$their_cpu" \
    -v d="$domains" '
BEGIN {
    ours = os / m; theirs = ts / n
    printf "dmarc-reporter --dry-run: %d messages, %d domains -> %d reports in %.2f s (%.1f us/message; %.2f s CPU), peak RSS %.0f MiB\n", m, d, orp, os, ours * 1e6, oc, ok / 1024
    printf "opendmarc-reports --test: %d messages -> %d reports in %.2f s (%.1f us/message; %.2f s CPU in Perl, MariaDB not counted), peak RSS %.0f MiB\n", n, trp, ts, theirs * 1e6, tc, tk / 1024
    printf "ratio per message: dmarc-reporter is %.0fx faster than opendmarc-reports (target >= 20x)\n", theirs / ours
}'
