// dmarc-milter's command line, OpenDMARC's letters (opendmarc(8)) plus long test-mode options.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"

namespace dmarc::milter {

inline constexpr const char* kDefaultConfigPath = "/etc/dmarc/dmarc-milter.conf";

struct Options {
    std::string config_path = kDefaultConfigPath;
    bool config_path_given = false;
    bool check_config = false;            // -n
    bool foreground = false;              // -f
    bool syslog = false;                  // -l
    int verbosity = 0;                    // -v (repeatable)
    bool version = false;                 // -V
    bool help = false;                    // -h, --help
    std::optional<std::string> socket;    // -p
    std::optional<std::string> pid_file;  // -P
    std::optional<std::string> user;      // -u user[:group]
    // -t file[,file...]: offline test mode. The envelope comes from OpenDMARC's environment
    // variables (OPENDMARC_TEST_CLIENTIP, OPENDMARC_TEST_ENVFROM) or the long options below.
    std::vector<std::string> test_files;
    std::optional<std::string> test_client_ip;    // --client-ip
    std::optional<std::string> test_client_name;  // --client-name
    std::optional<std::string> test_helo;         // --helo
    std::optional<std::string> test_mail_from;    // --mail-from
    std::vector<std::string> test_rcpt_to;        // --rcpt (repeatable)
    std::optional<std::string> test_queue_id;     // --queue-id
    std::optional<std::string> test_hostname;     // --hostname (macro j)
    std::optional<std::string> test_auth;         // --auth USER ({auth_authen})
    std::optional<unsigned> test_pct_sample;      // --pct-sample N (0..99)
};

Result<Options> parse_options(const std::vector<std::string>& args);

// Command-line settings win over the file (as in OpenDMARC).
void apply_overrides(const Options& options, config::MilterConfig& config);

std::string usage_text();    // --help, in man-page form
std::string version_text();  // -V

}  // namespace dmarc::milter
