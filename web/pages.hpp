// Server-rendered pages of dmarc-web (issue 7 item 2): every value from the store goes through
// Html::text; charts are inline SVG with presentation attributes only (the CSP has no
// 'unsafe-inline', so no style attribute and no inline script appear anywhere).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/store_queries.hpp"
#include "web/html.hpp"
#include "web/routes.hpp"

namespace dmarc::web {

struct PageContext {
    std::string user, role, csrf;
    std::string_view active;  // nav item: overview messages domains sources
};

std::string utc_time(std::int64_t epoch);  // "2026-11-29 20:34:38"
std::string utc_date(std::int64_t epoch);  // "2026-11-29"

Html layout(const PageContext& context, const Html& title, const Html& body);
Html login_page(std::string_view login_token, std::string_view error);
Html overview_page(const io::Overview& overview, const FilterForm& form);
Html messages_page(const io::MessagePage& page, const FilterForm& form);
Html message_detail_page(const io::MessageDetail& detail);
Html domains_page(const std::vector<io::DomainStats>& domains, const FilterForm& form);
Html sources_page(const std::vector<io::SourceStats>& sources, const FilterForm& form);
Html error_page(const Html& message);

// Charts, exposed for tests: a stacked bar per bucket (pass / not pass).
Html series_chart(const std::vector<io::DayPoint>& series, std::int64_t bucket_seconds);

}  // namespace dmarc::web
