// Fuzz target: public suffix list parsing and lookups. The input is a list text, then (after the
// first NUL byte) names to look up, one per line. Invariants (RFC 7489 §3.2): the public suffix
// is the name or one of its parents; the Organizational Domain is the public suffix plus
// exactly one label of the name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/domain_name.hpp"
#include "core/org_domain.hpp"

namespace {

void check(const dmarc::PublicSuffixList& list, std::string_view name) {
    auto suffix = list.public_suffix(name);
    auto org = list.organizational_domain(name);
    auto normalised = dmarc::to_a_label_domain(name, dmarc::LabelRule::dns);
    if (!normalised) {
        if (suffix || org) std::abort();  // an invalid name has neither
        return;
    }
    if (!suffix || !dmarc::is_same_or_subdomain(*normalised, *suffix)) std::abort();
    if (org) {
        if (!dmarc::is_same_or_subdomain(*normalised, *org)) std::abort();
        if (org->size() <= suffix->size() || org->substr(org->find('.') + 1) != *suffix) {
            std::abort();
        }
    } else if (*suffix != *normalised) {
        std::abort();  // no Organizational Domain only when the name is itself a suffix
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::size_t nul = input.find('\0');
    std::string_view list_text = input.substr(0, nul);
    std::string_view names =
        nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
    auto list = dmarc::PublicSuffixList::parse(list_text);
    if (!list) return 0;
    for (std::string_view fixed : {"com", "example.com", "a.b.example.co.uk", "www.ck", "x.y"}) {
        check(*list, fixed);
    }
    std::size_t start = 0;
    while (start < names.size()) {
        std::size_t end = names.find('\n', start);
        if (end == std::string_view::npos) end = names.size();
        check(*list, names.substr(start, end - start));
        start = end + 1;
    }
    return 0;
}
