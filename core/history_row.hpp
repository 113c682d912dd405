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

SpoolRow to_spool_row(const HistoryRecord& record);

}  // namespace dmarc
