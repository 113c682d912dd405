// The SQL migrations of schema/ (spool and store, SQLite and PostgreSQL), embedded at build time
// by schema/embed.cmake. Each program applies them in version order and refuses a database
// whose schema is newer than the newest migration it knows.
#pragma once

#include <span>
#include <string_view>

namespace dmarc::io::schema {

struct Migration {
    std::string_view backend;    // "sqlite" | "postgres"
    std::string_view component;  // "spool" | "store"
    int version;                 // NNNN of the file name, from 1
    std::string_view name;
    std::string_view sql;
};

// Every migration, sorted by backend, component, version.
std::span<const Migration> all_migrations() noexcept;

}  // namespace dmarc::io::schema
