#!/usr/bin/env bash
# Issue 4 acceptance: msgs/s through Postfix + OpenDKIM + dmarc-milter against the same chain with
# Debian opendmarc (same unbound, same message, warm cache, same run), and the ratio. Everything
# runs privately on loopback (tests/support/mail_chain) and is stopped afterwards.
# Usage: 20-postfix-chain.sh <source tree> [messages]
set -euo pipefail
top=${1:?source tree}
bin="$top/build-release/bin"
[ -x "$bin/postfix_chain" ] || { echo "build-release/bin/postfix_chain not built" >&2; exit 1; }
exec "$bin/postfix_chain" "$bin/dmarc-milter" "${2:-${DMARC_BENCH_POSTFIX_MESSAGES:-2000}}"
