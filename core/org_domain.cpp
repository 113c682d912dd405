// Public suffix list parsing and lookup (see org_domain.hpp). The algorithm is the one of
// publicsuffix.org ("Formal algorithm"): the prevailing rule is an exception rule if one
// matches, else the matching rule with the most labels, else the implicit "*".
#include "core/org_domain.hpp"

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

constexpr std::string_view kBeginIcann = "===BEGIN ICANN DOMAINS===";
constexpr std::string_view kBeginPrivate = "===BEGIN PRIVATE DOMAINS===";

// Offsets of the first byte of each label: "a.b.c" -> {0, 2, 4}.
std::vector<std::size_t> label_starts(std::string_view name) {
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '.') starts.push_back(i + 1);
    }
    return starts;
}

}  // namespace

Result<PublicSuffixList> PublicSuffixList::parse(std::string_view list_text) {
    if (list_text.size() > limits::kMaxPublicSuffixListBytes) {
        return make_error(Errc::limit, "public suffix list larger than " +
                                           std::to_string(limits::kMaxPublicSuffixListBytes) +
                                           " bytes");
    }
    PublicSuffixList list;
    enum class Section { none, icann, priv } section = Section::none;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < list_text.size()) {
        std::size_t end = list_text.find('\n', pos);
        if (end == std::string_view::npos) end = list_text.size();
        std::string_view line = list_text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;

        line = text::trim(line);
        if (line.empty()) continue;
        if (line.substr(0, 2) == "//") {
            if (line.find(kBeginIcann) != std::string_view::npos) section = Section::icann;
            if (line.find(kBeginPrivate) != std::string_view::npos) section = Section::priv;
            continue;
        }
        // "Each line is only read up to the first whitespace" (publicsuffix.org format).
        std::size_t ws = 0;
        while (ws < line.size() && !text::is_wsp(line[ws])) ++ws;
        std::string_view rule = line.substr(0, ws);

        std::uint8_t flag = kRule;
        if (rule.front() == '!') {
            flag = kException;
            rule.remove_prefix(1);
        } else if (rule.substr(0, 2) == "*.") {
            flag = kWildcard;
            rule.remove_prefix(2);
        }
        auto name = to_a_label_domain(rule, LabelRule::dns);
        // A '*' left anywhere (e.g. "a.*.b") is not part of the published format: skip.
        if (!name || name->find('*') != std::string::npos) {
            list.warnings_.push_back("line " + std::to_string(line_no) + ": rule '" +
                                     std::string(line.substr(0, ws)) + "' skipped" +
                                     (name ? "" : ": " + name.error().message));
            continue;
        }
        list.rules_[*name] |= flag;
        if (section == Section::priv) {
            ++list.private_rules_;
        } else {
            ++list.icann_rules_;  // rules before any section marker count as ICANN
        }
    }
    if (list.rules_.empty()) {
        return make_error(Errc::invalid_value, "public suffix list holds no usable rule");
    }
    return list;
}

std::size_t PublicSuffixList::suffix_start(std::string_view name,
                                           const std::vector<std::size_t>& starts) const {
    const std::size_t n = starts.size();
    std::vector<std::uint8_t> flags(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        auto it = rules_.find(name.substr(starts[i]));
        if (it != rules_.end()) flags[i] = it->second;
    }
    // An exception rule prevails over every other rule; its public suffix is the rule minus
    // its left-most label. The longest exception wins if (absurdly) several match.
    for (std::size_t i = 0; i + 1 < n; ++i) {
        if (flags[i] & kException) return i + 1;
    }
    // Otherwise the matching rule with the most labels: scanning from the longest suffix,
    // the first name that is a rule, or whose parent carries a wildcard, is it.
    for (std::size_t i = 0; i < n; ++i) {
        if (flags[i] & kRule) return i;
        if (i + 1 < n && (flags[i + 1] & kWildcard)) return i;
    }
    return n - 1;  // the implicit "*" rule: the TLD
}

std::optional<std::string> PublicSuffixList::public_suffix(std::string_view domain) const {
    auto name = to_a_label_domain(domain, LabelRule::dns);
    if (!name) return std::nullopt;
    auto starts = label_starts(*name);
    return name->substr(starts[suffix_start(*name, starts)]);
}

std::optional<std::string> PublicSuffixList::organizational_domain(std::string_view domain) const {
    auto name = to_a_label_domain(domain, LabelRule::dns);
    if (!name) return std::nullopt;
    auto starts = label_starts(*name);
    std::size_t suffix = suffix_start(*name, starts);
    if (suffix == 0) return std::nullopt;  // the name is itself a public suffix
    return name->substr(starts[suffix - 1]);
}

OrgDomainAnswer PslOrgDomainFinder::find(std::string_view domain) {
    if (!to_a_label_domain(domain, LabelRule::dns)) {
        return {OrgDomainAnswer::Status::invalid_name, {}};
    }
    auto org = list_.organizational_domain(domain);
    if (!org) return {OrgDomainAnswer::Status::none, {}};
    return {OrgDomainAnswer::Status::found, std::move(*org)};
}

}  // namespace dmarc
