// OpenDMARC's HistoryFile text format (reference opendmarc.md §3): one `key value` line per fact,
// a record starts at `job <id>`. The reader is streaming (history files hold millions of records)
// and reports every problem with its line number while keeping every good record; the writer
// produces text that opendmarc-import reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmarc {

// OpenDMARC's ARES result codes (opendmarc-ar.h) as used in `dkim`, `spf` and `arc` lines.
namespace ares {
inline constexpr int kPass = 0, kSoftfail = 2, kNeutral = 3, kTemperror = 4, kPermerror = 5,
                     kNone = 6, kFail = 7, kPolicy = 8, kNxdomain = 9, kSigned = 10, kUnknown = 11,
                     kDiscard = 12, kNotEvaluated = -1;
}
// `policy` codes (opendmarc_get_policy_to_enforce) and `action` codes (history §3).
namespace history_policy {
inline constexpr int kAbsent = 14, kPass = 15, kReject = 16, kQuarantine = 17, kNone = 18;
}
namespace history_action {
inline constexpr int kReject = 0, kDiscard = 1, kAccept = 2, kTempfail = 3, kQuarantine = 4;
}

struct HistoryDkim {
    std::string domain;
    std::string selector;  // "-" in the file when unknown; stored empty
    int result = ares::kNone;
    friend bool operator==(const HistoryDkim&, const HistoryDkim&) = default;
};

struct HistoryRecord {
    std::string job;
    std::string reporter;
    std::int64_t received = 0;  // epoch seconds
    std::string ipaddr;
    std::string from;   // RFC5322.From domain as written (OpenDMARC keeps its case)
    std::string mfrom;  // envelope domain, may be empty
    std::vector<HistoryDkim> dkim;
    std::vector<int> spf;          // ARES codes, one or more
    std::optional<int> spf_scope;  // develop branch: 1 mfrom, 2 helo, -1 unknown
    std::string pdomain;
    int policy = history_policy::kAbsent;
    std::vector<std::string> rua;  // raw URIs incl. !size; "-" means none and is not stored
    int pct = 0;
    int adkim = 0, aspf = 0;            // ASCII codes 'r' 's', 0 unknown
    int p = 0, sp = 0;                  // ASCII codes 'n' 'q' 'r', 0 unspecified
    std::optional<int> fo;              // develop branch bitmask
    int align_dkim = 0, align_spf = 0;  // 4 pass, 5 fail, 0 not computed
    std::optional<int> arc;
    std::optional<int> arc_policy;
    std::string arc_policy_json;  // the "json:[...]" data, kept verbatim
    int action = history_action::kAccept;
    std::size_t first_line = 0;  // line of `job`, for messages
    friend bool operator==(const HistoryRecord&, const HistoryRecord&) = default;
};

struct HistoryIssue {
    std::size_t line = 0;
    std::string message;
};

// Feed lines in order; a completed record comes back when the next `job` line (or finish())
// closes it. A record that lacks a required key (job, received, ipaddr, from, policy, action)
// or holds a malformed required value is dropped with an issue; a bad optional line is dropped
// with an issue and the record kept.
class HistoryReader {
  public:
    std::optional<HistoryRecord> feed_line(std::string_view line);
    std::optional<HistoryRecord> finish();

    const std::vector<HistoryIssue>& issues() const noexcept { return issues_; }
    std::size_t line_number() const noexcept { return line_no_; }
    std::size_t records_dropped() const noexcept { return dropped_; }

  private:
    std::optional<HistoryRecord> close_record();
    void issue(std::string message);

    std::optional<HistoryRecord> current_;
    unsigned seen_required_ = 0;  // bit set of required keys seen in current_
    bool current_bad_ = false;
    std::size_t line_no_ = 0;
    std::size_t dropped_ = 0;
    std::vector<HistoryIssue> issues_;
};

// Whole-text convenience for tests and small files.
struct HistoryParse {
    std::vector<HistoryRecord> records;
    std::vector<HistoryIssue> issues;
};
HistoryParse parse_history_text(std::string_view text);

// The record in OpenDMARC's key order, newline-terminated lines.
std::string to_history_text(const HistoryRecord& record);

}  // namespace dmarc
