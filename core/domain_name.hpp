// Domain names as DMARC compares them: lower-case A-labels (RFC 7489 §6.6.1, RFC 5890 §2.3),
// no trailing dot, length- and label-checked (RFC 1035 §2.3.4). U-labels are converted with
// libidn2 (IDNA2008, UTS #46 non-transitional mapping).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc {

enum class LabelRule {
    hostname,  // letters, digits, hyphen (RFC 952/1123 LDH): From, MAIL FROM, HELO, DKIM d=
    dns,       // also underscore and other printable bytes except '.' (_dmarc, _report names)
};

// Normalises name to a lower-case A-label domain. Strips one trailing dot; rejects an empty
// name, an empty label, a label over 63 bytes, a name over 253 bytes, and (LabelRule::hostname)
// any character outside LDH or a label that starts or ends with '-'. Single-label names are
// accepted: whether they make sense is the caller's decision.
Result<std::string> to_a_label_domain(std::string_view name, LabelRule rule = LabelRule::hostname);

// Labels of an already-normalised name, left to right ("a.b.c" -> {"a","b","c"}).
std::vector<std::string_view> split_labels(std::string_view name);

// True if name equals parent or ends with "." + parent (both normalised).
bool is_same_or_subdomain(std::string_view name, std::string_view parent) noexcept;

}  // namespace dmarc
