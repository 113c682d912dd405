// Fuzz target: a failure report composed from a verdict, an envelope and header fields built
// from the input (RFC 6591 / RFC 9991 AFRF). Whatever they hold, the mail has LF line ends only,
// every line of each header section (the mail's, each part's, the feedback-report fields and the
// copied header block) is a field or a continuation, there is no Bcc unless one was asked for,
// and the boundary delimits exactly three parts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/failure_report.hpp"

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (true) {
        const auto end = text.find(separator, pos);
        out.push_back(text.substr(pos, end == std::string_view::npos ? end : end - pos));
        if (end == std::string_view::npos) return out;
        pos = end + 1;
    }
}

// Lines up to the first empty one: each "name:" (name of printable US-ASCII but ':') or a
// continuation starting with SP / HTAB. Returns where the section ended.
std::size_t check_header_section(std::string_view text, std::size_t pos, bool& saw_bcc) {
    while (pos < text.size()) {
        const auto end = text.find('\n', pos);
        if (end == std::string_view::npos) std::abort();  // the mail ends with LF
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty()) return pos;
        if (line.front() == ' ' || line.front() == '\t') continue;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) std::abort();
        for (char c : line.substr(0, colon)) {
            const auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f) std::abort();
        }
        if (line.substr(0, colon) == "Bcc") saw_bcc = true;
    }
    return pos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // Pieces separated by 0x01: flags, author domain, queue id, MAIL FROM, RCPT TO (comma
    // separated), DKIM d=, selector, SPF domain, authserv-id, raw field name, raw field value,
    // then a header block.
    auto pieces = split(input, '\x01');
    pieces.resize(std::max<std::size_t>(pieces.size(), 12));
    const std::string_view flags = pieces[0];
    auto flag = [&](std::size_t i) -> unsigned {
        return i < flags.size() ? static_cast<unsigned char>(flags[i]) : 0U;
    };

    dmarc::MessageVerdict verdict;
    verdict.evaluated = true;
    verdict.action = static_cast<dmarc::MilterAction>(flag(0) % 5);
    verdict.authserv_id = std::string(pieces[8]);
    dmarc::Evaluation& e = verdict.evaluation;
    e.result = static_cast<dmarc::DmarcResult>(flag(1) % 5);
    e.rfc5322_from_domain = std::string(pieces[1]);
    e.policy_domain = std::string(pieces[1]);
    e.organizational_domain = (flag(2) & 1) ? std::string(pieces[7]) : std::string();
    e.dkim_aligned = flag(2) & 2;
    e.spf_aligned = flag(2) & 4;
    auto record = dmarc::parse_dmarc_record((flag(2) & 8) ? "v=DMARC1; p=reject; adkim=s"
                                                          : "v=DMARC1; p=quarantine");
    if (record) e.published = std::make_shared<const dmarc::DmarcRecord>(*record);
    for (unsigned i = 0; i < flag(3) % 20; ++i) {
        verdict.dkim.push_back({std::string(pieces[5]), std::string(pieces[6]),
                                static_cast<dmarc::DkimResult>((flag(4) + i) % 7), ""});
        // The AUID straight from the input (the milter keeps only dkim_identity's output).
        if (flag(11) & 1) verdict.dkim.back().dkim_i = std::string(pieces[3]);
    }
    if (flag(5) & 1) {
        verdict.spf = dmarc::SpfAuthResult{
            std::string(pieces[7]), (flag(5) & 2) ? dmarc::SpfScope::helo : dmarc::SpfScope::mfrom,
            static_cast<dmarc::SpfResult>(flag(6) % 7), false, ""};
    }
    verdict.arc_override = flag(5) & 4;

    dmarc::Envelope envelope;
    if (flag(7) & 1) envelope.client_ip = dmarc::IpAddress::parse("2001:db8::1");
    envelope.client_port = static_cast<std::uint16_t>(flag(12) << 8 | flag(13));
    envelope.queue_id = std::string(pieces[2]);
    envelope.mail_from = std::string(pieces[3]);
    for (auto rcpt : split(pieces[4], ',')) envelope.rcpt_to.emplace_back(rcpt);
    envelope.mta_hostname = std::string(pieces[8]);

    std::vector<dmarc::HeaderField> headers = dmarc::parse_header_block(pieces[11]);
    headers.push_back({std::string(pieces[9]), std::string(pieces[10])});
    headers.push_back({"Subject", std::string(pieces[10])});

    dmarc::FailureReportSettings settings;
    settings.sent_by = "dmarc-milter <postmaster@mx.example.org>";
    settings.reporting_mta = std::string(pieces[8]);
    settings.redact = flag(7) & 2;
    settings.redaction_key = std::string(pieces[6]);
    settings.max_header_bytes = flag(8) * 64U;
    // SPF-DNS: record text straight from the input (it comes from the DNS in the milter).
    if (flag(5) & 8) settings.spf_dns.push_back({std::string(pieces[7]), std::string(pieces[10])});
    const std::vector<std::string> to = {"ruf@example.com"};
    const std::vector<std::string> bcc_one = {"copy@example.org"};
    const bool want_bcc = flag(7) & 4;
    const std::span<const std::string> bcc =
        want_bcc ? std::span<const std::string>(bcc_one) : std::span<const std::string>();

    auto mail = dmarc::compose_failure_report(verdict, envelope, headers, to, bcc, settings,
                                              static_cast<std::int64_t>(flag(9)) << 24,
                                              static_cast<std::int64_t>(flag(10)) << 28);
    if (!mail) return 0;  // only an unusable boundary can fail here
    const std::string_view text = *mail;
    if (text.find('\r') != std::string_view::npos || text.empty() || text.back() != '\n') {
        std::abort();
    }

    bool saw_bcc = false;
    const std::size_t body = check_header_section(text, 0, saw_bcc);
    if (saw_bcc != want_bcc) std::abort();
    // The boundary parameter is on the Content-Type field's continuation line (a Subject may
    // hold the same text).
    constexpr std::string_view kParam = "\n  boundary=\"";
    const auto at = text.find(kParam);
    if (at == std::string_view::npos || at > body) std::abort();
    const auto start = at + kParam.size();
    const auto close = text.find('"', start);
    const std::string delimiter = "\n--" + std::string(text.substr(start, close - start));
    std::size_t parts = 0;
    bool unused = false;  // a copied header block may hold a Bcc field of its own
    for (auto pos = text.find(delimiter + "\n", body); pos != std::string_view::npos;
         pos = text.find(delimiter + "\n", pos + 1)) {
        ++parts;
        std::size_t content = check_header_section(text, pos + delimiter.size() + 1, unused);
        // Parts 2 and 3 are themselves header sections (feedback fields, copied header block).
        if (parts >= 2) check_header_section(text, content, unused);
    }
    if (parts != 3) std::abort();
    if (text.find(delimiter + "--\n") == std::string_view::npos) std::abort();
    return 0;
}
