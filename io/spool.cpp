// The history spool: a writer thread draining a bounded queue into SQLite in batches, and the
// collector's reader (see spool.hpp). Column layout: schema/sqlite/spool_0001_init.sql, plus
// record_ri (spool_0002).
#include "io/spool.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <random>

#include "core/text.hpp"
#include "io/thread_name.hpp"

namespace dmarc::io {
namespace {

constexpr std::string_view kColumns =
    "time, queue_id, reporter_host, client_ip, helo, mail_from, rcpt_to, header_from, "
    "policy_domain, discovery_method, record_p, record_sp, record_np, record_adkim, record_aspf, "
    "record_pct, record_testing, record_fo, record_rua, spf_result, spf_domain, spf_scope, dkim, "
    "arc, dkim_aligned, spf_aligned, dmarc_result, policy_applied, disposition, override_reasons, "
    "action, is_report, record_ri";
constexpr int kColumnCount = 33;

// Rows per INSERT statement in a full chunk of a batch. Each statement execution has a fixed
// cost (reset, bindings cleared, AUTOINCREMENT's sqlite_sequence read and write-back): one
// statement for 16 rows pays it once. 16 x 33 parameters is far under SQLite's 32,766.
constexpr int kRowsPerInsert = 16;

std::string insert_sql(int rows) {
    std::string sql = "INSERT INTO spool_rows(" + std::string(kColumns) + ") VALUES ";
    for (int r = 0; r < rows; ++r) {
        sql += r > 0 ? ",(" : "(";
        for (int i = 1; i <= kColumnCount; ++i) {
            // Appended piece by piece: GCC 12's LTO misreads `"?" + std::to_string(n)` as an
            // overflowing memcpy (-Wstringop-overflow, a false positive).
            sql += i > 1 ? ",?" : "?";
            sql += std::to_string(r * kColumnCount + i);
        }
        sql += ")";
    }
    return sql;
}

template <class E>
std::optional<std::string_view> token(const std::optional<E>& value) {
    if (!value) return std::nullopt;
    return to_string(*value);
}

std::string encode_dkim(const std::vector<SpoolDkim>& dkim) {
    std::vector<std::string> items;
    items.reserve(dkim.size());
    for (const auto& sig : dkim) {
        items.push_back(encode_list({sig.dkim_d, sig.dkim_s, std::string(to_string(sig.result))}));
    }
    return encode_list(items);
}

std::string encode_reasons(const std::vector<OverrideReason>& reasons) {
    std::string out;
    for (auto r : reasons) {
        if (!out.empty()) out += ',';
        out += to_string(r);
    }
    return out;
}

// The row's own strings and the enum names are bound without a copy (SQLITE_STATIC): the batch
// holds the row until its insert has run. Encoded lists are temporaries and are copied.
// `base`: the parameter number before this row's first (0, 33, 66... in a many-row INSERT).
void bind_row(sqlite::Statement& s, const SpoolRow& row, int base = 0) {
    s.bind(base + 1, row.time)
        .bind_static(base + 2, row.queue_id)
        .bind_static(base + 3, row.reporter_host)
        .bind_static(base + 4, row.client_ip)
        .bind_static(base + 5, row.helo)
        .bind_static(base + 6, row.rfc5321_mail_from)
        .bind(base + 7, encode_list(row.rfc5321_rcpt_to))
        .bind_static(base + 8, row.rfc5322_from_domain)
        .bind_static(base + 9, row.policy_domain)
        .bind_static(base + 10, token(row.discovery_method));
    if (row.record) {
        const auto& r = *row.record;
        s.bind_static(base + 11, to_string(r.p))
            .bind_static(base + 12, token(r.sp))
            .bind_static(base + 13, token(r.np))
            .bind_static(base + 14, to_string(r.adkim))
            .bind_static(base + 15, to_string(r.aspf))
            .bind(base + 16, std::int64_t{r.pct})
            .bind(base + 17, std::int64_t{r.testing})
            .bind_static(base + 18, r.fo)
            .bind(base + 19, encode_list(r.rua))
            .bind(base + 33, std::int64_t{r.ri});
    } else {
        for (int i = 11; i <= 19; ++i) s.bind_null(base + i);
        s.bind_null(base + 33);
    }
    s.bind_static(base + 20, to_string(row.spf_result))
        .bind_static(base + 21, row.spf_domain)
        .bind_static(base + 22, to_string(row.spf_scope))
        .bind(base + 23, encode_dkim(row.dkim))
        .bind_static(base + 24, to_string(row.arc))
        .bind(base + 25, std::int64_t{row.dkim_aligned})
        .bind(base + 26, std::int64_t{row.spf_aligned})
        .bind_static(base + 27, to_string(row.dmarc_result))
        .bind_static(base + 28, token(row.policy_applied))
        .bind_static(base + 29, to_string(row.disposition))
        .bind(base + 30, encode_reasons(row.override_reasons))
        .bind_static(base + 31, to_string(row.action))
        .bind(base + 32, std::int64_t{row.is_report});
}

// Decoding: any token a writer of this schema cannot produce makes the row an error.
struct Decoder {
    const sqlite::Statement& s;
    std::string problem;

    std::string text(int col) const { return std::string(s.column_text(col)); }

    template <class E>
    E need(int col, std::optional<E> (*parse)(std::string_view) noexcept, const char* name) {
        auto value = parse(s.column_text(col));
        if (!value) {
            problem = std::string("bad ") + name + " '" + text(col) + "'";
            return E{};
        }
        return *value;
    }
    template <class E>
    std::optional<E> maybe(int col, std::optional<E> (*parse)(std::string_view) noexcept,
                           const char* name) {
        if (s.is_null(col)) return std::nullopt;
        return need(col, parse, name);
    }
    std::vector<std::string> list(int col, const char* name) {
        auto items = decode_list(s.column_text(col));
        if (!items) {
            problem = std::string("bad list in ") + name;
            return {};
        }
        return std::move(*items);
    }
};

// Into `row` (default-constructed, in its place in the batch: no moves of a decoded row).
Result<void> decode_row(const sqlite::Statement& s, SpoolRow& row) {
    // Column 0 is the id; row columns start at 1.
    Decoder d{s, {}};
    row.time = s.column_int64(1);
    row.queue_id = d.text(2);
    row.reporter_host = d.text(3);
    row.client_ip = d.text(4);
    row.helo = d.text(5);
    row.rfc5321_mail_from = d.text(6);
    row.rfc5321_rcpt_to = d.list(7, "rcpt_to");
    row.rfc5322_from_domain = d.text(8);
    row.policy_domain = d.text(9);
    row.discovery_method = d.maybe(10, &parse_discovery_method, "discovery_method");
    if (!s.is_null(11)) {
        PublishedPolicy r;
        r.p = d.need(11, &parse_policy, "record_p");
        r.sp = d.maybe(12, &parse_policy, "record_sp");
        r.np = d.maybe(13, &parse_policy, "record_np");
        r.adkim = d.need(14, &parse_align_mode, "record_adkim");
        r.aspf = d.need(15, &parse_align_mode, "record_aspf");
        auto pct = s.column_int64(16);
        if (pct < 0 || pct > 100) d.problem = "bad record_pct";
        r.pct = static_cast<std::uint8_t>(pct < 0 || pct > 100 ? 100 : pct);
        r.testing = s.column_int64(17) != 0;
        r.fo = d.text(18);
        r.rua = d.list(19, "record_rua");
        // NULL: a row written before spool_0002; ri was then not kept, so the default.
        if (!s.is_null(33)) {
            const auto ri = s.column_int64(33);
            const bool valid = ri >= 0 && ri <= std::numeric_limits<std::uint32_t>::max();
            if (!valid) d.problem = "bad record_ri";
            r.ri = valid ? static_cast<std::uint32_t>(ri) : 86400;
        }
        row.record = std::move(r);
    }
    row.spf_result = d.need(20, &parse_spf_result, "spf_result");
    row.spf_domain = d.text(21);
    row.spf_scope = d.need(22, &parse_spf_scope, "spf_scope");
    for (const auto& item : d.list(23, "dkim")) {
        auto parts = decode_list(item);
        if (!parts || parts->size() != 3) {
            d.problem = "bad dkim entry";
            break;
        }
        auto result = parse_dkim_result((*parts)[2]);
        if (!result) {
            d.problem = "bad dkim result '" + (*parts)[2] + "'";
            break;
        }
        row.dkim.push_back(SpoolDkim{std::move((*parts)[0]), std::move((*parts)[1]), *result});
    }
    row.arc = d.need(24, &parse_arc_result, "arc");
    row.dkim_aligned = s.column_int64(25) != 0;
    row.spf_aligned = s.column_int64(26) != 0;
    row.dmarc_result = d.need(27, &parse_dmarc_result, "dmarc_result");
    row.policy_applied = d.maybe(28, &parse_policy, "policy_applied");
    row.disposition = d.need(29, &parse_disposition, "disposition");
    std::string_view reasons = s.column_text(30);
    while (!reasons.empty()) {
        auto comma = reasons.find(',');
        auto reason = parse_override_reason(reasons.substr(0, comma));
        if (!reason) {
            d.problem = "bad override_reasons";
            break;
        }
        row.override_reasons.push_back(*reason);
        if (comma == std::string_view::npos) break;
        reasons.remove_prefix(comma + 1);
    }
    row.action = d.need(31, &parse_milter_action, "action");
    row.is_report = s.column_int64(32) != 0;
    if (!d.problem.empty()) {
        return make_error(Errc::invalid_value,
                          "spool row " + std::to_string(s.column_int64(0)) + ": " + d.problem);
    }
    return {};
}

std::string random_id() {
    std::random_device device;
    std::string out;
    constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 4; ++i) {
        auto word = device();
        for (int j = 0; j < 8; ++j) out += kHex[(word >> (4 * j)) & 0xf];
    }
    return out;
}

}  // namespace

Result<std::string> init_spool(sqlite::Db& db) {
    if (auto v = sqlite::migrate(db, "spool"); !v) return tl::unexpected(v.error());
    auto insert =
        db.prepare("INSERT OR IGNORE INTO spool_meta(key, value) VALUES ('spool_id', ?1)");
    if (!insert) return tl::unexpected(insert.error());
    insert->bind(1, random_id());
    if (auto r = insert->run(); !r) return tl::unexpected(r.error());
    auto select = db.prepare("SELECT value FROM spool_meta WHERE key='spool_id'");
    if (!select) return tl::unexpected(select.error());
    auto row = select->step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return make_error(Errc::internal, db.path() + ": no spool_id");
    std::string id(select->column_text(0));
    select->reset();
    return id;
}

// ---- SpoolWriter --------------------------------------------------------------------------------

SpoolWriter::SpoolWriter(SpoolWriterOptions options) : options_(std::move(options)) {
    queue_.reserve(options_.queue_capacity);
}

Result<std::unique_ptr<SpoolWriter>> SpoolWriter::open(SpoolWriterOptions options) {
    if (options.queue_capacity == 0 || options.batch_rows == 0) {
        return make_error(Errc::invalid_value, "spool queue capacity and batch size must be > 0");
    }
    std::unique_ptr<SpoolWriter> writer(new SpoolWriter(std::move(options)));
    if (auto r = writer->ensure_open(); !r) return tl::unexpected(r.error());
    writer->thread_ = std::thread([w = writer.get()] {
        name_this_thread("dmarc-spool");
        w->run();
    });
    return writer;
}

SpoolWriter::~SpoolWriter() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

bool SpoolWriter::submit(SpoolRow row) noexcept {
    bool wake = false;
    {
        std::unique_lock lock(mutex_);
        if (queue_.size() >= options_.queue_capacity) {
            lock.unlock();
            dropped_full_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        // Cannot reallocate: capacity was reserved and the size is checked above.
        queue_.push_back(std::move(row));
        // The first row wakes an idle writer (which then gathers for flush_interval); later ones
        // only when a full batch waits.
        wake = writer_idle_ || queue_.size() == options_.batch_rows;
        writer_idle_ = false;
    }
    submitted_.fetch_add(1, std::memory_order_relaxed);
    if (wake) wake_.notify_one();
    return true;
}

void SpoolWriter::flush() {
    std::unique_lock lock(mutex_);
    std::uint64_t generation = ++flush_requested_;
    wake_.notify_one();
    flushed_.wait(lock, [&] { return flush_done_ >= generation || !thread_.joinable(); });
}

void SpoolWriter::reopen() noexcept {
    std::lock_guard lock(mutex_);
    reopen_ = true;
}

SpoolCounters SpoolWriter::counters() const noexcept {
    return SpoolCounters{submitted_.load(), written_.load(), dropped_full_.load(),
                         lost_failed_.load(), failed_batches_.load()};
}

Result<void> SpoolWriter::ensure_open() {
    if (db_) return {};
    sqlite::OpenOptions open_options;
    open_options.busy_timeout = options_.busy_timeout;
    auto db = sqlite::Db::open(options_.path, open_options);
    if (!db) return tl::unexpected(db.error());
    if (auto id = init_spool(*db); !id) return tl::unexpected(id.error());
    if (options_.max_bytes > 0) {
        auto page_size = db->prepare("PRAGMA page_size");
        if (!page_size) return tl::unexpected(page_size.error());
        (void)page_size->step();
        auto pages = options_.max_bytes / static_cast<std::uint64_t>(page_size->column_int64(0));
        page_size->reset();
        if (auto r = db->exec("PRAGMA max_page_count=" + std::to_string(pages < 1 ? 1 : pages));
            !r) {
            return tl::unexpected(r.error());
        }
    }
    auto insert = db->prepare(insert_sql(1));
    if (!insert) return tl::unexpected(insert.error());
    auto insert_many = db->prepare(insert_sql(kRowsPerInsert));
    if (!insert_many) return tl::unexpected(insert_many.error());
    insert_ = std::move(*insert);
    insert_many_ = std::move(*insert_many);
    db_ = std::move(*db);
    return {};
}

void SpoolWriter::write_batch(std::vector<SpoolRow>& batch) {
    auto fail = [&](const Error& error) {
        lost_failed_.fetch_add(batch.size(), std::memory_order_relaxed);
        failed_batches_.fetch_add(1, std::memory_order_relaxed);
        if (options_.on_error) options_.on_error(error, batch.size());
    };
    auto now = std::chrono::steady_clock::now();
    if (!db_) {
        // A missing or broken spool is retried at most once a second, not once per batch.
        if (now < next_open_attempt_) {
            fail(Error{Errc::io, options_.path + ": spool unavailable"});
            return;
        }
        if (auto r = ensure_open(); !r) {
            next_open_attempt_ = now + std::chrono::seconds(1);
            fail(r.error());
            return;
        }
    }
    auto tx = sqlite::Transaction::begin(*db_);
    if (!tx) {
        fail(tx.error());
        return;
    }
    std::size_t next = 0;
    for (; batch.size() - next >= kRowsPerInsert; next += kRowsPerInsert) {
        for (int k = 0; k < kRowsPerInsert; ++k) {
            bind_row(insert_many_, batch[next + static_cast<std::size_t>(k)], k * kColumnCount);
        }
        if (auto r = insert_many_.run(); !r) {
            fail(r.error());
            return;  // the transaction rolls back
        }
    }
    for (; next < batch.size(); ++next) {
        bind_row(insert_, batch[next]);
        if (auto r = insert_.run(); !r) {
            fail(r.error());
            return;
        }
    }
    if (auto r = tx->commit(); !r) {
        fail(r.error());
        return;
    }
    written_.fetch_add(batch.size(), std::memory_order_relaxed);
}

void SpoolWriter::run() {
    std::vector<SpoolRow> batch;
    batch.reserve(options_.queue_capacity);
    for (;;) {
        bool stopping = false;
        bool reopen = false;
        std::uint64_t flush_generation = 0;
        {
            std::unique_lock lock(mutex_);
            // Idle: no timer while nothing waits (a quiet milter does not wake 100 times a
            // second). Then the batch gathers for flush_interval after its first row.
            writer_idle_ = true;
            wake_.wait(lock,
                       [&] { return stop_ || !queue_.empty() || flush_requested_ > flush_done_; });
            writer_idle_ = false;
            wake_.wait_for(lock, options_.flush_interval, [&] {
                return stop_ || queue_.size() >= options_.batch_rows ||
                       flush_requested_ > flush_done_;
            });
            batch.swap(queue_);
            stopping = stop_;
            reopen = reopen_;
            reopen_ = false;
            flush_generation = flush_requested_;
        }
        if (reopen) {
            insert_ = sqlite::Statement();
            insert_many_ = sqlite::Statement();
            db_.reset();
            next_open_attempt_ = {};
        }
        if (!batch.empty()) {
            write_batch(batch);
            batch.clear();
        }
        {
            std::lock_guard lock(mutex_);
            flush_done_ = flush_generation;
        }
        flushed_.notify_all();
        if (stopping) {
            std::lock_guard lock(mutex_);
            if (queue_.empty()) break;
        }
    }
}

// ---- SpoolReader --------------------------------------------------------------------------------

Result<SpoolReader> SpoolReader::open(const std::string& path) {
    sqlite::OpenOptions options;
    options.create = false;
    auto db = sqlite::Db::open(path, options);
    if (!db) return tl::unexpected(db.error());
    auto id = init_spool(*db);
    if (!id) return tl::unexpected(id.error());
    SpoolReader reader(std::move(*db), std::move(*id));
    auto select = reader.db_.prepare("SELECT id, " + std::string(kColumns) +
                                     " FROM spool_rows WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!select) return tl::unexpected(select.error());
    reader.select_ = std::move(*select);
    return reader;
}

Result<SpoolReader::Batch> SpoolReader::read_after(std::int64_t after, std::size_t max_rows) {
    Batch out;
    out.last_id = after;
    out.entries.reserve(std::min<std::size_t>(max_rows, 65536));
    select_.bind(1, after).bind(2, static_cast<std::int64_t>(max_rows));
    for (;;) {
        auto has = select_.step();
        if (!has) return tl::unexpected(has.error());
        if (!*has) break;
        out.last_id = select_.column_int64(0);
        auto& entry = out.entries.emplace_back();
        entry.id = out.last_id;
        if (auto decoded = decode_row(select_, entry.row); !decoded) {
            out.entries.pop_back();
            out.bad_rows.push_back(std::move(decoded.error()));
        }
    }
    return out;
}

Result<std::int64_t> SpoolReader::delete_through(std::int64_t last) {
    auto del = db_.prepare("DELETE FROM spool_rows WHERE id <= ?1");
    if (!del) return tl::unexpected(del.error());
    del->bind(1, last);
    if (auto r = del->run(); !r) return tl::unexpected(r.error());
    return db_.changes();
}

Result<std::int64_t> SpoolReader::count() {
    return count_after(0);
}

Result<std::int64_t> SpoolReader::count_after(std::int64_t after) {
    auto stmt = db_.prepare("SELECT count(*) FROM spool_rows WHERE id > ?1");
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind(1, after);
    auto row = stmt->step();
    if (!row) return tl::unexpected(row.error());
    std::int64_t n = stmt->column_int64(0);
    stmt->reset();
    return n;
}

}  // namespace dmarc::io
