// Fuzz target: DMARC record parsing (RFC 7489 §6.3-§6.4, RFC 9989 §4.7). Whatever parses must
// print with to_string and re-parse to an equal record; record selection must agree with the
// parser on which TXT records are DMARC records; a parsed report URI must re-parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"
#include "core/record.hpp"

namespace {

dmarc::DmarcRecord without_warnings(dmarc::DmarcRecord r) {
    r.warnings.clear();
    return r;
}

bool same_result(const dmarc::RecordResult& a, const dmarc::RecordResult& b) {
    if (a.has_value() != b.has_value()) return false;
    if (a) return *a == *b;
    return a.error().kind == b.error().kind && a.error().reason == b.error().reason;
}

void check_record(std::string_view text) {
    auto r = dmarc::parse_dmarc_record(text);
    if (r) {
        if (r->pct > 100) std::abort();
        if (r->warnings.size() > dmarc::limits::kMaxRecordWarnings + 2) std::abort();
        if (r->rua.size() > dmarc::limits::kMaxReportUris) std::abort();
        if (r->ruf.size() > dmarc::limits::kMaxReportUris) std::abort();
        if (!r->p_valid) {
            bool mailto = false;
            for (const auto& u : r->rua) mailto = mailto || u.is_mailto();
            if (!mailto || r->p != dmarc::Policy::none || r->sp || r->np) std::abort();
        }
        std::string canonical = dmarc::to_string(*r);
        auto again = dmarc::parse_dmarc_record(canonical);
        if (!again) std::abort();
        if (!(without_warnings(*again) == without_warnings(*r))) std::abort();
        if (dmarc::to_string(*again) != canonical) std::abort();
        // The canonical text is clean: the only warnings left are notes on non-mailto schemes
        // (and the p=none fallback line when p_valid is false).
        for (const auto& w : again->warnings) {
            bool scheme_note = w.find("is not supported") != std::string::npos;
            bool fallback = !again->p_valid && w.find("acting as p=none") != std::string::npos;
            if (!scheme_note && !fallback) std::abort();
        }
    } else if (r.error().kind == dmarc::RecordRejection::Kind::invalid) {
        if (!r.error().partial || r.error().partial->p_valid) std::abort();
    } else if (r.error().partial) {
        std::abort();
    }
}

void check_selection(std::string_view text) {
    // Lines of the input are the TXT records at one name.
    std::vector<std::string> txts;
    std::size_t start = 0;
    while (start <= text.size() && txts.size() < dmarc::limits::kMaxTxtRecordsPerName) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        txts.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    std::size_t dmarc_count = 0;
    std::string first;
    for (const auto& t : txts) {
        auto r = dmarc::parse_dmarc_record(t);
        if (!r && r.error().kind == dmarc::RecordRejection::Kind::not_dmarc) continue;
        if (dmarc_count++ == 0) first = t;
    }
    auto sel = dmarc::select_dmarc_record(txts);
    using O = dmarc::RecordSelection::Outcome;
    O want = dmarc_count == 0 ? O::none : dmarc_count == 1 ? O::one : O::several;
    if (sel.outcome != want) std::abort();
    if (want == O::one) {
        if (sel.text != first) std::abort();
        if (!same_result(*sel.record, dmarc::parse_dmarc_record(first))) std::abort();
    } else if (*sel.record) {
        std::abort();
    }
}

void check_uri(std::string_view text) {
    auto uri = dmarc::parse_report_uri(text);
    if (!uri) return;
    std::string again_text = uri->uri;
    if (uri->max_size) again_text += "!" + std::to_string(*uri->max_size);
    auto again = dmarc::parse_report_uri(again_text);
    if (!again || !(*again == *uri)) std::abort();
    if (uri->is_mailto() && (uri->address.empty() || uri->domain.empty())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    check_record(text);
    check_selection(text);
    check_uri(text);
    return 0;
}
