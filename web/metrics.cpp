// Prometheus text format 0.0.4: counters and one histogram with cumulative buckets.
#include "web/metrics.hpp"

#include <cstdio>

namespace dmarc::web {

void Metrics::observe(unsigned status, double seconds) noexcept {
    std::size_t cls = status / 100;
    if (cls >= by_class_.size()) cls = 0;
    by_class_[cls].fetch_add(1, std::memory_order_relaxed);
    std::size_t i = 0;
    while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string Metrics::render(const std::vector<io::ResultCount>& by_result,
                            const std::vector<io::ResultCount>& deliveries_by_status) const {
    std::string out;
    char line[160];
    out += "# HELP dmarc_messages Messages in the store by DMARC result.\n";
    out += "# TYPE dmarc_messages gauge\n";
    for (const auto& r : by_result) {
        // Results are the store's own tokens (pass, fail, ...): label-safe, but escape anyway.
        std::string label;
        for (char c : r.result) {
            if (c == '\\' || c == '"') label += '\\';
            if (c == '\n') {
                label += "\\n";
                continue;
            }
            label += c;
        }
        out += "dmarc_messages{result=\"" + label + "\"} " + std::to_string(r.messages) + "\n";
    }
    out += "# HELP dmarc_report_deliveries Report deliveries in the ledger by status.\n";
    out += "# TYPE dmarc_report_deliveries gauge\n";
    for (const auto& r : deliveries_by_status) {
        std::string label;
        for (char c : r.result) {
            // Statuses are the ledger's CHECKed tokens; anything else is dropped, not escaped.
            if ((c >= 'a' && c <= 'z') || c == '_') label += c;
        }
        out += "dmarc_report_deliveries{status=\"" + label + "\"} " + std::to_string(r.messages) +
               "\n";
    }
    out += "# HELP dmarc_web_requests_total HTTP requests answered, by status class.\n";
    out += "# TYPE dmarc_web_requests_total counter\n";
    static constexpr const char* kClass[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (std::size_t i = 0; i < by_class_.size(); ++i) {
        std::snprintf(line, sizeof line, "dmarc_web_requests_total{code=\"%s\"} %llu\n", kClass[i],
                      static_cast<unsigned long long>(by_class_[i].load()));
        out += line;
    }
    out += "# HELP dmarc_web_request_duration_seconds Time from request read to response ready.\n";
    out += "# TYPE dmarc_web_request_duration_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += buckets_[i].load();
        std::snprintf(line, sizeof line,
                      "dmarc_web_request_duration_seconds_bucket{le=\"%g\"} %llu\n", kBuckets[i],
                      static_cast<unsigned long long>(cumulative));
        out += line;
    }
    cumulative += buckets_[kBuckets.size()].load();
    std::snprintf(line, sizeof line,
                  "dmarc_web_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "dmarc_web_request_duration_seconds_sum %.6f\n"
                  "dmarc_web_request_duration_seconds_count %llu\n",
                  static_cast<unsigned long long>(cumulative),
                  static_cast<double>(sum_micros_.load()) / 1e6,
                  static_cast<unsigned long long>(count_.load()));
    out += line;
    return out;
}

}  // namespace dmarc::web
