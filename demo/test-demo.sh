#!/usr/bin/env bash
# ctest demo.live: runs the live demo against BUILD-DIR on ports of its own and checks what a user
# is told to look for: the mix's rejections, holds and deliveries, the failure reports in the ruf
# mailbox, the store's rows, and a dashboard that answers.
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
# Failure reports (bank.example: ruf, fo=1): the spoofs' reports reached the ruf mailbox through
# Postfix's sendmail, addressed to the ruf, as AFRF (RFC 6591), with local-parts redacted (RFC 6590).
grep -Eq 'failure reports: [1-9][0-9]* about bank.example in build/demo-live/mail/bank.example/dmarc-failures/' <<<"$out" ||
    fail "no failure reports listed"
ruf_box=$build/demo-live/mail/bank.example/dmarc-failures/new
spoof_reports=0
for report in "$ruf_box"/*; do
    [ -f "$report" ] || continue
    grep -q '^To: dmarc-failures@bank.example$' "$report" || fail "$report: not addressed to the ruf"
    grep -q '^Feedback-Type: auth-failure$' "$report" || fail "$report: no Feedback-Type: auth-failure"
    grep -q 'report-type=feedback-report' "$report" || fail "$report: not multipart/report"
    grep -Eq '^Original-Rcpt-To: redacted-[0-9a-f]{16}@demo.example$' "$report" ||
        fail "$report: recipient not redacted"
    if grep -q '^Subject: FW: Urgent: verify your account$' "$report"; then
        grep -Eq '^Original-Mail-From: redacted-[0-9a-f]{16}@attacker.example$' "$report" ||
            fail "$report: envelope sender not redacted"
        grep -q '^Delivery-Result: reject$' "$report" || fail "$report: the spoof was not rejected"
        ! grep -Eq 'bounce@|security@|ana@' "$report" || fail "$report: an original local-part"
        spoof_reports=$((spoof_reports + 1))
    fi
done
[ "$spoof_reports" -ge 1 ] || fail "no failure report about the spoofed bank.example mail"
grep -q 'opendmarc.dat: 300 records, 300 new' <<<"$out" || fail "history import"
grep -q 'spool.db: 25 rows, 25 new' <<<"$out" || fail "spool import"
grep -Eq 'dmarc-reporter: [1-9][0-9]* reports built, [1-9][0-9]* sent, 0 retried, 0 failed' <<<"$out" ||
    fail "reports not sent"
grep -q 'reports.dmarc-service.example/agg/' <<<"$out" || fail "no report at the external rua"
grep -Eq 'one-time password: [^ )]{12,}' <<<"$out" || fail "no admin password"
echo "demo.live OK"
