#!/usr/bin/env bash
# dmarc-milter beside OpenDMARC (issue 4 §6 and acceptance): both daemons, configured alike, on
# the same private unbound (loopback, demo zone), warmed, then driven by the same
# build-release/bin/milter_load mix over TCP and over a unix socket: a paced 1,000 msgs/s run for
# latency and an unpaced run for throughput. milter_load stands in for Postfix: a connection per
# message, commands buffered and replies read as milter8's VSTREAM does, no quick ACK. Each daemon's CPU time comes from /proc/PID/stat
# before and after (milter_load --pid). Prints per daemon msgs/s, CPU ms/msg, p50/p99 and ratios.
#
# OpenDMARC resolves through the libc resolver (port 53 of resolv.conf's server only) and logs
# only through syslog(3), so the whole step runs in a private mount namespace (e2e-notes items 7
# and 9): /etc/resolv.conf and /dev/log are bind mounts visible to this step alone.
# Usage: 10-milter-vs-opendmarc.sh SOURCE_TREE   (env: BENCH_MESSAGES, BENCH_UNIX_MESSAGES,
# BENCH_CONNECTIONS, BENCH_RATE, BENCH_PACED_MESSAGES, BENCH_KEEP=1 keeps the work directory;
# BENCH_DAEMONS and BENCH_SOCKETS narrow a profiling run, e.g. BENCH_DAEMONS=dmarc-milter
# BENCH_SOCKETS=unix;
# BENCH_MILTER=PATH runs another dmarc-milter binary, for A/B runs of two builds;
# BENCH_SYSLOG_QLEN sets the syslog catcher's queue, 512 as on a systemd host; BENCH_UNIX_ROUNDS
# the alternating pairs over the unix socket, 3)
set -euo pipefail

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
bin=$src/build-release/bin
messages=${BENCH_MESSAGES:-10000}
# Over the unix socket both daemons are fast enough for more: /proc/PID/stat counts CPU in 10 ms
# ticks, and 10,000 of our messages are only about 25 of them, so one tick more or less moved
# the ratio by 4%. 50,000 messages take OpenDMARC about 10 s.
unix_messages=${BENCH_UNIX_MESSAGES:-$((messages * 5))}
paced_messages=${BENCH_PACED_MESSAGES:-5000}
connections=${BENCH_CONNECTIONS:-20}
rate=${BENCH_RATE:-1000}

milter=${BENCH_MILTER:-$bin/dmarc-milter}
for tool in "$milter" "$bin/milter_load" /usr/sbin/opendmarc /usr/sbin/unbound; do
    [ -x "$tool" ] || { echo "missing $tool (./run bench builds and installs it)" >&2; exit 1; }
done
command -v socat >/dev/null || { echo "missing socat (the syslog catcher)" >&2; exit 1; }

if [ -z "${DMARC_BENCH_NAMESPACE:-}" ]; then
    # Never edit the machine's resolv.conf or /dev: without a private namespace, stop here.
    DMARC_BENCH_NAMESPACE=1 exec unshare -m --propagation private "$0" "$src" ||
        { echo "unshare -m failed: needs root (CAP_SYS_ADMIN)" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/milter-vs-opendmarc.XXXXXX)
pids=()
dev_mounted=
cleanup() {
    local p rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do
            [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || echo Z)" = Z ] && break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null || true
    done
    # Unmount before deleting: rm must never reach the real /dev through a bind mount.
    # Lazy unmounts cannot fail on a busy mount (a daemon still exiting holds /dev/null).
    if [ -n "$dev_mounted" ]; then umount -l /dev 2>/dev/null || true; fi
    umount -l "$work/dev" 2>/dev/null || true
    umount -l /etc/resolv.conf 2>/dev/null || true
    if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT

# --- DNS: a loopback address whose port 53 is free, unbound authoritative for the whole tree.
dns_ip=
for i in $(seq 2 250); do
    candidate="127.0.53.$i"
    if ! ss -Hlnu "src $candidate:53" | grep -q . && ! ss -Hlnu "src 0.0.0.0:53" | grep -q .; then
        dns_ip=$candidate
        break
    fi
done
[ -n "$dns_ip" ] || { echo "no free loopback address for port 53" >&2; exit 1; }

# demo/zone.txt (MemoryResolver format: NAME TYPE DATA, or NAME SERVFAIL) as a root zone: every
# name answered here, nothing ever sent to the Internet (e2e-notes item 8). SERVFAIL names are
# refused by a local zone, which the resolvers see as a server failure.
{
    echo '. 300 IN SOA ns. hostmaster. 1 3600 600 86400 300'
    echo '. 300 IN NS ns.'
    echo "ns. 300 IN A $dns_ip"
    awk '!/^[[:space:]]*(#|$)/ && $2 != "SERVFAIL" {
        name = $1; if (name !~ /\.$/) name = name "."
        $1 = ""; sub(/^[[:space:]]+/, ""); print name, 300, "IN", $0 }' "$src/demo/zone.txt"
} >"$work/root.zone"
cat >"$work/unbound.conf" <<EOF
server:
  interface: $dns_ip
  port: 53
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$work"
  pidfile: "$work/unbound.pid"
  logfile: "$work/unbound.log"
  use-syslog: no
  verbosity: 1
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  auto-trust-anchor-file: ""
  local-zone: "example." nodefault
$(awk '$2 == "SERVFAIL" { n = $1; if (n !~ /\.$/) n = n "."; printf "  local-zone: \"%s\" always_refuse\n", n }' "$src/demo/zone.txt")
remote-control:
  control-enable: no
auth-zone:
  name: "."
  zonefile: "$work/root.zone"
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
EOF
/usr/sbin/unbound -d -c "$work/unbound.conf" &
pids+=($!)
printf 'nameserver %s\noptions attempts:2 timeout:1\n' "$dns_ip" >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
for _ in $(seq 100); do
    # getent asks the libc resolver, as OpenDMARC does.
    getent hosts bank.example >/dev/null 2>&1 && break
    sleep 0.1
done
getent hosts bank.example >/dev/null || { echo "unbound did not answer:" >&2; cat "$work/unbound.log" >&2; exit 1; }

# --- syslog: a catcher on a /dev/log private to this namespace (both daemons log there).
mkdir -p "$work/dev"
mount -t tmpfs tmpfs "$work/dev"
for node in null zero random urandom tty; do
    [ -e "/dev/$node" ] || continue
    touch "$work/dev/$node"
    mount --bind "/dev/$node" "$work/dev/$node"
done
# Its queue holds what /dev/log holds on a Debian 12 host: systemd (PID 1) raises the kernel's
# net.unix.max_dgram_qlen from 10 to 512 at boot, before journald makes /dev/log. A machine booted
# without systemd (this bench's containers) keeps 10; the setting is per network namespace and
# a socket keeps the queue length of its creation, so the catcher is made in a namespace of its
# own with 512, and the host's setting is left alone. Both daemons send to the same catcher.
unshare -n sh -c 'echo "$1" >/proc/sys/net/unix/max_dgram_qlen &&
    exec socat -u UNIX-RECV:"$0/dev/log",mode=666 OPEN:"$0/syslog.txt",creat,append' \
    "$work" "${BENCH_SYSLOG_QLEN:-512}" &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/dev/log" ] && break; sleep 0.1; done
mount --rbind "$work/dev" /dev
dev_mounted=1

# --- the two daemons, the same settings in the same syntax (opendmarc.conf).
: >"$work/ignore-none"  # no IgnoreHosts: the mix's client addresses are TEST-NET data anyway
common="AuthservID mx.demo.example
TrustedAuthservIDs mx.demo.example
RejectFailures true
HoldQuarantinedMessages true
SPFSelfValidate true
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
IgnoreHosts $work/ignore-none
Syslog true
SyslogFacility mail
Background false"

start_daemon() {  # name socket -> $daemon_pid
    local name=$1 socket=$2 conf="$work/$1.conf"
    {
        echo "$common"
        echo "Socket $socket"
        echo "PidFile $work/$name.pid"
        if [ "$name" = opendmarc ]; then
            echo "HistoryFile $work/opendmarc.history"
        else
            echo "HistoryDatabase $work/spool"
            echo "PolicyDiscovery psl"
        fi
    } >"$conf"
    rm -f "$work/$name.pid"
    if [ "$name" = opendmarc ]; then
        /usr/sbin/opendmarc -f -c "$conf" >>"$work/$name.out" 2>&1 &
    else
        "$milter" -f -c "$conf" >>"$work/$name.out" 2>&1 &
    fi
    local pid=$!
    pids+=("$pid")
    daemon_pid=$pid
    for _ in $(seq 100); do
        if [ "${socket%%:*}" = local ]; then [ -S "${socket#local:}" ] && break
        else ss -Hltn "sport = :$(echo "${socket#inet:}" | cut -d@ -f1)" | grep -q . 2>/dev/null && break
        fi
        kill -0 "$pid" 2>/dev/null || { echo "$name exited:" >&2; cat "$work/$name.out" >&2; exit 1; }
        sleep 0.1
    done
}

stop_daemon() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

free_tcp_port() {
    # Below the ephemeral range: each run leaves thousands of client ports in TIME_WAIT there,
    # and bind() refuses a port an outgoing connection holds.
    local p low
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range)
    for p in $(shuf -i 20000-$((low - 1)) -n 50); do
        ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

load() {  # socket pid args...
    local socket=$1 pid=$2
    shift 2
    "$bin/milter_load" --socket "$socket" --demo "$src/demo" --connections "$connections" \
        --pid "$pid" --json "$@" || true
}

field() { jq -r ".$2" <<<"$1"; }

results="$work/results.txt"
# Socket kind first, then the two daemons one after the other: each ratio compares runs made a
# minute apart, not across the whole step. Over the unix socket the pair is made three times
# (BENCH_UNIX_ROUNDS), alternating, and the median ratio is the one held to the target: on this
# shared machine one run's CPU figure moves by about 5%, which at a ratio near 10 decides the
# verdict. TCP is one round (OpenDMARC's 486 msgs/s there makes a round 40 s).
for kind in ${BENCH_SOCKETS:-tcp unix}; do
    rounds=1
    [ "$kind" = unix ] && rounds=${BENCH_UNIX_ROUNDS:-3}
    for round in $(seq "$rounds"); do
        for daemon in ${BENCH_DAEMONS:-dmarc-milter opendmarc}; do
            if [ "$kind" = tcp ]; then
                socket="inet:$(free_tcp_port)@127.0.0.1"
            else
                socket="local:$work/$daemon.sock"
            fi
            start_daemon "$daemon" "$socket"
            pid=$daemon_pid
            # Warm: every scenario several times (resolver caches, PSL, history file/spool).
            load "$socket" "$pid" --messages 500 >/dev/null
            paced=
            # Latency at 1,000 msgs/s: the first round's.
            [ "$round" = 1 ] && paced=$(load "$socket" "$pid" --messages "$paced_messages" --rate "$rate")
            full=$(load "$socket" "$pid" --messages "$([ "$kind" = unix ] && echo "$unix_messages" || echo "$messages")")
            stop_daemon "$pid"
            for run in paced full; do
                [ "$run" = paced ] && [ "$round" != 1 ] && continue
                json=${!run}
                [ -n "$json" ] || { echo "$daemon $kind $run: no result" >&2; continue; }
                printf '%s %s %s %s %s %s %s %s %s\n' "$daemon" "$kind" "$run" \
                    "$(field "$json" msgs_per_s)" "$(field "$json" cpu_ms_per_msg)" \
                    "$(field "$json" p50_ms)" "$(field "$json" p99_ms)" "$(field "$json" errors)" \
                    "$round" >>"$results"
                # The verdicts differ where OpenDMARC differs (opendmarc.md §8); shown, not compared.
                [ "$run" = full ] && [ "$round" = 1 ] &&
                    echo "$daemon $kind outcomes: $(field "$json" outcomes)" >>"$work/outcomes.txt"
            done
        done
    done
done

cat "$work/outcomes.txt"
echo "milter_load: $connections connections, 1 message each (as Postfix), demo mix;" \
    "paced: $paced_messages at $rate msgs/s; unpaced: $messages (TCP), $unix_messages (unix)"
awk -v rate="$rate" '
    function median(a, n,    i, j, t) {  # sorts a[1..n] in place
        for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        key = $1 " " $2 " " $3 " " $9; tput[key] = $4; cpu[key] = $5; p50[key] = $6; p99[key] = $7; err[key] = $8
        if ($9 > rounds[$2]) rounds[$2] = $9
    }
    END {
        printf "%-13s %-5s %-8s %10s %12s %9s %9s %7s\n", "daemon", "sock", "run", "msgs/s",
            "CPU ms/msg", "p50 ms", "p99 ms", "errors"
        split("dmarc-milter opendmarc", d, " "); split("tcp unix", k, " ")
        for (j = 1; j <= 2; j++) for (n = 1; n <= rounds[k[j]]; n++) for (i = 1; i <= 2; i++) for (m = 1; m <= 2; m++) {
            run = m == 1 ? "paced" : "full"
            key = d[i] " " k[j] " " run " " n
            if (!(key in tput)) continue
            label = run == "paced" ? rate "/s" : (rounds[k[j]] > 1 ? "max #" n : "max")
            printf "%-13s %-5s %-8s %10.0f %12.4f %9.3f %9.3f %7d\n", d[i], k[j], label,
                tput[key], cpu[key], p50[key], p99[key], err[key]
        }
        fail = 0
        for (j = 1; j <= 2; j++) {
            o = "dmarc-milter " k[j]; t = "opendmarc " k[j]
            if (!((o " full 1") in tput) || !((t " full 1") in tput)) { fail = 1; continue }
            count = 0; errors = err[o " paced 1"]; list = ""
            for (n = 1; n <= rounds[k[j]]; n++) {
                if (!((o " full " n) in tput) || !((t " full " n) in tput)) { fail = 1; continue }
                count++
                c[count] = (cpu[o " full " n] > 0) ? cpu[t " full " n] / cpu[o " full " n] : 0
                x[count] = (tput[t " full " n] > 0) ? tput[o " full " n] / tput[t " full " n] : 0
                list = list (count > 1 ? ", " : "") sprintf("%.1f", c[count])
                errors += err[o " full " n]
            }
            cpu_ratio = median(c, count); tput_ratio = median(x, count)
            printf "%s: CPU/msg OpenDMARC/ours %.1fx%s (target >= 10), throughput ours/OpenDMARC %.1fx (target >= 5), our p99 at %s/s %.3f ms (target < 2), OpenDMARC p99 %.3f ms\n",
                k[j], cpu_ratio, (count > 1 ? " (median of " count " alternating rounds: " list ")" : ""),
                tput_ratio, rate, p99[o " paced 1"], p99[t " paced 1"]
            if (cpu_ratio < 10 || tput_ratio < 5 || p99[o " paced 1"] >= 2 || errors > 0) fail = 1
        }
        print (fail ? "targets: NOT met" : "targets: met")
        exit fail
    }' "$results"
