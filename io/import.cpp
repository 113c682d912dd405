// History and spool import loops (see import.hpp): a reader thread parses the next batch while
// the calling thread imports the current one into the store.
#include "io/import.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/history_row.hpp"
#include "core/limits.hpp"
#include "io/spool.hpp"
#include "io/thread_name.hpp"

namespace dmarc::io {
namespace {

void add(ImportProgress& totals, const ImportResult& r, std::size_t rows) {
    totals.rows += rows;
    totals.inserted += r.inserted;
    totals.duplicates += r.duplicates;
}

// A bounded hand-off from one producer thread (reading and parsing) to the importing thread, so
// that parsing the next batch overlaps the store's work on this one. At most `capacity` batches
// wait: memory stays bounded by a few batches whatever the input size.
template <class Chunk>
class ChunkQueue {
  public:
    explicit ChunkQueue(std::size_t capacity) : capacity_(capacity) {}

    // false: the consumer has gone (store error); the producer should stop.
    bool push(Chunk chunk) {
        std::vector<Chunk> spent;
        {
            std::unique_lock lock(mutex_);
            not_full_.wait(lock, [&] { return chunks_.size() < capacity_ || abandoned_; });
            if (abandoned_) return false;
            chunks_.push_back(std::move(chunk));
            spent.swap(spent_);
            not_empty_.notify_one();
        }
        return true;  // `spent` is freed here, on the producer's thread
    }
    // The consumer hands a used chunk back: a million-row import frees tens of millions of
    // strings, and freeing them where they were allocated keeps that work (and glibc's
    // cross-thread free path) off the importing thread.
    void give_back(Chunk chunk) {
        std::lock_guard lock(mutex_);
        if (!abandoned_) spent_.push_back(std::move(chunk));
    }
    // nullopt: the producer has finished and everything was taken.
    std::optional<Chunk> pop() {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [&] { return !chunks_.empty() || finished_; });
        if (chunks_.empty()) return std::nullopt;
        Chunk chunk = std::move(chunks_.front());
        chunks_.pop_front();
        not_full_.notify_one();
        return chunk;
    }
    void finish() {
        std::lock_guard lock(mutex_);
        finished_ = true;
        not_empty_.notify_all();
    }
    void abandon() {
        std::lock_guard lock(mutex_);
        abandoned_ = true;
        chunks_.clear();
        spent_.clear();
        not_full_.notify_all();
    }

  private:
    std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable not_full_, not_empty_;
    std::deque<Chunk> chunks_;
    std::vector<Chunk> spent_;
    bool finished_ = false, abandoned_ = false;
};

// Runs `produce(queue)` on its own thread for as long as the caller consumes; the destructor
// stops and joins it on every path out of the caller (an early error return included). The join
// waits for the producer's current read to return: after a store error on a history import from
// a pipe that stays open, the collector exits when the next line or end of input arrives.
template <class Chunk>
class Producer {
  public:
    template <class Fn>
    Producer(std::size_t capacity, Fn&& produce) : queue_(capacity) {
        thread_ = std::thread([this, fn = std::forward<Fn>(produce)]() mutable {
            name_this_thread("dmarc-import");
            fn(queue_);
            queue_.finish();
        });
    }
    ~Producer() { stop(); }
    // Ends the producer early (after an error) and waits for it.
    void stop() {
        queue_.abandon();
        if (thread_.joinable()) thread_.join();
    }
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;
    std::optional<Chunk> pop() { return queue_.pop(); }
    void give_back(Chunk chunk) { queue_.give_back(std::move(chunk)); }

  private:
    ChunkQueue<Chunk> queue_;
    std::thread thread_;
};

// Store::begin_bulk() for one import, and end_bulk() on every way out of it: on success its
// error is the import's (end()), on an earlier error it is only attempted (the store rebuilds
// what it deferred when next opened anyway).
class BulkScope {
  public:
    explicit BulkScope(Store& store) : store_(store) {}
    BulkScope(const BulkScope&) = delete;
    BulkScope& operator=(const BulkScope&) = delete;
    ~BulkScope() {
        if (active_) (void)store_.end_bulk();
    }
    Result<void> begin(std::uint64_t expected_rows) {
        active_ = true;
        return store_.begin_bulk(expected_rows);
    }
    Result<void> end() {
        active_ = false;
        return store_.end_bulk();
    }

  private:
    Store& store_;
    bool active_ = false;
};

// Rows a history file will bring, for begin_bulk(): its size over a typical record's (OpenDMARC
// writes 250-350 bytes a record); 0 when the input is not a regular file (a pipe).
std::uint64_t expected_history_records(std::FILE* input) {
    constexpr std::uint64_t kBytesPerRecord = 300;
    struct stat st {};
    const int fd = ::fileno(input);
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    const long at = std::ftell(input);
    const auto left = static_cast<std::uint64_t>(st.st_size) -
                      std::min(static_cast<std::uint64_t>(st.st_size),
                               static_cast<std::uint64_t>(std::max(at, 0L)));
    return left / kBytesPerRecord;
}

// One batch of parsed history: its records, the problems found in its lines (reported by the
// importing thread, in order, before the batch is committed) and where the reader stands.
struct HistoryChunk {
    std::vector<ImportItem> items;
    std::vector<HistoryIssue> issues;
    std::uint64_t bytes = 0;  // input read so far
    std::optional<Error> error;
    bool last = false;
    std::size_t lines = 0, records_dropped = 0;
};

void read_history(std::FILE* input, std::size_t batch_rows, ChunkQueue<HistoryChunk>& queue) {
    HistoryReader reader;
    std::size_t issues_seen = 0;
    HistoryChunk chunk;
    chunk.items.reserve(batch_rows);
    std::uint64_t bytes = 0;

    auto collect_issues = [&] {
        const auto& issues = reader.issues();
        for (; issues_seen < issues.size(); ++issues_seen) {
            chunk.issues.push_back(issues[issues_seen]);
        }
    };
    auto take = [&](std::optional<HistoryRecord>&& record) {
        if (!record) return;
        std::string arc_policy;
        if (record->arc_policy) {
            arc_policy = std::to_string(*record->arc_policy);
            if (!record->arc_policy_json.empty()) arc_policy += " " + record->arc_policy_json;
        }
        chunk.items.push_back(
            ImportItem{to_spool_row(*record), MessageOrigin::history, std::move(arc_policy)});
    };
    auto hand_over = [&]() -> bool {
        chunk.bytes = bytes;
        bool ok = queue.push(std::move(chunk));
        chunk = HistoryChunk{};
        chunk.items.reserve(batch_rows);
        return ok;
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
        collect_issues();
    };
    for (;;) {
        std::size_t n = std::fread(buffer.data(), 1, buffer.size(), input);
        bytes += n;
        std::string_view chunk_text(buffer.data(), n);
        while (!chunk_text.empty()) {
            auto newline = chunk_text.find('\n');
            std::string_view piece = chunk_text.substr(0, newline);
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
            chunk_text.remove_prefix(newline + 1);
            if (chunk.items.size() >= batch_rows && !hand_over()) return;
        }
        if (n < buffer.size()) {
            if (std::ferror(input)) {
                chunk.error = Error{Errc::io, std::string("read error: ") + std::strerror(errno)};
                (void)hand_over();
                return;
            }
            break;
        }
    }
    if (!pending.empty()) feed(pending);
    take(reader.finish());
    collect_issues();
    chunk.last = true;
    chunk.lines = reader.line_number();
    chunk.records_dropped = reader.records_dropped();
    (void)hand_over();
}

}  // namespace

Result<HistoryImportResult> import_history(Store& store, std::FILE* input,
                                           const HistoryImportOptions& options) {
    HistoryImportResult result;
    const std::size_t batch_rows = std::max<std::size_t>(options.batch_rows, 1);
    BulkScope bulk(store);
    if (auto r = bulk.begin(expected_history_records(input)); !r) return tl::unexpected(r.error());
    // Two batches may wait while the store commits a third: enough to keep both threads busy.
    Producer<HistoryChunk> producer(
        2, [&](ChunkQueue<HistoryChunk>& queue) { read_history(input, batch_rows, queue); });
    while (auto chunk = producer.pop()) {
        for (const auto& issue : chunk->issues) {
            ++result.issues;
            if (options.on_issue) options.on_issue(issue);
        }
        result.totals.bytes = chunk->bytes;
        if (!chunk->items.empty()) {
            auto r = store.import(chunk->items, std::nullopt);
            if (!r) return tl::unexpected(r.error());
            add(result.totals, *r, chunk->items.size());
            if (options.on_progress) options.on_progress(result.totals);
        }
        if (chunk->error) return tl::unexpected(*chunk->error);
        if (chunk->last) {
            result.lines = chunk->lines;
            result.records_dropped = chunk->records_dropped;
        }
        producer.give_back(std::move(*chunk));
    }
    if (auto r = bulk.end(); !r) return tl::unexpected(r.error());
    return result;
}

namespace {

struct SpoolChunk {
    std::vector<ImportItem> items;
    std::vector<Error> bad_rows;
    std::int64_t last_id = 0;
    std::optional<Error> error;
};

}  // namespace

Result<SpoolImportResult> import_spool(Store& store, const std::string& path,
                                       const SpoolImportOptions& options) {
    auto reader = SpoolReader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    const std::string source = "spool:" + reader->spool_id();
    auto mark = store.watermark(source);
    if (!mark) return tl::unexpected(mark.error());
    SpoolImportResult result;
    result.watermark = mark->value_or(0);
    // Rows a previous run committed but was killed before deleting (and maybe before syncing:
    // sync first, so that the spool forgets nothing a power cut could take from the store).
    if (options.delete_imported && result.watermark > 0) {
        if (auto synced = store.sync(); !synced) return tl::unexpected(synced.error());
        auto deleted = reader->delete_through(result.watermark);
        if (!deleted) return tl::unexpected(deleted.error());
        result.deleted += *deleted;
    }
    auto waiting = reader->count_after(result.watermark);
    if (!waiting) return tl::unexpected(waiting.error());
    result.totals.spool_rows = static_cast<std::uint64_t>(*waiting);
    BulkScope bulk(store);
    if (auto r = bulk.begin(result.totals.spool_rows); !r) return tl::unexpected(r.error());
    // The producer reads and decodes on its own connection (SQLite connections here are
    // single-threaded) while this thread imports. It also deletes from the spool, before each
    // read, the rows up to `committed`: the watermark this thread publishes only after the store
    // committed it, so a spool row is never forgotten before the store has it. Batches are
    // committed without waiting for the disk (Watermark::sync false); the producer calls
    // Store::sync() before each delete instead, so the fsync runs on its thread, not on this one.
    auto producer_reader = SpoolReader::open(path);
    if (!producer_reader) return tl::unexpected(producer_reader.error());
    const std::size_t batch_rows = std::max<std::size_t>(options.batch_rows, 1);
    const std::int64_t start = result.watermark;
    std::atomic<std::int64_t> committed{start};
    std::int64_t deleted_through = start, deleted_by_producer = 0;  // producer's until it ends
    Producer<SpoolChunk> producer(2, [&](ChunkQueue<SpoolChunk>& queue) {
        std::int64_t after = start;
        for (;;) {
            SpoolChunk chunk;
            const std::int64_t through = committed.load(std::memory_order_acquire);
            if (options.delete_imported && through > deleted_through) {
                if (auto synced = store.sync(); !synced) {
                    chunk.error = synced.error();
                    (void)queue.push(std::move(chunk));
                    return;
                }
                auto deleted = producer_reader->delete_through(through);
                if (!deleted) {
                    chunk.error = deleted.error();
                    (void)queue.push(std::move(chunk));
                    return;
                }
                deleted_by_producer += *deleted;
                deleted_through = through;
            }
            auto batch = producer_reader->read_after(after, batch_rows);
            if (!batch) {
                chunk.error = batch.error();
                (void)queue.push(std::move(chunk));
                return;
            }
            if (batch->last_id == after) return;
            after = batch->last_id;
            chunk.last_id = batch->last_id;
            chunk.bad_rows = std::move(batch->bad_rows);
            chunk.items.reserve(batch->entries.size());
            for (auto& entry : batch->entries) {
                chunk.items.push_back(ImportItem{std::move(entry.row), MessageOrigin::spool, {}});
            }
            if (!queue.push(std::move(chunk))) return;
        }
    });
    // A failed run still leaves every row in one place: what the store committed is synced and
    // deleted from the spool before the error is returned (if that fails too, the rerun does it:
    // the watermark skips those rows).
    auto give_up = [&](Error error) -> Result<SpoolImportResult> {
        producer.stop();  // its counters and deleted_through are ours from here
        if (options.delete_imported && result.watermark > deleted_through && store.sync()) {
            (void)reader->delete_through(result.watermark);
        }
        return tl::unexpected(std::move(error));
    };
    while (auto chunk = producer.pop()) {
        if (chunk->error) return give_up(*chunk->error);
        for (auto& bad : chunk->bad_rows) {
            ++result.bad_rows;
            if (options.on_bad_row) options.on_bad_row(bad);
        }
        auto r = store.import(chunk->items, Watermark{source, chunk->last_id, false});
        if (!r) return give_up(r.error());
        add(result.totals, *r, chunk->items.size());
        result.watermark = chunk->last_id;
        committed.store(result.watermark, std::memory_order_release);
        if (options.on_progress) options.on_progress(result.totals);
        producer.give_back(std::move(*chunk));
    }
    // The producer has returned (pop() gave nullopt only after it finished): its counters are
    // ours now. What it had no further read to delete before is deleted here.
    result.deleted += deleted_by_producer;
    // The store has committed everything: deleting the last rows from the spool (up to three
    // batches; its own file and connection, which this thread no longer uses) runs beside the
    // store's index rebuild instead of before it.
    std::optional<Result<std::int64_t>> deleted;
    std::thread tail;
    if (options.delete_imported && result.watermark > deleted_through) {
        tail = std::thread([&] {
            name_this_thread("dmarc-spool-del");
            if (auto synced = store.sync(); !synced) {
                deleted = tl::unexpected(synced.error());
                return;
            }
            deleted = reader->delete_through(result.watermark);
        });
    }
    auto ended = bulk.end();
    if (tail.joinable()) tail.join();
    if (deleted) {
        if (!*deleted) return tl::unexpected(deleted->error());
        result.deleted += **deleted;
    }
    if (!ended) return tl::unexpected(ended.error());
    return result;
}

}  // namespace dmarc::io
