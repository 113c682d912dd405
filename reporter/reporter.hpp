// One dmarc-reporter run (issue 6): build the reports of every complete period after each
// domain's last reported one, record them with their deliveries in the ledger, then send every
// delivery that is due. Only an SMTP acceptance marks a delivery sent, and it is committed right
// after the server's reply (see README.md for the one window where a duplicate can occur).
#pragma once

#include <cstdint>
#include <string>

#include "core/dns.hpp"
#include "core/result.hpp"
#include "io/report_store.hpp"
#include "reporter/options.hpp"

namespace dmarc::reporter {

struct RunSummary {
    std::uint64_t built = 0, sent = 0, retried = 0, failed = 0, suppressed = 0, unauthorised = 0,
                  ignored = 0, would_send = 0;
};
std::string to_string(const RunSummary& summary, bool dry_run);

// Fills the defaults that depend on this host (ReportEmail, ReportOrg, SmtpHelo).
void complete_identity(config::ReporterConfig& config);

Result<RunSummary> run_reports(const Options& options, io::ReportStore& store,
                               DnsResolver& resolver, std::int64_t now);

}  // namespace dmarc::reporter
