// Fuzz target: From field parsing (RFC 5322 §3.4, §4.4; RFC 6854). Whatever parses must hold
// only normalised A-label domains (RFC 7489 §6.6.1), distinct author domains, bounded mailboxes,
// and must re-parse to the same mailboxes when written back in quoted form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/domain_name.hpp"
#include "core/from_header.hpp"
#include "core/limits.hpp"

namespace {

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    auto from = dmarc::parse_from_field(body);
    if (!from) {
        if (from.error().message.empty()) std::abort();
        return 0;
    }
    if (from->mailboxes.size() > dmarc::limits::kMaxFromMailboxes) std::abort();
    if (from->mailboxes.empty() && from->groups == 0) std::abort();

    std::string rewritten;
    for (const dmarc::Mailbox& m : from->mailboxes) {
        if (m.domain_literal) {
            if (!m.domain.empty()) std::abort();
            continue;
        }
        auto again = dmarc::to_a_label_domain(m.domain);
        if (!again || *again != m.domain) std::abort();
        if (!rewritten.empty()) rewritten += ", ";
        if (!m.display_name.empty()) rewritten += quoted(m.display_name) + " ";
        rewritten += "<" + quoted(m.local_part) + "@" + m.domain + ">";
    }

    auto domains = dmarc::author_domains(*from);
    for (std::size_t i = 0; i < domains.size(); ++i) {
        for (std::size_t j = i + 1; j < domains.size(); ++j) {
            if (domains[i] == domains[j]) std::abort();
        }
    }

    // Written back with every display name and local part quoted, the same mailboxes result.
    if (!rewritten.empty() && rewritten.size() <= dmarc::limits::kMaxHeaderFieldBytes) {
        auto reparsed = dmarc::parse_from_field(rewritten);
        if (!reparsed) std::abort();
        std::size_t k = 0;
        for (const dmarc::Mailbox& m : from->mailboxes) {
            if (m.domain_literal) continue;
            if (k >= reparsed->mailboxes.size()) std::abort();
            const dmarc::Mailbox& r = reparsed->mailboxes[k++];
            if (r.display_name != m.display_name || r.local_part != m.local_part ||
                r.domain != m.domain) {
                std::abort();
            }
        }
        if (k != reparsed->mailboxes.size()) std::abort();
    }
    return 0;
}
