// The milter's local history spool (design.md §7, issue 4 item 4): a SQLite file in WAL mode fed by
// one background thread from a bounded queue, committed in batches. Mail never waits on history:
// a full queue drops rows, a failing disk loses the batch; both are counted and reported. The
// collector reads rows after a watermark and deletes them once the store has committed them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/spool_row.hpp"
#include "io/sqlite.hpp"

namespace dmarc::io {

struct SpoolCounters {
    std::uint64_t submitted = 0;     // accepted into the queue
    std::uint64_t written = 0;       // committed to the spool file
    std::uint64_t dropped_full = 0;  // refused because the queue was full
    std::uint64_t lost_failed = 0;   // in a batch the spool could not commit
    std::uint64_t failed_batches = 0;
};

struct SpoolWriterOptions {
    std::string path;
    std::size_t queue_capacity = 65536;
    std::size_t batch_rows = 1024;  // commit when this many rows wait...
    // ...or this long after the first one. 50 ms: a commit per 10 ms cost a WAL write, file
    // locks and BEGIN/COMMIT for every 3 messages at Postfix's pace; a crash (SIGKILL) loses at
    // most this much of history, never mail.
    std::chrono::milliseconds flush_interval{50};
    // Short: a locked spool must cost one lost batch, not a queue that fills while waiting.
    std::chrono::milliseconds busy_timeout{100};
    // Cap on the spool file, so that an absent collector cannot fill the disk (0: no cap).
    std::uint64_t max_bytes = 0;
    // Called on the writer thread for every failed batch (for the log): the error and the rows
    // lost. Must not throw.
    std::function<void(const Error&, std::uint64_t rows_lost)> on_error;
};

class SpoolWriter {
  public:
    // Creates or opens the spool and applies its migrations (start-up: errors here are fatal to
    // the caller's start, not to mail flow later).
    static Result<std::unique_ptr<SpoolWriter>> open(SpoolWriterOptions options);
    ~SpoolWriter();  // commits what is queued, then stops the thread
    SpoolWriter(const SpoolWriter&) = delete;
    SpoolWriter& operator=(const SpoolWriter&) = delete;

    // Never blocks on I/O and never throws: false when the queue is full (counted as dropped).
    bool submit(SpoolRow row) noexcept;
    // Waits until every row submitted before the call is committed or counted lost (SIGTERM,
    // tests).
    void flush();
    // Closes and reopens the file before the next batch (SIGHUP, a rotated or repaired spool).
    void reopen() noexcept;

    SpoolCounters counters() const noexcept;

  private:
    explicit SpoolWriter(SpoolWriterOptions options);
    void run();
    void write_batch(std::vector<SpoolRow>& batch);
    Result<void> ensure_open();

    SpoolWriterOptions options_;
    std::optional<sqlite::Db> db_;
    sqlite::Statement insert_;       // one row
    sqlite::Statement insert_many_;  // kRowsPerInsert rows (spool.cpp)
    std::chrono::steady_clock::time_point next_open_attempt_{};

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable flushed_;
    std::vector<SpoolRow> queue_;
    bool stop_ = false;
    bool reopen_ = false;
    bool writer_idle_ = false;  // the writer waits for a first row: the next submit wakes it
    std::uint64_t flush_requested_ = 0;  // generation numbers under mutex_
    std::uint64_t flush_done_ = 0;

    std::atomic<std::uint64_t> submitted_{0}, written_{0}, dropped_full_{0}, lost_failed_{0},
        failed_batches_{0};
    std::thread thread_;
};

// Creates the spool file (or opens it) and applies the spool migrations; gives its spool id.
Result<std::string> init_spool(sqlite::Db& db);

struct SpoolEntry {
    std::int64_t id = 0;
    SpoolRow row;
};

// The collector's side: rows in id order after a watermark, then deletion of what the store has.
class SpoolReader {
  public:
    static Result<SpoolReader> open(const std::string& path);

    // The random id created with the spool file: a recreated spool is a new source.
    const std::string& spool_id() const noexcept { return spool_id_; }

    // Up to max_rows rows with id > after, in id order. A row that cannot be decoded (written by
    // something else, or corrupt) is reported in bad_rows with its id and skipped, so one bad row
    // cannot stall the collector; last_id covers it too.
    struct Batch {
        std::vector<SpoolEntry> entries;
        std::vector<Error> bad_rows;
        std::int64_t last_id = 0;  // the highest id read, good or bad; `after` when none
    };
    Result<Batch> read_after(std::int64_t after, std::size_t max_rows);
    // Deletes every row with id <= last; returns how many.
    Result<std::int64_t> delete_through(std::int64_t last);
    Result<std::int64_t> count();
    // Rows with id > after: what an import from that watermark has ahead of it.
    Result<std::int64_t> count_after(std::int64_t after);

  private:
    SpoolReader(sqlite::Db db, std::string spool_id)
        : db_(std::move(db)), spool_id_(std::move(spool_id)) {}
    sqlite::Db db_;
    std::string spool_id_;
    sqlite::Statement select_;
};

}  // namespace dmarc::io
