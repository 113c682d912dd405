#!/usr/bin/env bash
# ctest demo.live: runs the live demo against BUILD-DIR on ports of its own and checks what a user
# is told to look for: the mix's rejections, holds and deliveries, the store's rows, and a
# dashboard that answers.
set -euo pipefail
build=$1
[ "$(id -u)" -eq 0 ] || { echo "the live demo starts Postfix: needs root"; exit 77; }
for tool in postfix opendkim unbound; do
    command -v "$tool" >/dev/null || { echo "$tool not installed"; exit 77; }
done
out=$(DEMO_BUILD=$build DEMO_EXIT=1 DEMO_DNS_PORT=53531 DEMO_SMTP_PORT=25251 DEMO_DKIM_PORT=28991 \
    DEMO_MILTER_PORT=28993 DEMO_WEB_PORT=18080 "$(dirname "$0")/run-demo.sh" 2>&1) ||
    { echo "$out"; echo "FAIL: run-demo.sh"; exit 1; }
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
# demo/live/mix.txt: 3 spoofed + 1 np=reject rejected; 2 + 1 + 1 held; the other 17 delivered.
grep -q 'Postfix: 17 delivered to build/demo-live/mail/demo.example/ana, 4 rejected (550), 4 in the hold queue' <<<"$out" ||
    fail "mix outcome"
grep -q 'spoofed bank.example.*rejected: 550 5.7.1 rejected by DMARC policy for bank.example' <<<"$out" ||
    fail "spoofed mail not rejected"
grep -q 'forwarded.*delivered' <<<"$out" || fail "forwarded mail not delivered"
grep -q 'opendmarc.dat: 300 records, 300 new' <<<"$out" || fail "history import"
grep -q 'spool.db: 25 rows, 25 new' <<<"$out" || fail "spool import"
grep -Eq 'dmarc-reporter: [1-9][0-9]* reports built, [1-9][0-9]* sent, 0 retried, 0 failed' <<<"$out" ||
    fail "reports not sent"
grep -q 'reports.dmarc-service.example/agg/' <<<"$out" || fail "no report at the external rua"
grep -Eq 'one-time password: [^ )]{12,}' <<<"$out" || fail "no admin password"
echo "demo.live OK"
