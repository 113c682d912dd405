#!/usr/bin/env bash
# The live demo (issue 9), called by `./run demo` after the build: on loopback only, in private
# directories under build/demo-live, it starts unbound (the demo zones plus fresh DKIM keys), OpenDKIM
# (verifying), dmarc-milter and a private Postfix instance wired together as in README.md; sends
# today's mix (demo/live/mix.txt) through Postfix; imports the milter's spool and three earlier
# days of OpenDMARC history; shows the failure reports the milter sent for bank.example; runs
# dmarc-reporter, whose reports Postfix delivers to maildirs; and starts dmarc-web with a one-time
# admin password. Ctrl-C stops everything it started. The machine's own mail and DNS
# configuration are never read or changed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DEMO_BUILD:-$top/build}  # the build whose programs run (the tests pass their own)
bin=$build/bin
D=$build/demo-live  # build/demo is CMake's own (demo/CMakeLists.txt)
pf=$D/postfix       # the private Postfix instance: etc/ (main.cf, master.cf), spool/, maillog
demo=$top/demo
dns_port=${DEMO_DNS_PORT:-53530}
smtp_port=${DEMO_SMTP_PORT:-25250}
dkim_port=${DEMO_DKIM_PORT:-28891}
milter_port=${DEMO_MILTER_PORT:-28893}
web_port=${DEMO_WEB_PORT:-8080}
pids=()
postfix_running=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

stop_all() {
    trap - EXIT INT TERM
    say "stopping what the demo started"
    if [ $postfix_running -eq 1 ]; then postfix -c "$D/postfix/etc" stop >/dev/null 2>&1 || true; fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $dns_port $smtp_port $dkim_port $milter_port $web_port; do
    port_free "$p" || { echo "port $p on 127.0.0.1 is in use (DEMO_*_PORT overrides)" >&2; exit 1; }
done
wait_port() {  # PORT NAME: up to 15 s
    for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "$2 did not start on port $1" >&2
    exit 1
}

rm -rf "$D"
mkdir -p "$D"/{dns,keys,dkim,milter,postfix/etc,postfix/spool,postfix/data,mail,history}
today=$(date -u +%s)
midnight=$((today - today % 86400))

# ---- DNS: demo/zone.txt and the DKIM keys of this run, as unbound local data
say "DNS: unbound on 127.0.0.1:$dns_port with the demo zones (demo/zone.txt)"
declare -A selector_of=([bank.example]=s2026 [shop.example]=esp1 [news.example]=k1 [lists.example]=list)
for domain in "${!selector_of[@]}"; do
    s=${selector_of[$domain]}
    mkdir -p "$D/keys/$domain"
    opendkim-genkey -b 2048 -d "$domain" -s "$s" -D "$D/keys/$domain"
done
{
    cat <<EOF
server:
  interface: 127.0.0.1
  port: $dns_port
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "$D/dns"
  pidfile: "$D/dns/unbound.pid"
  logfile: "$D/dns/unbound.log"
  use-syslog: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  auto-trust-anchor-file: ""
  local-zone: "example." static
  local-zone: "localhost." static
EOF
    # zone.txt: NAME TYPE DATA; SERVFAIL names become refused zones (a temporary error).
    grep -v '^#' "$demo/zone.txt" | awk 'NF' | while read -r name type data; do
        if [ "$type" = SERVFAIL ]; then
            echo "  local-zone: \"$name.\" always_refuse"
        else
            echo "  local-data: '$name. 300 IN $type $data'"
        fi
    done
    for domain in "${!selector_of[@]}"; do
        s=${selector_of[$domain]}
        record=$(grep -o '"[^"]*"' "$D/keys/$domain/$s.txt" | tr -d '"\n')
        # TXT strings are at most 255 bytes (RFC 1035 §3.3.14): split the key.
        chunks=$(fold -w 250 <<<"$record" | sed 's/.*/"&"/' | tr '\n' ' ')
        echo "  local-data: '$s._domainkey.$domain. 300 IN TXT $chunks'"
    done
    # Senders of today's mix that zone.txt does not name.
    echo "  local-data: 'mx.forwarder.example. 300 IN A 198.51.100.200'"
    echo "  local-data: 'forwarder.example. 300 IN TXT \"v=spf1 ip4:198.51.100.200 -all\"'"
    echo "  local-data: 'news.example. 300 IN TXT \"v=spf1 ip4:198.51.100.30 -all\"'"
    printf 'remote-control:\n  control-enable: no\n'
} >"$D/dns/unbound.conf"
unbound -d -c "$D/dns/unbound.conf" &
pids+=($!)
wait_port "$dns_port" unbound

# ---- OpenDKIM: verifies signatures, writes Authentication-Results as mx.demo.example
say "OpenDKIM on 127.0.0.1:$dkim_port (verifying; DNS from the demo's unbound)"
cat >"$D/dkim/unbound.conf" <<EOF
server:
  do-not-query-localhost: no
  module-config: "iterator"
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$dns_port
EOF
cat >"$D/dkim/opendkim.conf" <<EOF
Mode v
Socket inet:$dkim_port@127.0.0.1
AuthservID mx.demo.example
ResolverConfiguration $D/dkim/unbound.conf
PidFile $D/dkim/opendkim.pid
Syslog no
Background no
EOF
opendkim -f -x "$D/dkim/opendkim.conf" 2>"$D/dkim/opendkim.log" &
pids+=($!)
wait_port "$dkim_port" opendkim

# ---- dmarc-milter: the sample configuration's settings, with the demo's DNS and spool
say "dmarc-milter on 127.0.0.1:$milter_port"
cat >"$D/milter/dmarc-milter.conf" <<EOF
# As dist/dmarc-milter.conf recommends, with the demo's ports and files.
AuthservID mx.demo.example
TrustedAuthservIDs mx.demo.example
Socket inet:$milter_port@127.0.0.1
Nameservers 127.0.0.1@$dns_port
HistoryDatabase $D/milter/spool.db
HistoryFile $D/milter/history.dat
SPFSelfValidate true
RejectFailures true
HoldQuarantinedMessages true
RequiredHeaders true
Background false
# Failure reports (RFC 9991) where a record asks for them (bank.example: ruf, fo=1), redacted and
# rate-limited as by default, through the private Postfix's sendmail: -C its configuration (main.cf
# is written below, before the first report), -odq queues them for its pickup service.
FailureReports true
ReportCommand /usr/sbin/sendmail -C $pf/etc -t -odq
EOF
"$bin/dmarc-milter" -n -c "$D/milter/dmarc-milter.conf" >/dev/null
"$bin/dmarc-milter" -f -c "$D/milter/dmarc-milter.conf" 2>"$D/milter/milter.log" &
pids+=($!)
wait_port "$milter_port" dmarc-milter

# ---- Postfix: a private instance (own config, queue and log); main.cf wired as in README.md
say "Postfix on 127.0.0.1:$smtp_port (smtpd_milters = OpenDKIM, dmarc-milter)"
cat >"$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
myhostname = mx.demo.example
mydomain = demo.example
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
# The demo's client simulates senders' addresses with XCLIENT (loopback only).
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# ---- the part a real server needs (README: "Wiring into Postfix"):
smtpd_milters = inet:127.0.0.1:$dkim_port, inet:127.0.0.1:$milter_port
non_smtpd_milters = \$smtpd_milters
milter_default_action = accept
milter_protocol = 6
# ---- delivery: maildirs under build/demo-live/mail/DOMAIN/USER/, nothing leaves the machine
virtual_mailbox_domains = demo.example bank.example shop.example news.example corp.example
    reports.dmarc-service.example
virtual_mailbox_base = $D/mail
virtual_mailbox_maps = texthash:$pf/etc/mailboxes
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:the demo delivers nothing outside this machine
relay_transport = error:the demo delivers nothing outside this machine
smtp_dns_support_level = disabled
smtputf8_enable = no
EOF
# ana@demo.example and the report addresses (rua, ruf) of demo/zone.txt; anything else at these
# domains (bounces, say) lands in DOMAIN/other/.
{
    for address in ana@demo.example dmarc-reports@demo.example dmarc-reports@bank.example \
        dmarc-failures@bank.example agg@reports.dmarc-service.example dmarc@news.example \
        dmarc@corp.example; do
        echo "$address ${address#*@}/${address%@*}/"
    done
    for domain in demo.example bank.example shop.example news.example corp.example \
        reports.dmarc-service.example; do
        echo "@$domain $domain/other/"
    done
} >"$pf/etc/mailboxes"
cat >"$pf/etc/master.cf" <<EOF
127.0.0.1:$smtp_port inet n - n - - smtpd
pickup    fifo  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      fifo  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
chown 65534:65534 "$D/mail"
chown postfix "$pf/data"
postfix -c "$pf/etc" check >/dev/null 2>"$pf/check.log" || { cat "$pf/check.log" >&2; exit 1; }
script -qec "postfix -c $pf/etc start" /dev/null >"$pf/start.log" 2>&1 || { cat "$pf/start.log" >&2; exit 1; }
postfix_running=1
wait_port "$smtp_port" postfix

# ---- today's mail
say "sending today's mix through Postfix (demo/live/mix.txt)"
sign() {  # DOMAIN SELECTOR < message > signed message
    # OpenDKIM's own test mode signs (rsa-sha256, relaxed/relaxed) as the sender's server would.
    local conf=$D/keys/$1/sign.conf message=$D/keys/$1/message.eml signature
    # A signing table of "*": the key signs whatever the From says (a list signs its members' mail).
    echo "key $1:$2:$D/keys/$1/$2.private" >"$D/keys/$1/key.table"
    echo "* key" >"$D/keys/$1/signing.table"
    # RequireSafeKeys off: the checkout may sit under a world-writable directory such as /tmp,
    # whose keys OpenDKIM otherwise refuses; these are throw-away demo keys.
    printf 'Mode s\nRequireSafeKeys false\nKeyTable file:%s\nSigningTable refile:%s\nSignatureAlgorithm rsa-sha256\nCanonicalization relaxed/relaxed\n' \
        "$D/keys/$1/key.table" "$D/keys/$1/signing.table" >"$conf"
    cat >"$message"
    signature=$(opendkim -x "$conf" -t "$message" -vv 2>&1 |
        perl -0ne "print \$1 if /hname='DKIM-Signature' hvalue='([^']*)'/")
    [ -n "$signature" ] || { echo "opendkim did not sign for $1" >&2; exit 1; }
    printf 'DKIM-Signature: %s\n' "$signature"
    cat "$message"
}
n=0
declare -A outcome
while read -r template copies signer path ip name helo mail_from what; do
    case "$template" in '#'* | '') continue ;; esac
    for i in $(seq "$copies"); do
        n=$((n + 1))
        message=$(sed -e "s/@DATE@/$(date -u -R)/" -e "s/@ID@/live-$n-$(date +%s%N)/" \
            "$demo/live/$template")
        if [ "$signer" != - ]; then
            message=$(sign "${signer%%:*}" "${signer##*:}" <<<"$message")
        fi
        if [ "$path" = list ]; then
            # The list tags the subject and adds a footer (the author's signature breaks), then
            # signs with its own key.
            message=$(sed -e 's/^Subject: /List-Id: <readers.lists.example>\nSubject: [readers] /' <<<"$message"
                printf '\n-- \nreaders mailing list: https://lists.example/readers\n')
            message=$(sign lists.example list <<<"$message")
        fi
        reply=$("$demo/smtp-send.pl" "$smtp_port" "$ip" "$name" "$helo" "$mail_from" \
            ana@demo.example <<<"$message") || true
        case "$reply" in
            250*)
                result=delivered
                queue_id=${reply##* }
                # postlogd writes asynchronously: give the hold line a moment to appear.
                for _ in 1 2 3 4 5; do
                    grep -q "$queue_id: milter-hold" "$pf/maillog" && { result="accepted into the hold queue"; break; }
                    sleep 0.05
                done
                ;;
            5*) result="rejected: ${reply%%$'\n'*}" ;;
            *) result="error: $reply" ;;
        esac
        outcome["$what"]="$result"
    done
    printf '    %-2s x %-70s %s\n' "$copies" "$what" "${outcome[$what]}"
done <"$demo/live/mix.txt"

# Delivery is asynchronous: wait until the active queue is empty (held mail stays held).
for _ in $(seq 100); do
    [ -z "$(find "$pf/spool/incoming" "$pf/spool/active" "$pf/spool/deferred" -type f 2>/dev/null)" ] && break
    sleep 0.1
done
held=$(find "$pf/spool/hold" -type f | wc -l)
delivered=$(find "$D/mail/demo.example/ana/new" -type f 2>/dev/null | wc -l)
rejected=$(grep -c 'milter-reject: END-OF-MESSAGE' "$pf/maillog" || true)
say "Postfix: $delivered delivered to build/demo-live/mail/demo.example/ana, $rejected rejected (550), $held in the hold queue"
note "log: build/demo-live/postfix/maillog   hold queue: postqueue -c build/demo-live/postfix/etc -p"
grep -E 'milter-reject|milter-hold' "$pf/maillog" | sed -E 's/^.*(milter-[a-z]+: END-OF-MESSAGE from [^:]*: )/\1/; s/; from=.*//' |
    sort | uniq -c | sed 's/^/    /' | head -8

# ---- failure reports: bank.example's ruf (demo/zone.txt, fo=1) asked for one per message where a
# mechanism gave no aligned pass: the spoofs and the forwarded copies (DKIM aligned, SPF not).
# The milter's background thread pipes each to sendmail -odq as the message is decided and logs
# it; postdrop wakes pickup through its fifo, so each is delivered within milliseconds (measured:
# 16-22 ms from sendmail to the maildir, no flush needed). The mix above goes on for seconds after
# the last bank.example message, so this wait ends at once; it covers a slow machine.
ruf=bank.example/dmarc-failures
for _ in $(seq 100); do
    sent=$(grep -c ': failure report about .* sent to ' "$D/milter/milter.log" || true)
    queued=$(find "$pf/spool/maildrop" "$pf/spool/incoming" "$pf/spool/active" -type f 2>/dev/null)
    [ "$(find "$D/mail/$ruf/new" -type f 2>/dev/null | wc -l)" -ge "$sent" ] && [ -z "$queued" ] && break
    sleep 0.1
done
reports=$(find "$D/mail/$ruf/new" -type f 2>/dev/null | wc -l)
about=$(cat "$D/mail/$ruf/new"/* 2>/dev/null | sed -n 's/^Reported-Domain: *//p' | tr -d '\r' |
    sort -u | paste -sd, - || true)
say "failure reports: $reports about ${about:-nothing} in build/demo-live/mail/$ruf/ (redacted: local-parts are keyed hashes, RFC 6590)"
if [ "$reports" -gt 0 ]; then
    # One line per report, oldest first, from its message/feedback-report part (RFC 6591, RFC
    # 9991): what was sent in the domain's name, from where, how it authenticated, what we did.
    perl -e '
        # Maildir names begin with the delivery time: SECONDS.V...I...M<microseconds>.
        my $t = sub { $_[0] =~ m{/(\d+)\.[^/]*M(\d+)[^/]*$} ? $1 * 1e6 + $2 : 0 };
        my $format = "    %-32s %-15s %-44s %-30s %s\n";
        printf $format, "Subject", "Source-IP", "Original-Mail-From", "Authentication-Results",
            "Delivery-Result";
        for my $file (sort { $t->($a) <=> $t->($b) } @ARGV) {
            open my $fh, "<", $file or die "$file: $!";
            local $/ = undef;
            (my $text = <$fh>) =~ s/\r?\n[ \t]+/ /g;  # unfold
            # Subject from the report header (it comes first), the rest from the feedback part.
            my ($head, $part) = split m{^Content-Type: message/feedback-report}mi, $text, 2;
            $part = (split /^--/m, $part // "")[0];
            my %f;
            $f{lc $1} //= $2 while $part =~ /^([A-Za-z-]+): *(.*?)\r?$/mg;
            $f{subject} = $1 if $head =~ /^Subject: *(.*?)\r?$/mi;
            # method=result of each result, without the authserv-id and properties.
            my $ar = join " ", map { /^\s*([a-z0-9-]+=[a-z]+)/i ? $1 : () }
                (split /;/, $f{"authentication-results"} // "")[1 .. 9];
            printf $format, map { $_ // "-" } $f{subject}, $f{"source-ip"},
                $f{"original-mail-from"}, $ar, $f{"delivery-result"};
        }' "$D/mail/$ruf/new"/*
fi
grep -E 'failure report( not sent|: ReportCommand| not composed| queue full)' "$D/milter/milter.log" |
    sed 's/^/    /' | head -5 || true
note "fo=1 (demo/zone.txt): a report whenever SPF or DKIM gave no aligned pass: forwarded copies too (DMARC pass on DKIM alone)"
note "sent by dmarc-milter (FailureReports; ReportCommand: Postfix's sendmail -t -odq); log: build/demo-live/milter/milter.log"

# ---- the three days before: OpenDMARC history from the server this one replaced
say "history: three earlier days written by the OpenDMARC server this milter replaced"
# Generated from today's records in the milter's HistoryFile (OpenDMARC's format): the same
# senders and results, new job ids, the old host's name, and times on each earlier day. This is
# the file a migrating postmaster imports (README: Migrating from OpenDMARC).
perl -e '
    my ($in, $midnight) = @ARGV;
    local $/ = undef;
    open my $fh, "<", $in or die "$in: $!";
    my @records = grep { /\S/ } split /^(?=job )/m, <$fh>;
    my $n = 0;
    for my $day (3, 2, 1) {
        my $begin = $midnight - $day * 86400;
        for my $copy (1 .. 2 + $day) {          # more traffic on older days: a visible trend
            for my $r (@records) {
                my $t = $begin + 6 * 3600 + ($n * 977) % (14 * 3600);
                my $rec = $r;
                $rec =~ s/^job .*/sprintf("job 4Q%X%05X", $day, $n)/me;
                $rec =~ s/^reporter .*/reporter mx-old.demo.example/m;
                $rec =~ s/^received .*/received $t/m;
                print $rec;
                $n++;
            }
        }
    }' "$D/milter/history.dat" "$midnight" >"$D/history/opendmarc.dat"
"$bin/dmarc-collector" history --input "$D/history/opendmarc.dat" \
    --database "sqlite://$D/dmarc.db" | sed 's/^/    /'
say "dmarc-collector: the milter's spool into the store"
# The milter commits its spool in batches, up to 50 ms after a message (io/spool.hpp): wait until
# every message it logged a verdict for is in the spool, as a cron run minutes later would find it.
evaluated=$(grep -cE '^[0-9A-Za-z]+: [^ ]+ (pass|fail|none|temperror|permerror)$' "$D/milter/milter.log" || true)
for _ in $(seq 100); do
    spooled=$(perl -MDBI -e 'print DBI->connect("dbi:SQLite:dbname=$ARGV[0]", "", "",
        {RaiseError => 1})->selectrow_array("SELECT count(*) FROM spool_rows")' \
        "$D/milter/spool.db" 2>/dev/null || echo 0)
    [ "$spooled" -ge "$evaluated" ] && break
    sleep 0.05
done
"$bin/dmarc-collector" spool --database "sqlite://$D/dmarc.db" "$D/milter/spool.db" | sed 's/^/    /'

# ---- reports
if [ -x "$bin/dmarc-reporter" ]; then
    # As the daily timer would run tomorrow at 00:20 UTC: every finished UTC day, today included.
    now=$((midnight + 86400 + 1200))
    say "dmarc-reporter (as at $(date -u -d "@$now" '+%F %H:%M') UTC): reports through Postfix to the rua mailboxes"
    # Settings as in /etc/dmarc/dmarc-reporter.conf (reporter/README.md), with the demo's DNS
    # for verifying the external rua destination (RFC 7489 §7.1).
    cat >"$D/dmarc-reporter.conf" <<EOF
Database sqlite://$D/dmarc.db
ReportEmail dmarc-reports@demo.example
ReportOrg Demo Mail
SmtpServer 127.0.0.1
SmtpPort $smtp_port
Nameservers 127.0.0.1@$dns_port
OutputDir $D/reports
EOF
    mkdir -p "$D/reports"
    "$bin/dmarc-reporter" --config "$D/dmarc-reporter.conf" --database "sqlite://$D/dmarc.db" \
        --smtp-server 127.0.0.1 --smtp-port "$smtp_port" --report-email dmarc-reports@demo.example \
        --report-org "Demo Mail" --keepfiles --now "$now" 2>&1 | sed 's/^/    /' ||
        say "dmarc-reporter failed (above)"
    sleep 1
    note "reports delivered:"
    (cd "$D/mail" && find . -path '*/new/*' -type f ! -path './demo.example/*') |
        awk -F/ '{print "build/demo-live/mail/" $2 "/" $3 "/"}' | sort | uniq -c | sed 's/^/     /'
else
    say "dmarc-reporter is not built on this branch yet: no reports sent (the call is in demo/run-demo.sh)"
fi

# ---- dashboard
say "dmarc-web"
password=$("$bin/dmarc-web" user add admin --role admin --store "$D/dmarc.db" --generate-password 2>/dev/null)
"$bin/dmarc-web" --store "$D/dmarc.db" --listen "127.0.0.1:$web_port" >"$D/web.out" 2>"$D/web.log" &
pids+=($!)
wait_port "$web_port" dmarc-web
exec 3<>"/dev/tcp/127.0.0.1/$web_port"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
health=$(cat <&3)
exec 3<&-
grep -q '^ok' <<<"${health##*$'\r\n\r\n'}" || { echo "dmarc-web: /healthz said: $health" >&2; exit 1; }
cat <<EOF

  Dashboard:  http://127.0.0.1:$web_port/   (user admin, one-time password: $password)
  Mailboxes:  $D/mail/   (ana@demo.example, and the report addresses)
  Logs:       $D/postfix/maillog, $D/milter/milter.log
  Store:      $D/dmarc.db

  Ctrl-C stops unbound, OpenDKIM, dmarc-milter, Postfix and dmarc-web.
EOF
if [ -n "${DEMO_EXIT:-}" ]; then exit 0; fi  # tests: stop right away
wait "${pids[-1]}"
