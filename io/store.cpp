// open_store: picks the Store implementation from a Database URI (store.hpp).
#include "io/store.hpp"

#include "io/store_postgres.hpp"
#include "io/store_sqlite.hpp"

namespace dmarc::io {

Result<std::unique_ptr<Store>> open_store(std::string_view uri) {
    constexpr std::string_view kSqliteAbsolute = "sqlite://";
    constexpr std::string_view kSqlite = "sqlite:";
    if (uri.starts_with(kSqliteAbsolute)) {
        // sqlite:///var/lib/dmarc/dmarc.db -> /var/lib/dmarc/dmarc.db
        std::string_view path = uri.substr(kSqliteAbsolute.size());
        if (!path.starts_with('/')) {
            return make_error(Errc::invalid_value,
                              std::string(uri) + ": expected sqlite:///absolute/path");
        }
        return open_sqlite_store(std::string(path));
    }
    if (uri.starts_with(kSqlite)) return open_sqlite_store(std::string(uri.substr(kSqlite.size())));
    if (uri.starts_with("postgresql:") || uri.starts_with("postgres:")) {
        return open_postgres_store(std::string(uri));
    }
    if (uri.find("://") != std::string_view::npos) {
        return make_error(Errc::invalid_value, std::string(uri) + ": unknown database scheme");
    }
    return open_sqlite_store(std::string(uri));
}

}  // namespace dmarc::io
