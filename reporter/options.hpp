// dmarc-reporter's command line (issue 6 item 5): opendmarc-reports' spellings where they make
// sense, a `Name value` configuration file (core/reporter_config.hpp) that the options
// override, and the `suppress add|remove|list` sub-command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/reporter_config.hpp"

namespace dmarc::reporter {

struct Options {
    std::string command = "report";  // report | suppress
    // suppress
    std::string suppress_action;  // add | remove | list
    std::string pattern;
    std::string comment;
    std::optional<std::int64_t> expires;
    // report
    config::ReporterConfig config;
    bool dry_run = false;
    bool keepfiles = false;
    bool verbose = false;
    std::string domain;
    std::optional<std::int64_t> period_begin, period_end;
    std::string resend;
    std::optional<std::int64_t> now;
};

struct ParseOutcome {
    int exit_code = 0;  // non-zero: stop with it
    bool done = false;  // --help / --version printed
    std::string error;  // printed on stderr with the usage hint
};

// Parses argv; reads --config FILE (before the other options apply, so they override it).
ParseOutcome parse_options(int argc, char** argv, Options& options);

// "2026-11-28" (UTC midnight) or epoch seconds.
std::optional<std::int64_t> parse_time(std::string_view text);

// The man page printed by --help.
extern const char* const kManual;

}  // namespace dmarc::reporter
