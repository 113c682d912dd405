// Moving history into the store (issue 5): OpenDMARC HistoryFile text streamed from a FILE, and
// spool files resumed from their watermark. Batches are committed with the store's transaction;
// spool rows are deleted only after the store committed them, so a kill at any point followed by a
// rerun gives the store an uninterrupted run gives. A reader thread parses (or reads the spool)
// while the calling thread writes the store; every callback runs on the calling thread, in input
// order.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "core/history_text.hpp"
#include "core/result.hpp"
#include "io/store.hpp"

namespace dmarc::io {

struct ImportProgress {
    std::uint64_t rows = 0;  // records or spool rows handed to the store
    std::uint64_t inserted = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t bytes = 0;       // history input read so far
    std::uint64_t spool_rows = 0;  // spool: rows waiting when the import started (for an ETA)
};

struct HistoryImportOptions {
    std::size_t batch_rows = 50000;
    std::function<void(const HistoryIssue&)> on_issue;       // every problem, with its line
    std::function<void(const ImportProgress&)> on_progress;  // after each committed batch
};

struct HistoryImportResult {
    ImportProgress totals;
    std::size_t lines = 0;
    std::size_t issues = 0;
    std::size_t records_dropped = 0;
};

// Reads `input` to its end. Problems in the text are reported and counted, never fatal; a store
// or read error is returned (everything committed before it stays).
Result<HistoryImportResult> import_history(Store& store, std::FILE* input,
                                           const HistoryImportOptions& options);

struct SpoolImportOptions {
    std::size_t batch_rows = 50000;
    bool delete_imported = true;  // false: leave rows in the spool (the watermark still moves)
    std::function<void(const Error&)> on_bad_row;
    std::function<void(const ImportProgress&)> on_progress;
};

struct SpoolImportResult {
    ImportProgress totals;
    std::uint64_t bad_rows = 0;
    std::int64_t deleted = 0;
    std::int64_t watermark = 0;
};

Result<SpoolImportResult> import_spool(Store& store, const std::string& path,
                                       const SpoolImportOptions& options);

}  // namespace dmarc::io
