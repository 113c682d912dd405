# shellcheck shell=bash
# Sourced by bench/opendmarc_import.sh and bench/steps/30-opendmarc-reports.sh: a private MariaDB
# on loopback holding Debian's OpenDMARC schema, for the Perl tools of the opendmarc package.
# mariadbd runs with --no-defaults (own datadir, socket and port under the work directory), so
# the machine's MariaDB configuration is neither read nor touched.
#
#   mariadb_start WORKDIR   install a datadir, start the server on a free port, wait for it;
#                           sets mariadb_port, mariadb_sock, mariadb_pid, mariadb_log
#   mariadb_stop            TERM (KILL after 30 s), wait, remove the datadir; safe to call twice
#   sql ARGS...             the mariadb client as root over the socket
#   opendmarc_database      Debian's schema and the user opendmarc@127.0.0.1 (password opendmarc)
#   run_opendmarc_import FILE ERR   opendmarc-import of FILE into it, its stderr in ERR
#   history_slice FILE N OUT    the first N records of a history file (a record starts at `job`)
#   free_port               a free loopback TCP port

opendmarc_schema=/usr/share/dbconfig-common/data/opendmarc/install/mysql

free_port() {
    for _ in $(seq 1 50); do
        local candidate=$((20000 + RANDOM % 20000))
        if ! ss -Hltn "sport = :$candidate" 2>/dev/null | grep -q .; then
            echo "$candidate"
            return
        fi
    done
    echo "no free port" >&2
    exit 1
}

mariadb_pid=
mariadb_datadir=

mariadb_start() {
    local work=$1
    mariadb_datadir="$work/mariadb-data"
    mariadb_sock="$work/mariadb.sock"
    mariadb_log="$work/mariadb.log"
    mariadb_port=$(free_port)
    rm -rf "$mariadb_datadir" "$mariadb_sock" "$work/mariadb.pid"
    mkdir -p "$work"
    mariadb-install-db --no-defaults --datadir="$mariadb_datadir" --user="$(id -un)" \
        --auth-root-authentication-method=socket --skip-test-db >"$work/install-db.log" 2>&1 || {
        tail -20 "$work/install-db.log" >&2
        exit 1
    }
    # Server defaults otherwise (InnoDB, innodb_flush_log_at_trx_commit=1: what a Debian install
    # gives OpenDMARC); UTC so that OpenDMARC's TIMESTAMP defaults are valid (opendmarc.md §4).
    mariadbd --no-defaults --datadir="$mariadb_datadir" --socket="$mariadb_sock" \
        --pid-file="$work/mariadb.pid" --skip-networking=0 --bind-address=127.0.0.1 \
        --port="$mariadb_port" --user="$(id -un)" --default-time-zone=+00:00 \
        --log-error="$mariadb_log" 2>>"$mariadb_log" &
    mariadb_pid=$!
    for _ in $(seq 1 120); do
        mariadb-admin --no-defaults --socket="$mariadb_sock" -u root ping >/dev/null 2>&1 && return
        kill -0 "$mariadb_pid" 2>/dev/null || { tail -20 "$mariadb_log" >&2; exit 1; }
        sleep 0.5
    done
    echo "mariadbd did not answer in 60 s; see $mariadb_log" >&2
    exit 1
}

mariadb_stop() {
    if [ -n "$mariadb_pid" ]; then
        if kill -0 "$mariadb_pid" 2>/dev/null; then
            kill -TERM "$mariadb_pid" 2>/dev/null || true
            for _ in $(seq 1 60); do
                kill -0 "$mariadb_pid" 2>/dev/null || break
                sleep 0.5
            done
            kill -KILL "$mariadb_pid" 2>/dev/null || true
        fi
        wait "$mariadb_pid" 2>/dev/null || true
        mariadb_pid=
    fi
    [ -z "$mariadb_datadir" ] || rm -rf "$mariadb_datadir"
}

sql() { mariadb --no-defaults --socket="$mariadb_sock" -u root "$@"; }

opendmarc_database() {
    sql <"$opendmarc_schema"
    sql -e "CREATE USER 'opendmarc'@'127.0.0.1' IDENTIFIED BY 'opendmarc';
            GRANT ALL ON opendmarc.* TO 'opendmarc'@'127.0.0.1';"
}

run_opendmarc_import() {
    opendmarc-import --dbhost=127.0.0.1 --dbport="$mariadb_port" --dbname=opendmarc \
        --dbuser=opendmarc --dbpasswd=opendmarc --input="$1" 2>"$2"
}

history_slice() {
    awk -v limit="$2" '/^job / { if (++n > limit) exit } { print }' "$1" >"$3"
}
