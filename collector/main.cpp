// dmarc-collector: moves per-message history into the store (issue 5, design.md §1).
//   dmarc-collector [history] [--input FILE] ...   OpenDMARC HistoryFile text (opendmarc-import)
//   dmarc-collector spool [--keep] SPOOL...        milter spool files, resumed by watermark
//   dmarc-collector expire --days N                 opendmarc-expire
//   dmarc-collector stats                           row counts and a content digest
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "io/import.hpp"
#include "io/store.hpp"

namespace {

using namespace dmarc;
using Clock = std::chrono::steady_clock;

// sysexits.h values (design.md §4).
constexpr int kExUsage = 64, kExDataErr = 65, kExNoInput = 66, kExSoftware = 70, kExTempFail = 75,
              kExConfig = 78;

constexpr std::string_view kDefaultDatabase = "sqlite:///var/lib/dmarc/dmarc.db";

constexpr std::string_view kUsage =
    R"(usage: dmarc-collector [history] [--input FILE] [--strict] [options]
       dmarc-collector spool [--keep] [options] SPOOL...
       dmarc-collector expire --days N [options]
       dmarc-collector stats [options]
dmarc-collector --help explains each command and option.
)";

// --help, in man-page form (issue 9).
constexpr std::string_view kHelp = R"(NAME
    dmarc-collector - move DMARC history into the store (replaces opendmarc-import and
    opendmarc-expire)

SYNOPSIS
    dmarc-collector [history] [--input FILE] [--strict] [--database URI] [--batch N] [-v]
    dmarc-collector spool [--keep] [--database URI] [--batch N] [-v] SPOOL...
    dmarc-collector expire --days N [--database URI]
    dmarc-collector stats [--database URI]

DESCRIPTION
    history  imports OpenDMARC HistoryFile text (standard input, or --input), as
             opendmarc-import does: for migrating old history and for MX hosts that still run
             OpenDMARC. Malformed lines are reported as FILE:LINE: message; every good record
             is imported.
    spool    imports the SQLite spools dmarc-milter writes (HistoryDatabase), one per MX host,
             and deletes the rows it stored. Resumes where it stopped; safe to kill.
    expire   deletes messages older than N days, except rows a report still needs.
    stats    prints row counts and a content digest of the store.
    Imports are idempotent: a message is unique on (reporter host, job id, time), so running
    an import twice changes nothing. Each batch is one transaction.

OPTIONS
    --database URI   the store: sqlite:///path (default sqlite:///var/lib/dmarc/dmarc.db) or
                     postgresql://user@host:port/db (libpq) for many MX hosts sharing one store
    --input FILE     history file (default: standard input); also --input=FILE
    --strict         exit 65 when the history holds malformed lines or records
    --keep           leave imported rows in the spool (the watermark still advances)
    --batch N        rows per transaction (default 50000)
    --days N         with expire: keep the last N days
    -v, --verbose    report every committed batch
    -h, --help       this text
    --version        print the version
    opendmarc-import's --dbhost/--dbname/--dbuser/--dbpasswd/--dbport are refused with a
    pointer to --database.

EXIT STATUS
    0 success; 64 usage; 65 malformed input with --strict; 66 input missing; 70 internal
    error; 75 store busy or unreachable (retry); 78 bad database URI or a store newer than
    this program

FILES
    /var/lib/dmarc/dmarc.db     default store (SQLite, WAL)
    /var/lib/dmarc/spool.db     the milter's spool in the installed configuration
    dmarc-collector.timer       systemd timer running `spool` every five minutes

EXAMPLES
    Import the old OpenDMARC history once, when migrating:
        dmarc-collector history --input /var/run/opendmarc/opendmarc.dat
    What the timer runs:
        dmarc-collector spool /var/lib/dmarc/spool.db
    Keep 180 days:
        dmarc-collector expire --days 180
)";

struct Options {
    std::string command = "history";
    std::string database = std::string(kDefaultDatabase);
    std::string input;  // empty: stdin
    std::vector<std::string> spools;
    bool strict = false, verbose = false, keep = false;
    std::size_t batch = 50000;
    long days = -1;
};

int usage_error(const std::string& message) {
    std::fprintf(stderr, "dmarc-collector: %s\n%.*s", message.c_str(),
                 static_cast<int>(kUsage.size()), kUsage.data());
    return kExUsage;
}

// Accepts "--name value" and "--name=value" (opendmarc-import's Getopt::Long spellings).
int parse_options(int argc, char** argv, Options& o, bool& done) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::size_t i = 0;
    if (!args.empty() && !args[0].starts_with("-")) {
        o.command = args[0];
        i = 1;
        if (o.command != "history" && o.command != "spool" && o.command != "expire" &&
            o.command != "stats") {
            return usage_error("unknown command '" + o.command + "'");
        }
    }
    for (; i < args.size(); ++i) {
        std::string arg = args[i];
        std::string value;
        bool has_value = false;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        auto need_value = [&](std::string& into) -> bool {
            if (has_value) {
                into = value;
                return true;
            }
            if (i + 1 >= args.size()) return false;
            into = args[++i];
            return true;
        };
        if (arg == "--help" || arg == "-h") {
            std::fwrite(kHelp.data(), 1, kHelp.size(), stdout);
            done = true;
            return 0;
        } else if (arg == "--version") {
            std::printf("dmarc-collector 0.1.0\n");
            done = true;
            return 0;
        } else if (arg == "--database") {
            if (!need_value(o.database)) return usage_error("--database needs a URI");
        } else if (arg == "--input") {
            if (!need_value(o.input)) return usage_error("--input needs a file");
        } else if (arg == "--strict") {
            o.strict = true;
        } else if (arg == "--verbose" || arg == "-v") {
            o.verbose = true;
        } else if (arg == "--keep") {
            o.keep = true;
        } else if (arg == "--batch" || arg == "--days") {
            std::string text;
            if (!need_value(text)) return usage_error(arg + " needs a number");
            char* end = nullptr;
            long n = std::strtol(text.c_str(), &end, 10);
            if (text.empty() || *end != '\0' || n < (arg == "--days" ? 0 : 1) || n > 100000000) {
                return usage_error(arg + ": '" + text + "' is not a valid number");
            }
            if (arg == "--days") {
                o.days = n;
            } else {
                o.batch = static_cast<std::size_t>(n);
            }
        } else if (arg.starts_with("--db")) {
            return usage_error(arg +
                               ": the opendmarc-import database options give way to "
                               "--database URI (e.g. sqlite:///var/lib/dmarc/dmarc.db)");
        } else if (arg.starts_with("-")) {
            return usage_error("unknown option '" + arg + "'");
        } else if (o.command == "spool") {
            o.spools.push_back(arg);
        } else {
            return usage_error("unexpected argument '" + arg + "'");
        }
    }
    if (o.command == "spool" && o.spools.empty()) return usage_error("spool: no spool file given");
    if (o.command == "expire" && o.days < 0) return usage_error("expire: --days N is required");
    return 0;
}

int exit_code_for(const Error& error) {
    switch (error.code) {
        case Errc::temporary:
            return kExTempFail;
        case Errc::invalid_value:
            return kExConfig;
        default:
            return kExSoftware;
    }
}

// A progress bar on a terminal (rows/s, ETA when the size of the input is known: history bytes,
// spool rows); nothing otherwise, the summary line then says it all.
class Progress {
  public:
    explicit Progress(std::uint64_t total_bytes)
        : total_bytes_(total_bytes), tty_(::isatty(2) == 1) {}
    void update(const io::ImportProgress& p) {
        if (!tty_) return;
        auto now = Clock::now();
        if (now - last_ < std::chrono::milliseconds(250)) return;
        last_ = now;
        double seconds = std::chrono::duration<double>(now - start_).count();
        double rate = seconds > 0 ? static_cast<double>(p.rows) / seconds : 0;
        double done = -1;  // fraction of the input done; < 0: unknown
        if (total_bytes_ > 0 && p.bytes > 0 && p.bytes <= total_bytes_) {
            done = static_cast<double>(p.bytes) / static_cast<double>(total_bytes_);
        } else if (p.spool_rows > 0) {
            done = std::min(1.0, static_cast<double>(p.rows) / static_cast<double>(p.spool_rows));
        }
        std::string bar;
        if (done >= 0) {
            constexpr int kWidth = 30;
            const int filled = static_cast<int>(done * kWidth);
            bar = "[" + std::string(static_cast<std::size_t>(filled), '#') +
                  std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] " +
                  fmt::format("{:3.0f}% ", 100.0 * done);
            if (done > 0) bar += fmt::format("ETA {:.0f}s ", seconds * (1 - done) / done);
        }
        std::fprintf(stderr, "\r%s%llu rows, %.0f rows/s   ", bar.c_str(),
                     static_cast<unsigned long long>(p.rows), rate);
        shown_ = true;
    }
    void done() {
        if (shown_) std::fputc('\n', stderr);
    }
    double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  private:
    Clock::time_point start_ = Clock::now(), last_{};
    std::uint64_t total_bytes_;
    bool tty_;
    bool shown_ = false;
};

double rate(std::uint64_t rows, double seconds) {
    return seconds > 0 ? static_cast<double>(rows) / seconds : 0;
}

int run_history(io::Store& store, const Options& o) {
    std::FILE* input = stdin;
    std::string name = "stdin";
    std::uint64_t size = 0;
    if (!o.input.empty() && o.input != "-") {
        input = std::fopen(o.input.c_str(), "rb");
        if (!input) {
            std::fprintf(stderr, "dmarc-collector: %s: %s\n", o.input.c_str(),
                         std::strerror(errno));
            return kExNoInput;
        }
        name = o.input;
        if (std::fseek(input, 0, SEEK_END) == 0) {
            long end = std::ftell(input);
            size = end > 0 ? static_cast<std::uint64_t>(end) : 0;
            std::rewind(input);
        }
    }
    Progress progress(size);
    io::HistoryImportOptions options;
    options.batch_rows = o.batch;
    options.on_issue = [&](const HistoryIssue& issue) {
        std::fprintf(stderr, "%s:%zu: %s\n", name.c_str(), issue.line, issue.message.c_str());
    };
    options.on_progress = [&](const io::ImportProgress& p) {
        if (o.verbose) {
            std::fprintf(stderr, "committed %llu records (%llu new)\n",
                         static_cast<unsigned long long>(p.rows),
                         static_cast<unsigned long long>(p.inserted));
        }
        progress.update(p);
    };
    auto result = io::import_history(store, input, options);
    if (input != stdin) std::fclose(input);
    progress.done();
    if (!result) {
        std::fprintf(stderr, "dmarc-collector: %s: %s\n", name.c_str(),
                     result.error().message.c_str());
        return exit_code_for(result.error());
    }
    const auto& t = result->totals;
    double seconds = progress.seconds();
    std::printf(
        "%s: %llu records, %llu new, %llu already stored, %zu dropped, %zu problems, %zu lines "
        "in %.2f s (%.0f rows/s)\n",
        name.c_str(), static_cast<unsigned long long>(t.rows),
        static_cast<unsigned long long>(t.inserted), static_cast<unsigned long long>(t.duplicates),
        result->records_dropped, result->issues, result->lines, seconds, rate(t.rows, seconds));
    if (o.strict && (result->issues > 0 || result->records_dropped > 0)) return kExDataErr;
    return 0;
}

int run_spool(io::Store& store, const Options& o) {
    int status = 0;
    for (const auto& path : o.spools) {
        Progress progress(0);
        io::SpoolImportOptions options;
        options.batch_rows = o.batch;
        options.delete_imported = !o.keep;
        options.on_bad_row = [&](const Error& e) {
            std::fprintf(stderr, "%s: %s (skipped)\n", path.c_str(), e.message.c_str());
        };
        options.on_progress = [&](const io::ImportProgress& p) {
            if (o.verbose) {
                std::fprintf(stderr, "%s: committed %llu rows (%llu new)\n", path.c_str(),
                             static_cast<unsigned long long>(p.rows),
                             static_cast<unsigned long long>(p.inserted));
            }
            progress.update(p);
        };
        auto result = io::import_spool(store, path, options);
        progress.done();
        if (!result) {
            std::fprintf(stderr, "dmarc-collector: %s: %s\n", path.c_str(),
                         result.error().message.c_str());
            status = exit_code_for(result.error());
            continue;
        }
        const auto& t = result->totals;
        double seconds = progress.seconds();
        std::printf(
            "%s: %llu rows, %llu new, %llu already stored, %llu bad, %lld deleted from the "
            "spool, watermark %lld, in %.2f s (%.0f rows/s)\n",
            path.c_str(), static_cast<unsigned long long>(t.rows),
            static_cast<unsigned long long>(t.inserted),
            static_cast<unsigned long long>(t.duplicates),
            static_cast<unsigned long long>(result->bad_rows),
            static_cast<long long>(result->deleted), static_cast<long long>(result->watermark),
            seconds, rate(t.rows, seconds));
        if (o.strict && result->bad_rows > 0 && status == 0) status = kExDataErr;
    }
    return status;
}

int run_expire(io::Store& store, const Options& o) {
    const std::int64_t before = static_cast<std::int64_t>(std::time(nullptr)) - o.days * 86400;
    auto result = store.expire(before);
    if (!result) {
        std::fprintf(stderr, "dmarc-collector: expire: %s\n", result.error().message.c_str());
        return exit_code_for(result.error());
    }
    std::printf(
        "expired messages older than %ld days: %lld deleted, %lld kept for unsent reports, %lld "
        "reports deleted\n",
        o.days, static_cast<long long>(result->messages_deleted),
        static_cast<long long>(result->messages_kept_unreported),
        static_cast<long long>(result->reports_deleted));
    return 0;
}

int run_stats(io::Store& store) {
    auto counts = store.counts();
    auto digest = store.content_digest();
    if (!counts || !digest) {
        const auto& e = counts ? digest.error() : counts.error();
        std::fprintf(stderr, "dmarc-collector: stats: %s\n", e.message.c_str());
        return exit_code_for(e);
    }
    std::printf(
        "messages %lld\ndkim_results %lld\ndomains %lld\nreporters %lld\nip_addresses "
        "%lld\npolicy_records %lld\nreports %lld\ndigest %s\n",
        static_cast<long long>(counts->messages), static_cast<long long>(counts->dkim_results),
        static_cast<long long>(counts->domains), static_cast<long long>(counts->reporters),
        static_cast<long long>(counts->ip_addresses),
        static_cast<long long>(counts->policy_records), static_cast<long long>(counts->reports),
        digest->c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    bool done = false;
    if (int status = parse_options(argc, argv, options, done); status != 0 || done) return status;
    try {
        auto store = io::open_store(options.database);
        if (!store) {
            std::fprintf(stderr, "dmarc-collector: %s\n", store.error().message.c_str());
            return exit_code_for(store.error());
        }
        if (options.command == "spool") return run_spool(**store, options);
        if (options.command == "expire") return run_expire(**store, options);
        if (options.command == "stats") return run_stats(**store);
        return run_history(**store, options);
    } catch (const std::exception& e) {
        // Only resource exhaustion throws (design.md §4).
        std::fprintf(stderr, "dmarc-collector: %s\n", e.what());
        return kExSoftware;
    }
}
