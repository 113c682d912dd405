#!/usr/bin/env bash
# Fails when core/ includes an I/O header (design §2: core is pure). First proves that the check
# itself catches a known-bad sample, so this test cannot pass by matching nothing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
core=${1:?usage: core_includes.sh CORE_DIR}
pattern='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](sys/socket\.h|netinet/[^>"]*|arpa/[^>"]*|netdb\.h|sys/un\.h|unistd\.h|fcntl\.h|sys/stat\.h|stdio\.h|cstdio|dirent\.h|filesystem|fstream|iostream|sqlite3\.h|libpq-fe\.h|curl/[^>"]*|libmilter/[^>"]*|boost/asio[^>"]*|boost/beast[^>"]*|unbound\.h|syslog\.h|thread|random|ctime|time\.h|cstdlib)[>"]'
if ! grep -Eq "$pattern" "$here/forbidden_sample.txt"; then
    echo "lint self-check failed: the pattern no longer matches forbidden_sample.txt" >&2
    exit 2
fi
hits=$(grep -EnH "$pattern" "$core"/*.hpp "$core"/*.cpp 2>/dev/null)
if [ -n "$hits" ]; then
    echo "core/ must not include I/O, clock or randomness headers:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "core/ is pure: $(ls "$core"/*.hpp "$core"/*.cpp | wc -l) files checked"
