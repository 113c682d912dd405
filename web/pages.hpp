// Server-rendered pages of dmarc-web (issue 7 item 2): every value from the store goes through
// Html::text; charts are inline SVG with presentation attributes only (the CSP has no
// 'unsafe-inline', so no style attribute and no inline script appear anywhere).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/store_queries.hpp"
#include "web/dns_check.hpp"
#include "web/html.hpp"
#include "web/rdns.hpp"
#include "web/routes.hpp"

namespace dmarc::web {

struct PageContext {
    std::string user, role, csrf;
    std::string_view active;  // nav item: overview messages domains sources reports ...
    // The user's domain scope (everything for admins and unscoped viewers).
    io::DomainScope scope = io::DomainScope::everything();
    bool admin() const { return role == "admin"; }
};

std::string utc_time(std::int64_t epoch);  // "2026-11-29 20:34:38"
std::string utc_date(std::int64_t epoch);  // "2026-11-29"

Html layout(const PageContext& context, const Html& title, const Html& body);
Html login_page(std::string_view login_token, std::string_view error);
// An answer computed (`computed_at`) two minutes or more before `now` says so, with its time:
// the cache shows it while it computes a newer one. Empty otherwise.
Html stale_note(std::int64_t computed_at, std::int64_t now);
Html overview_page(const io::Overview& overview, const FilterForm& form, std::int64_t now);
Html messages_page(const io::MessagePage& page, const FilterForm& form);
Html message_detail_page(const io::MessageDetail& detail);
Html domains_page(const std::vector<io::DomainStats>& domains, const FilterForm& form,
                  std::int64_t computed_at, std::int64_t now);
// rdns: one answer per source, in order (empty: no resolver configured).
Html sources_page(const std::vector<io::SourceStats>& sources, const FilterForm& form,
                  const std::vector<ReverseDnsCache::Answer>& rdns, std::int64_t computed_at,
                  std::int64_t now);
Html reports_page(const std::vector<io::ReportRow>& reports, const PageContext& context,
                  std::string_view notice);
// xml: the decompressed report (nullptr with xml_error when it could not be shown).
Html report_detail_page(const io::ReportRow& report, const std::string* xml,
                        std::string_view xml_error, const PageContext& context);
Html suppressions_page(const std::vector<io::SuppressionRow>& rows, const PageContext& context,
                       std::string_view error, std::int64_t now);
// check: nullptr before a domain was asked; error: why the domain was refused.
Html dns_check_page(std::string_view typed, const DnsCheck* check, std::string_view error);

// The XML re-indented two spaces a level (text nodes kept as is), for the preview; the caller
// escapes it. Input that is not well nested still comes out whole, only less neatly indented.
std::string pretty_xml(std::string_view xml);
// RFC 7489 §7.2.1.1 file name (receiver "!" domain "!" begin "!" end "!" id ".xml.gz" or
// ".zip"), reduced to [A-Za-z0-9._!-] so it is safe inside a quoted Content-Disposition.
std::string report_filename(const io::ReportRow& report, std::string_view receiver);
Html error_page(const Html& message);

// Charts, exposed for tests: a stacked bar per bucket (pass / not pass).
Html series_chart(const std::vector<io::DayPoint>& series, std::int64_t bucket_seconds);

}  // namespace dmarc::web
