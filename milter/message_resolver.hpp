// One message's view of the milter's resolver: once a query of this message has timed out, its
// remaining queries answer temperror at once instead of each waiting DNSTimeout again. A message
// makes several queries in turn (SPF self-validation, then DMARC discovery: RFC 7208 §4.6.4,
// RFC 9989 §4.10); with the server down, each would wait out the timeout and the MTA would see
// several DNSTimeouts, where the result (temperror) is already known after the first.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "core/dns.hpp"

namespace dmarc::milter {

class MessageResolver final : public DnsResolver {
  public:
    // timeout_ms: DNSTimeout. now_ms: a monotonic clock (Services::now_ms).
    MessageResolver(DnsResolver& inner, std::uint64_t timeout_ms,
                    std::function<std::uint64_t()> now_ms)
        : inner_(inner), timeout_ms_(timeout_ms), now_ms_(std::move(now_ms)) {}

    // No-wait mode (a milter event thread deciding): answers only what the inner resolver has
    // at hand; anything else is a temperror, and would_block() tells the caller to decide the
    // message again on a thread that may wait.
    void set_no_wait(bool on) noexcept { no_wait_ = on; }
    bool would_block() const noexcept { return would_block_; }
    // The decision made with these answers is kept: the inner resolver counts them now
    // (DnsResolver::count_answered_now). A decision dropped at would_block() counts nothing.
    void keep_answers() {
        if (answered_now_ > 0) inner_.count_answered_now(std::exchange(answered_now_, 0));
    }

    DnsResponse lookup(std::string_view name, RrType type) override {
        if (no_wait_) {
            if (auto now = inner_.lookup_now(name, type)) {
                ++answered_now_;
                return std::move(*now);
            }
            would_block_ = true;
            DnsResponse skipped = DnsResponse::make(DnsStatus::temperror);
            skipped.why = "not cached (decided again on a thread that may wait)";
            return skipped;
        }
        if (timed_out_) {
            DnsResponse skipped = DnsResponse::make(DnsStatus::temperror);
            skipped.why = "not asked: an earlier query of this message timed out";
            return skipped;
        }
        const std::uint64_t start = now_ms_();
        DnsResponse r = inner_.lookup(name, type);
        // io/dns says "timeout" when its deadline cut the query off; libunbound may also give
        // up on a silent server itself just before that and answer SERVFAIL. Either way the
        // server did not answer in time.
        if (r.status == DnsStatus::temperror &&
            (r.why == "timeout" || now_ms_() - start >= timeout_ms_ * 3 / 4)) {
            timed_out_ = true;
        }
        return r;
    }

    bool timed_out() const noexcept { return timed_out_; }

  private:
    DnsResolver& inner_;
    std::uint64_t timeout_ms_;
    std::function<std::uint64_t()> now_ms_;
    bool timed_out_ = false;  // one message is decided on one thread
    bool no_wait_ = false;
    bool would_block_ = false;
    std::uint64_t answered_now_ = 0;  // lookup_now answers, not yet counted
};

}  // namespace dmarc::milter
