// Read-only queries over the store for dmarc-web (issue 7): KPIs, time series, per-domain and
// per-source aggregates, message search with keyset paging, one message's evaluation trace,
// and the web_users table (schema/*/store_0002_web_users.sql) with its domain scopes (0006).
// Aggregation and paging run in SQL so pages stay fast on large stores. One SQL text over SQLite
// and PostgreSQL (io/sql_connection.hpp): the same store content gives the same answers on both.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "io/sql_connection.hpp"

namespace dmarc::io {

// Which mail a dashboard user may see (schema/*/store_0006_web_user_domains.sql): everything, or
// the messages whose RFC5322.From domain or policy domain is one of `domains` or a subdomain of
// one, and the reports whose policy domain is. The default is the safe one: nothing.
struct DomainScope {
    bool all = false;
    std::vector<std::string> domains;  // lower-case A-labels, sorted, unique
    static DomainScope everything() { return DomainScope{true, {}}; }
    // Tells scopes apart in cache keys: "*" for everything, else the domains joined by ','.
    std::string key() const;
};

// Every field but scope is optional: empty means "any". Times are [from, to) UTC epoch seconds.
struct MessageFilter {
    std::int64_t from = 0;
    std::int64_t to = 0;        // 0: no upper bound
    std::string header_from;    // RFC 5322 From domain (exact)
    std::string policy_domain;  // where the record was found (exact)
    std::string ip;             // client address, canonical text
    std::string dmarc_result;   // pass fail none temperror permerror
    std::string disposition;    // none quarantine reject pass
    std::string queue_id;       // MTA job id
    DomainScope scope;          // whose mail: set from the session, never from the request
};

struct DayPoint {
    std::int64_t bucket_start = 0;
    std::int64_t messages = 0, dmarc_pass = 0;
};

struct DomainStats {
    std::string name;
    std::int64_t messages = 0, dmarc_pass = 0, spf_aligned = 0, dkim_aligned = 0;
    std::int64_t sources = 0, last_seen = 0;
    std::string policy;  // the latest record seen, "p=reject sp=... pct=100", "" when none
};

struct SourceStats {
    std::string ip;
    std::int64_t messages = 0, dmarc_pass = 0, domains = 0, first_seen = 0, last_seen = 0;
    bool is_new = false;  // first seen in the store inside the selected period
};

struct Overview {
    std::int64_t messages = 0, dmarc_pass = 0, spf_aligned = 0, dkim_aligned = 0;
    std::int64_t disposition_none = 0, disposition_quarantine = 0, disposition_reject = 0,
                 disposition_pass = 0;
    std::int64_t bucket_seconds = 86400;
    // When the store was asked (set by the dashboard's cache): an older answer is shown with its
    // time while a newer one is computed. 0: unknown.
    std::int64_t computed_at = 0;
    std::vector<DayPoint> series;
    std::vector<DomainStats> domains;          // top by volume
    std::vector<SourceStats> failing_sources;  // top by failures
};

struct MessageSummary {
    std::int64_t id = 0, received = 0;
    std::string job_id, reporter, ip, header_from, policy_domain, dmarc_result, disposition, action;
    bool spf_aligned = false, dkim_aligned = false;
};

// Keyset paging: the next page starts strictly before (received, id).
struct MessageCursor {
    std::int64_t received = 0, id = 0;
};

struct MessagePage {
    std::vector<MessageSummary> rows;
    std::optional<MessageCursor> next;
};

struct DkimRow {
    std::string dkim_d, selector, result;
};

struct MessageDetail {
    MessageSummary summary;
    std::string helo, mail_from, env_domain, rcpt_to, discovery_method, spf_result, spf_domain,
        spf_scope, arc_result, arc_policy, policy_applied, override_reasons, origin;
    bool is_report = false;
    bool has_record = false;
    std::string record_p, record_sp, record_np, record_adkim, record_aspf, record_fo, record_rua;
    std::int64_t record_pct = 0;
    bool record_testing = false;
    std::vector<DkimRow> dkim;
    // The aggregate report it went into; nullopt too when that report is outside the scope the
    // message was read with (StoreReader::message).
    std::optional<std::string> report_id;
};

struct WebUser {
    std::int64_t id = 0;
    std::string name, role, password_hash;
    bool disabled = false;
    DomainScope scope;  // everything unless the row is scoped (never for an admin)
};

// The outgoing report ledger (tables reports and report_deliveries).
struct DeliveryRow {
    std::int64_t id = 0;
    std::string destination, address, status, smtp_reply;
    std::int64_t attempts = 0;
    std::optional<std::int64_t> last_attempt, next_retry, sent_at;
};

struct ReportRow {
    std::int64_t id = 0;
    std::string policy_domain, report_id, format, compression;
    std::int64_t period_begin = 0, period_end = 0, created = 0, message_count = 0, record_count = 0,
                 archive_bytes = 0;
    std::vector<DeliveryRow> deliveries;
};

struct ReportArchive {
    ReportRow report;
    std::string archive;  // the compressed report as stored (gzip or zip), may be empty
};

struct SuppressionRow {
    std::int64_t id = 0;
    std::string pattern, comment;
    std::int64_t added = 0;
    std::optional<std::int64_t> expires;  // nullopt: never
};

struct ResultCount {
    std::string result;
    std::int64_t messages = 0;
};

// A small pool of read-only connections (one per concurrent request at most): a connection is
// never shared between threads (SQLite opens them SQLITE_OPEN_NOMUTEX; a PGconn is not
// thread-safe either). SQLite: opened read-only. PostgreSQL: every session has
// default_transaction_read_only on (and may be a role with SELECT only, web/README.md).
class StoreReader {
  public:
    // `uri`: a SQLite path or sqlite: URI, or a postgresql:// URI (store.hpp). Refuses a store
    // older than the dashboard's migration (0006) or newer than this program knows.
    static Result<std::unique_ptr<StoreReader>> open(const std::string& uri, std::size_t pool);
    bool postgres() const noexcept { return postgres_; }

    Result<Overview> overview(const MessageFilter& filter, std::size_t top_n);
    Result<MessagePage> messages(const MessageFilter& filter,
                                 const std::optional<MessageCursor>& after, std::size_t limit);
    // nullopt for no such message and for one outside `scope` alike; its report_id only when
    // that report is in `scope` as well (its policy domain covered, as report() requires).
    Result<std::optional<MessageDetail>> message(std::int64_t id, const DomainScope& scope);
    Result<std::vector<DomainStats>> domains(const MessageFilter& filter, std::size_t limit);
    Result<std::vector<SourceStats>> sources(const MessageFilter& filter, std::size_t limit);
    // The user with its current scope (read per request, so a changed scope applies at once).
    Result<std::optional<WebUser>> find_user(const std::string& name);
    // The whole store (/metrics, unauthenticated, is not scoped).
    Result<std::vector<ResultCount>> messages_by_result();
    // Newest first (created, id), at most `limit`, each with its deliveries; those in `scope`.
    Result<std::vector<ReportRow>> reports(std::size_t limit, const DomainScope& scope);
    // nullopt for no such report and for one outside `scope` alike.
    Result<std::optional<ReportArchive>> report(std::int64_t id, const DomainScope& scope);
    Result<std::vector<ResultCount>> deliveries_by_status();
    Result<std::vector<SuppressionRow>> suppressions();
    Result<void> ping();

  private:
    struct Lease;
    // Runs `work` on an idle connection (opening one while the pool has room, else waiting).
    template <typename T, typename Work>
    Result<T> with_connection(Work&& work);
    Result<sql::Connection*> acquire();
    void release(sql::Connection* connection);

    std::string uri_;
    bool postgres_ = false;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<sql::Connection>> all_;
    std::vector<sql::Connection*> idle_;
    std::size_t pool_ = 0;
};

// The dashboard's one writable connection (issue 7: page reads stay on StoreReader's read-only
// connections). Serialised by a mutex; every change is one statement or one transaction.
class StoreWriter {
  public:
    // Opens an existing, migrated store read-write (a SQLite path or URI, or a postgresql://
    // URI, which may name another role than the reader's); never creates or migrates it.
    static Result<std::unique_ptr<StoreWriter>> open(const std::string& uri);

    // Puts every delivery of report `id` that was sent or failed back to pending, due now, so
    // the next dmarc-reporter run sends it again: a new series of attempts (attempts and
    // parts_sent back to 0; the last reply stays until the next attempt replaces it). Rows the
    // reporter decided not to send (suppressed, unauthorised, ignored) keep their status. Returns
    // the rows changed; not_found when there is no such report.
    Result<std::int64_t> resend_report(std::int64_t id, std::int64_t now);
    // Inserts or replaces the suppression of `pattern` (already validated and normalised).
    Result<void> add_suppression(const std::string& pattern, const std::string& comment,
                                 std::optional<std::int64_t> expires, std::int64_t now);
    // false when there was no such row.
    Result<bool> remove_suppression(std::int64_t id);

  private:
    explicit StoreWriter(std::unique_ptr<sql::Connection> db) : db_(std::move(db)) {}
    std::mutex mutex_;
    std::unique_ptr<sql::Connection> db_;
};

// Adds a user (the store, a path or URI as above, opened read-write and migrated) with its scope,
// in one transaction. Fails if the name exists, and for an admin with a scope.
Result<void> add_web_user(const std::string& store_uri, const std::string& name,
                          const std::string& role, const std::string& password_hash,
                          std::int64_t now, const DomainScope& scope = DomainScope::everything());
// Replaces a user's password hash (and re-enables it). Fails if the name is unknown.
Result<void> set_web_user_password(const std::string& store_uri, const std::string& name,
                                   const std::string& password_hash);
// Sets a user's scope (one transaction): everything, or exactly `scope.domains` (already
// normalised A-labels; empty: nothing). Fails if the name is unknown, and for an admin with a
// scope (the schema's CHECK refuses it too).
Result<void> set_web_user_scope(const std::string& store_uri, const std::string& name,
                                const DomainScope& scope);
// Sets a user's role, "admin" or "viewer". Fails if the name is unknown, and for a scoped user
// made admin (admins see every domain: lift the scope first).
Result<void> set_web_user_role(const std::string& store_uri, const std::string& name,
                               const std::string& role);
// Disables a user (no login; live sessions end at their next request) or enables it again.
// Fails if the name is unknown, and for the last enabled admin (the dashboard keeps someone who
// may manage it).
Result<void> set_web_user_disabled(const std::string& store_uri, const std::string& name,
                                   bool disabled);
// Every user, by name (byte order), with its scope; for `dmarc-web user list`.
struct WebUserListing {
    std::string name, role;
    bool disabled = false;
    DomainScope scope;
    std::int64_t created = 0;
};
Result<std::vector<WebUserListing>> list_web_users(const std::string& store_uri);

}  // namespace dmarc::io
