// Token tables for the enums in types.hpp. One table per enum keeps to_string and parse_* in
// step: a value added to an enum without a token fails the round-trip unit test.
#include "core/types.hpp"

#include <array>
#include <utility>

#include "core/text.hpp"

namespace dmarc {
namespace {

template <class E, std::size_t N>
using Table = std::array<std::pair<E, std::string_view>, N>;

constexpr Table<Policy, 3> kPolicy{
    {{Policy::none, "none"}, {Policy::quarantine, "quarantine"}, {Policy::reject, "reject"}}};
constexpr Table<AlignMode, 2> kAlign{{{AlignMode::relaxed, "r"}, {AlignMode::strict, "s"}}};
constexpr Table<DmarcResult, 5> kDmarc{{{DmarcResult::none, "none"},
                                        {DmarcResult::pass, "pass"},
                                        {DmarcResult::fail, "fail"},
                                        {DmarcResult::temperror, "temperror"},
                                        {DmarcResult::permerror, "permerror"}}};
constexpr Table<SpfResult, 7> kSpf{{{SpfResult::none, "none"},
                                    {SpfResult::neutral, "neutral"},
                                    {SpfResult::pass, "pass"},
                                    {SpfResult::fail, "fail"},
                                    {SpfResult::softfail, "softfail"},
                                    {SpfResult::temperror, "temperror"},
                                    {SpfResult::permerror, "permerror"}}};
constexpr Table<DkimResult, 7> kDkim{{{DkimResult::none, "none"},
                                      {DkimResult::pass, "pass"},
                                      {DkimResult::fail, "fail"},
                                      {DkimResult::policy, "policy"},
                                      {DkimResult::neutral, "neutral"},
                                      {DkimResult::temperror, "temperror"},
                                      {DkimResult::permerror, "permerror"}}};
constexpr Table<ArcResult, 3> kArc{
    {{ArcResult::none, "none"}, {ArcResult::pass, "pass"}, {ArcResult::fail, "fail"}}};
constexpr Table<Disposition, 4> kDisposition{{{Disposition::none, "none"},
                                              {Disposition::quarantine, "quarantine"},
                                              {Disposition::reject, "reject"},
                                              {Disposition::pass, "pass"}}};
constexpr Table<OverrideReason, 7> kReason{
    {{OverrideReason::forwarded, "forwarded"},
     {OverrideReason::sampled_out, "sampled_out"},
     {OverrideReason::trusted_forwarder, "trusted_forwarder"},
     {OverrideReason::mailing_list, "mailing_list"},
     {OverrideReason::local_policy, "local_policy"},
     {OverrideReason::policy_test_mode, "policy_test_mode"},
     {OverrideReason::other, "other"}}};
constexpr Table<DiscoveryMethod, 2> kDiscovery{
    {{DiscoveryMethod::psl, "psl"}, {DiscoveryMethod::treewalk, "treewalk"}}};
constexpr Table<SpfScope, 2> kScope{{{SpfScope::mfrom, "mfrom"}, {SpfScope::helo, "helo"}}};
constexpr Table<MilterAction, 5> kAction{{{MilterAction::accept, "accept"},
                                          {MilterAction::reject, "reject"},
                                          {MilterAction::quarantine, "quarantine"},
                                          {MilterAction::tempfail, "tempfail"},
                                          {MilterAction::discard, "discard"}}};

template <class E, std::size_t N>
std::string_view name_of(const Table<E, N>& table, E value) noexcept {
    for (const auto& [v, name] : table) {
        if (v == value) return name;
    }
    return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const Table<E, N>& table, std::string_view text) noexcept {
    for (const auto& [v, name] : table) {
        if (text::iequals(name, text)) return v;
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Policy v) noexcept {
    return name_of(kPolicy, v);
}
std::string_view to_string(AlignMode v) noexcept {
    return name_of(kAlign, v);
}
std::string_view to_string(DmarcResult v) noexcept {
    return name_of(kDmarc, v);
}
std::string_view to_string(SpfResult v) noexcept {
    return name_of(kSpf, v);
}
std::string_view to_string(DkimResult v) noexcept {
    return name_of(kDkim, v);
}
std::string_view to_string(ArcResult v) noexcept {
    return name_of(kArc, v);
}
std::string_view to_string(Disposition v) noexcept {
    return name_of(kDisposition, v);
}
std::string_view to_string(OverrideReason v) noexcept {
    return name_of(kReason, v);
}
std::string_view to_string(DiscoveryMethod v) noexcept {
    return name_of(kDiscovery, v);
}
std::string_view to_string(SpfScope v) noexcept {
    return name_of(kScope, v);
}

std::optional<Policy> parse_policy(std::string_view t) noexcept {
    return value_of(kPolicy, t);
}
std::optional<AlignMode> parse_align_mode(std::string_view t) noexcept {
    return value_of(kAlign, t);
}
std::optional<DmarcResult> parse_dmarc_result(std::string_view t) noexcept {
    return value_of(kDmarc, t);
}
std::optional<SpfResult> parse_spf_result(std::string_view t) noexcept {
    if (text::iequals(t, "hardfail")) return SpfResult::fail;  // RFC 5451 spelling
    return value_of(kSpf, t);
}
std::optional<DkimResult> parse_dkim_result(std::string_view t) noexcept {
    return value_of(kDkim, t);
}
std::optional<ArcResult> parse_arc_result(std::string_view t) noexcept {
    return value_of(kArc, t);
}
std::optional<Disposition> parse_disposition(std::string_view t) noexcept {
    return value_of(kDisposition, t);
}
std::optional<OverrideReason> parse_override_reason(std::string_view t) noexcept {
    return value_of(kReason, t);
}
std::optional<DiscoveryMethod> parse_discovery_method(std::string_view t) noexcept {
    return value_of(kDiscovery, t);
}
std::optional<SpfScope> parse_spf_scope(std::string_view t) noexcept {
    return value_of(kScope, t);
}

std::string_view to_string(MilterAction v) noexcept {
    return name_of(kAction, v);
}
std::optional<MilterAction> parse_milter_action(std::string_view t) noexcept {
    return value_of(kAction, t);
}

}  // namespace dmarc
