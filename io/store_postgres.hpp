// The PostgreSQL implementation of Store (store.hpp) over libpq, for a fleet of MX hosts sharing
// one store: same tables (schema/postgres/store_*.sql) and semantics as the SQLite store, with
// ON CONFLICT so that several collectors may import at once, and a batch retried on deadlock.
#pragma once

#include <memory>
#include <string>

#include "io/store.hpp"

namespace dmarc::io {

// conninfo: a libpq URI ("postgresql://user@host:port/db") or key=value string.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo);

}  // namespace dmarc::io
