// The DMARC policy record (TXT at _dmarc.<domain>): RFC 7489 §6.3-§6.4 and RFC 9989 §4.7 tags,
// with the fallbacks of standards.md §1.4 / §2.1: v=DMARC1 first and case-sensitive or it is not
// a record; unknown tags ignored; a bad value falls back to the tag's default; missing or invalid
// p (or invalid sp/np) gives p=none only when rua holds a valid mailto: URI (RFC 9989 §4.10.1).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "core/types.hpp"

namespace dmarc {

// One rua/ruf entry (RFC 7489 §6.2 dmarc-uri).
struct ReportUri {
    std::string uri;     // the URI as published, without the !size suffix
    std::string scheme;  // lower case: "mailto", "https", ...
    // mailto only: the %-decoded addr-spec and its domain (lower-case A-label).
    std::string address;
    std::string domain;
    std::optional<std::uint64_t> max_size;  // bytes; "!10m" = 10 * 2^20

    // Reports are sent by mail only (RFC 9990 §3, RFC 9991): other schemes are kept for display
    // and ignored by the reporter (RFC 7489 §6.3 "MUST be ignored").
    bool is_mailto() const noexcept { return scheme == "mailto"; }
    friend bool operator==(const ReportUri&, const ReportUri&) = default;
};

// psd= (RFC 9989 §4.7).
enum class PsdFlag : std::uint8_t { unknown, yes, no };

// fo= (RFC 7489 §6.3): which failures a ruf report is wanted for. Exactly the options listed
// are set ("fo=d" clears all_fail); without fo, or with an invalid one, the default is "0".
struct FailureOptions {
    bool all_fail = true;   // "0"
    bool any_fail = false;  // "1"
    bool dkim = false;      // "d"
    bool spf = false;       // "s"
    friend bool operator==(const FailureOptions&, const FailureOptions&) = default;
};

struct DmarcRecord {
    Policy p = Policy::none;
    // false when p was missing or invalid, or sp/np was invalid, and the record survived only
    // because rua held a mailto URI (RFC 9989 §4.10.1): then p = none and sp, np are cleared, as
    // if "v=DMARC1; p=none" had been published with the record's other tags.
    bool p_valid = true;
    std::optional<Policy> sp;  // absent: p applies to subdomains
    std::optional<Policy> np;  // absent: sp, else p, applies to non-existent subdomains
    PsdFlag psd = PsdFlag::unknown;
    bool testing = false;    // t=y (RFC 9989)
    std::uint8_t pct = 100;  // RFC 7489 only (removed by RFC 9989)
    AlignMode adkim = AlignMode::relaxed;
    AlignMode aspf = AlignMode::relaxed;
    std::vector<ReportUri> rua;
    std::vector<ReportUri> ruf;
    FailureOptions fo;
    std::string rf = "afrf";  // the registered formats named in rf=; only "afrf" exists
    std::uint32_t ri = 86400;
    // Tags that were ignored or fell back to their default, one line each, for logs and the
    // dashboard ("pct=500: not 0-100, using 100").
    std::vector<std::string> warnings;

    Policy subdomain_policy() const { return sp.value_or(p); }
    Policy nonexistent_policy() const { return np.value_or(sp.value_or(p)); }

    // Compares every member, warnings included: to compare what two records mean, compare
    // copies with the warnings cleared (the round-trip tests do).
    friend bool operator==(const DmarcRecord&, const DmarcRecord&) = default;
};

// A parsed record as a message's lookups, discovery and evaluation hold it: one parse, shared
// (the parse cache's entry, record_cache.hpp), never copied per message.
using SharedRecord = std::shared_ptr<const DmarcRecord>;

struct RecordRejection {
    enum class Kind : std::uint8_t {
        not_dmarc,  // does not start with v=DMARC1: discard, as if it were not there
        invalid,    // a DMARC record that cannot be used (no valid p and no valid rua)
        too_long,   // over limits::kMaxDmarcRecordBytes
    };
    Kind kind = Kind::not_dmarc;
    std::string reason;
    // Kind::invalid only: the tags as parsed (p_valid = false), so that the DNS tree walk can
    // still read psd= (RFC 9989 §4.10.2) and the dashboard can show what was published.
    std::optional<DmarcRecord> partial;
};

using RecordResult = tl::expected<DmarcRecord, RecordRejection>;

// Parses one TXT record (its strings already concatenated). Never throws. Decisions the RFCs
// leave open (each is tested in tests/unit/record_test.cpp):
// - a duplicated tag: the first occurrence wins, later ones are ignored with a warning;
// - "\;" (a zone-file escape leaked into the TXT data) is read as ";" with a warning;
// - only a mailto: URI counts as the "valid reporting URI" that rescues a record without a
//   valid p (other schemes MUST be ignored, RFC 7489 §6.3);
// - a rua/ruf with more than limits::kMaxReportUris URIs is rejected as a whole (warning);
// - leading and trailing WSP around the whole record is tolerated.
RecordResult parse_dmarc_record(std::string_view text);

// Parses one rua/ruf URI (with optional !size; WSP around it is trimmed); nullopt if malformed.
std::optional<ReportUri> parse_report_uri(std::string_view text);

// Chooses the DMARC record among the TXT records at one name (RFC 7489 §6.6.3 steps 2-5):
// non-DMARC records (first tag not v=DMARC1) are discarded; exactly one DMARC record is returned
// (parsed: it may still be invalid or too long); none or several give `none` / `several`, with
// `record` then holding a rejection (not_dmarc / invalid) so that it is never mistaken for a
// policy. The work is linear in the total size: only the first tag of each record is read
// before the count is known, and at most one record is parsed.
struct RecordSelection {
    enum class Outcome : std::uint8_t { none, one, several } outcome = Outcome::none;
    std::string text;  // the chosen record as published (Outcome::one)
    // Its parse (Outcome::one), shared with the parse cache when one was given. Never null.
    std::shared_ptr<const RecordResult> record;
};
// cache: where the chosen record's parse may come from (record_cache.hpp); null: parse it.
class RecordParseCache;
RecordSelection select_dmarc_record(const std::vector<std::string>& txt_records,
                                    RecordParseCache* cache = nullptr);

// Canonical text of a record, for display and tests ("v=DMARC1; p=reject; ..."): p, then only
// the tags that differ from their defaults. p is left out when p_valid is false, so that the
// text parses back to an equal record (warnings aside).
std::string to_string(const DmarcRecord& record);
// fo= as a record writes it ("0", "1:d", "d:s"); "0" when no option is set (the default).
std::string to_string(const FailureOptions& fo);

}  // namespace dmarc
