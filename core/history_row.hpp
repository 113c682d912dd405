// Maps an OpenDMARC HistoryFile record (opendmarc.md §3: ARES codes, policy and action codes,
// ASCII-coded p/sp/adkim/aspf, fo bitmask) onto the SpoolRow vocabulary of core/types.hpp, so
// dmarc-collector stores migrated history exactly like spool rows. What OpenDMARC never records
// (HELO, recipients, the envelope address, discovery method) stays empty.
#pragma once

#include <optional>

#include "core/history_text.hpp"
#include "core/spool_row.hpp"

namespace dmarc {

// ARES result codes (opendmarc-ar.h) as RFC 8601 results: softfail -> fail (RFC 8601 has no
// dkim softfail), nxdomain -> permerror, signed/unknown/discard/not evaluated -> none.
DkimResult dkim_result_from_ares(int code) noexcept;
SpfResult spf_result_from_ares(int code) noexcept;
// The other way, for the HistoryFile the milter writes, from the same tables (a value read back
// from its code is the value written): each result's own ARES code,
int ares_from_dkim_result(DkimResult result) noexcept;
int ares_from_spf_result(SpfResult result) noexcept;
// p/sp as the ASCII code the file holds ('n', 'q', 'r'; 0 unspecified), and the action code.
int history_policy_letter(std::optional<Policy> policy) noexcept;
int history_action_code(MilterAction action) noexcept;

SpoolRow to_spool_row(const HistoryRecord& record);

}  // namespace dmarc
