// Aggregate report generation throughput: 1,000,000 synthetic per-message rows over 1,000
// policy domains (1,000 rows each, about 340 distinct records per domain) through the whole pure
// path: rows -> report (grouping) -> RFC 7489 XML -> gzip -> MIME message. Prints the time of each
// stage, rows/s and peak memory. Row generation is timed apart (in production the rows come from
// the store, whose read cost the store-facing benchmark will add).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/aggregate.hpp"
#include "core/report_mail.hpp"
#include "core/report_xml.hpp"
#include "io/archive.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t kDay = 1700006400;
constexpr int kDomains = 1000;
constexpr int kRowsPerDomain = 1000;

std::vector<dmarc::AggregateInput> rows_for(int domain_index) {
    const std::string domain = "domain" + std::to_string(domain_index) + ".example";
    std::vector<dmarc::AggregateInput> rows;
    rows.reserve(kRowsPerDomain);
    std::uint32_t seed = static_cast<std::uint32_t>(domain_index) * 2654435761u + 1u;
    for (int i = 0; i < kRowsPerDomain; ++i) {
        seed = seed * 1664525u + 1013904223u;  // deterministic LCG
        const unsigned source = (seed >> 8) % 40;
        const bool spoof = source >= 30;
        dmarc::AggregateInput row;
        row.received = kDay + i * 80;
        row.source_ip = source % 7 == 0 ? "2001:db8::" + std::to_string(source)
                                        : "198.51." + std::to_string(source) + "." +
                                              std::to_string((seed >> 16) % 2);
        row.rfc5322_from_domain = (seed >> 20) % 5 == 0 ? "news." + domain : domain;
        row.rfc5321_mail_from_domain = spoof ? "bounce.attacker.example" : domain;
        row.envelope_to_domain = "receiver.example";
        row.dkim_aligned = !spoof;
        row.spf_aligned = !spoof && (seed >> 24) % 3 != 0;
        row.disposition = spoof ? dmarc::Disposition::reject : dmarc::Disposition::none;
        if (!spoof) {
            row.dkim.push_back(
                {domain, "s2026", dmarc::DkimResult::pass, "", dmarc::DkimAlignment::strict});
        }
        if ((seed >> 12) % 4 == 0) {
            row.dkim.push_back(
                {"esp.example", "k1", dmarc::DkimResult::pass, "", dmarc::DkimAlignment::none});
        }
        row.spf = dmarc::AggregateSpf{row.rfc5321_mail_from_domain, dmarc::SpfScope::mfrom,
                                      spoof ? dmarc::SpfResult::fail : dmarc::SpfResult::pass};
        row.policy.domain = domain;
        row.policy.p = dmarc::Policy::reject;
        rows.push_back(std::move(row));
    }
    return rows;
}

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace

int main() {
    const dmarc::ReportIdentity identity{"mx.receiver.example", "receiver.example",
                                         "dmarc-reports@receiver.example", "",
                                         "dmarc-reporter bench"};
    const dmarc::ReportPeriod period = dmarc::period_containing(kDay, 86400);
    Clock::duration generate{}, build{}, write{}, compress{}, compose{};
    std::uint64_t rows_total = 0, records = 0, messages = 0, xml_bytes = 0, mail_bytes = 0;
    for (int d = 0; d < kDomains; ++d) {
        auto t0 = Clock::now();
        const auto rows = rows_for(d);
        auto t1 = Clock::now();
        auto report = dmarc::build_aggregate_report(identity, rows.front().policy.domain, period,
                                                    rows, dmarc::ReportFormat::rfc7489);
        auto t2 = Clock::now();
        if (!report) {
            std::fprintf(stderr, "build failed: %s\n", report.error().message.c_str());
            return 1;
        }
        auto xml = dmarc::write_report_xml(*report);
        auto t3 = Clock::now();
        if (!xml) return 1;
        auto gz = dmarc::io::gzip_compress(*xml);
        auto t4 = Clock::now();
        if (!gz) return 1;
        dmarc::ReportMail mail;
        mail.from = identity.email;
        mail.to = "rua@" + rows.front().policy.domain;
        mail.date = "Thu, 16 Nov 2023 01:00:00 +0000";
        mail.message_id = report->metadata.report_id + "@receiver.example";
        mail.policy_domain = rows.front().policy.domain;
        mail.submitter = "receiver.example";
        mail.report_id = report->metadata.report_id;
        mail.filename = *dmarc::report_filename("mx.receiver.example", mail.policy_domain, period,
                                                mail.report_id, dmarc::ReportCompression::gzip);
        mail.attachment = std::move(*gz);
        auto message = dmarc::compose_report_mail(mail);
        auto t5 = Clock::now();
        if (!message) return 1;
        generate += t1 - t0;
        build += t2 - t1;
        write += t3 - t2;
        compress += t4 - t3;
        compose += t5 - t4;
        rows_total += rows.size();
        records += report->records.size();
        messages += report->message_count();
        xml_bytes += xml->size();
        mail_bytes += message->size();
    }
    if (messages != rows_total) {
        std::fprintf(stderr, "count mismatch: %llu messages for %llu rows\n",
                     static_cast<unsigned long long>(messages),
                     static_cast<unsigned long long>(rows_total));
        return 1;
    }
    const double pipeline = seconds(build + write + compress + compose);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf(
        "report_bench: %llu rows, %d policy domains, %llu records, %.1f MB XML, %.1f MB mail\n",
        static_cast<unsigned long long>(rows_total), kDomains,
        static_cast<unsigned long long>(records), static_cast<double>(xml_bytes) / 1e6,
        static_cast<double>(mail_bytes) / 1e6);
    std::printf("  generate rows (not counted)  %8.3f s\n", seconds(generate));
    std::printf("  group into reports           %8.3f s\n", seconds(build));
    std::printf("  write RFC 7489 XML           %8.3f s\n", seconds(write));
    std::printf("  gzip                         %8.3f s\n", seconds(compress));
    std::printf("  compose MIME                 %8.3f s\n", seconds(compose));
    std::printf("  total (rows -> mail)         %8.3f s  = %.0f rows/s, %.0f reports/s\n", pipeline,
                static_cast<double>(rows_total) / pipeline,
                static_cast<double>(kDomains) / pipeline);
    std::printf("  peak RSS                     %8.1f MB\n",
                static_cast<double>(usage.ru_maxrss) / 1024.0);
    return 0;
}
