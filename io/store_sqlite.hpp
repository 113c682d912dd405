// The SQLite implementation of Store (store.hpp): one connection, prepared statements, in-memory
// caches of interned ids (domains, reporters, addresses, policy records) that are dropped when a
// transaction fails, and one transaction per import call.
#pragma once

#include <memory>
#include <string>

#include "io/store.hpp"

namespace dmarc::io {

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace dmarc::io
