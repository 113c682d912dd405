// Command-line parsing for dmarc-milter (see options.hpp).
#include "milter/options.hpp"

#include <fmt/format.h>

namespace dmarc::milter {

Result<Options> parse_options(const std::vector<std::string>& args) {
    Options o;
    auto value = [&](std::size_t& i, const std::string& flag) -> Result<std::string> {
        const std::string& a = args[i];
        if (a.size() > 2 && a[0] == '-' && a[1] != '-') return a.substr(2);  // -cFILE
        if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
            return a.substr(eq + 1);
        }
        if (i + 1 >= args.size()) return make_error(Errc::syntax, flag + " needs a value");
        return args[++i];
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        std::string flag = a.substr(0, a.find('='));
        if (a.size() > 2 && a[0] == '-' && a[1] != '-') flag = a.substr(0, 2);
        Result<std::string> v;
        auto take = [&]() -> Result<std::string> { return value(i, flag); };
        if (flag == "-c") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.config_path = *v;
            o.config_path_given = true;
        } else if (a == "-n") {
            o.check_config = true;
        } else if (a == "-f") {
            o.foreground = true;
        } else if (a == "-l") {
            o.syslog = true;
        } else if (a == "-v" || a == "-vv" || a == "-vvv") {
            o.verbosity += static_cast<int>(a.size()) - 1;
        } else if (a == "-V") {
            o.version = true;
        } else if (a == "-h" || a == "--help") {
            o.help = true;
        } else if (flag == "-p") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.socket = *v;
        } else if (flag == "-P") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.pid_file = *v;
        } else if (flag == "-u") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.user = *v;
        } else if (flag == "-t") {
            if (!(v = take())) return tl::unexpected(v.error());
            std::string_view rest = *v;
            while (!rest.empty()) {
                auto comma = rest.find(',');
                if (comma != 0) o.test_files.emplace_back(rest.substr(0, comma));
                rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
            }
        } else if (flag == "--client-ip") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_client_ip = *v;
        } else if (flag == "--client-name") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_client_name = *v;
        } else if (flag == "--helo") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_helo = *v;
        } else if (flag == "--mail-from") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_mail_from = *v;
        } else if (flag == "--rcpt") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_rcpt_to.push_back(*v);
        } else if (flag == "--queue-id") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_queue_id = *v;
        } else if (flag == "--hostname") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_hostname = *v;
        } else if (flag == "--auth") {
            if (!(v = take())) return tl::unexpected(v.error());
            o.test_auth = *v;
        } else if (flag == "--pct-sample") {
            if (!(v = take())) return tl::unexpected(v.error());
            unsigned n = 0;
            if (v->empty() || v->size() > 2 ||
                v->find_first_not_of("0123456789") != std::string::npos) {
                return make_error(Errc::invalid_value, "--pct-sample takes 0..99");
            }
            n = static_cast<unsigned>(std::stoul(*v));
            o.test_pct_sample = n;
        } else {
            return make_error(Errc::syntax, "unknown option " + a + " (try --help)");
        }
    }
    return o;
}

void apply_overrides(const Options& o, config::MilterConfig& c) {
    if (o.socket) c.socket = *o.socket;
    if (o.pid_file) c.pid_file = *o.pid_file;
    if (o.user) c.user_id = *o.user;
    if (o.foreground) c.background = false;
    if (o.syslog) c.syslog = true;
}

std::string usage_text() {
    return fmt::format(R"(NAME
    dmarc-milter - DMARC (RFC 7489, RFC 9989) enforcement milter for Postfix

SYNOPSIS
    dmarc-milter [-c conffile] [-f] [-l] [-n] [-p socketspec] [-P pidfile] [-u user[:group]]
                 [-v] [-V] [-t file[,file...] [test options]]

DESCRIPTION
    Decides at end-of-message whether the RFC5322.From domain's DMARC policy passes, using
    trusted Authentication-Results (DKIM, SPF), Received-SPF or its own SPF check, and the
    policy found in DNS; adds Authentication-Results, rejects, holds or accepts, logs one line
    per message and appends history. Reads OpenDMARC's opendmarc.conf unchanged.

OPTIONS
    -c conffile     configuration file (default {}); an OpenDMARC user passes
                    /etc/opendmarc.conf
    -f              stay in the foreground (Background false)
    -l              log to syslog (Syslog true)
    -n              check the configuration: prints "configuration OK" (exit 0) or every
                    problem with its line number (exit 78)
    -p socketspec   milter socket: local:/path, inet:port@host, inet6:port@[addr]
                    (default inet:8893@127.0.0.1)
    -P pidfile      write the process id here
    -u user[:group] run as this user after opening the socket
    -v              more logging (repeatable)
    -V              print the version and exit
    -t file[,file]  offline test mode: decide each message file and print the verdict
                    (action, reply, header changes, log lines, and with FailureReports
                    whether a failure report would go and where; none is sent); no socket,
                    no daemon.
                    DNS comes from TestDNSData when set. Envelope:
        --client-ip ADDR     (or OPENDMARC_TEST_CLIENTIP; default 127.0.0.1)
        --mail-from ADDR     (or OPENDMARC_TEST_ENVFROM; default empty, the null sender)
        --client-name NAME  --helo NAME  --rcpt ADDR  --queue-id ID  --hostname NAME
        --auth USER          as if {{auth_authen}} were set
        --pct-sample N       the pct sampling draw, 0..99 (default random)

SIGNALS
    SIGHUP, SIGUSR1   reload the configuration, IgnoreHosts and the public suffix list
                      atomically; on any error the old configuration stays
    SIGTERM, SIGINT   stop accepting connections, finish messages in flight, flush history

EXIT STATUS
    0 success; 64 usage; 70 internal error; 75 temporary failure; 78 configuration error

FILES
    {}   configuration (every key: docs/configuration.md,
                                    installed in share/dmarc/doc)
    /var/lib/dmarc/spool.db        history spool (HistoryDatabase) that dmarc-collector imports
    dmarc-milter.service           the systemd unit (runs as user dmarc, -f)

EXAMPLES
    Migrate from OpenDMARC: check the old file, then run on it
        dmarc-milter -n -c /etc/opendmarc.conf
        dmarc-milter -f -c /etc/opendmarc.conf
    What would happen to a message from 192.0.2.10 (DNS from TestDNSData, or the resolver)
        dmarc-milter -c /etc/dmarc/dmarc-milter.conf -t message.eml --client-ip 192.0.2.10 \
            --mail-from alerts@bank.example
    Postfix main.cf: smtpd_milters = inet:127.0.0.1:8893
                     non_smtpd_milters = $smtpd_milters
                     milter_default_action = accept
)",
                       kDefaultConfigPath, kDefaultConfigPath);
}

std::string version_text() {
    return "dmarc-milter 0.1.0 (milter protocol 6, own server; DNS: libunbound; history: "
           "OpenDMARC HistoryFile text)\n";
}

}  // namespace dmarc::milter
