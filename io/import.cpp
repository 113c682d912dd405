// History and spool import loops (see import.hpp).
#include "io/import.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/history_row.hpp"
#include "core/limits.hpp"
#include "io/spool.hpp"

namespace dmarc::io {
namespace {

void add(ImportProgress& totals, const ImportResult& r, std::size_t rows) {
    totals.rows += rows;
    totals.inserted += r.inserted;
    totals.duplicates += r.duplicates;
}

}  // namespace

Result<HistoryImportResult> import_history(Store& store, std::FILE* input,
                                           const HistoryImportOptions& options) {
    HistoryImportResult result;
    HistoryReader reader;
    std::size_t issues_seen = 0;
    std::vector<ImportItem> batch;
    batch.reserve(options.batch_rows);

    auto report_issues = [&] {
        const auto& issues = reader.issues();
        for (; issues_seen < issues.size(); ++issues_seen) {
            if (options.on_issue) options.on_issue(issues[issues_seen]);
        }
    };
    auto take = [&](std::optional<HistoryRecord>&& record) {
        if (!record) return;
        std::string arc_policy;
        if (record->arc_policy) {
            arc_policy = std::to_string(*record->arc_policy);
            if (!record->arc_policy_json.empty()) arc_policy += " " + record->arc_policy_json;
        }
        ImportItem item{to_spool_row(*record), MessageOrigin::history, std::move(arc_policy)};
        batch.push_back(std::move(item));
    };
    auto commit = [&]() -> Result<void> {
        if (batch.empty()) return {};
        auto r = store.import(batch, std::nullopt);
        if (!r) return tl::unexpected(r.error());
        add(result.totals, *r, batch.size());
        batch.clear();
        if (options.on_progress) options.on_progress(result.totals);
        return {};
    };

    // Lines are bounded: past kMaxHistoryLineBytes the rest of the line is skipped, and the
    // reader sees one byte too many, so it reports the line as over the limit.
    constexpr std::size_t kKeep = limits::kMaxHistoryLineBytes + 1;
    std::vector<char> buffer(1 << 20);
    std::string pending;
    bool overlong = false;
    auto feed = [&](std::string_view line) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        take(reader.feed_line(line));
        report_issues();
    };
    for (;;) {
        std::size_t n = std::fread(buffer.data(), 1, buffer.size(), input);
        result.totals.bytes += n;
        std::string_view chunk(buffer.data(), n);
        while (!chunk.empty()) {
            auto newline = chunk.find('\n');
            std::string_view piece = chunk.substr(0, newline);
            if (!overlong) {
                if (pending.empty() && newline != std::string_view::npos) {
                    feed(piece);  // the common case: no copy
                } else {
                    pending.append(piece.substr(0, kKeep - std::min(kKeep, pending.size())));
                    if (pending.size() >= kKeep) overlong = true;
                }
            }
            if (newline == std::string_view::npos) break;
            if (!pending.empty() || overlong) {
                feed(pending);
                pending.clear();
                overlong = false;
            }
            chunk.remove_prefix(newline + 1);
            if (batch.size() >= options.batch_rows) {
                if (auto r = commit(); !r) return tl::unexpected(r.error());
            }
        }
        if (n < buffer.size()) {
            if (std::ferror(input)) {
                return make_error(Errc::io, std::string("read error: ") + std::strerror(errno));
            }
            break;
        }
    }
    if (!pending.empty()) feed(pending);
    take(reader.finish());
    report_issues();
    if (auto r = commit(); !r) return tl::unexpected(r.error());
    result.lines = reader.line_number();
    result.issues = issues_seen;
    result.records_dropped = reader.records_dropped();
    return result;
}

Result<SpoolImportResult> import_spool(Store& store, const std::string& path,
                                       const SpoolImportOptions& options) {
    auto reader = SpoolReader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    const std::string source = "spool:" + reader->spool_id();
    auto mark = store.watermark(source);
    if (!mark) return tl::unexpected(mark.error());
    SpoolImportResult result;
    result.watermark = mark->value_or(0);
    // Rows a previous run committed but was killed before deleting.
    if (options.delete_imported && result.watermark > 0) {
        auto deleted = reader->delete_through(result.watermark);
        if (!deleted) return tl::unexpected(deleted.error());
        result.deleted += *deleted;
    }
    std::vector<ImportItem> items;
    for (;;) {
        auto batch = reader->read_after(result.watermark, options.batch_rows);
        if (!batch) return tl::unexpected(batch.error());
        if (batch->last_id == result.watermark) break;
        for (auto& bad : batch->bad_rows) {
            ++result.bad_rows;
            if (options.on_bad_row) options.on_bad_row(bad);
        }
        items.clear();
        items.reserve(batch->entries.size());
        for (auto& entry : batch->entries) {
            items.push_back(ImportItem{std::move(entry.row), MessageOrigin::spool, {}});
        }
        auto r = store.import(items, Watermark{source, batch->last_id});
        if (!r) return tl::unexpected(r.error());
        add(result.totals, *r, items.size());
        result.watermark = batch->last_id;
        // Only now, with the store committed, may the spool forget these rows.
        if (options.delete_imported) {
            auto deleted = reader->delete_through(result.watermark);
            if (!deleted) return tl::unexpected(deleted.error());
            result.deleted += *deleted;
        }
        if (options.on_progress) options.on_progress(result.totals);
    }
    return result;
}

}  // namespace dmarc::io
