// OpenDMARC history text reader and writer (see history_text.hpp).
#include "core/history_text.hpp"

#include <charconv>

#include <fmt/format.h>

#include "core/ip.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

enum Required : unsigned {
    kJob = 1,
    kReceived = 2,
    kIpaddr = 4,
    kFrom = 8,
    kPolicy = 16,
    kAction = 32,
    kAllRequired = 63,
};

template <class Int>
std::optional<Int> to_int(std::string_view v) {
    Int out{};
    auto res = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || res.ec != std::errc{} || res.ptr != v.data() + v.size()) return std::nullopt;
    return out;
}

std::optional<int> in_range(std::string_view v, int lo, int hi) {
    auto n = to_int<int>(v);
    if (!n || *n < lo || *n > hi) return std::nullopt;
    return n;
}

bool is_token(std::string_view v) {
    if (v.empty()) return false;
    for (char c : v) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

// Values must not break the line format when written.
std::string clean(std::string_view v) {
    std::string out(v);
    for (char& c : out) {
        if (c == '\n' || c == '\r' || c == '\0') c = '?';
    }
    return out;
}

}  // namespace

void HistoryReader::issue(std::string message) {
    // Issues are bounded too: a 10 GB file of garbage must not exhaust memory.
    if (issues_.size() < limits::kMaxHistoryIssues) {
        issues_.push_back({line_no_, std::move(message)});
    } else if (issues_.size() == limits::kMaxHistoryIssues) {
        issues_.push_back({line_no_, "too many problems; further ones are not listed"});
    }
}

std::optional<HistoryRecord> HistoryReader::close_record() {
    if (!current_) return std::nullopt;
    HistoryRecord record = std::move(*current_);
    current_.reset();
    if (current_bad_ || (seen_required_ & kAllRequired) != kAllRequired) {
        if (!current_bad_) {
            std::string missing;
            const std::pair<unsigned, const char*> names[] = {{kReceived, "received"},
                                                              {kIpaddr, "ipaddr"},
                                                              {kFrom, "from"},
                                                              {kPolicy, "policy"},
                                                              {kAction, "action"}};
            for (const auto& [bit, name] : names) {
                if (!(seen_required_ & bit))
                    missing += std::string(missing.empty() ? "" : ", ") + name;
            }
            issues_.push_back({record.first_line, "record '" + record.job + "' is incomplete (no " +
                                                      missing + "); skipped"});
        }
        ++dropped_;
        return std::nullopt;
    }
    // OpenDMARC always writes at least one spf line (-1: not evaluated); a record read without
    // one means the same, and reads back identically after writing.
    if (record.spf.empty()) record.spf.push_back(ares::kNotEvaluated);
    return record;
}

std::optional<HistoryRecord> HistoryReader::feed_line(std::string_view line) {
    ++line_no_;
    if (line.size() > limits::kMaxHistoryLineBytes) {
        issue(fmt::format("line longer than {} bytes", limits::kMaxHistoryLineBytes));
        if (current_ && !current_bad_) {
            current_bad_ = true;
            issue("record '" + current_->job + "' skipped because of the line above");
        }
        return std::nullopt;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (text::trim(line).empty()) return std::nullopt;
    auto space = line.find(' ');
    std::string_view key = line.substr(0, space);
    std::string_view value =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (key == "job") {
        auto done = close_record();
        current_.emplace();
        current_->job = clean(value);
        current_->first_line = line_no_;
        seen_required_ = kJob;
        current_bad_ = false;
        if (value.empty()) {
            issue("empty job id; record skipped");
            current_bad_ = true;
        }
        return done;
    }
    if (!current_) {
        issue(
            fmt::format("'{}' line before the first job line; ignored", clean(key.substr(0, 64))));
        return std::nullopt;
    }
    HistoryRecord& r = *current_;
    auto bad_required = [&](const char* what) -> std::optional<HistoryRecord> {
        issue(fmt::format("{}: bad value '{}'; record '{}' skipped", what,
                          clean(value.substr(0, 64)), r.job));
        current_bad_ = true;
        return std::nullopt;
    };
    auto bad_optional = [&](const char* what) -> std::optional<HistoryRecord> {
        issue(fmt::format("{}: bad value '{}'; line ignored", what, clean(value.substr(0, 64))));
        return std::nullopt;
    };
    auto once = [&](unsigned bit, const char* what) {
        if (seen_required_ & bit) {
            issue(fmt::format("{} given twice in record '{}'; record skipped", what, r.job));
            current_bad_ = true;
            return false;
        }
        seen_required_ |= bit;
        return true;
    };
    if (key == "reporter") {
        r.reporter = clean(value);
    } else if (key == "received") {
        auto n = to_int<std::int64_t>(value);
        if (!n || *n < 0) return bad_required("received");
        if (once(kReceived, "received")) r.received = *n;
    } else if (key == "ipaddr") {
        auto ip = IpAddress::parse(value);
        if (!ip) return bad_required("ipaddr");
        if (once(kIpaddr, "ipaddr")) r.ipaddr = ip->to_string();
    } else if (key == "from") {
        if (!is_token(value)) return bad_required("from");
        if (once(kFrom, "from")) r.from = std::string(value);
    } else if (key == "mfrom") {
        r.mfrom = clean(text::trim(value));
    } else if (key == "dkim") {
        // dkim <domain> <selector or -> <ARES code>
        auto s1 = value.find(' ');
        auto s2 = s1 == std::string_view::npos ? s1 : value.find(' ', s1 + 1);
        if (s2 == std::string_view::npos) return bad_optional("dkim");
        auto code = in_range(value.substr(s2 + 1), -1, 12);
        auto domain = value.substr(0, s1);
        auto selector = value.substr(s1 + 1, s2 - s1 - 1);
        if (!code || !is_token(domain) || !is_token(selector)) {
            return bad_optional("dkim");
        }
        if (r.dkim.size() >= limits::kMaxHistoryDkimLines) {
            issue("too many dkim lines; line ignored");
            return std::nullopt;
        }
        r.dkim.push_back(
            {std::string(domain), selector == "-" ? "" : std::string(selector), *code});
    } else if (key == "spf") {
        auto code = in_range(value, -1, 12);
        if (!code) return bad_optional("spf");
        if (r.spf.size() < limits::kMaxHistoryDkimLines) r.spf.push_back(*code);
    } else if (key == "spf_scope") {
        auto n = in_range(value, -1, 2);
        if (!n) return bad_optional("spf_scope");
        r.spf_scope = *n;
    } else if (key == "pdomain") {
        r.pdomain = clean(text::trim(value));
    } else if (key == "policy") {
        auto n = in_range(value, 14, 18);
        if (!n) return bad_required("policy");
        if (once(kPolicy, "policy")) r.policy = *n;
    } else if (key == "rua") {
        if (value != "-" && !value.empty()) {
            if (r.rua.size() >= limits::kMaxReportUris) {
                issue("too many rua lines; line ignored");
            } else {
                r.rua.push_back(clean(value));
            }
        }
    } else if (key == "pct") {
        auto n = in_range(value, 0, 100);
        if (!n) return bad_optional("pct");
        r.pct = *n;
    } else if (key == "adkim" || key == "aspf" || key == "p" || key == "sp") {
        auto n = in_range(value, 0, 127);
        if (!n) return bad_optional("policy tag");
        (key == "adkim" ? r.adkim : key == "aspf" ? r.aspf : key == "p" ? r.p : r.sp) = *n;
    } else if (key == "fo") {
        auto n = in_range(value, 0, 15);
        if (!n) return bad_optional("fo");
        r.fo = *n;
    } else if (key == "align_dkim" || key == "align_spf") {
        auto n = in_range(value, 0, 12);
        if (!n) return bad_optional(key == "align_dkim" ? "align_dkim" : "align_spf");
        (key == "align_dkim" ? r.align_dkim : r.align_spf) = *n;
    } else if (key == "arc") {
        auto n = in_range(value, -1, 12);
        if (!n) return bad_optional("arc");
        r.arc = *n;
    } else if (key == "arc_policy") {
        auto sp = value.find(' ');
        auto n = in_range(value.substr(0, sp), -1, 12);
        if (!n) return bad_optional("arc_policy");
        r.arc_policy = *n;
        r.arc_policy_json = sp == std::string_view::npos ? "" : clean(value.substr(sp + 1));
    } else if (key == "action") {
        auto n = in_range(value, 0, 4);
        if (!n) return bad_required("action");
        if (once(kAction, "action")) r.action = *n;
    } else {
        issue("unknown key '" + clean(key.substr(0, 64)) + "'; line ignored");
    }
    return std::nullopt;
}

std::optional<HistoryRecord> HistoryReader::finish() {
    return close_record();
}

HistoryParse parse_history_text(std::string_view text) {
    HistoryParse out;
    HistoryReader reader;
    while (!text.empty()) {
        auto nl = text.find('\n');
        if (auto r = reader.feed_line(text.substr(0, nl))) out.records.push_back(std::move(*r));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    }
    if (auto r = reader.finish()) out.records.push_back(std::move(*r));
    out.issues = reader.issues();
    return out;
}

std::string to_history_text(const HistoryRecord& r) {
    std::string out;
    auto line = [&](std::string_view key, std::string_view value) {
        out += key;
        out += ' ';
        out += clean(value);
        out += '\n';
    };
    line("job", r.job);
    line("reporter", r.reporter);
    line("received", std::to_string(r.received));
    line("ipaddr", r.ipaddr);
    line("from", r.from);
    line("mfrom", r.mfrom);
    for (const auto& d : r.dkim) {
        line("dkim",
             fmt::format("{} {} {}", d.domain, d.selector.empty() ? "-" : d.selector, d.result));
    }
    if (r.spf.empty()) line("spf", "-1");
    for (int s : r.spf) line("spf", std::to_string(s));
    if (r.spf_scope) line("spf_scope", std::to_string(*r.spf_scope));
    line("pdomain", r.pdomain);
    line("policy", std::to_string(r.policy));
    if (r.rua.empty()) line("rua", "-");
    for (const auto& u : r.rua) line("rua", u);
    line("pct", std::to_string(r.pct));
    line("adkim", std::to_string(r.adkim));
    line("aspf", std::to_string(r.aspf));
    line("p", std::to_string(r.p));
    line("sp", std::to_string(r.sp));
    if (r.fo) line("fo", std::to_string(*r.fo));
    line("align_dkim", std::to_string(r.align_dkim));
    line("align_spf", std::to_string(r.align_spf));
    if (r.arc) line("arc", std::to_string(*r.arc));
    if (r.arc_policy) {
        line("arc_policy", r.arc_policy_json.empty()
                               ? std::to_string(*r.arc_policy)
                               : fmt::format("{} {}", *r.arc_policy, r.arc_policy_json));
    }
    line("action", std::to_string(r.action));
    return out;
}

}  // namespace dmarc
