// The vocabulary shared by every part of the system: DMARC policies, alignment modes and the
// result values of RFC 7489 §11 / RFC 9989 §9 (dmarc), RFC 7208 §2.6 (spf) and RFC 8601 §2.7
// (dkim, arc). to_string gives the lower-case token used in headers, history and reports;
// parse_* accepts those tokens case-insensitively and nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace dmarc {

// p= / sp= / np= values (RFC 7489 §6.3, RFC 9989 §4.7).
enum class Policy : std::uint8_t { none, quarantine, reject };

// adkim= / aspf= (RFC 7489 §3.1).
enum class AlignMode : std::uint8_t { relaxed, strict };

// dmarc= result in Authentication-Results (RFC 7489 §11.2, RFC 9989 §9.1).
enum class DmarcResult : std::uint8_t { none, pass, fail, temperror, permerror };

// RFC 7208 §2.6 results. "hardfail" (RFC 5451 spelling) parses as fail.
enum class SpfResult : std::uint8_t { none, neutral, pass, fail, softfail, temperror, permerror };

// RFC 8601 §2.7.1 dkim results.
enum class DkimResult : std::uint8_t { none, pass, fail, policy, neutral, temperror, permerror };

// ARC (RFC 8617) chain validation result as reported in A-R.
enum class ArcResult : std::uint8_t { none, pass, fail };

// What was done to the message (RFC 7489 App. C disposition; RFC 9990 adds pass).
enum class Disposition : std::uint8_t { none, quarantine, reject, pass };

// RFC 7489 App. C / RFC 9990 PolicyOverrideType.
enum class OverrideReason : std::uint8_t {
    forwarded,          // 7489 only
    sampled_out,        // 7489 only (pct)
    trusted_forwarder,  //
    mailing_list,       //
    local_policy,       //
    policy_test_mode,   // 9990 only (t=y)
    other,
};

// What the milter told the MTA (OpenDMARC's history `action`, opendmarc.md §3; discard is never
// chosen by us but appears in imported history).
enum class MilterAction : std::uint8_t { accept, reject, quarantine, tempfail, discard };

// How the policy record was found (RFC 9990 discovery_method).
enum class DiscoveryMethod : std::uint8_t { psl, treewalk };

// The SPF identity checked (RFC 7489 App. C SPFDomainScope).
enum class SpfScope : std::uint8_t { mfrom, helo };

std::string_view to_string(Policy value) noexcept;
std::string_view to_string(AlignMode value) noexcept;
std::string_view to_string(DmarcResult value) noexcept;
std::string_view to_string(SpfResult value) noexcept;
std::string_view to_string(DkimResult value) noexcept;
std::string_view to_string(ArcResult value) noexcept;
std::string_view to_string(Disposition value) noexcept;
std::string_view to_string(OverrideReason value) noexcept;
std::string_view to_string(DiscoveryMethod value) noexcept;
std::string_view to_string(SpfScope value) noexcept;
std::string_view to_string(MilterAction value) noexcept;

std::optional<Policy> parse_policy(std::string_view text) noexcept;
std::optional<AlignMode> parse_align_mode(std::string_view text) noexcept;
std::optional<DmarcResult> parse_dmarc_result(std::string_view text) noexcept;
std::optional<SpfResult> parse_spf_result(std::string_view text) noexcept;
std::optional<DkimResult> parse_dkim_result(std::string_view text) noexcept;
std::optional<ArcResult> parse_arc_result(std::string_view text) noexcept;
std::optional<Disposition> parse_disposition(std::string_view text) noexcept;
std::optional<OverrideReason> parse_override_reason(std::string_view text) noexcept;
std::optional<DiscoveryMethod> parse_discovery_method(std::string_view text) noexcept;
std::optional<SpfScope> parse_spf_scope(std::string_view text) noexcept;
std::optional<MilterAction> parse_milter_action(std::string_view text) noexcept;

}  // namespace dmarc
