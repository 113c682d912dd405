// dmarc-reporter command line and manual (options.hpp).
#include "reporter/options.hpp"

#include <charconv>
#include <cstdio>

#include "core/limits.hpp"
#include "core/text.hpp"
#include "io/file.hpp"

namespace dmarc::reporter {

const char* const kManual = R"(NAME
    dmarc-reporter - send DMARC aggregate reports from the store, exactly once

SYNOPSIS
    dmarc-reporter [--config FILE] [--database URI] [--smtp-server HOST] [--smtp-port N]
                   [--report-email ADDR] [--report-org ORG] [--dry-run | --test] [--domain D]
                   [--period BEGIN[/END] | --day | --interval SECS] [--resend REPORT_ID]
                   [--keepfiles] [--output-dir DIR] [--verbose] [--format rfc7489|rfc9990]
                   [--compression gzip|zip] [--now EPOCH]
    dmarc-reporter suppress add PATTERN [--comment TEXT] [--expires TIME]
    dmarc-reporter suppress remove PATTERN
    dmarc-reporter suppress list

DESCRIPTION
    Builds one aggregate report (RFC 7489 Appendix C, or RFC 9990) per policy domain and
    reporting period from the messages in the store, archives it in the report ledger and mails
    it to every authorised mailto: rua destination. Periods are aligned to UTC days, or to the
    whole-hour divisor of a day nearest to the domain's ri= (1, 2, 3, 4, 6, 8 or 12 h; never
    shorter than ReportInterval), and follow the end of the last period reported for each
    domain, so a late, early or missed run neither loses nor repeats a period. A delivery is
    marked sent only after the SMTP server accepted it; temporary failures are retried with
    backoff on later runs. External destinations are verified (RFC 7489 §7.1); suppressed
    addresses and domains get nothing; messages that are themselves reports are never reported.
    One run at a time per store: a second one exits with status 75 while the first holds the
    store's lock (a killed run's lock goes with its process).

OPTIONS
    --config FILE         Read `Name value` settings (see reporter/README.md); options win.
    --database URI        Store: sqlite:///path (default sqlite:///var/lib/dmarc/dmarc.db) or
                          postgresql://user@host:port/db.
    --smtp-server HOST    SMTP server (default 127.0.0.1).
    --smtp-port N         SMTP port (default 25).
    --report-email ADDR   Sender address and report <email>; its domain is the Submitter.
    --report-org ORG      Report <org_name>.
    --dry-run             Build the reports and write them to the output directory; send
                          nothing and change nothing in the store.
    --test                opendmarc-reports' spelling of --dry-run.
    --domain D            Only this policy domain.
    --period BEGIN[/END]  Only periods inside BEGIN..END (YYYY-MM-DD or epoch seconds, UTC;
                          END defaults to the end of BEGIN's period).
    --day                 Daily periods for every domain, whatever its ri= asks
                          (--interval 86400).
    --interval SECS       The shortest period to report (ReportInterval, default 3600): a
                          domain's ri= is honoured down to it. Rounded like ri= to the
                          nearest whole-hour divisor of 24 h.
    --resend REPORT_ID    Send a stored report again (same bytes, Report-ID and file name) to
                          its destinations.
    --keepfiles           Also write each report file to the output directory.
    --output-dir DIR      Where report files are written (default: the current directory).
    --verbose             One line per report and per delivery on standard error.
    --format F            rfc7489 (default) or rfc9990.
    --compression C       gzip (default) or zip.
    --now EPOCH           Take this as the current time (tests, demos).
    --help, --version

EXIT STATUS
    0   every delivery due was sent, retried later, suppressed, or refused by policy
    1   at least one delivery failed permanently
    64  usage error; 75 store unreachable or busy, or another dmarc-reporter run holds the
        store's lock; 78 configuration error; 70 other errors

FILES
    /var/lib/dmarc/dmarc.db   the default store (shared with dmarc-collector and dmarc-web)
    <store file>.reporter-lock  the run lock of a SQLite store (flock; holder's pid and host)

EXAMPLES
    dmarc-reporter --config /etc/dmarc/dmarc-reporter.conf         # from cron, e.g. hourly
    dmarc-reporter --dry-run --domain example.com --output-dir /tmp/reports
    dmarc-reporter --resend 17011872002c5e4b1a9f0d3e77
    dmarc-reporter suppress add dead.example --comment "bounces" --expires 2027-01-01
)";

std::optional<std::int64_t> parse_time(std::string_view text) {
    std::int64_t value = 0;
    if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
        int y = 0, m = 0, d = 0;
        auto num = [&](std::size_t at, std::size_t len, int& out) {
            auto r = std::from_chars(text.data() + at, text.data() + at + len, out);
            return r.ec == std::errc{} && r.ptr == text.data() + at + len;
        };
        if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d) || m < 1 || m > 12 || d < 1 || d > 31) {
            return std::nullopt;
        }
        // Days from civil (H. Hinnant's algorithm), UTC midnight.
        y -= m <= 2;
        const int era = (y >= 0 ? y : y - 399) / 400;
        const int yoe = y - era * 400;
        const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return (std::int64_t{era} * 146097 + doe - 719468) * 86400;
    }
    auto r = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || r.ec != std::errc{} || r.ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

namespace {

ParseOutcome usage(std::string message) {
    ParseOutcome out;
    out.exit_code = 64;
    out.error = std::move(message);
    return out;
}

}  // namespace

ParseOutcome parse_options(int argc, char** argv, Options& o) {
    std::vector<std::string> args(argv + 1, argv + argc);
    // The file first, so that every option given overrides it.
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string file;
        if (args[i] == "--config" && i + 1 < args.size()) file = args[i + 1];
        if (args[i].starts_with("--config=")) file = args[i].substr(9);
        if (file.empty()) continue;
        auto text = io::load_file(file, limits::kMaxConfigFileBytes);
        if (!text) {
            ParseOutcome out;
            out.exit_code = 78;
            out.error = file + ": " + text.error().message;
            return out;
        }
        auto loaded = config::parse_reporter_config(*text);
        std::string problems;
        for (const auto& d : loaded.diagnostics) problems += file + ": " + to_string(d) + "\n";
        if (!loaded.ok()) {
            ParseOutcome out;
            out.exit_code = 78;
            out.error = problems;
            return out;
        }
        if (!problems.empty()) std::fputs(problems.c_str(), stderr);
        o.config = loaded.config;
    }

    auto& c = o.config;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "suppress" && o.command == "report") {
            // The sub-command may follow global options (--config, --database).
            o.command = "suppress";
            if (i + 1 >= args.size()) return usage("suppress: add, remove or list");
            o.suppress_action = args[++i];
            if (o.suppress_action != "add" && o.suppress_action != "remove" &&
                o.suppress_action != "list") {
                return usage("suppress: unknown action '" + o.suppress_action + "'");
            }
            if (o.suppress_action != "list") {
                if (i + 1 >= args.size() || args[i + 1].starts_with("-")) {
                    return usage("suppress " + o.suppress_action + ": PATTERN missing");
                }
                o.pattern = args[++i];
            }
            continue;
        }
        std::string arg = args[i], value;
        bool inline_value = false;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            inline_value = true;
        }
        auto take = [&]() -> bool {
            if (inline_value) return true;
            if (i + 1 >= args.size()) return false;
            value = args[++i];
            return true;
        };
        auto needs = [&](const char* what) { return usage(arg + " needs " + what); };
        if (arg == "--help" || arg == "-h") {
            std::fputs(kManual, stdout);
            ParseOutcome out;
            out.done = true;
            return out;
        } else if (arg == "--version") {
            std::puts("dmarc-reporter 0.1.0");
            ParseOutcome out;
            out.done = true;
            return out;
        } else if (arg == "--config") {
            if (!take()) return needs("a file");
        } else if (arg == "--database") {
            if (!take()) return needs("a URI");
            c.database = value;
        } else if (arg == "--smtp-server" || arg == "--smtp-host") {
            if (!take()) return needs("a host");
            c.smtp_server = value;
        } else if (arg == "--smtp-port") {
            if (!take()) return needs("a port");
            auto n = parse_time(value);
            if (!n || *n < 1 || *n > 65535) return usage("--smtp-port: not a port: " + value);
            c.smtp_port = static_cast<std::uint16_t>(*n);
        } else if (arg == "--report-email") {
            if (!take()) return needs("an address");
            c.report_email = value;
        } else if (arg == "--report-org") {
            if (!take()) return needs("a name");
            c.report_org = value;
        } else if (arg == "--dry-run" || arg == "--test" || arg == "-n") {
            o.dry_run = true;
        } else if (arg == "--keepfiles") {
            o.keepfiles = true;
        } else if (arg == "--verbose" || arg == "-v") {
            o.verbose = true;
        } else if (arg == "--domain") {
            if (!take()) return needs("a domain");
            o.domain = text::lower(value);
        } else if (arg == "--period") {
            if (!take()) return needs("BEGIN[/END]");
            const auto slash = value.find('/');
            o.period_begin = parse_time(value.substr(0, slash));
            if (!o.period_begin) return usage("--period: bad time '" + value + "'");
            if (slash != std::string::npos) {
                o.period_end = parse_time(value.substr(slash + 1));
                if (!o.period_end || *o.period_end < *o.period_begin) {
                    return usage("--period: bad end '" + value + "'");
                }
                // A date as END means the whole of that day.
                if (value.substr(slash + 1).find('-') != std::string::npos) *o.period_end += 86399;
            }
        } else if (arg == "--day") {
            c.interval = 86400;
        } else if (arg == "--interval") {
            if (!take()) return needs("seconds");
            auto n = parse_time(value);
            if (!n || *n < 1) return usage("--interval: not a number of seconds: " + value);
            c.interval = static_cast<std::uint32_t>(std::min<std::int64_t>(*n, 86400));
        } else if (arg == "--resend") {
            if (!take()) return needs("a Report-ID");
            o.resend = value;
        } else if (arg == "--output-dir") {
            if (!take()) return needs("a directory");
            c.output_dir = value;
        } else if (arg == "--format") {
            if (!take() || (value != "rfc7489" && value != "rfc9990")) {
                return usage("--format: rfc7489 or rfc9990");
            }
            c.format = value == "rfc9990" ? ReportFormat::rfc9990 : ReportFormat::rfc7489;
        } else if (arg == "--compression") {
            if (!take() || (value != "gzip" && value != "zip")) {
                return usage("--compression: gzip or zip");
            }
            c.compression = value == "zip" ? ReportCompression::zip : ReportCompression::gzip;
        } else if (arg == "--now") {
            if (!take()) return needs("epoch seconds");
            o.now = parse_time(value);
            if (!o.now) return usage("--now: bad time '" + value + "'");
        } else if (arg == "--comment" && o.command == "suppress") {
            if (!take()) return needs("a text");
            o.comment = value;
        } else if (arg == "--expires" && o.command == "suppress") {
            if (!take()) return needs("a time");
            o.expires = parse_time(value);
            if (!o.expires) return usage("--expires: bad time '" + value + "'");
        } else {
            return usage("unknown option '" + arg + "'");
        }
    }
    return {};
}

}  // namespace dmarc::reporter
