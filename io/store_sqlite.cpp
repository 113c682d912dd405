// SQLite Store: schema/sqlite/store_*.sql. SQL text for queries lives here; DDL only in schema/.
#include "io/store_sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/domain_name.hpp"
#include "core/ip.hpp"
#include "core/text.hpp"
#include "io/sqlite.hpp"

namespace dmarc::io {
namespace {

using sqlite::Db;
using sqlite::Statement;

template <class T>
tl::unexpected<Error> fail(const Result<T>& r) {
    return tl::unexpected(r.error());
}

std::string normalise_domain(std::string_view raw) {
    auto a_label = to_a_label_domain(raw);
    // Names that are not host names (garbage in old history files) are kept, lower-cased, so
    // that nothing is silently lost; the collector reports them.
    return a_label ? std::move(*a_label) : text::lower(raw);
}

std::string normalise_ip(std::string_view raw) {
    auto ip = IpAddress::parse(raw);
    return ip ? ip->to_string() : std::string(raw);
}

std::string_view envelope_domain(std::string_view mail_from) {
    auto at = mail_from.rfind('@');
    return at == std::string_view::npos ? mail_from : mail_from.substr(at + 1);
}

std::string join_reasons(const std::vector<OverrideReason>& reasons) {
    std::string out;
    for (auto r : reasons) {
        if (!out.empty()) out += ',';
        out += to_string(r);
    }
    return out;
}

std::string join_rua(const std::vector<std::string>& rua) {
    std::string out;
    for (const auto& uri : rua) {
        if (!out.empty()) out += ',';
        out += uri;
    }
    return out;
}

template <class E>
std::string_view token_or_empty(const std::optional<E>& value) {
    return value ? to_string(*value) : std::string_view{};
}

template <class E>
std::optional<std::string_view> token(const std::optional<E>& value) {
    if (!value) return std::nullopt;
    return to_string(*value);
}

// Lets the caches be searched with a string_view, without building a std::string per lookup.
// Deliberately not noexcept: libstdc++ then stores each node's hash code, so walking a bucket
// compares stored codes instead of re-hashing every key in it (that re-hashing was ~10% of an
// import's CPU, perf, 2026-11-29).
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Name -> id for the import's hot path (6-8 lookups per row). Open addressing over one slot
// array, keys packed in one arena: a lookup touches two small contiguous arrays instead of a
// bucket, a node and a key scattered over the heap, and a power-of-two mask instead of a
// division. The std::unordered_map it replaces was ~11% of an import's CPU (perf, 2026-11-29),
// nearly all of it cache misses on a machine whose caches the store's pages keep cold.
class IdCache {
  public:
    std::optional<std::int64_t> find(std::string_view key) const {
        if (slots_.empty()) return std::nullopt;
        const std::uint64_t h = hash(key);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.length == kEmpty) return std::nullopt;
            if (slot.hash == h && slot.length == key.size() &&
                std::string_view(arena_).substr(slot.offset, slot.length) == key) {
                return slot.id;
            }
        }
    }

    void insert(std::string_view key, std::int64_t id) {
        if ((count_ + 1) * 2 > slots_.size()) grow();
        place(Slot{hash(key), id, arena_.size(), static_cast<std::uint32_t>(key.size())});
        arena_.append(key);
        ++count_;
    }

    void clear() {
        slots_.clear();
        arena_.clear();
        count_ = 0;
        mask_ = 0;
    }

  private:
    static constexpr std::uint32_t kEmpty = 0xffffffff;
    struct Slot {
        std::uint64_t hash = 0;
        std::int64_t id = 0;
        std::size_t offset = 0;
        std::uint32_t length = kEmpty;
    };
    static std::uint64_t hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
    void place(const Slot& slot) {
        std::size_t i = slot.hash & mask_;
        while (slots_[i].length != kEmpty) i = (i + 1) & mask_;
        slots_[i] = slot;
    }
    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
        mask_ = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.length != kEmpty) place(slot);
        }
    }

    std::vector<Slot> slots_;
    std::string arena_;
    std::size_t count_ = 0, mask_ = 0;
};

// An interned-name table: domains, reporters, ip_addresses.
class Interner {
  public:
    Interner(std::string table, std::string column)
        : table_(std::move(table)), column_(std::move(column)) {}

    Result<void> prepare(Db& db) {
        auto select = db.prepare("SELECT id FROM " + table_ + " WHERE " + column_ + " = ?1");
        if (!select) return fail(select);
        auto insert = db.prepare("INSERT INTO " + table_ + "(" + column_ + ") VALUES (?1)");
        if (!insert) return fail(insert);
        select_ = std::move(*select);
        insert_ = std::move(*insert);
        return {};
    }

    // raw is the text as imported; normalise gives the stored name.
    template <class Normalise>
    Result<std::int64_t> id(Db& db, std::string_view raw, Normalise&& normalise) {
        if (auto hit = by_raw_.find(raw)) return *hit;
        std::string name = normalise(raw);
        std::int64_t id = 0;
        if (auto it = by_name_.find(name); it != by_name_.end()) {
            id = it->second;
        } else {
            select_.bind(1, name);
            auto row = select_.step();
            if (!row) return fail(row);
            if (*row) {
                id = select_.column_int64(0);
                select_.reset();
            } else {
                insert_.bind(1, name);
                if (auto r = insert_.run(); !r) return fail(r);
                id = db.last_insert_rowid();
            }
            by_name_.emplace(name, id);
        }
        by_raw_.insert(raw, id);
        return id;
    }

    void clear() {
        by_raw_.clear();
        by_name_.clear();
    }

  private:
    std::string table_, column_;
    Statement select_, insert_;
    IdCache by_raw_;
    std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> by_name_;
};

constexpr std::string_view kInsertMessage =
    "INSERT INTO messages(reporter_id, job_id, received, ip_id, helo, mail_from, env_domain_id, "
    "rcpt_to, header_from_domain_id, policy_domain_id, policy_record_id, discovery_method, "
    "spf_result, spf_domain_id, spf_scope, dkim_count, arc_result, arc_policy, dkim_aligned, "
    "spf_aligned, dmarc_result, policy_applied, disposition, override_reasons, action, is_report, "
    "origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
    "?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27) "
    "ON CONFLICT (received, reporter_id, job_id) DO NOTHING";

constexpr std::string_view kDigestQuery = R"sql(
SELECT r.name, m.job_id, m.received, ip.addr, m.helo, m.mail_from, ed.name, m.rcpt_to, hf.name,
       pd.name, pr.p, pr.sp, pr.np, pr.adkim, pr.aspf, pr.pct, pr.testing, pr.fo, pr.rua, pr.ri,
       m.discovery_method, m.spf_result, sd.name, m.spf_scope, m.dkim_count, m.arc_result,
       m.arc_policy, m.dkim_aligned, m.spf_aligned, m.dmarc_result, m.policy_applied,
       m.disposition, m.override_reasons, m.action, m.is_report, m.origin,
       (SELECT group_concat(x, ',') FROM (
            SELECT d.name || ' ' || k.selector || ' ' || k.result AS x
            FROM dkim_results k JOIN domains d ON d.id = k.domain_id
            WHERE k.message_id = m.id ORDER BY k.seq))
FROM messages m
JOIN reporters r ON r.id = m.reporter_id
JOIN ip_addresses ip ON ip.id = m.ip_id
JOIN domains hf ON hf.id = m.header_from_domain_id
LEFT JOIN domains ed ON ed.id = m.env_domain_id
LEFT JOIN domains pd ON pd.id = m.policy_domain_id
LEFT JOIN domains sd ON sd.id = m.spf_domain_id
LEFT JOIN policy_records pr ON pr.id = m.policy_record_id
ORDER BY r.name, m.job_id, m.received
)sql";

class SqliteStore final : public Store {
  public:
    explicit SqliteStore(Db db)
        : db_file_(sqlite3_db_filename(db.get(), "main") ? sqlite3_db_filename(db.get(), "main")
                                                         : ""),
          db_(std::move(db)),
          domains_("domains", "name"),
          reporters_("reporters", "name"),
          ips_("ip_addresses", "addr") {}

    Result<void> prepare() {
        for (Interner* interner : {&domains_, &reporters_, &ips_}) {
            if (auto r = interner->prepare(db_); !r) return r;
        }
        auto prepare_into = [&](Statement& into, std::string_view sql) -> Result<void> {
            auto stmt = db_.prepare(sql);
            if (!stmt) return fail(stmt);
            into = std::move(*stmt);
            return {};
        };
        if (auto r = prepare_into(insert_message_, kInsertMessage); !r) return r;
        if (auto r = prepare_into(insert_dkim_,
                                  "INSERT INTO dkim_results(message_id, seq, domain_id, selector, "
                                  "result) VALUES (?1, ?2, ?3, ?4, ?5)");
            !r) {
            return r;
        }
        std::string many =
            "INSERT INTO dkim_results(message_id, seq, domain_id, selector, result) VALUES ";
        for (std::size_t i = 0; i < kDkimPerInsert; ++i) many += i ? ",(?,?,?,?,?)" : "(?,?,?,?,?)";
        if (auto r = prepare_into(insert_dkim_many_, many); !r) return r;
        if (auto r = prepare_into(
                select_record_,
                "SELECT id FROM policy_records WHERE domain_id=?1 AND p=?2 AND sp=?3 AND np=?4 "
                "AND adkim=?5 AND aspf=?6 AND pct=?7 AND testing=?8 AND fo=?9 AND rua=?10 "
                "AND ri=?11");
            !r) {
            return r;
        }
        if (auto r = prepare_into(insert_record_,
                                  "INSERT INTO policy_records(domain_id, p, sp, np, adkim, aspf, "
                                  "pct, testing, fo, rua, ri, first_seen, last_seen) VALUES (?1, "
                                  "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12, ?11, ?11) "
                                  "ON CONFLICT DO NOTHING");
            !r) {
            return r;
        }
        if (auto r = prepare_into(update_record_seen_,
                                  "UPDATE policy_records SET first_seen=min(first_seen, ?2), "
                                  "last_seen=max(last_seen, ?3) WHERE id=?1");
            !r) {
            return r;
        }
        if (auto r = prepare_into(set_watermark_,
                                  "INSERT INTO import_sources(source, watermark) VALUES (?1, ?2) "
                                  "ON CONFLICT (source) DO UPDATE SET watermark=max(watermark, "
                                  "excluded.watermark)");
            !r) {
            return r;
        }
        return prepare_into(get_watermark_, "SELECT watermark FROM import_sources WHERE source=?1");
    }

    Result<ImportResult> import(std::span<const ImportItem> items,
                                const std::optional<Watermark>& watermark) override {
        // Foreign-key checks cost ~15% of an import's CPU and prove nothing here: every id the
        // import writes comes from an Interner or record_id(), which read or inserted that row on
        // this connection (in this transaction or an earlier committed one), and nothing ever
        // deletes from domains, reporters, ip_addresses or policy_records; report_id is left
        // NULL. So the checks are off for the import transaction only (the pragma is a no-op
        // inside a transaction, hence set around it) and on again for everything else, e.g.
        // expire(), which needs ON DELETE CASCADE.
        //
        // A batch that carries a watermark is a spool batch: once it is committed, its rows are
        // deleted from the spool, so its commit must be on disk, not only in the OS, or a power
        // cut could lose rows the spool no longer has. synchronous=FULL syncs the WAL at that
        // commit (one fsync per batch, ~20 per million rows), unless the caller syncs later
        // itself (Watermark::sync false: io/import deletes spool rows only after sync()); history
        // batches keep NORMAL, since a rerun reads the file again.
        if (auto r = db_.exec(watermark && watermark->sync
                                  ? "PRAGMA foreign_keys=OFF; PRAGMA synchronous=FULL"
                                  : "PRAGMA foreign_keys=OFF");
            !r) {
            return fail(r);
        }
        auto result = import_in_transaction(items, watermark);
        if (auto r = db_.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL"); !r) {
            return fail(r);
        }
        if (!result) {
            // Ids interned in the rolled-back transaction no longer exist.
            for (Interner* interner : {&domains_, &reporters_, &ips_}) interner->clear();
            records_.clear();
            record_seen_.clear();
        }
        return result;
    }

    // Each secondary index of `messages` costs a b-tree descent and insert per row at a place
    // the previous row did not warm (ip_id, policy_domain_id): 1.5-2.7 µs a row each, the two
    // over half of a history import's writing thread (perf, 2026-11-30: 5.3 of 10.6 s for a
    // million records). Built at the end in one sorted pass over the table, each costs about
    // 1 µs per row in it. So an import bringing at least as
    // many rows as the table holds (and at least kBulkMinRows) drops them here and rebuilds
    // them in end_bulk(); the UNIQUE deduplication key and partial indexes (which an import does
    // not touch) stay. Readers meanwhile get the same answers, more slowly. Killed in between,
    // the next open of the store rebuilds them (sqlite::migrate, from the migrations).
    Result<void> begin_bulk(std::uint64_t expected_rows) override {
        if (!deferred_.empty() || expected_rows < kBulkMinRows) return {};
        auto existing = scalar("SELECT coalesce(max(id), 0) FROM messages", std::nullopt);
        if (!existing) return fail(existing);
        if (expected_rows < static_cast<std::uint64_t>(*existing)) return {};
        auto tx = sqlite::Transaction::begin(db_);
        if (!tx) return fail(tx);
        auto list = db_.prepare(
            "SELECT i.name, m.sql FROM pragma_index_list('messages') AS i JOIN sqlite_master AS "
            "m ON m.type = 'index' AND m.name = i.name WHERE i.\"unique\" = 0 AND i.partial = 0 "
            "AND i.origin = 'c' ORDER BY i.name");
        if (!list) return fail(list);
        std::vector<std::pair<std::string, std::string>> dropped;
        for (;;) {
            auto row = list->step();
            if (!row) return fail(row);
            if (!*row) break;
            dropped.emplace_back(list->column_text(0), list->column_text(1));
        }
        for (const auto& [name, sql] : dropped) {
            if (auto r = db_.exec("DROP INDEX \"" + name + "\""); !r) return fail(r);
        }
        if (auto r = tx->commit(); !r) return fail(r);
        deferred_ = std::move(dropped);
        return {};
    }

    Result<void> end_bulk() override {
        if (deferred_.empty()) return {};
        auto tx = sqlite::Transaction::begin(db_);
        if (!tx) return fail(tx);
        auto present =
            db_.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1");
        if (!present) return fail(present);
        for (const auto& [name, sql] : deferred_) {
            // Another process opening the store meanwhile may have rebuilt it already.
            present->bind(1, name);
            auto found = present->step();
            if (!found) return fail(found);
            const bool exists = present->column_int64(0) > 0;
            present->reset();
            if (exists) continue;
            if (auto r = db_.exec(sql); !r) return fail(r);
        }
        if (auto r = tx->commit(); !r) return fail(r);
        deferred_.clear();
        return {};
    }

    // fsync of the WAL and of the database file, each opened anew (SQLite may recreate the WAL
    // between two calls). In WAL mode a commit is its frames in the WAL, appended before
    // import() returned, so syncing the file makes every earlier commit survive a power cut;
    // frames a checkpoint moved out of the WAL are in the database file, which SQLite syncs
    // before it reuses the WAL (and which is synced here too). The same guarantee as
    // synchronous=FULL at each commit, but on the caller's thread of choice: the importing
    // thread does not wait for the disk.
    Result<void> sync() override {
        if (db_file_.empty()) return {};  // a temporary or in-memory database
        for (const std::string& path : {db_file_ + "-wal", db_file_}) {
            const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno == ENOENT) continue;  // no WAL: everything is in the database file
                return make_error(Errc::io, path + ": " + std::strerror(errno));
            }
            const int rc = ::fsync(fd);
            const int err = errno;
            ::close(fd);
            if (rc != 0) return make_error(Errc::io, path + ": fsync: " + std::strerror(err));
        }
        return {};
    }

    Result<std::optional<std::int64_t>> watermark(std::string_view source) override {
        get_watermark_.bind(1, source);
        auto row = get_watermark_.step();
        if (!row) return fail(row);
        if (!*row) return std::optional<std::int64_t>{};
        std::int64_t value = get_watermark_.column_int64(0);
        get_watermark_.reset();
        return std::optional<std::int64_t>{value};
    }

    Result<ExpireResult> expire(std::int64_t before) override {
        auto tx = sqlite::Transaction::begin(db_);
        if (!tx) return fail(tx);
        ExpireResult out;
        // Still needed by a report not yet built: unreported, not a report itself, and under a
        // record that asks for aggregate reports.
        constexpr std::string_view kNeeded =
            "m.report_id IS NULL AND m.is_report = 0 AND m.policy_record_id IS NOT NULL AND "
            "(SELECT rua FROM policy_records pr WHERE pr.id = m.policy_record_id) <> ''";
        auto kept = scalar(
            "SELECT count(*) FROM messages m WHERE m.received < ?1 AND " + std::string(kNeeded),
            before);
        if (!kept) return fail(kept);
        out.messages_kept_unreported = *kept;
        auto del = db_.prepare("DELETE FROM messages AS m WHERE m.received < ?1 AND NOT (" +
                               std::string(kNeeded) + ")");
        if (!del) return fail(del);
        del->bind(1, before);
        if (auto r = del->run(); !r) return fail(r);
        out.messages_deleted = db_.changes();
        auto del_reports = db_.prepare(
            "DELETE FROM reports WHERE period_end < ?1 AND NOT EXISTS (SELECT 1 FROM "
            "report_deliveries d WHERE d.report_id = reports.id AND d.status IN ('pending', "
            "'temp_failed')) AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.report_id = "
            "reports.id)");
        if (!del_reports) return fail(del_reports);
        del_reports->bind(1, before);
        if (auto r = del_reports->run(); !r) return fail(r);
        out.reports_deleted = db_.changes();
        if (auto r = tx->commit(); !r) return fail(r);
        return out;
    }

    Result<StoreCounts> counts() override {
        StoreCounts c;
        std::pair<const char*, std::int64_t*> tables[] = {{"messages", &c.messages},
                                                          {"dkim_results", &c.dkim_results},
                                                          {"domains", &c.domains},
                                                          {"reporters", &c.reporters},
                                                          {"ip_addresses", &c.ip_addresses},
                                                          {"policy_records", &c.policy_records},
                                                          {"reports", &c.reports}};
        for (auto [table, into] : tables) {
            auto n = scalar(std::string("SELECT count(*) FROM ") + table, std::nullopt);
            if (!n) return fail(n);
            *into = *n;
        }
        return c;
    }

    Result<std::string> content_digest() override {
        auto stmt = db_.prepare(kDigestQuery);
        if (!stmt) return fail(stmt);
        // FNV-1a 64: a checksum for tests and operators, not a security boundary.
        std::uint64_t hash = 14695981039346656037ull;
        auto mix = [&](std::string_view bytes) {
            for (char c : bytes) {
                hash ^= static_cast<unsigned char>(c);
                hash *= 1099511628211ull;
            }
        };
        for (;;) {
            auto row = stmt->step();
            if (!row) return fail(row);
            if (!*row) break;
            for (int i = 0; i < stmt->column_count(); ++i) {
                mix(stmt->is_null(i) ? std::string_view("\x01N") : stmt->column_text(i));
                mix("\x1f");
            }
            mix("\x1e");
        }
        char out[17];
        constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i) out[i] = kHex[(hash >> (60 - 4 * i)) & 0xf];
        out[16] = 0;
        return std::string(out);
    }

  private:
    Result<std::int64_t> scalar(const std::string& sql, std::optional<std::int64_t> param) {
        auto stmt = db_.prepare(sql);
        if (!stmt) return fail(stmt);
        if (param) stmt->bind(1, *param);
        auto row = stmt->step();
        if (!row) return fail(row);
        std::int64_t value = *row ? stmt->column_int64(0) : 0;
        stmt->reset();
        return value;
    }

    Result<std::optional<std::int64_t>> domain_id(std::string_view raw) {
        if (raw.empty()) return std::optional<std::int64_t>{};
        auto id = domains_.id(db_, raw, normalise_domain);
        if (!id) return fail(id);
        return std::optional<std::int64_t>{*id};
    }

    Result<std::optional<std::int64_t>> record_id(std::int64_t domain, const SpoolRow& row) {
        if (!row.record) return std::optional<std::int64_t>{};
        const auto& r = *row.record;
        // One reused buffer: the key is built for every row, but stored only for a new record.
        std::string& key = record_key_;
        key.assign(reinterpret_cast<const char*>(&domain), sizeof domain);
        key.append(reinterpret_cast<const char*>(&r.pct), sizeof r.pct);
        key.append(reinterpret_cast<const char*>(&r.ri), sizeof r.ri);
        for (std::string_view part :
             {to_string(r.p), token_or_empty(r.sp), token_or_empty(r.np), to_string(r.adkim),
              to_string(r.aspf), std::string_view(r.testing ? "y" : "n"), std::string_view(r.fo)}) {
            key += part;
            key += '\x1f';
        }
        for (const auto& uri : r.rua) {
            key += uri;
            key += '\x1f';
        }
        if (auto hit = records_.find(key)) return std::optional<std::int64_t>{*hit};
        // Not cached: most often a record the store has never seen (a busy import meets
        // thousands), so the insert comes first and the look-up only when it was already there
        // (inserted by an earlier run or another process): one b-tree descent of the UNIQUE key
        // per new record instead of two.
        std::string rua = join_rua(r.rua);
        auto bind_key = [&](Statement& s) -> Statement& {
            return s.bind(1, domain)
                .bind(2, to_string(r.p))
                .bind(3, token_or_empty(r.sp))
                .bind(4, token_or_empty(r.np))
                .bind(5, to_string(r.adkim))
                .bind(6, to_string(r.aspf))
                .bind(7, std::int64_t{r.pct})
                .bind(8, std::int64_t{r.testing})
                .bind(9, r.fo)
                .bind(10, rua);
        };
        bind_key(insert_record_).bind(11, row.time).bind(12, std::int64_t{r.ri});
        if (auto ins = insert_record_.run(); !ins) return fail(ins);
        std::int64_t id = 0;
        if (db_.changes() > 0) {
            id = db_.last_insert_rowid();
            record_seen_[id] = {row.time, row.time};  // exactly what the row holds
        } else {
            bind_key(select_record_).bind(11, std::int64_t{r.ri});
            auto found = select_record_.step();
            if (!found) return fail(found);
            if (!*found) return make_error(Errc::internal, "policy record vanished");
            id = select_record_.column_int64(0);
            select_record_.reset();
        }
        records_.insert(key, id);
        return std::optional<std::int64_t>{id};
    }

    // DKIM results go in kDkimPerInsert at a time, one multi-row INSERT: a statement's fixed
    // cost (step, cursor open and close, reset, clearing bindings) was most of each one-row
    // insert (the rows themselves append at the end of the (message_id, seq) key). The rest, fewer
    // than kDkimPerInsert, one by one. The selectors are bound without a copy: they live in the
    // batch's items until import() returns.
    Result<void> insert_pending_dkim() {
        auto bind = [](Statement& s, int at, const PendingDkim& k) {
            s.bind(at, k.message_id)
                .bind(at + 1, k.seq)
                .bind(at + 2, k.domain_id)
                .bind_static(at + 3, k.sig->dkim_s)
                .bind_static(at + 4, to_string(k.sig->result));
        };
        if (pending_dkim_.size() == kDkimPerInsert) {
            int at = 1;
            for (const auto& k : pending_dkim_) {
                bind(insert_dkim_many_, at, k);
                at += 5;
            }
            if (auto r = insert_dkim_many_.run(); !r) return r;
        } else {
            for (const auto& k : pending_dkim_) {
                bind(insert_dkim_, 1, k);
                if (auto r = insert_dkim_.run(); !r) return r;
            }
        }
        pending_dkim_.clear();
        return {};
    }

    // Widens first_seen/last_seen of the batch's policy records where the batch goes beyond
    // them. In id order: the updates then walk the table's pages once, front to back, instead of
    // jumping around a table that a large import fills with hundreds of thousands of records.
    Result<void> update_records_seen() {
        std::sort(batch_records_.begin(), batch_records_.end());
        for (std::size_t i = 0; i < batch_records_.size();) {
            const std::int64_t id = batch_records_[i].first;
            Span batch{batch_records_[i].second, batch_records_[i].second};
            for (; i < batch_records_.size() && batch_records_[i].first == id; ++i) {
                batch.last = batch_records_[i].second;  // sorted: the last is the latest
            }
            auto [known, fresh] = record_seen_.try_emplace(id, batch);
            if (!fresh && known->second.first <= batch.first && batch.last <= known->second.last) {
                continue;
            }
            update_record_seen_.bind(1, id).bind(2, batch.first).bind(3, batch.last);
            if (auto r = update_record_seen_.run(); !r) return r;
            known->second.first = std::min(known->second.first, batch.first);
            known->second.last = std::max(known->second.last, batch.last);
        }
        return {};
    }

    Result<ImportResult> import_in_transaction(std::span<const ImportItem> items,
                                               const std::optional<Watermark>& watermark) {
        auto tx = sqlite::Transaction::begin(db_);
        if (!tx) return fail(tx);
        ImportResult result;
        batch_records_.clear();  // (policy record id, received) of each row with a record
        pending_dkim_.clear();
        for (const auto& item : items) {
            const SpoolRow& row = item.row;
            auto reporter = reporters_.id(db_, row.reporter_host,
                                          [](std::string_view s) { return text::lower(s); });
            if (!reporter) return fail(reporter);
            auto ip = ips_.id(db_, row.client_ip, normalise_ip);
            if (!ip) return fail(ip);
            auto env_domain = domain_id(envelope_domain(row.rfc5321_mail_from));
            if (!env_domain) return fail(env_domain);
            auto header_from = domains_.id(db_, row.rfc5322_from_domain, normalise_domain);
            if (!header_from) return fail(header_from);
            auto policy_domain = domain_id(row.policy_domain);
            if (!policy_domain) return fail(policy_domain);
            std::optional<std::int64_t> record;
            if (row.record) {
                auto id = record_id(policy_domain->value_or(*header_from), row);
                if (!id) return fail(id);
                record = *id;
            }
            auto spf_domain = domain_id(row.spf_domain);
            if (!spf_domain) return fail(spf_domain);

            // Static binds: every text outlives the run() below (the items, string literals,
            // and the two member buffers, rewritten only on the next row).
            rcpt_to_ = encode_list(row.rfc5321_rcpt_to);
            reasons_ = join_reasons(row.override_reasons);
            Statement& s = insert_message_;
            s.bind(1, *reporter)
                .bind_static(2, row.queue_id)
                .bind(3, row.time)
                .bind(4, *ip)
                .bind_static(5, row.helo)
                .bind_static(6, row.rfc5321_mail_from)
                .bind(7, *env_domain)
                .bind_static(8, rcpt_to_)
                .bind(9, *header_from)
                .bind(10, *policy_domain)
                .bind(11, record)
                .bind_static(12, token(row.discovery_method))
                .bind_static(13, to_string(row.spf_result))
                .bind(14, *spf_domain)
                .bind_static(15, to_string(row.spf_scope))
                .bind(16, static_cast<std::int64_t>(row.dkim.size()))
                .bind_static(17, to_string(row.arc))
                .bind_static(18, item.arc_policy)
                .bind(19, std::int64_t{row.dkim_aligned})
                .bind(20, std::int64_t{row.spf_aligned})
                .bind_static(21, to_string(row.dmarc_result))
                .bind_static(22, token(row.policy_applied))
                .bind_static(23, to_string(row.disposition))
                .bind_static(24, reasons_)
                .bind_static(25, to_string(row.action))
                .bind(26, std::int64_t{row.is_report})
                .bind_static(27, std::string_view(item.origin == MessageOrigin::spool ? "spool"
                                                                                      : "history"));
            if (auto r = s.run(); !r) return fail(r);
            if (db_.changes() == 0) {
                ++result.duplicates;
                continue;
            }
            ++result.inserted;
            std::int64_t message_id = db_.last_insert_rowid();
            std::int64_t seq = 0;
            for (const auto& sig : row.dkim) {
                auto d = domains_.id(db_, sig.dkim_d, normalise_domain);
                if (!d) return fail(d);
                pending_dkim_.push_back(PendingDkim{message_id, seq++, *d, &sig});
                if (pending_dkim_.size() == kDkimPerInsert) {
                    if (auto r = insert_pending_dkim(); !r) return fail(r);
                }
            }
            if (record) batch_records_.emplace_back(*record, row.time);
        }
        if (auto r = insert_pending_dkim(); !r) return fail(r);
        if (auto r = update_records_seen(); !r) return fail(r);
        if (watermark) {
            set_watermark_.bind(1, watermark->source).bind(2, watermark->value);
            if (auto r = set_watermark_.run(); !r) return fail(r);
        }
        if (auto r = tx->commit(); !r) return fail(r);
        return result;
    }

    // Below this, an import keeps every index up to date (the rebuild would not pay).
    static constexpr std::uint64_t kBulkMinRows = 50000;
    static constexpr std::size_t kDkimPerInsert = 32;  // 160 parameters (SQLite allows 32,766)

    struct PendingDkim {
        std::int64_t message_id = 0, seq = 0, domain_id = 0;
        const SpoolDkim* sig = nullptr;
    };
    std::vector<PendingDkim> pending_dkim_;

    std::string db_file_;  // absolute path of the database file (sync())
    Db db_;
    std::vector<std::pair<std::string, std::string>> deferred_;  // dropped indexes: name, DDL
    Interner domains_, reporters_, ips_;
    IdCache records_;
    // first_seen/last_seen of policy records as this connection last wrote or set them: never
    // wider than what the table holds (other writers only widen it, and nothing deletes
    // records), so a batch inside it has nothing to update. Cleared with records_ on rollback.
    struct Span {
        std::int64_t first = 0, last = 0;
    };
    std::unordered_map<std::int64_t, Span> record_seen_;
    std::vector<std::pair<std::int64_t, std::int64_t>> batch_records_;
    std::string record_key_, rcpt_to_, reasons_;
    Statement insert_message_, insert_dkim_, insert_dkim_many_, select_record_, insert_record_,
        update_record_seen_, set_watermark_, get_watermark_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
    sqlite::OpenOptions options;
    options.cache_kib = 256 * 1024;
    options.mmap_bytes = std::int64_t{1} << 30;
    auto db = Db::open(path, options);
    if (!db) return fail(db);
    // Bulk-import settings (WAL and synchronous=NORMAL come from Db::open). A checkpoint every
    // 64 MiB of WAL instead of SQLite's 4 MiB: the WAL is synced only at a checkpoint in NORMAL
    // mode, so this cuts the fsyncs of a 1M-row history import from ~100 to ~6. A committed
    // batch survives a kill -9 (it is in the WAL, in the OS); a power cut may lose the history
    // batches since the previous checkpoint, but nothing else was done on their account, and a
    // rerun imports them again. Spool batches are synced at commit (import()). temp_store=MEMORY
    // keeps any sort or temporary b-tree off the disk.
    if (auto r = db->exec("PRAGMA wal_autocheckpoint=16384; PRAGMA temp_store=MEMORY"); !r) {
        return fail(r);
    }
    if (auto v = sqlite::migrate(*db, "store"); !v) return fail(v);
    auto store = std::make_unique<SqliteStore>(std::move(*db));
    if (auto r = store->prepare(); !r) return fail(r);
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dmarc::io
