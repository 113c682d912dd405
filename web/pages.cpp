// Page rendering for dmarc-web (issue 7 item 2). Markup is literal; data enters only through
// Html::text / Html::number / url_param, so a hostile header_from renders as text.
#include "web/pages.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace dmarc::web {

namespace {

Html num(double value) {
    return Html::number(static_cast<std::int64_t>(std::llround(value)));
}

// A percentage length for SVG ("12.34%"): whole numbers would leave gaps between stacked parts.
Html percent_length(double value) {
    return Html::text(fmt::format("{:.2f}%", value));
}

Html selected_option(std::string_view value, std::string_view label, std::string_view current) {
    Html h = Html("<option value=\"") + Html::text(value) + Html("\"");
    if (value == current) h += Html(" selected");
    return h + Html(">") + Html::text(label) + Html("</option>");
}

Html filter_form(const FilterForm& form, std::string_view action, bool with_queue_id) {
    Html h = Html("<form class=\"filters\" method=\"get\" action=\"") + Html::text(action) +
             Html("\"><label>Period <select name=\"period\" class=\"autosubmit\">");
    static constexpr std::pair<std::string_view, std::string_view> kPeriods[] = {
        {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"},
        {"90d", "Last 90 days"},  {"all", "All time"},   {"custom", "Custom (dates)"}};
    for (auto [value, label] : kPeriods) h += selected_option(value, label, form.period);
    h += Html("</select></label><label>From <input type=\"date\" name=\"from\" value=\"") +
         Html::text(form.from_date) +
         Html("\"></label><label>To <input type=\"date\" name=\"to\" value=\"") +
         Html::text(form.to_date) +
         Html("\"></label><label>Header From <input name=\"header_from\" size=\"18\" value=\"") +
         Html::text(form.header_from) +
         Html("\"></label><label>Source IP <input name=\"ip\" size=\"15\" value=\"") +
         Html::text(form.ip) + Html("\"></label><label>Result <select name=\"result\">");
    for (std::string_view v : {"", "pass", "fail", "none", "temperror", "permerror"}) {
        h += selected_option(v, v.empty() ? "any" : v, form.result);
    }
    h += Html("</select></label><label>Disposition <select name=\"disposition\">");
    for (std::string_view v : {"", "none", "quarantine", "reject", "pass"}) {
        h += selected_option(v, v.empty() ? "any" : v, form.disposition);
    }
    h += Html("</select></label>");
    if (with_queue_id) {
        h += Html("<label>Queue ID <input name=\"queue_id\" size=\"12\" value=\"") +
             Html::text(form.queue_id) + Html("\"></label>");
    }
    return h + Html("<button type=\"submit\">Apply</button></form>");
}

Html result_badge(std::string_view result) {
    Html cls = result == "pass"   ? Html("ok")
               : result == "fail" ? Html("bad")
               : result == "none" ? Html("neutral")
                                  : Html("warn");
    return Html("<span class=\"badge ") + cls + Html("\">") + Html::text(result) + Html("</span>");
}

Html yes_no(bool value) {
    return value ? Html("<span class=\"badge ok\">yes</span>")
                 : Html("<span class=\"badge bad\">no</span>");
}

Html kpi(const Html& label, const Html& value, const Html& sub) {
    return Html("<div class=\"kpi\"><div class=\"kpi-label\">") + label +
           Html("</div><div class=\"kpi-value\">") + value + Html("</div><div class=\"kpi-sub\">") +
           sub + Html("</div></div>");
}

// A horizontal stacked bar of the disposition split with a legend.
Html disposition_chart(const io::Overview& o) {
    struct Part {
        Html label;
        std::int64_t count;
        Html color;
    };
    const Part parts[] = {{Html("pass"), o.disposition_pass, Html("#2e9e5b")},
                          {Html("none"), o.disposition_none, Html("#8a94a6")},
                          {Html("quarantine"), o.disposition_quarantine, Html("#e0a526")},
                          {Html("reject"), o.disposition_reject, Html("#d64545")}};
    // The bar spans the panel (percentages of an SVG as wide as its box); the legend keeps its
    // text at its own size beneath it.
    Html h = Html(
        "<svg class=\"chart bar\" width=\"100%\" height=\"28\" role=\"img\" "
        "aria-label=\"Disposition split\">");
    double x = 0;
    std::int64_t total = std::max<std::int64_t>(o.messages, 1);
    for (const auto& p : parts) {
        double w = 100.0 * static_cast<double>(p.count) / static_cast<double>(total);
        if (w > 0) {
            h += Html("<rect x=\"") + percent_length(x) +
                 Html("\" y=\"0\" height=\"28\" width=\"") + percent_length(std::max(w, 0.2)) +
                 Html("\" fill=\"") + p.color + Html("\"><title>") + p.label + Html(": ") +
                 Html::number(p.count) + Html("</title></rect>");
        }
        x += w;
    }
    h += Html("</svg><svg class=\"chart\" viewBox=\"0 0 600 24\" width=\"600\" height=\"24\">");
    double lx = 0;
    for (const auto& p : parts) {
        h += Html("<rect x=\"") + num(lx) + Html("\" y=\"8\" width=\"12\" height=\"12\" fill=\"") +
             p.color + Html("\"/><text x=\"") + num(lx + 16) + Html("\" y=\"19\">") + p.label +
             Html(" ") + Html::number(p.count) + Html("</text>");
        lx += 150;
    }
    return h + Html("</svg>");
}

Html domain_link(const FilterForm& form, std::string_view target, const std::string& domain) {
    FilterForm f = form;
    f.header_from = domain;
    return Html("<a href=\"") + Html::text(target) + Html("?") + Html::text(f.query()) +
           Html("\">") + Html::text(domain) + Html("</a>");
}

Html ip_link(const FilterForm& form, const std::string& ip) {
    FilterForm f = form;
    f.ip = ip;
    return Html("<a href=\"/messages?") + Html::text(f.query()) + Html("\">") + Html::text(ip) +
           Html("</a>");
}

Html domain_table(const std::vector<io::DomainStats>& domains, const FilterForm& form) {
    Html h = Html(
        "<table class=\"data\"><thead><tr><th>Header From</th><th class=\"num\">Messages</th>"
        "<th class=\"num\">DMARC pass %</th><th class=\"num\">SPF aligned %</th>"
        "<th class=\"num\">DKIM aligned %</th><th class=\"num\">Sources</th><th>Policy (latest)"
        "</th><th>Last seen (UTC)</th></tr></thead><tbody>");
    for (const auto& d : domains) {
        h += Html("<tr><td class=\"name\">") + domain_link(form, "/messages", d.name) +
             Html("</td><td class=\"num\">") + Html::number(d.messages) +
             Html("</td><td class=\"num\">") + Html::percent(d.dmarc_pass, d.messages) +
             Html("</td><td class=\"num\">") + Html::percent(d.spf_aligned, d.messages) +
             Html("</td><td class=\"num\">") + Html::percent(d.dkim_aligned, d.messages) +
             Html("</td><td class=\"num\">") + Html::number(d.sources) + Html("</td><td><code>") +
             Html::text(d.policy.empty() ? "no record" : d.policy) +
             Html("</code></td><td class=\"time\">") + Html::text(utc_time(d.last_seen)) +
             Html("</td></tr>");
    }
    if (domains.empty()) h += Html("<tr><td colspan=\"8\" class=\"empty\">No messages</td></tr>");
    return h + Html("</tbody></table>");
}

Html rdns_cell(const ReverseDnsCache::Answer& a) {
    switch (a.state) {
        case ReverseDnsCache::State::found:
            return Html("<td class=\"name rdns\">") + Html::text(a.name) + Html("</td>");
        case ReverseDnsCache::State::none:
            return Html("<td class=\"rdns muted\">no name</td>");
        case ReverseDnsCache::State::resolving:
            break;
    }
    return Html("<td class=\"rdns muted\">resolving…</td>");
}

Html source_table(const std::vector<io::SourceStats>& sources, const FilterForm& form,
                  const std::vector<ReverseDnsCache::Answer>* rdns = nullptr) {
    const bool with_rdns = rdns && rdns->size() == sources.size();
    Html h = Html("<table class=\"data\"><thead><tr><th>Source IP</th>");
    if (with_rdns) h += Html("<th>Reverse DNS</th>");
    h += Html(
        "<th class=\"num\">Messages</th>"
        "<th class=\"num\">DMARC pass</th><th class=\"num\">Not pass</th>"
        "<th class=\"num\">Pass %</th><th class=\"num\">Domains</th><th>First seen (UTC)</th>"
        "<th>Last seen (UTC)</th></tr></thead><tbody>");
    for (std::size_t i = 0; i < sources.size(); ++i) {
        const auto& s = sources[i];
        h += Html("<tr><td class=\"ip\">") + ip_link(form, s.ip);
        if (s.is_new) h += Html(" <span class=\"badge new\">new</span>");
        h += Html("</td>");
        if (with_rdns) h += rdns_cell((*rdns)[i]);
        h += Html("<td class=\"num\">") + Html::number(s.messages) +
             Html("</td><td class=\"num\">") + Html::number(s.dmarc_pass) +
             Html("</td><td class=\"num\">") + Html::number(s.messages - s.dmarc_pass) +
             Html("</td><td class=\"num\">") + Html::percent(s.dmarc_pass, s.messages) +
             Html("</td><td class=\"num\">") + Html::number(s.domains) +
             Html("</td><td class=\"time\">") + Html::text(utc_time(s.first_seen)) +
             Html("</td><td class=\"time\">") + Html::text(utc_time(s.last_seen)) +
             Html("</td></tr>");
    }
    if (sources.empty()) {
        h += with_rdns ? Html("<tr><td colspan=\"9\" class=\"empty\">No messages</td></tr>")
                       : Html("<tr><td colspan=\"8\" class=\"empty\">No messages</td></tr>");
    }
    return h + Html("</tbody></table>");
}

Html row(const Html& label, const Html& value) {
    return Html("<tr><th>") + label + Html("</th><td>") + value + Html("</td></tr>");
}

Html text_or_dash(const std::string& value) {
    return value.empty() ? Html("<span class=\"muted\">-</span>") : Html::text(value);
}

}  // namespace

std::string utc_time(std::int64_t epoch) {
    std::time_t t = static_cast<std::time_t>(epoch);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string utc_date(std::int64_t epoch) {
    return utc_time(epoch).substr(0, 10);
}

Html layout(const PageContext& context, const Html& title, const Html& body) {
    Html h =
        Html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>") +
        title +
        Html(
            " · dmarc-web</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
            "<script src=\"/static/app.js\" defer></script></head><body>"
            "<header class=\"top\"><span class=\"brand\">dmarc-web</span><nav>");
    static constexpr std::pair<std::string_view, std::string_view> kNav[] = {
        {"overview", "/"},       {"messages", "/messages"}, {"domains", "/domains"},
        {"sources", "/sources"}, {"reports", "/reports"},   {"suppressions", "/suppressions"},
        {"dns", "/dns"}};
    static constexpr std::string_view kLabels[] = {
        "Overview", "Messages", "Domains", "Sources", "Reports", "Suppressions", "DNS check"};
    for (std::size_t i = 0; i < std::size(kNav); ++i) {
        // The suppression list is store-wide: not shown to a scoped user (routes.cpp: 403).
        if (kNav[i].first == "suppressions" && !context.scope.all) continue;
        h += Html("<a href=\"") + Html::text(kNav[i].second) + Html("\"");
        if (kNav[i].first == context.active) h += Html(" class=\"active\"");
        h += Html(">") + Html::text(kLabels[i]) + Html("</a>");
    }
    h += Html("</nav>");
    if (!context.user.empty()) {
        h +=
            Html(
                "<form method=\"post\" action=\"/logout\" class=\"logout\">"
                "<input type=\"hidden\" name=\"csrf\" value=\"") +
            Html::text(context.csrf) + Html("\"><span class=\"user\"") +
            (context.scope.all ? Html()
                               : Html(" title=\"") + Html::text(context.scope.key()) + Html("\"")) +
            Html(">") + Html::text(context.user) + Html(" (") + Html::text(context.role) +
            (context.scope.all ? Html() : Html(", scoped")) +
            Html(")</span><button type=\"submit\">Log out</button></form>");
    }
    return h + Html("</header><main><h1>") + title + Html("</h1>") + body +
           Html("</main></body></html>");
}

Html login_page(std::string_view login_token, std::string_view error) {
    Html h = Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Log in · dmarc-web</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
        "</head><body class=\"login\"><main class=\"login-box\"><h1>dmarc-web</h1>");
    if (!error.empty()) h += Html("<p class=\"error\">") + Html::text(error) + Html("</p>");
    return h +
           Html(
               "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" "
               "value=\"") +
           Html::text(login_token) +
           Html(
               "\"><label>User <input name=\"user\" autocomplete=\"username\" required "
               "autofocus></label><label>Password <input type=\"password\" name=\"password\" "
               "autocomplete=\"current-password\" required></label>"
               "<button type=\"submit\">Log in</button></form></main></body></html>");
}

Html series_chart(const std::vector<io::DayPoint>& series, std::int64_t bucket_seconds) {
    const double width = 900, height = 220, left = 50, bottom = 30, top = 10;
    Html h = Html(
        "<svg class=\"chart wide\" viewBox=\"0 0 900 220\" width=\"900\" height=\"220\" "
        "role=\"img\" "
        "aria-label=\"Messages over time\">");
    std::int64_t max = 1;
    for (const auto& p : series) max = std::max(max, p.messages);
    const double plot_h = height - bottom - top;
    const double plot_w = width - left - 10;
    // Axis and three grid lines with their values.
    for (int i = 0; i <= 3; ++i) {
        double y = top + plot_h - plot_h * i / 3.0;
        h += Html("<line x1=\"") + num(left) + Html("\" x2=\"") + num(width - 10) +
             Html("\" y1=\"") + num(y) + Html("\" y2=\"") + num(y) +
             Html("\" stroke=\"#d5dae3\" stroke-width=\"1\"/><text class=\"axis\" x=\"") +
             num(left - 6) + Html("\" y=\"") + num(y + 4) + Html("\" text-anchor=\"end\">") +
             Html::number(max * i / 3) + Html("</text>");
    }
    if (series.empty()) {
        return h +
               Html("<text x=\"450\" y=\"110\" text-anchor=\"middle\">No messages</text></svg>");
    }
    const double slot = plot_w / static_cast<double>(series.size());
    const double bar = std::max(1.0, slot * 0.8);
    const std::size_t label_every = std::max<std::size_t>(1, series.size() / 10);
    for (std::size_t i = 0; i < series.size(); ++i) {
        const auto& p = series[i];
        double x = left + slot * static_cast<double>(i) + (slot - bar) / 2;
        double total_h = plot_h * static_cast<double>(p.messages) / static_cast<double>(max);
        double pass_h = plot_h * static_cast<double>(p.dmarc_pass) / static_cast<double>(max);
        std::string when = bucket_seconds < 86400 ? utc_time(p.bucket_start).substr(5, 11)
                                                  : utc_date(p.bucket_start);
        h += Html("<g><title>") + Html::text(when) + Html(": ") + Html::number(p.messages) +
             Html(" messages, ") + Html::number(p.dmarc_pass) + Html(" pass</title><rect x=\"") +
             num(x) + Html("\" y=\"") + num(top + plot_h - total_h) + Html("\" width=\"") +
             num(bar) + Html("\" height=\"") + num(total_h - pass_h) +
             Html("\" fill=\"#d64545\"/><rect x=\"") + num(x) + Html("\" y=\"") +
             num(top + plot_h - pass_h) + Html("\" width=\"") + num(bar) + Html("\" height=\"") +
             num(pass_h) + Html("\" fill=\"#2e9e5b\"/></g>");
        if (i % label_every == 0) {
            h += Html("<text class=\"axis\" x=\"") + num(x + bar / 2) + Html("\" y=\"") +
                 num(height - 10) + Html("\" text-anchor=\"middle\">") +
                 Html::text(bucket_seconds < 86400 ? when : when.substr(5)) + Html("</text>");
        }
    }
    return h + Html("</svg>");
}

Html stale_note(std::int64_t computed_at, std::int64_t now) {
    if (computed_at <= 0 || now - computed_at < 120) return Html();
    std::time_t at = computed_at;
    std::tm utc{};
    char when[32] = "";
    if (::gmtime_r(&at, &utc) != nullptr) {
        std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &utc);
    }
    return Html("<p class=\"muted stale\">Figures as of ") + Html::text(when) + Html(" (") +
           Html::number((now - computed_at) / 60) +
           Html(" minutes ago); newer ones are being computed: reload in a moment.</p>");
}

Html overview_page(const io::Overview& o, const FilterForm& form, std::int64_t now) {
    Html h = filter_form(form, "/", false) + stale_note(o.computed_at, now);
    h += Html("<section class=\"kpis\">") +
         kpi(Html("Messages"), Html::number(o.messages), Html("in the period")) +
         kpi(Html("DMARC pass"), Html::percent(o.dmarc_pass, o.messages) + Html(" %"),
             Html::number(o.dmarc_pass) + Html(" messages")) +
         kpi(Html("SPF aligned"), Html::percent(o.spf_aligned, o.messages) + Html(" %"),
             Html::number(o.spf_aligned) + Html(" messages")) +
         kpi(Html("DKIM aligned"), Html::percent(o.dkim_aligned, o.messages) + Html(" %"),
             Html::number(o.dkim_aligned) + Html(" messages")) +
         kpi(Html("Rejected"), Html::number(o.disposition_reject),
             Html::number(o.disposition_quarantine) + Html(" quarantined")) +
         Html("</section>");
    h += Html("<section class=\"panel\"><h2>Messages per ") +
         (o.bucket_seconds < 86400 ? Html("hour") : Html("day")) +
         Html(
             " <span class=\"legend\"><i class=\"sw pass\"></i>DMARC pass "
             "<i class=\"sw fail\"></i>not pass</span></h2>") +
         series_chart(o.series, o.bucket_seconds) + Html("</section>");
    h += Html("<section class=\"panel\"><h2>Disposition</h2>") + disposition_chart(o) +
         Html("</section>");
    h += Html("<section class=\"panel\"><h2>Domains</h2>") + domain_table(o.domains, form) +
         Html("</section>");
    h += Html("<section class=\"panel\"><h2>Top failing sources</h2>") +
         source_table(o.failing_sources, form) + Html("</section>");
    return h;
}

Html messages_page(const io::MessagePage& page, const FilterForm& form) {
    Html h = filter_form(form, "/messages", true);
    h += Html(
        "<section class=\"panel\"><table class=\"data\" id=\"messages\"><thead><tr>"
        "<th>Time (UTC)</th><th>Queue ID</th><th>Source IP</th><th>Header From</th>"
        "<th>Result</th><th>SPF al.</th><th>DKIM al.</th><th>Disposition</th><th>Action</th>"
        "<th>Reporter</th></tr></thead><tbody>");
    for (const auto& m : page.rows) {
        h += Html("<tr><td><a href=\"/messages/") + Html::number(m.id) + Html("\">") +
             Html::text(utc_time(m.received)) + Html("</a></td><td><code>") + Html::text(m.job_id) +
             Html("</code></td><td>") + ip_link(form, m.ip) + Html("</td><td class=\"name\">") +
             domain_link(form, "/messages", m.header_from) + Html("</td><td>") +
             result_badge(m.dmarc_result) + Html("</td><td>") + yes_no(m.spf_aligned) +
             Html("</td><td>") + yes_no(m.dkim_aligned) + Html("</td><td>") +
             Html::text(m.disposition) + Html("</td><td>") + Html::text(m.action) +
             Html("</td><td>") + Html::text(m.reporter) + Html("</td></tr>");
    }
    if (page.rows.empty()) {
        h += Html("<tr><td colspan=\"10\" class=\"empty\">No messages match</td></tr>");
    }
    h += Html("</tbody></table>");
    if (page.next) {
        h += Html("<p class=\"pager\"><a rel=\"next\" href=\"/messages?") +
             Html::text(form.query()) + Html("&amp;before=") + Html::number(page.next->received) +
             Html("-") + Html::number(page.next->id) + Html("\">Older messages →</a></p>");
    }
    return h + Html("</section>");
}

Html message_detail_page(const io::MessageDetail& d) {
    const auto& s = d.summary;
    Html h = Html("<p><a href=\"/messages\">← All messages</a></p><div class=\"grid2\">");
    h +=
        Html("<section class=\"panel\"><h2>Message</h2><table class=\"kv\">") +
        row(Html("Received (UTC)"), Html::text(utc_time(s.received))) +
        row(Html("Queue ID"), Html("<code>") + Html::text(s.job_id) + Html("</code>")) +
        row(Html("Reporter (MX host)"), Html::text(s.reporter)) +
        row(Html("Source IP"), Html::text(s.ip)) + row(Html("HELO"), text_or_dash(d.helo)) +
        row(Html("MAIL FROM (RFC 5321)"), text_or_dash(d.mail_from)) +
        row(Html("Envelope domain"), text_or_dash(d.env_domain)) +
        row(Html("RCPT TO"), text_or_dash(d.rcpt_to)) +
        row(Html("Header From (RFC 5322)"), Html::text(s.header_from)) +
        row(Html("Origin"), Html::text(d.origin)) +
        row(Html("Is a DMARC report"), d.is_report ? Html("yes") : Html("no")) +
        row(Html("In aggregate report"), d.report_id ? Html::text(*d.report_id) : Html("not yet")) +
        Html("</table></section>");
    h += Html("<section class=\"panel\"><h2>Evaluation trace</h2><ol class=\"trace\">");
    h += Html("<li><b>Policy discovery:</b> ");
    if (d.has_record) {
        h += Html("record found at <code>_dmarc.") + Html::text(s.policy_domain) +
             Html("</code> by ") + text_or_dash(d.discovery_method) + Html(": <code>v=DMARC1; p=") +
             Html::text(d.record_p);
        if (!d.record_sp.empty()) h += Html("; sp=") + Html::text(d.record_sp);
        if (!d.record_np.empty()) h += Html("; np=") + Html::text(d.record_np);
        h += Html("; adkim=") + Html::text(d.record_adkim.substr(0, 1)) + Html("; aspf=") +
             Html::text(d.record_aspf.substr(0, 1)) + Html("; pct=") + Html::number(d.record_pct);
        if (d.record_testing) h += Html("; t=y");
        if (!d.record_fo.empty()) h += Html("; fo=") + Html::text(d.record_fo);
        if (!d.record_rua.empty()) h += Html("; rua=") + Html::text(d.record_rua);
        h += Html("</code>");
    } else {
        h += Html("no DMARC record found");
    }
    h += Html("</li><li><b>SPF:</b> ") + result_badge(d.spf_result) + Html(" for <code>") +
         text_or_dash(d.spf_domain) + Html("</code> (scope ") + Html::text(d.spf_scope) +
         Html("), aligned with Header From: ") + yes_no(s.spf_aligned) + Html("</li>");
    h += Html("<li><b>DKIM:</b> ");
    if (d.dkim.empty()) h += Html("no signature");
    h += Html("<ul>");
    for (const auto& k : d.dkim) {
        h += Html("<li>d=<code>") + Html::text(k.dkim_d) + Html("</code> s=<code>") +
             text_or_dash(k.selector) + Html("</code> ") + result_badge(k.result) + Html("</li>");
    }
    h += Html("</ul>aligned pass: ") + yes_no(s.dkim_aligned) + Html("</li>");
    h += Html("<li><b>ARC:</b> ") + Html::text(d.arc_result);
    if (!d.arc_policy.empty()) h += Html(" <code>") + Html::text(d.arc_policy) + Html("</code>");
    h += Html("</li><li><b>DMARC result:</b> ") + result_badge(s.dmarc_result) + Html("</li>");
    h += Html("<li><b>Policy applied:</b> ") + text_or_dash(d.policy_applied) + Html("</li>");
    h += Html("<li><b>Disposition:</b> ") + Html::text(s.disposition);
    if (!d.override_reasons.empty()) {
        h += Html(" (overridden: ") + Html::text(d.override_reasons) + Html(")");
    }
    h += Html("</li><li><b>Milter action:</b> ") + Html::text(s.action) + Html("</li>");
    return h + Html("</ol></section></div>");
}

Html domains_page(const std::vector<io::DomainStats>& domains, const FilterForm& form,
                  std::int64_t computed_at, std::int64_t now) {
    return filter_form(form, "/domains", false) + stale_note(computed_at, now) +
           Html("<section class=\"panel\">") + domain_table(domains, form) + Html("</section>");
}

Html sources_page(const std::vector<io::SourceStats>& sources, const FilterForm& form,
                  const std::vector<ReverseDnsCache::Answer>& rdns, std::int64_t computed_at,
                  std::int64_t now) {
    return filter_form(form, "/sources", false) + stale_note(computed_at, now) +
           Html("<section class=\"panel\">") +
           source_table(sources, form, rdns.empty() ? nullptr : &rdns) +
           Html(
               "<p class=\"muted\">\"new\": first seen in the store inside the period.</p>"
               "</section>");
}

namespace {

Html status_badge(std::string_view status) {
    Html cls = status == "sent"                                      ? Html("ok")
               : status == "perm_failed" || status == "unauthorised" ? Html("bad")
               : status == "pending" || status == "temp_failed"      ? Html("warn")
                                                                     : Html("neutral");
    return Html("<span class=\"badge ") + cls + Html("\">") + Html::text(status) + Html("</span>");
}

Html time_or_dash(const std::optional<std::int64_t>& t) {
    return t ? Html::text(utc_time(*t)) : Html("<span class=\"muted\">-</span>");
}

Html csrf_field(const PageContext& context) {
    return Html("<input type=\"hidden\" name=\"csrf\" value=\"") + Html::text(context.csrf) +
           Html("\">");
}

Html deliveries_table(const io::ReportRow& r) {
    Html h = Html(
        "<table class=\"data deliveries\"><thead><tr><th>Destination</th><th>Status</th>"
        "<th class=\"num\">Attempts</th><th>Last attempt</th><th>Next retry</th><th>Sent</th>"
        "<th>SMTP reply</th></tr></thead><tbody>");
    for (const auto& d : r.deliveries) {
        h += Html("<tr><td class=\"name\">") + Html::text(d.address);
        if (d.destination != "mailto:" + d.address) {
            h += Html("<div class=\"muted\"><code>") + Html::text(d.destination) +
                 Html("</code></div>");
        }
        h += Html("</td><td>") + status_badge(d.status) + Html("</td><td class=\"num\">") +
             Html::number(d.attempts) + Html("</td><td>") + time_or_dash(d.last_attempt) +
             Html("</td><td>") + time_or_dash(d.next_retry) + Html("</td><td>") +
             time_or_dash(d.sent_at) + Html("</td><td class=\"reply\"><code>") +
             Html::text(d.smtp_reply) + Html("</code></td></tr>");
    }
    if (r.deliveries.empty()) {
        h += Html("<tr><td colspan=\"7\" class=\"empty\">No destination</td></tr>");
    }
    return h + Html("</tbody></table>");
}

// A UTC day as its date; any other span as its two ends.
Html period_text(const io::ReportRow& r) {
    if (r.period_begin % 86400 == 0 && r.period_end == r.period_begin + 86399) {
        return Html::text(utc_date(r.period_begin));
    }
    return Html::text(utc_time(r.period_begin)) + Html(" – ") + Html::text(utc_time(r.period_end));
}

Html resend_form(const io::ReportRow& r, const PageContext& context) {
    return Html("<form method=\"post\" class=\"inline\" action=\"/reports/") + Html::number(r.id) +
           Html("/resend\">") + csrf_field(context) +
           Html("<button type=\"submit\" class=\"secondary\">Resend</button></form>");
}

}  // namespace

Html reports_page(const std::vector<io::ReportRow>& reports, const PageContext& context,
                  std::string_view notice) {
    Html h;
    if (!notice.empty()) h += Html("<p class=\"notice\">") + Html::text(notice) + Html("</p>");
    h += Html(
        "<section class=\"panel\"><table class=\"data\" id=\"reports\"><thead><tr>"
        "<th>Domain</th><th>Period (UTC)</th><th>Report-ID</th><th>Format</th>"
        "<th class=\"num\">Messages</th><th class=\"num\">Records</th><th>Destinations</th>"
        "<th></th></tr></thead><tbody>");
    for (const auto& r : reports) {
        h += Html("<tr><td class=\"name\">") + Html::text(r.policy_domain) + Html("</td><td>") +
             period_text(r) + Html("</td><td class=\"name\"><a href=\"/reports/") +
             Html::number(r.id) + Html("\"><code>") + Html::text(r.report_id) +
             Html("</code></a></td><td>") + Html::text(r.format) + Html("</td><td class=\"num\">") +
             Html::number(r.message_count) + Html("</td><td class=\"num\">") +
             Html::number(r.record_count) + Html("</td><td><ul class=\"dests\">");
        for (const auto& d : r.deliveries) {
            h += Html("<li>") + status_badge(d.status) + Html("<span>") + Html::text(d.address) +
                 Html("</span></li>");
        }
        if (r.deliveries.empty()) h += Html("<li class=\"muted\">none</li>");
        h += Html("</ul></td><td class=\"actions\"><a href=\"/reports/") + Html::number(r.id) +
             Html("\">Preview</a> <a href=\"/reports/") + Html::number(r.id) +
             Html("/download\">Download</a>");
        if (context.admin() && !r.deliveries.empty()) h += resend_form(r, context);
        h += Html("</td></tr>");
    }
    if (reports.empty()) {
        h += Html("<tr><td colspan=\"8\" class=\"empty\">No report built yet</td></tr>");
    }
    return h + Html("</tbody></table></section>");
}

Html report_detail_page(const io::ReportRow& r, const std::string* xml, std::string_view xml_error,
                        const PageContext& context) {
    Html h = Html("<p><a href=\"/reports\">← All reports</a></p>") +
             Html("<section class=\"panel\"><h2>Report</h2><table class=\"kv\">") +
             row(Html("Domain"), Html::text(r.policy_domain)) +
             row(Html("Report-ID"), Html("<code>") + Html::text(r.report_id) + Html("</code>")) +
             row(Html("Period (UTC)"), Html::text(utc_time(r.period_begin)) + Html(" – ") +
                                           Html::text(utc_time(r.period_end))) +
             row(Html("Format"), Html::text(r.format)) +
             row(Html("Built"), Html::text(utc_time(r.created))) +
             row(Html("Messages / records"),
                 Html::number(r.message_count) + Html(" / ") + Html::number(r.record_count)) +
             row(Html("Archive"), Html::text(r.compression) + Html(", ") +
                                      Html::number(r.archive_bytes) + Html(" bytes")) +
             Html("</table><p><a class=\"button\" href=\"/reports/") + Html::number(r.id) +
             Html("/download\">Download</a></p></section>");
    h += Html("<section class=\"panel\"><h2>Deliveries");
    if (context.admin() && !r.deliveries.empty()) h += resend_form(r, context);
    h += Html("</h2>") + deliveries_table(r) + Html("</section>");
    h += Html("<section class=\"panel\"><h2>XML</h2>");
    if (xml) {
        h += Html("<pre class=\"xml\">") + Html::text(pretty_xml(*xml)) + Html("</pre>");
    } else {
        h += Html("<p class=\"muted\">") + Html::text(xml_error) + Html("</p>");
    }
    return h + Html("</section>");
}

Html suppressions_page(const std::vector<io::SuppressionRow>& rows, const PageContext& context,
                       std::string_view error, std::int64_t now) {
    Html h;
    if (!error.empty()) h += Html("<p class=\"error\">") + Html::text(error) + Html("</p>");
    if (context.admin()) {
        h += Html("<form class=\"filters\" method=\"post\" action=\"/suppressions\">") +
             csrf_field(context) +
             Html(
                 "<label>Address or domain <input name=\"pattern\" size=\"30\" required "
                 "placeholder=\"reports@example.com or example.com\"></label>"
                 "<label>Comment <input name=\"comment\" size=\"40\" maxlength=\"500\"></label>"
                 "<label>Expires (UTC, optional) <input type=\"date\" name=\"expires\"></label>"
                 "<button type=\"submit\">Add suppression</button></form>");
    }
    h += Html(
        "<section class=\"panel\"><table class=\"data\" id=\"suppressions\"><thead><tr>"
        "<th>Address or domain</th><th>Comment</th><th>Added (UTC)</th><th>Expires (UTC)</th>"
        "<th></th></tr></thead><tbody>");
    for (const auto& s : rows) {
        const bool expired = s.expires && *s.expires <= now;
        h += Html("<tr><td class=\"name\"><code>") + Html::text(s.pattern) +
             Html("</code></td><td class=\"name\">") + Html::text(s.comment) + Html("</td><td>") +
             Html::text(utc_time(s.added)) + Html("</td><td>") +
             (!s.expires                ? Html("never")
              : *s.expires % 86400 == 0 ? Html("through ") + Html::text(utc_date(*s.expires - 1))
                                        : Html::text(utc_time(*s.expires)));
        if (expired) h += Html(" <span class=\"badge neutral\">expired</span>");
        h += Html("</td><td class=\"actions\">");
        if (context.admin()) {
            h += Html("<form method=\"post\" class=\"inline\" action=\"/suppressions/") +
                 Html::number(s.id) + Html("/delete\">") + csrf_field(context) +
                 Html("<button type=\"submit\" class=\"danger\">Remove</button></form>");
        }
        h += Html("</td></tr>");
    }
    if (rows.empty()) h += Html("<tr><td colspan=\"5\" class=\"empty\">No suppression</td></tr>");
    return h + Html(
                   "</tbody></table><p class=\"muted\">dmarc-reporter sends no report to a "
                   "suppressed address, nor to any address at a suppressed domain.</p></section>");
}

namespace {

std::string_view qualifier_text(SpfQualifier q) {
    switch (q) {
        case SpfQualifier::pass:
            return "+ pass";
        case SpfQualifier::fail:
            return "- fail";
        case SpfQualifier::softfail:
            return "~ softfail";
        case SpfQualifier::neutral:
            return "? neutral";
    }
    return "";
}

Html policy_text(const std::optional<Policy>& p) {
    return p ? Html::text(to_string(*p)) : Html("<span class=\"muted\">not published</span>");
}

}  // namespace

Html dns_check_page(std::string_view typed, const DnsCheck* check, std::string_view error) {
    Html h = Html(
                 "<form class=\"filters\" method=\"get\" action=\"/dns\"><label>Domain "
                 "<input name=\"domain\" size=\"40\" required value=\"") +
             Html::text(typed) + Html("\"></label><button type=\"submit\">Check</button></form>");
    if (!error.empty()) h += Html("<p class=\"error\">") + Html::text(error) + Html("</p>");
    if (!check) return h;
    const auto& d = check->discovery;
    if (check->budget_spent) {
        h += Html(
            "<p class=\"error\">The time budget ran out: later queries were not sent and "
            "count as temperror.</p>");
    }
    h += Html(
             "<div class=\"grid2\"><section class=\"panel\"><h2>DMARC policy</h2><table "
             "class=\"kv\">") +
         row(Html("Domain"), Html::text(check->domain)) +
         row(Html("Discovery"),
             Html::text(to_string(d.status)) + Html(" (DNS Tree Walk, RFC 9989 §4.10)")) +
         row(Html("Policy domain"), text_or_dash(d.policy_domain)) +
         row(Html("Organizational domain"), text_or_dash(d.organizational_domain)) +
         row(Html("Record as published"),
             d.record_text.empty() ? Html("<span class=\"muted\">-</span>")
                                   : Html("<code>") + Html::text(d.record_text) + Html("</code>"));
    if (d.record) {
        const auto& r = *d.record;
        h += row(Html("p"), Html::text(to_string(r.p))) + row(Html("sp"), policy_text(r.sp)) +
             row(Html("np"), policy_text(r.np)) +
             row(Html("adkim / aspf"),
                 Html::text(to_string(r.adkim)) + Html(" / ") + Html::text(to_string(r.aspf))) +
             row(Html("pct"), Html::number(r.pct)) +
             row(Html("t (testing)"), r.testing ? Html("y") : Html("n"));
        Html rua;
        for (const auto& u : r.rua)
            rua += Html("<div><code>") + Html::text(u.uri) + Html("</code></div>");
        h += row(Html("rua"), r.rua.empty() ? Html("<span class=\"muted\">none</span>") : rua);
        Html warnings;
        for (const auto& w : r.warnings) warnings += Html("<div>") + Html::text(w) + Html("</div>");
        if (!r.warnings.empty()) h += row(Html("Warnings"), warnings);
        h += row(Html("Canonical"), Html("<code>") + Html::text(to_string(r)) + Html("</code>"));
    }
    h += row(Html("Decision"), text_or_dash(d.detail)) + Html("</table></section>");
    h += Html(
        "<section class=\"panel\"><h2>Discovery path</h2><ol class=\"trace\" id=\"dns-path\">");
    for (const auto& step : d.path) {
        h += Html("<li><code>") + Html::text(step.describe()) + Html("</code>");
        if (!step.detail.empty())
            h += Html(" <span class=\"muted\">") + Html::text(step.detail) + Html("</span>");
        h += Html("</li>");
    }
    if (d.path.empty()) h += Html("<li class=\"muted\">no query made</li>");
    h += Html("</ol><p class=\"muted\">") +
         Html::number(static_cast<std::int64_t>(std::llround(check->seconds * 1000))) +
         Html(" ms</p></section></div>");
    h += Html("<section class=\"panel\"><h2>SPF record</h2>");
    for (const auto& t : check->spf.records) {
        h += Html("<p><code>") + Html::text(t) + Html("</code></p>");
    }
    if (!check->spf.error.empty()) {
        h += Html("<p class=\"muted\">") + Html::text(check->spf.error) + Html("</p>");
    }
    if (check->spf.parsed) {
        h += Html(
            "<table class=\"data\" id=\"spf\"><thead><tr><th>Term</th><th>Qualifier</th>"
            "<th>Mechanism</th></tr></thead><tbody>");
        for (const auto& m : check->spf.parsed->mechanisms) {
            h += Html("<tr><td><code>") + Html::text(m.text) + Html("</code></td><td>") +
                 Html::text(qualifier_text(m.qualifier)) + Html("</td><td>") +
                 Html::text(to_string(m.kind)) + Html("</td></tr>");
        }
        if (check->spf.parsed->redirect) {
            h += Html("<tr><td><code>redirect=") + Html::text(*check->spf.parsed->redirect) +
                 Html("</code></td><td></td><td>modifier</td></tr>");
        }
        if (check->spf.parsed->exp) {
            h += Html("<tr><td><code>exp=") + Html::text(*check->spf.parsed->exp) +
                 Html("</code></td><td></td><td>modifier</td></tr>");
        }
        h += Html("</tbody></table>");
    }
    return h + Html("</section>");
}

std::string pretty_xml(std::string_view xml) {
    std::string out;
    out.reserve(xml.size() + xml.size() / 4);
    int depth = 0;
    std::size_t i = 0;
    bool last_was_open = false;  // the previous token was an opening tag
    bool text_since = false;     // text came after it
    auto newline = [&](int level) {
        if (!out.empty()) out += '\n';
        out.append(static_cast<std::size_t>(std::max(level, 0)) * 2, ' ');
    };
    while (i < xml.size()) {
        if (xml[i] == '<') {
            // Comments and CDATA end at their own terminator, not at the first '>'.
            std::size_t end = std::string_view::npos;
            if (xml.substr(i).starts_with("<!--")) {
                end = xml.find("-->", i + 4);
                if (end != std::string_view::npos) end += 2;
            } else if (xml.substr(i).starts_with("<![CDATA[")) {
                end = xml.find("]]>", i + 9);
                if (end != std::string_view::npos) end += 2;
            } else {
                end = xml.find('>', i);
            }
            if (end == std::string_view::npos) end = xml.size() - 1;
            std::string_view tag = xml.substr(i, end - i + 1);
            const bool closing = tag.starts_with("</");
            const bool self_closing =
                tag.ends_with("/>") || tag.starts_with("<?") || tag.starts_with("<!");
            if (closing) {
                depth = std::max(depth - 1, 0);  // stray closing tags stay at the margin
                // <a>text</a> stays on one line.
                if (!(last_was_open && text_since)) newline(depth);
                out += tag;
                last_was_open = false;
            } else {
                newline(depth);
                out += tag;
                if (!self_closing) ++depth;
                last_was_open = !self_closing;
            }
            text_since = false;
            i = end + 1;
        } else {
            std::size_t next = xml.find('<', i);
            if (next == std::string_view::npos) next = xml.size();
            std::string_view text = xml.substr(i, next - i);
            auto first = text.find_first_not_of(" \t\r\n");
            if (first != std::string_view::npos) {
                auto last = text.find_last_not_of(" \t\r\n");
                text = text.substr(first, last - first + 1);
                if (!last_was_open) newline(depth);
                out += text;
                text_since = true;
            }
            i = next;
        }
    }
    return out;
}

std::string report_filename(const io::ReportRow& r, std::string_view receiver) {
    std::string name = std::string(receiver) + "!" + r.policy_domain + "!" +
                       std::to_string(r.period_begin) + "!" + std::to_string(r.period_end) + "!" +
                       r.report_id + (r.compression == "zip" ? ".zip" : ".xml.gz");
    for (char& c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '!';
        if (!ok) c = '_';
    }
    if (name.size() > 200)
        name = name.substr(0, 190) + (r.compression == "zip" ? ".zip" : ".xml.gz");
    // No leading dot (a hidden file) and no ".." sequence survives.
    // Searched once per replacement, from where the last one was: "_." followed by '.' makes a
    // new ".." one place on. (One find per turn also keeps GCC 12's LTO from misreading npos as
    // a length: -Wstringop-overflow.)
    for (auto at = name.find(".."); at != std::string::npos; at = name.find("..", at)) {
        name.replace(at, 2, "_.");
    }
    if (!name.empty() && name.front() == '.') name.front() = '_';
    return name;
}

Html error_page(const Html& message) {
    return Html(
               "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · "
               "dmarc-web</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>"
               "<main><h1>Error</h1><p>") +
           message + Html("</p><p><a href=\"/\">Overview</a></p></main></body></html>");
}

}  // namespace dmarc::web
