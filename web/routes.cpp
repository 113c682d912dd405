// The routes of dmarc-web (issue 7): login and logout, the pages and their JSON API, assets,
// /healthz and /metrics. Login is required for everything but the login form, assets, /healthz
// and /metrics; every POST carries a CSRF token compared in constant time.
#include "web/routes.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/domain_name.hpp"
#include "core/text.hpp"
#include "io/archive.hpp"
#include "web/assets.hpp"
#include "web/pages.hpp"

namespace dmarc::web {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxFilterText = 253;  // a domain name (RFC 1035 §2.3.4)
constexpr std::size_t kMaxIpText = 45;       // longest IPv6 text with embedded IPv4
constexpr std::size_t kMaxQueueId = 64;

bool parse_i64(std::string_view text, std::int64_t& out) {
    if (text.empty()) return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// YYYY-MM-DD -> epoch seconds at 00:00 UTC.
std::optional<std::int64_t> parse_date(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
    std::int64_t y = 0, m = 0, d = 0;
    if (!parse_i64(text.substr(0, 4), y) || !parse_i64(text.substr(5, 2), m) ||
        !parse_i64(text.substr(8, 2), d) || m < 1 || m > 12 || d < 1 || d > 31 || y < 1970) {
        return std::nullopt;
    }
    return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * 86400;
}

bool printable(std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

bool one_of(std::string_view value, std::initializer_list<std::string_view> allowed) {
    for (auto a : allowed) {
        if (value == a) return true;
    }
    return false;
}

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

Response json_response(const json& value, unsigned status = 200) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    // Invalid UTF-8 from mail must not throw: replace it (U+FFFD).
    r.body = value.dump(-1, ' ', false, json::error_handler_t::replace);
    r.body += '\n';
    return r;
}

Response json_error(unsigned status, std::string message) {
    return json_response(json{{"error", std::move(message)}}, status);
}

Response html_response(const Html& html, unsigned status = 200) {
    Response r;
    r.status = status;
    r.body = html.str();
    return r;
}

std::string cookie(std::string_view name, std::string_view value, std::string_view path, bool tls,
                   std::int64_t max_age) {
    std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                    "; HttpOnly; SameSite=Strict";
    if (tls) c += "; Secure";
    if (max_age >= 0) c += "; Max-Age=" + std::to_string(max_age);
    return c;
}

json to_json(const io::DomainStats& d) {
    return {{"header_from", d.name},          {"messages", d.messages},
            {"dmarc_pass", d.dmarc_pass},     {"spf_aligned", d.spf_aligned},
            {"dkim_aligned", d.dkim_aligned}, {"sources", d.sources},
            {"last_seen", d.last_seen},       {"policy", d.policy}};
}

json to_json(const io::SourceStats& s) {
    return {{"ip", s.ip},           {"messages", s.messages},     {"dmarc_pass", s.dmarc_pass},
            {"domains", s.domains}, {"first_seen", s.first_seen}, {"last_seen", s.last_seen},
            {"new", s.is_new}};
}

json to_json(const io::MessageSummary& m) {
    return {{"id", m.id},
            {"received", m.received},
            {"queue_id", m.job_id},
            {"reporter", m.reporter},
            {"ip", m.ip},
            {"header_from", m.header_from},
            {"policy_domain", m.policy_domain},
            {"dmarc_result", m.dmarc_result},
            {"disposition", m.disposition},
            {"action", m.action},
            {"spf_aligned", m.spf_aligned},
            {"dkim_aligned", m.dkim_aligned}};
}

json to_json(const io::MessageDetail& d) {
    json j = to_json(d.summary);
    j["helo"] = d.helo;
    j["mail_from"] = d.mail_from;
    j["envelope_domain"] = d.env_domain;
    j["rcpt_to"] = d.rcpt_to;
    j["discovery_method"] = d.discovery_method;
    j["spf"] = {{"result", d.spf_result}, {"domain", d.spf_domain}, {"scope", d.spf_scope}};
    json dkim = json::array();
    for (const auto& k : d.dkim) {
        dkim.push_back({{"d", k.dkim_d}, {"s", k.selector}, {"result", k.result}});
    }
    j["dkim"] = dkim;
    j["arc"] = {{"result", d.arc_result}, {"policy", d.arc_policy}};
    j["policy_applied"] = d.policy_applied;
    j["override_reasons"] = d.override_reasons;
    j["origin"] = d.origin;
    j["is_report"] = d.is_report;
    if (d.has_record) {
        j["record"] = {{"p", d.record_p},
                       {"sp", d.record_sp},
                       {"np", d.record_np},
                       {"adkim", d.record_adkim},
                       {"aspf", d.record_aspf},
                       {"pct", d.record_pct},
                       {"testing", d.record_testing},
                       {"fo", d.record_fo},
                       {"rua", d.record_rua}};
    } else {
        j["record"] = nullptr;
    }
    j["report_id"] = d.report_id ? json(*d.report_id) : json(nullptr);
    return j;
}

json opt_json(const std::optional<std::int64_t>& v) {
    return v ? json(*v) : json(nullptr);
}

json to_json(const io::ReportRow& r) {
    json deliveries = json::array();
    for (const auto& d : r.deliveries) {
        deliveries.push_back({{"id", d.id},
                              {"destination", d.destination},
                              {"address", d.address},
                              {"status", d.status},
                              {"attempts", d.attempts},
                              {"last_attempt", opt_json(d.last_attempt)},
                              {"next_retry", opt_json(d.next_retry)},
                              {"sent_at", opt_json(d.sent_at)},
                              {"smtp_reply", d.smtp_reply}});
    }
    return {{"id", r.id},
            {"policy_domain", r.policy_domain},
            {"report_id", r.report_id},
            {"format", r.format},
            {"compression", r.compression},
            {"period_begin", r.period_begin},
            {"period_end", r.period_end},
            {"created", r.created},
            {"message_count", r.message_count},
            {"record_count", r.record_count},
            {"archive_bytes", r.archive_bytes},
            {"deliveries", deliveries}};
}

json to_json(const DmarcLookup& l) {
    return {{"name", "_dmarc." + l.domain},
            {"outcome", std::string(to_string(l.outcome))},
            {"record", l.record_text},
            {"detail", l.detail},
            {"describe", l.describe()}};
}

json filter_json(const FilterForm& f) {
    return {{"period", f.period},
            {"from", f.filter.from},
            {"to", f.filter.to},
            {"header_from", f.header_from},
            {"ip", f.ip},
            {"result", f.result},
            {"disposition", f.disposition},
            {"queue_id", f.queue_id}};
}

std::string_view content_type_of(std::string_view name) {
    if (name.ends_with(".css")) return "text/css; charset=utf-8";
    if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (name.ends_with(".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

std::optional<io::MessageCursor> parse_cursor(std::string_view text) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    io::MessageCursor c;
    if (!parse_i64(text.substr(0, dash), c.received) || !parse_i64(text.substr(dash + 1), c.id)) {
        return std::nullopt;
    }
    return c;
}

}  // namespace

std::string FilterForm::query() const {
    std::string q = "period=" + percent_encode(period);
    auto add = [&q](std::string_view name, const std::string& value) {
        if (value.empty()) return;
        q += '&';
        q += name;
        q += '=';
        q += percent_encode(value);
    };
    if (period == "custom") {
        add("from", from_date);
        add("to", to_date);
    }
    add("header_from", header_from);
    add("ip", ip);
    add("result", result);
    add("disposition", disposition);
    add("queue_id", queue_id);
    return q;
}

Result<std::vector<std::string>> parse_scope_domains(std::string_view typed) {
    std::vector<std::string> out;
    std::string_view rest = typed;
    for (;;) {
        const auto comma = rest.find(',');
        const std::string_view item = text::trim(rest.substr(0, comma));
        if (item.empty()) {
            return make_error(Errc::invalid_value, "an empty domain in the list");
        }
        auto domain = to_a_label_domain(item, LabelRule::hostname);
        if (!domain) {
            return make_error(Errc::invalid_value, "not a domain name: " + std::string(item) +
                                                       " (" + domain.error().message + ")");
        }
        if (domain->find('.') == std::string::npos) {
            return make_error(Errc::invalid_value,
                              "a domain of two labels or more is needed: " + std::string(item));
        }
        out.push_back(std::move(*domain));
        if (out.size() > limits::kMaxScopeDomains) {
            return make_error(Errc::limit,
                              "more than " + std::to_string(limits::kMaxScopeDomains) + " domains");
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string FilterForm::cache_key() const {
    return query() + "#" + filter.scope.key();
}

Result<FilterForm> parse_filter(const Request& request, io::DomainScope scope) {
    FilterForm f;
    f.filter.scope = std::move(scope);
    std::string period = request.param("period");
    f.from_date = request.param("from");
    f.to_date = request.param("to");
    if (period.empty()) period = (!f.from_date.empty() || !f.to_date.empty()) ? "custom" : "7d";
    if (!one_of(period, {"24h", "7d", "30d", "90d", "all", "custom"})) {
        return make_error(Errc::invalid_value, "unknown period");
    }
    f.period = period;
    // Relative periods move by whole minutes, so an aggregate can be reused for a minute
    // (ResultCache) instead of being recomputed for every second's window.
    const std::int64_t now = request.now - request.now % 60;
    if (period == "24h") {
        f.filter.from = now - 86400;
        f.filter.to = now + 60;  // a bounded span: the store then picks hourly buckets
    } else if (period == "7d") {
        f.filter.from = now - 7 * 86400;
    } else if (period == "30d") {
        f.filter.from = now - 30 * 86400;
    } else if (period == "90d") {
        f.filter.from = now - 90 * 86400;
    } else if (period == "custom") {
        if (!f.from_date.empty()) {
            auto from = parse_date(f.from_date);
            if (!from) return make_error(Errc::invalid_value, "from: expected YYYY-MM-DD");
            f.filter.from = *from;
        }
        if (!f.to_date.empty()) {
            auto to = parse_date(f.to_date);
            if (!to) return make_error(Errc::invalid_value, "to: expected YYYY-MM-DD");
            f.filter.to = *to + 86400;  // the whole last day
        }
    }
    if (period != "custom") {
        f.from_date.clear();
        f.to_date.clear();
    }
    f.header_from = lower(request.param("header_from"));
    f.ip = request.param("ip");
    f.result = request.param("result");
    f.disposition = request.param("disposition");
    f.queue_id = request.param("queue_id");
    if (f.header_from.size() > kMaxFilterText || !printable(f.header_from)) {
        return make_error(Errc::limit, "header_from: too long or not printable");
    }
    if (f.ip.size() > kMaxIpText || !printable(f.ip)) {
        return make_error(Errc::limit, "ip: too long or not printable");
    }
    if (f.queue_id.size() > kMaxQueueId || !printable(f.queue_id)) {
        return make_error(Errc::limit, "queue_id: too long or not printable");
    }
    if (!f.result.empty() &&
        !one_of(f.result, {"pass", "fail", "none", "temperror", "permerror"})) {
        return make_error(Errc::invalid_value, "unknown result");
    }
    if (!f.disposition.empty() &&
        !one_of(f.disposition, {"none", "quarantine", "reject", "pass"})) {
        return make_error(Errc::invalid_value, "unknown disposition");
    }
    f.filter.header_from = f.header_from;
    f.filter.ip = f.ip;
    f.filter.dmarc_result = f.result;
    f.filter.disposition = f.disposition;
    f.filter.queue_id = f.queue_id;
    return f;
}

Result<std::string> normalise_suppression_pattern(std::string_view typed) {
    std::string_view t = text::trim(typed);
    if (t.empty()) return make_error(Errc::invalid_value, "an address or a domain is required");
    if (t.size() > 254) return make_error(Errc::limit, "longer than an address can be");
    std::string local;
    std::string_view domain = t;
    if (auto at = t.rfind('@'); at != std::string_view::npos) {
        std::string_view lp = t.substr(0, at);
        domain = t.substr(at + 1);
        if (lp.empty() || lp.size() > 64) {
            return make_error(Errc::invalid_value, "the local part must have 1 to 64 characters");
        }
        if (lp.front() == '.' || lp.back() == '.' || lp.find("..") != std::string_view::npos) {
            return make_error(Errc::invalid_value, "the local part is not a dot-atom");
        }
        for (char c : lp) {
            if (c != '.' && !text::is_atext(c)) {
                return make_error(Errc::invalid_value,
                                  "the local part may hold only letters, digits and "
                                  "!#$%&'*+-/=?^_`{|}~ and dots");
            }
        }
        local = std::string(lp) + "@";
    }
    auto d = to_a_label_domain(domain, LabelRule::hostname);
    if (!d) return make_error(Errc::invalid_value, "not a domain name: " + d.error().message);
    if (d->find('.') == std::string::npos) {
        return make_error(Errc::invalid_value, "a domain needs at least two labels");
    }
    return local + *d;
}

bool App::host_allowed(const Request& request) const {
    std::string host = lower(request.host);
    // Strip the port: "[::1]:8080" -> "::1", "name:8080" -> "name".
    if (host.starts_with('[')) {
        auto close = host.find(']');
        if (close == std::string::npos) return false;
        host = host.substr(1, close - 1);
    } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
        host = host.substr(0, colon);
    }
    if (host.empty()) return false;
    for (const auto& allowed : options_.allowed_hosts) {
        if (host == lower(allowed)) return true;
    }
    if (!request.local_ip.empty() && host == lower(request.local_ip)) return true;
    // A browser only sends "localhost" for a page it loaded from localhost: never a rebinding.
    const bool loopback = request.local_ip.starts_with("127.") || request.local_ip == "::1";
    return loopback && host == "localhost";
}

Result<std::shared_ptr<const io::Overview>> App::cached_overview(const FilterForm& form,
                                                                 std::int64_t now) {
    const std::string window =
        std::to_string(form.filter.from) + "-" + std::to_string(form.filter.to);
    // By value: in the background the computation may outlive this request.
    return overview_cache_.get(form.cache_key(), window, now, [this, filter = form.filter, now] {
        auto o = store_.overview(filter, options_.top_n);
        if (o) o->computed_at = now;
        return o;
    });
}

bool App::warm(std::int64_t now, const std::atomic<bool>* stop) {
    const auto stopped = [stop] { return stop != nullptr && stop->load(); };
    Request request;
    request.now = now;
    // What an admin or unscoped viewer sees first (a scoped user's first visit computes its own).
    auto form = parse_filter(request, io::DomainScope::everything());
    if (!form) return true;  // nothing to compute
    (void)cached_overview(*form, now);
    (void)by_result_cache_.get("messages", "", now, [this] { return store_.messages_by_result(); });
    const std::string window =
        std::to_string(form->filter.from) + "-" + std::to_string(form->filter.to);
    (void)domains_cache_.get(form->cache_key(), window, now, [this, filter = form->filter, now] {
        return computed_at(store_.domains(filter, 500), now);
    });
    (void)sources_cache_.get(form->cache_key(), window, now, [this, filter = form->filter, now] {
        return computed_at(store_.sources(filter, 500), now);
    });
    // Then the overview behind the other period buttons, shortest first: on a large store the
    // first look at 90 days is seconds of work (1.3 s at 1,000,000 messages). Once cached, a
    // later visit is answered at once and refreshed in the background. "all" is left to its
    // first visit (the whole store). A stop (SIGTERM) ends this between two periods.
    for (const char* period : {"24h", "30d", "90d"}) {
        if (stopped()) return false;
        Request other;
        other.now = now;
        other.query.emplace("period", period);
        auto other_form = parse_filter(other, io::DomainScope::everything());
        if (other_form) (void)cached_overview(*other_form, now);
    }
    return true;
}

void add_security_headers(Response& r, bool tls) {
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
    r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
    bool has_cache = false;
    for (const auto& [name, value] : r.headers) has_cache |= name == "Cache-Control";
    if (!has_cache) r.headers.emplace_back("Cache-Control", "no-store");
    if (tls) r.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
}

Response App::handle(const Request& request) noexcept {
    Response r;
    try {
        r = route(request);
    } catch (const std::exception& e) {
        r = Response::plain(500, "internal error");
    } catch (...) {
        r = Response::plain(500, "internal error");
    }
    try {
        add_security_headers(r, request.tls);
    } catch (...) {
    }
    return r;
}

Response App::login_form(const Request& request, std::string error, unsigned status) {
    // A fresh double-submit token per form: the cookie (SameSite=Strict, HttpOnly) and the
    // hidden field must match on POST, so a cross-site form cannot log a victim in.
    // A browser may load the form twice (a favicon or prefetch that lands on /login): keep a
    // well-formed token it already holds, so the form it shows still matches its cookie.
    std::string token;
    if (auto c = request.cookies.find(kLoginCookie);
        c != request.cookies.end() && c->second.size() == 64 &&
        c->second.find_first_not_of("0123456789abcdef") == std::string::npos) {
        token = c->second;
    } else {
        token = random_token();
    }
    Response r = html_response(login_page(token, error), status);
    r.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, token, "/login", request.tls, 3600));
    return r;
}

Response App::login_post(const Request& request) {
    if (!request.content_type.starts_with("application/x-www-form-urlencoded")) {
        return Response::plain(415, "expected a form");
    }
    auto form = parse_form(request.body);
    if (!form) return Response::plain(400, "malformed form");
    auto field = [&form](const char* name) {
        auto it = form->find(name);
        return it == form->end() ? std::string() : it->second;
    };
    auto login_cookie = request.cookies.find(kLoginCookie);
    if (login_cookie == request.cookies.end() ||
        !tokens_equal(login_cookie->second, field("csrf"))) {
        return Response::plain(403, "CSRF token missing or wrong: reload the login page");
    }
    if (!limiter_.allowed(request.client_ip, request.now)) {
        return login_form(request, "Too many failed logins from this address; try again later.",
                          429);
    }
    const std::string user = field("user");
    const std::string password = field("password");
    if (user.empty() || user.size() > 64 || password.size() > 1024) {
        limiter_.failure(request.client_ip, request.now);
        return login_form(request, "Wrong user name or password.", 401);
    }
    auto found = store_.find_user(user);
    if (!found) return Response::plain(503, "store unavailable");
    bool ok = false;
    if (*found && !(*found)->disabled) {
        ok = verify_password((*found)->password_hash, password);
    } else {
        verify_dummy(password);
    }
    if (!ok) {
        limiter_.failure(request.client_ip, request.now);
        return login_form(request, "Wrong user name or password.", 401);
    }
    limiter_.success(request.client_ip);
    // A new id on every login (no fixation): any session the browser had is dropped.
    if (auto old = request.cookies.find(kSessionCookie); old != request.cookies.end()) {
        sessions_.remove(old->second);
    }
    Session s =
        sessions_.create((*found)->name, request.now, credential_tag((*found)->password_hash));
    Response r = Response::redirect("/");
    r.user = s.user;
    r.headers.emplace_back("Set-Cookie", cookie(kSessionCookie, s.id, "/", request.tls, -1));
    r.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, "", "/login", request.tls, 0));
    return r;
}

namespace {

std::optional<std::int64_t> id_between(std::string_view path, std::string_view prefix,
                                       std::string_view suffix) {
    if (!path.starts_with(prefix) || !path.ends_with(suffix) ||
        path.size() <= prefix.size() + suffix.size()) {
        return std::nullopt;
    }
    std::int64_t id = 0;
    if (!parse_i64(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()), id) ||
        id <= 0) {
        return std::nullopt;
    }
    return id;
}

}  // namespace

Response App::change(const Request& request, const Session& session, const io::WebUser& user,
                     const std::multimap<std::string, std::string>& form) {
    const std::string& path = request.path;
    auto field = [&form](const char* name) {
        auto it = form.find(name);
        return it == form.end() ? std::string() : it->second;
    };
    const bool known = path == "/suppressions" || id_between(path, "/suppressions/", "/delete") ||
                       id_between(path, "/reports/", "/resend");
    if (!known) return Response::plain(404, "not found");
    // The role as the store has it now (route), not as it was at login.
    if (user.role != "admin") return Response::plain(403, "admins only");
    if (!options_.writer) return Response::plain(503, "this dashboard is read-only");
    PageContext context{session.user, user.role, session.csrf, "suppressions"};

    if (path == "/suppressions") {
        auto show_error = [&](std::string message) {
            auto rows = store_.suppressions();
            if (!rows) return Response::plain(503, "store unavailable");
            Response r;
            r.status = 400;
            r.body = layout(context, Html("Suppressions"),
                            suppressions_page(*rows, context, message, request.now))
                         .str();
            return r;
        };
        auto pattern = normalise_suppression_pattern(field("pattern"));
        if (!pattern) return show_error(pattern.error().message);
        std::string comment = std::string(text::trim(field("comment")));
        if (comment.size() > limits::kMaxSuppressionCommentBytes || !printable(comment)) {
            return show_error("the comment must be at most 500 printable characters");
        }
        std::optional<std::int64_t> expires;
        if (std::string e = field("expires"); !e.empty()) {
            auto date = parse_date(e);
            if (!date) return show_error("expires: expected YYYY-MM-DD");
            expires = *date + 86400;  // through the whole day given
            if (*expires <= request.now) return show_error("expires: that day is over");
        }
        if (auto r = options_.writer->add_suppression(*pattern, comment, expires, request.now);
            !r) {
            return Response::plain(503, "store unavailable");
        }
        return Response::redirect("/suppressions");
    }
    if (auto id = id_between(path, "/suppressions/", "/delete")) {
        auto removed = options_.writer->remove_suppression(*id);
        if (!removed) return Response::plain(503, "store unavailable");
        if (!*removed) return Response::plain(404, "no such suppression");
        return Response::redirect("/suppressions");
    }
    auto id = id_between(path, "/reports/", "/resend");
    auto changed = options_.writer->resend_report(*id, request.now);
    if (!changed) {
        if (changed.error().code == Errc::not_found) return Response::plain(404, "no such report");
        return Response::plain(503, "store unavailable");
    }
    return Response::redirect("/reports/" + std::to_string(*id) +
                              "?resent=" + std::to_string(*changed));
}

Response App::dns_check(const Request& request, PageContext& context, bool api) {
    context.active = "dns";
    const std::string typed = request.param("domain");
    auto page = [&](const DnsCheck* check, std::string_view error, unsigned status) {
        return html_response(
            layout(context, Html("DNS check"), dns_check_page(typed, check, error)), status);
    };
    if (typed.empty()) {
        if (api) return json_error(400, "domain: required");
        return page(nullptr, "", 200);
    }
    auto domain = to_a_label_domain(text::trim(typed), LabelRule::hostname);
    if (!domain || domain->find('.') == std::string::npos) {
        const std::string why = "domain: not a domain name";
        return api ? json_error(400, why) : page(nullptr, why, 400);
    }
    if (!options_.resolver) {
        const std::string why = "no DNS resolver is configured";
        return api ? json_error(503, why) : page(nullptr, why, 503);
    }
    // A check holds a server thread for up to its budget: one at a time, so the others stay
    // free for the pages.
    if (dns_checks_running_.fetch_add(1) >= 1) {
        dns_checks_running_.fetch_sub(1);
        const std::string why = "another DNS check is running; try again in a moment";
        return api ? json_error(503, why) : page(nullptr, why, 503);
    }
    DnsCheck check;
    try {
        check = run_dns_check(*options_.resolver, *domain, options_.dns_check_budget);
    } catch (...) {
        dns_checks_running_.fetch_sub(1);
        throw;
    }
    dns_checks_running_.fetch_sub(1);
    if (!api) return page(&check, "", 200);
    const auto& d = check.discovery;
    json path = json::array();
    for (const auto& l : d.path) path.push_back(to_json(l));
    json record = nullptr;
    if (d.record) {
        const auto& r = *d.record;
        json rua = json::array();
        for (const auto& u : r.rua) rua.push_back(u.uri);
        record = {{"p", std::string(to_string(r.p))},
                  {"sp", r.sp ? json(std::string(to_string(*r.sp))) : json(nullptr)},
                  {"np", r.np ? json(std::string(to_string(*r.np))) : json(nullptr)},
                  {"adkim", std::string(to_string(r.adkim))},
                  {"aspf", std::string(to_string(r.aspf))},
                  {"pct", r.pct},
                  {"testing", r.testing},
                  {"rua", rua},
                  {"warnings", r.warnings},
                  {"canonical", to_string(r)}};
    }
    json spf_terms = json::array();
    if (check.spf.parsed) {
        for (const auto& m : check.spf.parsed->mechanisms) spf_terms.push_back(m.text);
    }
    return json_response({{"domain", check.domain},
                          {"discovery",
                           {{"status", std::string(to_string(d.status))},
                            {"policy_domain", d.policy_domain},
                            {"organizational_domain", d.organizational_domain},
                            {"record_text", d.record_text},
                            {"record", record},
                            {"detail", d.detail},
                            {"path", path}}},
                          {"spf",
                           {{"records", check.spf.records},
                            {"error", check.spf.error},
                            {"terms", spf_terms},
                            {"redirect", check.spf.parsed && check.spf.parsed->redirect
                                             ? json(*check.spf.parsed->redirect)
                                             : json(nullptr)}}},
                          {"budget_spent", check.budget_spent},
                          {"milliseconds", static_cast<std::int64_t>(check.seconds * 1000)}});
}

Response App::route(const Request& request) {
    const std::string& path = request.path;
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    auto method_not_allowed = [](std::string_view allow) {
        Response r = Response::plain(405, "method not allowed");
        r.headers.emplace_back("Allow", std::string(allow));
        return r;
    };

    // DNS rebinding (a hostile name resolving to this address): the Host must be ours. HTTP/1.1
    // requires the field (RFC 9112 §3.2); a name we do not serve is 421 (RFC 9110 §15.5.20).
    if (options_.check_host) {
        if (request.host.empty()) return Response::plain(400, "Host header required");
        if (!host_allowed(request)) return Response::plain(421, "unknown host name");
    }

    // Public routes.
    if (path == "/healthz") {
        if (!get) return method_not_allowed("GET");
        if (auto ping = store_.ping(); !ping) return Response::plain(503, "store unavailable");
        return Response::plain(200, "ok");
    }
    if (path == "/metrics") {
        if (!get) return method_not_allowed("GET");
        auto by_result = by_result_cache_.get("messages", "", request.now,
                                              [this] { return store_.messages_by_result(); });
        auto by_status = store_.deliveries_by_status();
        if (!by_result || !by_status) return Response::plain(503, "store unavailable");
        Response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_.render(**by_result, *by_status);
        return r;
    }
    if (path.starts_with("/static/")) {
        if (!get) return method_not_allowed("GET");
        std::string_view name = std::string_view(path).substr(8);
        for (const auto& asset : all_assets()) {
            if (asset.name == name) {
                Response r;
                r.content_type = std::string(content_type_of(name));
                r.body = std::string(asset.body);
                r.headers.emplace_back("Cache-Control", "private, max-age=3600");
                return r;
            }
        }
        return Response::plain(404, "not found");
    }

    if (path == "/favicon.ico") return Response::plain(404, "not found");

    std::optional<Session> session;
    if (auto c = request.cookies.find(kSessionCookie); c != request.cookies.end()) {
        session = sessions_.find(c->second, request.now);
    }

    if (path == "/login") {
        if (get) {
            if (session) return Response::redirect("/");
            return login_form(request, "", 200);
        }
        if (post) return login_post(request);
        return method_not_allowed("GET, POST");
    }

    const bool api = path.starts_with("/api/");
    // The user as the store has it now: a role or scope changed by `dmarc-web user role` or
    // `user domains` applies to live sessions at once (authorisation below uses `user`, never
    // what was true at login), and a user that is gone or disabled, or whose password changed
    // since this session logged in (`user passwd`), is logged out.
    std::optional<io::WebUser> user;
    if (session) {
        auto found = store_.find_user(session->user);
        if (!found) {
            return api ? json_error(503, "store unavailable")
                       : Response::plain(503, "store unavailable");
        }
        if (!*found || (*found)->disabled ||
            (!session->credential.empty() &&
             session->credential != credential_tag((*found)->password_hash))) {
            sessions_.remove(session->id);
            session.reset();
        } else {
            user = std::move(**found);
        }
    }
    if (!session) {
        if (api) return json_error(401, "login required");
        if (post) return Response::plain(403, "login required");
        return Response::redirect("/login");
    }

    // Every other POST changes state: it needs a form and the session's CSRF token.
    if (post) {
        if (!request.content_type.starts_with("application/x-www-form-urlencoded")) {
            return Response::plain(403, "CSRF token missing");
        }
        auto form = parse_form(request.body);
        auto token =
            form ? form->find("csrf") : std::multimap<std::string, std::string>::iterator{};
        if (!form || token == form->end() || !tokens_equal(token->second, session->csrf)) {
            return Response::plain(403, "CSRF token missing or wrong");
        }
        if (path == "/logout") {
            sessions_.remove(session->id);
            Response r = Response::redirect("/login");
            r.user = session->user;
            r.headers.emplace_back("Set-Cookie", cookie(kSessionCookie, "", "/", request.tls, 0));
            return r;
        }
        Response r = change(request, *session, *user, *form);
        r.user = session->user;
        return r;
    }
    if (!get) return method_not_allowed("GET, POST");
    if (path == "/logout") return method_not_allowed("POST");

    // Admins are never scoped (the schema's CHECK); a scoped row is honoured whatever it says.
    const io::DomainScope& scope = user->scope;
    PageContext context{session->user, user->role, session->csrf, {}, scope};
    auto finish = [&session](Response r) {
        r.user = session->user;
        return r;
    };
    auto bad_filter = [&](const Error& e) {
        if (api) return finish(json_error(400, e.message));
        return finish(html_response(error_page(Html::text(e.message)), 400));
    };
    auto unavailable = [&]() {
        if (api) return finish(json_error(503, "store unavailable"));
        return finish(html_response(error_page(Html("The store is unavailable.")), 503));
    };

    if (path == "/api/me") {
        return finish(json_response({{"user", session->user},
                                     {"role", user->role},
                                     {"scoped", !scope.all},
                                     {"domains", scope.domains}}));
    }
    if (path == "/" || path == "/api/overview") {
        auto form = parse_filter(request, scope);
        if (!form) return bad_filter(form.error());
        auto cached = cached_overview(*form, request.now);
        if (!cached) return unavailable();
        const io::Overview* o = cached->get();
        if (api) {
            json series = json::array();
            for (const auto& p : o->series) {
                series.push_back({{"start", p.bucket_start},
                                  {"messages", p.messages},
                                  {"dmarc_pass", p.dmarc_pass}});
            }
            json domains = json::array(), sources = json::array();
            for (const auto& d : o->domains) domains.push_back(to_json(d));
            for (const auto& s : o->failing_sources) sources.push_back(to_json(s));
            return finish(json_response({{"filter", filter_json(*form)},
                                         {"messages", o->messages},
                                         {"dmarc_pass", o->dmarc_pass},
                                         {"spf_aligned", o->spf_aligned},
                                         {"dkim_aligned", o->dkim_aligned},
                                         {"disposition",
                                          {{"none", o->disposition_none},
                                           {"quarantine", o->disposition_quarantine},
                                           {"reject", o->disposition_reject},
                                           {"pass", o->disposition_pass}}},
                                         {"bucket_seconds", o->bucket_seconds},
                                         {"computed_at", o->computed_at},
                                         {"series", series},
                                         {"domains", domains},
                                         {"failing_sources", sources}}));
        }
        context.active = "overview";
        return finish(html_response(
            layout(context, Html("Overview"), overview_page(*o, *form, request.now))));
    }
    if (path == "/messages" || path == "/api/messages") {
        auto form = parse_filter(request, scope);
        if (!form) return bad_filter(form.error());
        std::optional<io::MessageCursor> cursor;
        if (auto before = request.param("before"); !before.empty()) {
            cursor = parse_cursor(before);
            if (!cursor) return bad_filter(Error{Errc::invalid_value, "before: expected TIME-ID"});
        }
        auto page = store_.messages(form->filter, cursor, options_.page_size);
        if (!page) return unavailable();
        if (api) {
            json rows = json::array();
            for (const auto& m : page->rows) rows.push_back(to_json(m));
            json next = page->next ? json(std::to_string(page->next->received) + "-" +
                                          std::to_string(page->next->id))
                                   : json(nullptr);
            return finish(json_response(
                {{"filter", filter_json(*form)}, {"messages", rows}, {"next", next}}));
        }
        context.active = "messages";
        return finish(
            html_response(layout(context, Html("Messages"), messages_page(*page, *form))));
    }
    for (std::string_view prefix : {"/messages/", "/api/messages/"}) {
        if (!path.starts_with(prefix)) continue;
        std::int64_t id = 0;
        if (!parse_i64(std::string_view(path).substr(prefix.size()), id) || id <= 0) {
            return finish(api ? json_error(404, "not found") : Response::plain(404, "not found"));
        }
        auto detail = store_.message(id, scope);
        if (!detail) return unavailable();
        if (!*detail) {
            return finish(api ? json_error(404, "not found")
                              : html_response(error_page(Html("No such message.")), 404));
        }
        if (api) return finish(json_response(to_json(**detail)));
        context.active = "messages";
        return finish(
            html_response(layout(context, Html("Message ") + Html::text((*detail)->summary.job_id),
                                 message_detail_page(**detail))));
    }
    if (path == "/domains" || path == "/api/domains") {
        auto form = parse_filter(request, scope);
        if (!form) return bad_filter(form.error());
        auto cached = domains_cache_.get(
            form->cache_key(),
            std::to_string(form->filter.from) + "-" + std::to_string(form->filter.to), request.now,
            [this, filter = form->filter, now = request.now] {
                return computed_at(store_.domains(filter, 500), now);
            });
        if (!cached) return unavailable();
        const auto* domains = &(*cached)->value;
        const std::int64_t at = (*cached)->at;
        if (api) {
            json rows = json::array();
            for (const auto& d : *domains) rows.push_back(to_json(d));
            return finish(json_response(
                {{"filter", filter_json(*form)}, {"computed_at", at}, {"domains", rows}}));
        }
        context.active = "domains";
        return finish(html_response(
            layout(context, Html("Domains"), domains_page(*domains, *form, at, request.now))));
    }
    if (path == "/sources" || path == "/api/sources") {
        auto form = parse_filter(request, scope);
        if (!form) return bad_filter(form.error());
        auto cached = sources_cache_.get(
            form->cache_key(),
            std::to_string(form->filter.from) + "-" + std::to_string(form->filter.to), request.now,
            [this, filter = form->filter, now = request.now] {
                return computed_at(store_.sources(filter, 500), now);
            });
        if (!cached) return unavailable();
        const auto* sources = &(*cached)->value;
        const std::int64_t at = (*cached)->at;
        // Reverse DNS never waits: what the cache knows now, the rest queued.
        std::vector<ReverseDnsCache::Answer> rdns;
        if (options_.rdns) {
            for (const auto& s : *sources) rdns.push_back(options_.rdns->lookup(s.ip, request.now));
        }
        if (api) {
            json rows = json::array();
            for (std::size_t i = 0; i < sources->size(); ++i) {
                json row = to_json((*sources)[i]);
                if (!rdns.empty()) {
                    const auto& a = rdns[i];
                    row["rdns_status"] = a.state == ReverseDnsCache::State::found  ? "found"
                                         : a.state == ReverseDnsCache::State::none ? "none"
                                                                                   : "resolving";
                    row["rdns"] =
                        a.state == ReverseDnsCache::State::found ? json(a.name) : json(nullptr);
                }
                rows.push_back(std::move(row));
            }
            return finish(json_response(
                {{"filter", filter_json(*form)}, {"computed_at", at}, {"sources", rows}}));
        }
        context.active = "sources";
        return finish(html_response(layout(context, Html("Sources"),
                                           sources_page(*sources, *form, rdns, at, request.now))));
    }
    if (path == "/reports" || path == "/api/reports") {
        auto reports = store_.reports(500, scope);
        if (!reports) return unavailable();
        if (api) {
            json rows = json::array();
            for (const auto& r : *reports) rows.push_back(to_json(r));
            return finish(json_response({{"reports", rows}}));
        }
        context.active = "reports";
        return finish(
            html_response(layout(context, Html("Reports"), reports_page(*reports, context, ""))));
    }
    if (auto id = id_between(path, "/reports/", "/download")) {
        auto report = store_.report(*id, scope);
        if (!report) return unavailable();
        if (!*report || (*report)->archive.empty()) {
            return finish(html_response(error_page(Html("No such report archive.")), 404));
        }
        Response r;
        const bool zip = io::sniff_archive((*report)->archive) == io::ArchiveKind::zip;
        r.content_type = zip ? "application/zip" : "application/gzip";
        r.body = std::move((*report)->archive);
        io::ReportRow named = (*report)->report;
        named.compression = zip ? "zip" : "gzip";
        r.headers.emplace_back(
            "Content-Disposition",
            "attachment; filename=\"" + report_filename(named, options_.report_receiver) + "\"");
        return finish(std::move(r));
    }
    for (std::string_view prefix : {"/reports/", "/api/reports/"}) {
        if (!path.starts_with(prefix)) continue;
        std::int64_t id = 0;
        if (!parse_i64(std::string_view(path).substr(prefix.size()), id) || id <= 0) {
            return finish(api ? json_error(404, "not found") : Response::plain(404, "not found"));
        }
        auto report = store_.report(id, scope);
        if (!report) return unavailable();
        if (!*report) {
            return finish(api ? json_error(404, "not found")
                              : html_response(error_page(Html("No such report.")), 404));
        }
        // The archive as built: sniffed, not trusted by its label, and bounded (zip bombs).
        std::optional<std::string> xml;
        std::string xml_error;
        if ((*report)->archive.empty()) {
            xml_error = "No archive stored for this report.";
        } else if (auto x =
                       io::decompress_report((*report)->archive, limits::kMaxReportPreviewBytes)) {
            xml = std::move(*x);
        } else {
            xml_error = "The archive cannot be shown: " + x.error().message;
        }
        if (api) {
            json j = to_json((*report)->report);
            j["xml"] = xml ? json(*xml) : json(nullptr);
            if (!xml) j["xml_error"] = xml_error;
            return finish(json_response(j));
        }
        context.active = "reports";
        std::string notice;
        if (auto resent = request.param("resent"); !resent.empty()) {
            std::int64_t n = 0;
            if (parse_i64(resent, n)) {
                notice = std::to_string(n) +
                         " deliveries set back to pending: the next dmarc-reporter run sends them.";
            }
        }
        Html body;
        if (!notice.empty())
            body += Html("<p class=\"notice\">") + Html::text(notice) + Html("</p>");
        body += report_detail_page((*report)->report, xml ? &*xml : nullptr, xml_error, context);
        return finish(html_response(
            layout(context, Html("Report ") + Html::text((*report)->report.policy_domain), body)));
    }
    if (path == "/suppressions" || path == "/api/suppressions") {
        // Store-wide (other customers' report addresses): not for a scoped user.
        if (!scope.all) {
            return finish(api ? json_error(403, "not in your scope")
                              : html_response(error_page(Html("Not in your scope.")), 403));
        }
        auto rows = store_.suppressions();
        if (!rows) return unavailable();
        if (api) {
            json out = json::array();
            for (const auto& r : *rows) {
                out.push_back({{"id", r.id},
                               {"pattern", r.pattern},
                               {"comment", r.comment},
                               {"added", r.added},
                               {"expires", r.expires ? json(*r.expires) : json(nullptr)},
                               {"active", !r.expires || *r.expires > request.now}});
            }
            return finish(json_response({{"suppressions", out}}));
        }
        context.active = "suppressions";
        return finish(html_response(layout(context, Html("Suppressions"),
                                           suppressions_page(*rows, context, "", request.now))));
    }
    if (path == "/dns" || path == "/api/dns") {
        return finish(dns_check(request, context, api));
    }
    return finish(api ? json_error(404, "not found") : Response::plain(404, "not found"));
}

}  // namespace dmarc::web
