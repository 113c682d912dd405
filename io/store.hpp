// The store (design.md §7, issue 5): normalised per-message history from every MX host, read by
// the reporter and the dashboard. One interface, two implementations: SQLite (store_sqlite) and
// PostgreSQL over libpq (store_postgres), run through the same test-suite. Imports are idempotent
// (UNIQUE reporter, job id, time) and transactional: a batch and the watermark that covers it
// commit together, so a kill at any moment followed by a rerun yields the store of an uninterrupted
// run.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/spool_row.hpp"

namespace dmarc::io {

enum class MessageOrigin : std::uint8_t { spool, history };

struct ImportItem {
    SpoolRow row;
    MessageOrigin origin = MessageOrigin::spool;
    std::string arc_policy;  // OpenDMARC history `arc_policy` value verbatim (`N json:[...]`)
};

// Where an importer stands in one source (a spool file by its spool id): the last row committed.
// sync: the batch's commit is on disk (survives a power cut) when import() returns. false: it is
// committed (survives a kill of the process) but may still be in the OS only, until the next
// Store::sync(); for a caller that syncs on another thread before it acts on the commit.
struct Watermark {
    std::string source;
    std::int64_t value = 0;
    bool sync = true;
};

struct ImportResult {
    std::uint64_t inserted = 0;
    std::uint64_t duplicates = 0;  // already in the store: skipped
};

struct StoreCounts {
    std::int64_t messages = 0, dkim_results = 0, domains = 0, reporters = 0, ip_addresses = 0,
                 policy_records = 0, reports = 0;
    friend bool operator==(const StoreCounts&, const StoreCounts&) = default;
};

struct ExpireResult {
    std::int64_t messages_deleted = 0;
    std::int64_t messages_kept_unreported = 0;  // older, but an unsent report still needs them
    std::int64_t reports_deleted = 0;
};

class Store {
  public:
    virtual ~Store() = default;

    // Inserts the rows not yet present, in one transaction together with the watermark (if any).
    // Domains become lower-case A-labels, IP addresses their canonical text.
    virtual Result<ImportResult> import(std::span<const ImportItem> items,
                                        const std::optional<Watermark>& watermark) = 0;
    virtual Result<std::optional<std::int64_t>> watermark(std::string_view source) = 0;
    // Puts every import committed before the call on disk. Safe to call from another thread while
    // import() runs on this one (it touches no connection state). The default does nothing: a
    // store whose commits are durable when they return (PostgreSQL).
    virtual Result<void> sync() { return {}; }

    // Around an import expected to bring `expected_rows` messages (io/import): a store may
    // stop maintaining secondary indexes that it rebuilds faster at end_bulk() than it updates
    // row by row (SQLite, into a table holding fewer rows than are coming). Nothing a reader
    // gets changes, only how fast; an import killed in between leaves them to be rebuilt when
    // the store is next opened. The defaults do nothing (PostgreSQL).
    virtual Result<void> begin_bulk(std::uint64_t expected_rows) {
        (void)expected_rows;
        return {};
    }
    virtual Result<void> end_bulk() { return {}; }

    // Deletes messages received before `before` (epoch seconds) except those an unsent report
    // still needs (not yet in a report, not a report themselves, under a record with rua), and
    // reports whose period ended before it and that have no delivery still pending or retrying.
    virtual Result<ExpireResult> expire(std::int64_t before) = 0;

    virtual Result<StoreCounts> counts() = 0;
    // A digest of every message and DKIM result with ids resolved to names, in a stable order:
    // equal digests mean equal content, whatever the insertion order or row ids.
    virtual Result<std::string> content_digest() = 0;
};

// "sqlite:///absolute/path.db" or "sqlite:relative.db" (a bare path is taken as SQLite too), or
// a libpq URI "postgresql://user@host:port/db". Applies the store migrations.
Result<std::unique_ptr<Store>> open_store(std::string_view uri);

}  // namespace dmarc::io
