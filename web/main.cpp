// dmarc-web (issue 7): the postmaster's dashboard over the store, and its user administration.
//   dmarc-web [-c FILE] [--listen ADDR:PORT] [--store PATH] [--tls-cert F --tls-key F]
//   dmarc-web user add NAME --role admin|viewer [--store PATH] [--generate-password]
//   dmarc-web user passwd NAME [--store PATH] [--generate-password]
//   dmarc-web user domains NAME DOMAIN[,DOMAIN...]|--all|--none [--store PATH]
//   dmarc-web user role NAME admin|viewer [--store PATH]
//   dmarc-web user disable|enable NAME [--store PATH]
//   dmarc-web user list [--store PATH]
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/memory_resolver.hpp"
#include "io/dns.hpp"
#include "io/file.hpp"
#include "io/store_queries.hpp"
#include "io/thread_name.hpp"
#include "web/auth.hpp"
#include "web/options.hpp"
#include "web/routes.hpp"
#include "web/server.hpp"

namespace {

using namespace dmarc;
using namespace dmarc::web;

constexpr int kExitUsage = 64;     // EX_USAGE
constexpr int kExitSoftware = 70;  // EX_SOFTWARE
constexpr int kExitTempfail = 75;  // EX_TEMPFAIL
constexpr int kExitConfig = 78;    // EX_CONFIG

int usage() {
    std::fprintf(stderr,
                 "usage: dmarc-web [-c FILE] [--listen ADDR:PORT] [--store PATH] "
                 "[--tls-cert FILE --tls-key FILE] [--threads N]\n"
                 "                 [--hosts NAME[,NAME]] [--dns-timeout S] [--nameservers LIST]\n"
                 "                 [--test-dns-data ZONEFILE] [--reverse-dns yes|no] "
                 "[--cache-seconds N]\n"
                 "       dmarc-web user add NAME --role admin|viewer [--domains D[,D...]] "
                 "[--store PATH] [--generate-password]\n"
                 "       dmarc-web user passwd NAME [--store PATH] [--generate-password]\n"
                 "       dmarc-web user domains NAME D[,D...]|--all|--none [--store PATH]\n"
                 "       dmarc-web user role NAME admin|viewer [--store PATH]\n"
                 "       dmarc-web user disable|enable NAME [--store PATH]\n"
                 "       dmarc-web user list [--store PATH]\n"
                 "The password is read from standard input (one line), or asked twice on a "
                 "terminal.\n");
    return kExitUsage;
}

// --help, in man-page form (issue 9).
constexpr const char* kHelp = R"(NAME
    dmarc-web - the DMARC dashboard: what this mail system enforced, per message, domain and
    source

SYNOPSIS
    dmarc-web [-c FILE] [--listen ADDR:PORT] [--store PATH] [--tls-cert FILE --tls-key FILE]
              [--threads N]
    dmarc-web [-c FILE] user add NAME --role admin|viewer [--domains D[,D...]] [--store PATH]
              [--generate-password]
    dmarc-web [-c FILE] user passwd NAME [--store PATH] [--generate-password]
    dmarc-web [-c FILE] user domains NAME D[,D...]|--all|--none [--store PATH]
    dmarc-web [-c FILE] user role NAME admin|viewer [--store PATH]
    dmarc-web [-c FILE] user disable|enable NAME [--store PATH]
    dmarc-web [-c FILE] user list [--store PATH]

DESCRIPTION
    Serves the dashboard (overview, messages, domains, sources) and its JSON API over HTTP/1.1
    or HTTPS, from a read-only view of the store dmarc-collector fills (SQLite opened
    read-only, or PostgreSQL sessions with default_transaction_read_only). Every page needs a
    login; users are admin or viewer, with argon2id passwords. `user add` and `user passwd`
    read the password from standard input (one line; asked twice on a terminal) or print a
    generated one once with --generate-password; they open the store read-write. A new
    password ends the user's sessions opened with the old one, at their next request.
    A viewer added with --domains, or changed with `user domains`, is scoped: it sees only the
    messages whose RFC5322.From or policy domain is one of those domains or a subdomain, and
    those domains' reports (U-labels are stored as A-labels). `user domains NAME --all` lifts
    the scope, `--none` leaves the user seeing nothing. Admins are never scoped.
    `user role NAME admin|viewer` changes a user's role (a scoped viewer's scope must be lifted
    before it can become admin; the last admin is not demoted until another user is admin).
    `user disable NAME` takes a user's access away (`user enable NAME` gives it back; the last
    admin who can sign in is not disabled). `user list` prints one line per user: name, role,
    enabled or disabled, its domains (all, none or the list) and when it was added. Role, scope
    and disabled state are read from the store on every request: a change applies to sessions
    already logged in, at their next request.

OPTIONS
    -c FILE               settings file: WebListen, WebTLSCertificateFile, WebTLSKeyFile,
                          WebThreads, StoreDatabase (`Name value` lines); flags override it
    --listen ADDR:PORT    where to listen (default 127.0.0.1:8080; [::1]:8080 for IPv6)
    --store PATH|URI      the store: a path, sqlite:///path or postgresql://user@host/db
                          (default /var/lib/dmarc/dmarc.db)
    --tls-cert FILE, --tls-key FILE
                          PEM certificate chain and key: HTTPS, HSTS and Secure cookies
    --threads N           worker threads (default 2)
    -h, --help            this text

EXIT STATUS
    0 stopped by SIGINT or SIGTERM, or the user command succeeded; 64 usage; 70 internal error;
    75 temporary failure; 78 configuration error (bad setting, store missing or not migrated)

FILES
    /etc/dmarc/dmarc-web.conf   settings of the installed service (dmarc-web.service)
    /var/lib/dmarc/dmarc.db     the store of the installed services

EXAMPLES
    First administrator, then the service:
        dmarc-web -c /etc/dmarc/dmarc-web.conf user add admin --role admin --generate-password
        systemctl enable --now dmarc-web
    Try it on a copy of the store:
        dmarc-web --store /tmp/dmarc.db --listen 127.0.0.1:8081
)";

bool valid_user_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '@';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::string> read_password_line(const char* prompt, bool tty) {
    termios old{};
    if (tty) {
        std::fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    bool ok = static_cast<bool>(std::getline(std::cin, line));
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::fprintf(stderr, "\n");
    }
    if (!ok) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

// A refused user change: an unknown user or a value the store will not take is the caller's
// mistake (usage), anything else the store's.
int user_change_failed(const Error& error) {
    std::fprintf(stderr, "dmarc-web: %s\n", error.message.c_str());
    return error.code == Errc::not_found || error.code == Errc::invalid_value ? kExitUsage
                                                                              : kExitSoftware;
}

// `user domains NAME LIST|--all|--none`: a viewer's scope, changed in one transaction.
int domains_command(const std::string& name, const std::optional<std::string>& list, bool all,
                    bool none, const WebConfig& config) {
    if (static_cast<int>(list.has_value()) + static_cast<int>(all) + static_cast<int>(none) != 1) {
        std::fprintf(stderr, "dmarc-web: user domains NAME needs a domain list, --all or --none\n");
        return kExitUsage;
    }
    io::DomainScope scope;
    scope.all = all;
    if (list) {
        auto domains = parse_scope_domains(*list);
        if (!domains) {
            std::fprintf(stderr, "dmarc-web: --domains: %s\n", domains.error().message.c_str());
            return kExitUsage;
        }
        scope.domains = std::move(*domains);
    }
    auto r = io::set_web_user_scope(config.store, name, scope);
    if (!r) return user_change_failed(r.error());
    std::fprintf(stderr, "dmarc-web: user %s sees %s\n", name.c_str(),
                 all    ? "every domain"
                 : none ? "no domain"
                        : scope.key().c_str());
    return 0;
}

// `user role NAME admin|viewer`: applies to live sessions at their next request (routes.cpp).
int role_command(const std::string& name, const std::string& role, const WebConfig& config) {
    if (role != "admin" && role != "viewer") {
        std::fprintf(stderr, "dmarc-web: user role NAME needs admin or viewer\n");
        return kExitUsage;
    }
    auto r = io::set_web_user_role(config.store, name, role);
    if (!r) return user_change_failed(r.error());
    std::fprintf(stderr, "dmarc-web: user %s is %s\n", name.c_str(), role.c_str());
    return 0;
}

// `user list`: one line per user, by name: NAME ROLE enabled|disabled all|DOMAIN,... CREATED.
int list_command(const std::vector<std::string>& args, WebConfig& config) {
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--store" && i + 1 < args.size()) {
            config.store = store_path(args[++i]);
        } else {
            return usage();
        }
    }
    auto users = io::list_web_users(config.store);
    if (!users) return user_change_failed(users.error());
    for (const auto& u : *users) {
        std::string scope = u.scope.all ? "all" : "";
        for (const auto& d : u.scope.domains) scope += (scope.empty() ? "" : ",") + d;
        if (!u.scope.all && scope.empty()) scope = "none";
        std::time_t created = u.created;
        std::tm utc{};
        char when[32] = "-";
        if (::gmtime_r(&created, &utc) != nullptr) {
            std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
        }
        std::printf("%s %s %s %s %s\n", u.name.c_str(), u.role.c_str(),
                    u.disabled ? "disabled" : "enabled", scope.c_str(), when);
    }
    return 0;
}

int enable_command(const std::string& name, bool enable, WebConfig& config) {
    auto r = io::set_web_user_disabled(config.store, name, !enable);
    if (!r) return user_change_failed(r.error());
    std::fprintf(stderr, "dmarc-web: user %s %s\n", name.c_str(),
                 enable ? "enabled" : "disabled: its sessions end at their next request");
    return 0;
}

int user_command(std::vector<std::string> args, WebConfig& config) {
    if (!args.empty() && args[0] == "list") return list_command(args, config);
    if (args.size() < 2) return usage();
    const std::string verb = args[0];
    const std::string name = args[1];
    std::string role;
    bool generate = false;
    std::optional<std::string> domains;  // --domains (add), or the list (domains)
    bool all = false, none = false;
    for (std::size_t i = 2; i < args.size(); ++i) {
        if (args[i] == "--role" && i + 1 < args.size() && (verb == "add" || verb == "role") &&
            role.empty()) {
            role = args[++i];
        } else if (verb == "role" && !args[i].starts_with("-") && role.empty()) {
            role = args[i];
        } else if (args[i] == "--store" && i + 1 < args.size()) {
            config.store = store_path(args[++i]);
        } else if (args[i] == "--generate-password") {
            generate = true;
        } else if (args[i] == "--domains" && i + 1 < args.size() && !domains &&
                   (verb == "add" || verb == "domains")) {
            domains = args[++i];
        } else if ((args[i] == "--all" || args[i] == "--none") && verb == "domains") {
            (args[i] == "--all" ? all : none) = true;
        } else if (verb == "domains" && !args[i].starts_with("-") && !domains) {
            domains = args[i];
        } else {
            return usage();
        }
    }
    if ((verb != "add" && verb != "passwd" && verb != "domains" && verb != "role" &&
         verb != "disable" && verb != "enable") ||
        !valid_user_name(name)) {
        std::fprintf(stderr, "dmarc-web: user names are 1-64 of A-Z a-z 0-9 . _ - @\n");
        return usage();
    }
    if (verb == "domains") return domains_command(name, domains, all, none, config);
    if (verb == "role") return role_command(name, role, config);
    if (verb == "disable" || verb == "enable")
        return enable_command(name, verb == "enable", config);
    if (verb == "add" && role != "admin" && role != "viewer") {
        std::fprintf(stderr, "dmarc-web: --role admin or --role viewer is required\n");
        return kExitUsage;
    }
    io::DomainScope scope = io::DomainScope::everything();
    if (domains) {
        if (role == "admin") {
            std::fprintf(stderr,
                         "dmarc-web: an admin sees every domain: --domains is for viewers\n");
            return kExitUsage;
        }
        auto parsed = parse_scope_domains(*domains);
        if (!parsed) {
            std::fprintf(stderr, "dmarc-web: --domains: %s\n", parsed.error().message.c_str());
            return kExitUsage;
        }
        scope = io::DomainScope{false, std::move(*parsed)};
    }
    std::string password;
    if (generate) {
        password = generate_password();
    } else {
        const bool tty = isatty(STDIN_FILENO) != 0;
        auto first = read_password_line("Password: ", tty);
        if (!first) {
            std::fprintf(stderr, "dmarc-web: no password on standard input\n");
            return kExitUsage;
        }
        if (tty) {
            auto again = read_password_line("Again: ", tty);
            if (!again || *again != *first) {
                std::fprintf(stderr, "dmarc-web: the passwords differ\n");
                return kExitUsage;
            }
        }
        password = *first;
        if (password.size() < 12 || password.size() > 1024) {
            std::fprintf(stderr, "dmarc-web: a password has 12 to 1024 characters\n");
            return kExitUsage;
        }
    }
    auto hash = hash_password(password);
    if (!hash) {
        std::fprintf(stderr, "dmarc-web: %s\n", hash.error().message.c_str());
        return kExitTempfail;
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto r = verb == "add" ? io::add_web_user(config.store, name, role, *hash, now, scope)
                           : io::set_web_user_password(config.store, name, *hash);
    if (!r) {
        std::fprintf(stderr, "dmarc-web: %s\n", r.error().message.c_str());
        return kExitSoftware;
    }
    if (generate) {
        // Printed once, never stored: the user should change it.
        std::printf("%s\n", password.c_str());
    }
    std::fprintf(stderr, "dmarc-web: user %s %s\n", name.c_str(),
                 verb == "add" ? "added" : "password changed");
    return 0;
}

int serve(WebConfig& config) {
    auto store = io::StoreReader::open(config.store, config.server.threads + 2);
    if (!store) {
        std::fprintf(stderr, "dmarc-web: %s\n", store.error().message.c_str());
        return kExitConfig;
    }
    // Changes (suppressions, resend) go through one writable connection; pages read on the
    // read-only pool above.
    auto writer = io::StoreWriter::open(config.store);
    if (!writer) {
        std::fprintf(stderr, "dmarc-web: %s\n", writer.error().message.c_str());
        return kExitConfig;
    }
    std::unique_ptr<DnsResolver> resolver;
    if (!config.test_dns_data.empty()) {
        auto text = io::load_file(config.test_dns_data, limits::kMaxConfigFileBytes * 16);
        auto zone = text ? MemoryResolver::parse(*text)
                         : Result<MemoryResolver>(tl::unexpected(text.error()));
        if (!zone) {
            std::fprintf(stderr, "dmarc-web: TestDNSData %s: %s\n", config.test_dns_data.c_str(),
                         zone.error().message.c_str());
            return kExitConfig;
        }
        resolver = std::make_unique<MemoryResolver>(std::move(*zone));
    } else {
        io::DnsOptions dns;
        dns.timeout = std::chrono::seconds(config.dns_timeout_s);
        dns.nameservers = config.nameservers;
        dns.trust_anchor_file = config.trust_anchor_file;
        auto unbound = io::make_unbound_resolver(dns);
        if (unbound) {
            resolver = std::move(*unbound);
        } else {
            // The pages do not need DNS: without it, no DNS check and no reverse DNS.
            std::fprintf(stderr, "dmarc-web: DNS unavailable (%s): DNS check and reverse DNS off\n",
                         unbound.error().message.c_str());
        }
    }
    std::unique_ptr<ReverseDnsCache> rdns;
    if (config.reverse_dns && resolver) rdns = std::make_unique<ReverseDnsCache>(*resolver);

    // Signals go to the main thread only (sigwait below): block them before threads start.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    Metrics metrics;
    AppOptions app_options;
    app_options.writer = writer->get();
    app_options.resolver = resolver.get();
    app_options.rdns = rdns.get();
    app_options.allowed_hosts = config.hosts;
    app_options.cache_seconds = config.cache_seconds;
    if (!config.hosts.empty()) app_options.report_receiver = config.hosts.front();
    App app(**store, metrics, app_options);
    std::mutex log_mutex;
    auto server = Server::start(
        config.server, [&app](const Request& request) { return app.handle(request); }, &metrics,
        [&log_mutex](std::string_view line) {
            std::lock_guard lock(log_mutex);
            std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
        });
    if (!server) {
        std::fprintf(stderr, "dmarc-web: %s\n", server.error().message.c_str());
        return kExitConfig;
    }
    std::printf("dmarc-web: listening on %s://%s:%u\n", (*server)->tls() ? "https" : "http",
                config.server.address.c_str(), static_cast<unsigned>((*server)->port()));
    std::fflush(stdout);
    // The first visit's aggregates, computed while nobody waits (seconds on a large store); a
    // request arriving meanwhile shares the computation under way.
    std::atomic<bool> stopping{false};
    std::thread warm([&app, &stopping, cache = config.cache_seconds] {
        io::name_this_thread("dmarc-web-warm");
        if (cache <= 0) return;
        const auto started = std::chrono::steady_clock::now();
        const bool finished = app.warm(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count(),
                                       &stopping);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!finished) {
            std::fprintf(stderr, "dmarc-web: cache warm-up cut short by the stop after %.1f s\n",
                         seconds);
        } else {
            std::fprintf(stderr, "dmarc-web: caches warmed in %.1f s\n", seconds);
        }
    });
    int received = 0;
    sigwait(&signals, &received);
    std::fprintf(stderr, "dmarc-web: signal %d, stopping\n", received);
    stopping = true;
    (*server)->stop();
    warm.join();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (!crypto_init()) {
            std::fprintf(stderr, "dmarc-web: libsodium failed to initialise\n");
            return kExitSoftware;
        }
        WebConfig config;
        std::vector<std::string> args(argv + 1, argv + argc);
        if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
            std::fputs(kHelp, stdout);
            return 0;
        }
        // -c first, so flags override the file.
        for (std::size_t i = 0; i + 1 < args.size(); ++i) {
            if (args[i] == "-c") {
                if (auto r = load_web_config(args[i + 1], config); !r) {
                    std::fprintf(stderr, "dmarc-web: %s\n", r.error().message.c_str());
                    return kExitConfig;
                }
                args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                           args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
                break;
            }
        }
        if (!args.empty() && args[0] == "user") {
            return user_command(std::vector<std::string>(args.begin() + 1, args.end()), config);
        }
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (i + 1 >= args.size()) return usage();
            const std::string& v = args[++i];
            Result<void> r;
            if (a == "--listen") {
                r = apply_web_setting("WebListen", v, config);
            } else if (a == "--store") {
                r = apply_web_setting("StoreDatabase", v, config);
            } else if (a == "--tls-cert") {
                r = apply_web_setting("WebTLSCertificateFile", v, config);
            } else if (a == "--tls-key") {
                r = apply_web_setting("WebTLSKeyFile", v, config);
            } else if (a == "--threads") {
                r = apply_web_setting("WebThreads", v, config);
            } else if (a == "--hosts") {
                r = apply_web_setting("WebHosts", v, config);
            } else if (a == "--dns-timeout") {
                r = apply_web_setting("DNSTimeout", v, config);
            } else if (a == "--nameservers") {
                r = apply_web_setting("Nameservers", v, config);
            } else if (a == "--test-dns-data") {
                r = apply_web_setting("TestDNSData", v, config);
            } else if (a == "--reverse-dns") {
                r = apply_web_setting("WebReverseDNS", v, config);
            } else if (a == "--cache-seconds") {
                r = apply_web_setting("WebCacheSeconds", v, config);
            } else {
                return usage();
            }
            if (!r) {
                std::fprintf(stderr, "dmarc-web: %s\n", r.error().message.c_str());
                return kExitConfig;
            }
        }
        return serve(config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dmarc-web: %s\n", e.what());
        return kExitSoftware;
    }
}
