#!/usr/bin/env bash
# cmake --install into a DESTDIR temp dir (the configured prefix, whose paths the units and the
# sample configuration carry; a package configures -DCMAKE_INSTALL_PREFIX=/usr): checks the tree,
# that the installed sample configuration passes `dmarc-milter -n`, that a second install keeps
# an edited configuration, that every unit is hardened, and `systemd-analyze verify` on the units
# (against the DESTDIR root) where systemd-analyze exists.
set -euo pipefail
build=$1
dest=$(mktemp -d /tmp/dmarc-install-test.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR=$dest cmake --install "$build" >"$dest.log" 2>&1 || { cat "$dest.log"; fail "cmake --install"; }
rm -f "$dest.log"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
# GNUInstallDirs: etc is /etc for the prefix /usr, PREFIX/etc otherwise.
etc=${prefix#/}/etc
[ "$prefix" = /usr ] && etc=etc
p=${prefix#/}

expect=(
    $p/sbin/dmarc-milter $p/sbin/dmarc-collector $p/sbin/dmarc-web
    $p/share/dmarc/schema/sqlite/store_0001_init.sql $p/share/dmarc/schema/sqlite/spool_0001_init.sql
    $p/share/dmarc/schema/postgres/store_0001_init.sql
    $p/share/dmarc/doc/configuration.md $p/share/dmarc/doc/README.md
    $etc/dmarc/dmarc-milter.conf $etc/dmarc/dmarc-web.conf
    $p/lib/sysusers.d/dmarc.conf
    $p/lib/systemd/system/dmarc-milter.service $p/lib/systemd/system/dmarc-web.service
    $p/lib/systemd/system/dmarc-collector.service $p/lib/systemd/system/dmarc-collector.timer
    $p/lib/systemd/system/dmarc-reporter.service $p/lib/systemd/system/dmarc-reporter.timer
)
for f in "${expect[@]}"; do [ -e "$dest/$f" ] || fail "missing $f"; done
[ -n "$(ls "$dest/$p/share/dmarc/web")" ] || fail "no web assets"
for b in dmarc-milter dmarc-collector dmarc-web; do
    [ -x "$dest/$p/sbin/$b" ] || fail "$b not executable"
done
if [ -e "$build/bin/dmarc-reporter" ]; then
    [ -x "$dest/$p/sbin/dmarc-reporter" ] || fail "dmarc-reporter built but not installed"
fi

# The sample configuration is valid as installed.
out=$("$dest/$p/sbin/dmarc-milter" -n -c "$dest/$etc/dmarc/dmarc-milter.conf") ||
    fail "installed dmarc-milter.conf: $out"
grep -q '^configuration OK$' <<<"$out" || fail "dmarc-milter -n said: $out"
# Units point at the installed paths.
grep -qxF "ExecStart=/$p/sbin/dmarc-milter -f -c /$etc/dmarc/dmarc-milter.conf" \
    "$dest/$p/lib/systemd/system/dmarc-milter.service" || fail "milter ExecStart path"

# Every service is hardened and runs as dmarc.
for unit in "$dest/$p"/lib/systemd/system/*.service; do
    for line in User=dmarc NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
        PrivateDevices=yes 'CapabilityBoundingSet=' 'ReadWritePaths=/var/lib/dmarc' \
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
        MemoryDenyWriteExecute=yes; do
        grep -qxF -- "$line" "$unit" || grep -qx -- "$line.*" "$unit" ||
            fail "$(basename "$unit"): no $line"
    done
    ! grep -q '@[A-Z_]*@' "$unit" || fail "$(basename "$unit"): unsubstituted @VAR@"
done
for timer in dmarc-collector dmarc-reporter; do
    grep -q '^OnCalendar=' "$dest/$p/lib/systemd/system/$timer.timer" || fail "$timer.timer"
done

# A second install keeps an edited configuration and puts the new sample beside it.
echo "# edited by the administrator" >>"$dest/$etc/dmarc/dmarc-milter.conf"
DESTDIR=$dest cmake --install "$build" --prefix /usr >/dev/null
grep -q 'edited by the administrator' "$dest/$etc/dmarc/dmarc-milter.conf" ||
    fail "reinstall overwrote the configuration"
[ -e "$dest/$etc/dmarc/dmarc-milter.conf.dist" ] || fail "no .dist sample on reinstall"

if command -v systemd-analyze >/dev/null; then
    # Verify against the DESTDIR root (the programs are there), with the host's own system units
    # and /bin/kill copied in so that only our units can be at fault. Any line naming one of our
    # units fails, warnings included. The user dmarc comes from sysusers.d when a package is
    # installed; verify does not look it up.
    mkdir -p "$dest/usr/lib/systemd" "$dest/bin"
    cp -a /usr/lib/systemd/system "$dest/usr/lib/systemd/" 2>/dev/null || true
    cp /bin/kill "$dest/bin/kill"
    units=("$dest/$p"/lib/systemd/system/dmarc-*.{service,timer})
    out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$dest" --man=no "${units[@]}" 2>&1) || true
    ours=$(grep -E 'dmarc-' <<<"$out" || true)
    if [ ! -e "$build/bin/dmarc-reporter" ]; then
        # Not built on this branch yet: its unit is checked for everything but the binary.
        ours=$(grep -v "dmarc-reporter.service: Command /$p/sbin/dmarc-reporter is not executable" <<<"$ours" || true)
        echo "dmarc-reporter not built: its ExecStart binary is not checked"
    fi
    [ -z "$ours" ] || fail "systemd-analyze verify: $ours"
    echo "systemd-analyze verify: ${#units[@]} units clean"
else
    echo "systemd-analyze not installed: unit verification skipped"
fi
echo "install tree OK: ${#expect[@]} files checked"
