#!/usr/bin/env bash
# The baseline for dmarc-collector's history import (issue 5): Debian's opendmarc-import (Perl/DBI)
# into MariaDB on loopback, timed on the first N records of the same history file.
# Usage: bench/opendmarc_import.sh HISTORY_FILE RECORDS WORKDIR
# Starts a private mariadbd (bench/lib/mariadb.sh: own datadir, socket and port under WORKDIR,
# --no-defaults so the machine's MariaDB configuration is neither read nor touched), loads
# Debian's OpenDMARC schema, runs opendmarc-import with its default (auto-commit) behaviour,
# checks that every record landed (opendmarc-import exits 0 even when inserts fail), stops the
# server and prints one line:
#   opendmarc-import: <records> records in <seconds> s = <rate> records/s
set -euo pipefail

# shellcheck source=bench/lib/mariadb.sh
. "$(dirname "$0")/lib/mariadb.sh"

history=$1
records=$2
work=$3
slice="$work/history-slice.txt"

trap mariadb_stop EXIT
mariadb_start "$work"
opendmarc_database
# History written before ARC support (1.3.x, and most of the bench's records) has no `arc` and
# `arc_policy` lines; opendmarc-import then inserts NULL into these NOT NULL columns and loses the
# record ("Column 'arc' cannot be null", opendmarc.md §4 #217/#219). Allowing NULL there lets every
# record land, so the rate counts stored records; it removes no work from opendmarc-import.
sql opendmarc -e "ALTER TABLE messages MODIFY arc TINYINT UNSIGNED NULL,
                  MODIFY arc_policy TINYINT UNSIGNED NULL"

history_slice "$history" "$records" "$slice"
have=$(grep -c '^job ' "$slice" || true)

start=$(date +%s.%N)
run_opendmarc_import "$slice" "$work/opendmarc-import.err"
end=$(date +%s.%N)

stored=$(sql -N -e "SELECT count(*) FROM opendmarc.messages")
if [ "$stored" != "$have" ]; then
    echo "opendmarc-import stored $stored of $have records; see $work/opendmarc-import.err:" >&2
    head -5 "$work/opendmarc-import.err" >&2
    exit 1
fi
awk -v n="$have" -v s="$start" -v e="$end" \
    'BEGIN { t = e - s; printf "opendmarc-import: %d records in %.1f s = %.0f records/s\n", n, t, n / t }'
