// For the tests that run dmarc-collector: a spool filled with the sample rows, and a store's
// snapshot (row counts and content digest), which is how an import is compared with a clean one,
// and a SQLite store's indexes (an import that deferred them must leave those of a clean one).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/spool.hpp"
#include "io/sqlite.hpp"
#include "io/store.hpp"
#include "tests/io/sample_rows.hpp"

namespace dmarc::test {

// Writes sample rows [0, rows) to a new spool at `path`; returns `path`.
inline std::string write_sample_spool(const std::string& path, int rows) {
    io::SpoolWriterOptions options;
    options.path = path;
    options.queue_capacity = static_cast<std::size_t>(rows) + 1;
    auto writer = io::SpoolWriter::open(options);
    EXPECT_TRUE(writer);
    if (!writer) return path;
    for (int i = 0; i < rows; ++i) (*writer)->submit(sample_row(i));
    (*writer)->flush();
    EXPECT_EQ((*writer)->counters().written, static_cast<std::uint64_t>(rows));
    return path;
}

inline std::pair<io::StoreCounts, std::string> store_snapshot(const std::string& uri) {
    auto store = io::open_store(uri);
    EXPECT_TRUE(store) << store.error().message;
    if (!store) return {};
    return {*(*store)->counts(), *(*store)->content_digest()};
}

// The store's indexes as sqlite_master lists them (names and DDL), then the result of SQLite's
// integrity check ("ok" when every index is consistent with its table).
inline std::vector<std::string> sqlite_indexes(const std::string& path) {
    auto db = io::sqlite::Db::open(path);
    EXPECT_TRUE(db);
    if (!db) return {};
    std::vector<std::string> out;
    auto q = db->prepare(
        "SELECT name || ': ' || coalesce(sql, '') FROM sqlite_master WHERE type = 'index' "
        "ORDER BY name");
    EXPECT_TRUE(q);
    while (*q->step()) out.emplace_back(q->column_text(0));
    auto check = db->prepare("PRAGMA integrity_check");
    EXPECT_TRUE(check);
    EXPECT_TRUE(*check->step());
    out.emplace_back(check->column_text(0));
    check->reset();
    return out;
}

}  // namespace dmarc::test
