// Prometheus text exposition (prometheus.io/docs/instrumenting/exposition_formats) for dmarc-web:
// requests by status class, a request latency histogram, and messages in the store by result.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "io/store_queries.hpp"

namespace dmarc::web {

class Metrics {
  public:
    static constexpr std::array<double, 11> kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,   1.0,  2.5,   5.0};
    void observe(unsigned status, double seconds) noexcept;
    std::string render(const std::vector<io::ResultCount>& by_result,
                       const std::vector<io::ResultCount>& deliveries_by_status = {}) const;

  private:
    std::array<std::atomic<std::uint64_t>, 6> by_class_{};  // index status/100 (1..5), 0 other
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_micros_{0};
};

}  // namespace dmarc::web
