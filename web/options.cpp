// dmarc-web settings file (Name value lines) and store URI handling.
#include "web/options.hpp"

#include <charconv>
#include <fstream>
#include <optional>

#include "core/limits.hpp"
#include "core/text.hpp"
#include "io/dns.hpp"
#include "io/sql_connection.hpp"

namespace dmarc::web {

std::string store_path(std::string_view uri) {
    return io::sql::sqlite_path(uri);
}

namespace {
constexpr WebKey kWebKeys[] = {
    {"WebListen", "127.0.0.1:8080", "127.0.0.1:8080",
     "Address and port to listen on (`[::1]:8080` for IPv6). Loopback by default: put a TLS "
     "reverse proxy in front, or set the two TLS keys."},
    {"WebTLSCertificateFile", "/etc/ssl/certs/dmarc.pem", "(none)",
     "PEM certificate chain; with WebTLSKeyFile the dashboard speaks HTTPS and session cookies "
     "get `Secure`."},
    {"WebTLSKeyFile", "/etc/ssl/private/dmarc.key", "(none)", "PEM private key for the above."},
    {"WebThreads", "2", "2", "Worker threads serving requests (1..64)."},
    {"StoreDatabase", "sqlite:///var/lib/dmarc/dmarc.db", "sqlite:///var/lib/dmarc/dmarc.db",
     "The store the dashboard reads: a SQLite path or `sqlite:` URI, or a libpq URI "
     "`postgresql://user@host/db`. Pages read on read-only connections (SQLite opened read-only; "
     "PostgreSQL sessions with `default_transaction_read_only`); suppressions, resend and users "
     "use one separate writable connection."},
    {"WebHosts", "dmarc.example.com,dmarc", "(the listen address; localhost on loopback)",
     "Host names accepted in the Host header (DNS-rebinding defence); others get 421."},
    {"WebReverseDNS", "yes", "yes",
     "Resolve source addresses to names in the background for the Sources page."},
    {"WebCacheSeconds", "60", "60",
     "How long overview, domain, source and metrics totals are reused per filter (0..3600)."},
    {"DNSTimeout", "5", "5",
     "Seconds per DNS query for the DNS-check page and reverse DNS (1..60), as the milter's key."},
    {"Nameservers", "127.0.0.1@53", "(resolv.conf)",
     "Resolvers to ask, `address[@port]`, comma-separated, as the milter's key."},
    {"TrustAnchorFile", "/usr/share/dns/root.key", "(none)",
     "DNSSEC trust anchor for the resolver, as the milter's key."},
    {"TestDNSData", "/dev/null", "(none)",
     "A zone file answered instead of the network (tests and the demo), as the milter's key."},
};
}  // namespace

std::span<const WebKey> web_keys() {
    return kWebKeys;
}

Result<void> apply_web_setting(std::string_view name, std::string_view value, WebConfig& config) {
    if (text::iequals(name, "WebListen")) return parse_listen(value, config.server);
    if (text::iequals(name, "WebTLSCertificateFile")) {
        config.server.tls_certificate = std::string(value);
        return {};
    }
    if (text::iequals(name, "WebTLSKeyFile")) {
        config.server.tls_key = std::string(value);
        return {};
    }
    if (text::iequals(name, "WebThreads")) {
        unsigned n = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || ptr != value.data() + value.size() || n == 0 || n > 64) {
            return make_error(Errc::invalid_value, "WebThreads: expected 1..64");
        }
        config.server.threads = n;
        return {};
    }
    auto number = [&](unsigned low, unsigned high) -> std::optional<unsigned> {
        unsigned n = 0;
        auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || ptr != value.data() + value.size() || n < low || n > high) {
            return std::nullopt;
        }
        return n;
    };
    if (text::iequals(name, "WebHosts")) {
        config.hosts.clear();
        std::string item;
        for (char c : std::string(value) + ",") {
            if (c == ',' || c == ' ' || c == '\t') {
                if (!item.empty()) config.hosts.push_back(item);
                item.clear();
            } else {
                item += c;
            }
        }
        return {};
    }
    if (text::iequals(name, "WebReverseDNS")) {
        if (text::iequals(value, "yes") || text::iequals(value, "true")) {
            config.reverse_dns = true;
        } else if (text::iequals(value, "no") || text::iequals(value, "false")) {
            config.reverse_dns = false;
        } else {
            return make_error(Errc::invalid_value, "WebReverseDNS: expected yes or no");
        }
        return {};
    }
    if (text::iequals(name, "WebCacheSeconds")) {
        auto n = number(0, 3600);
        if (!n) return make_error(Errc::invalid_value, "WebCacheSeconds: expected 0..3600");
        config.cache_seconds = *n;
        return {};
    }
    if (text::iequals(name, "DNSTimeout")) {
        auto n = number(1, 60);
        if (!n) return make_error(Errc::invalid_value, "DNSTimeout: expected 1..60 seconds");
        config.dns_timeout_s = *n;
        return {};
    }
    if (text::iequals(name, "Nameservers")) {
        auto list = io::parse_nameservers(value);
        if (!list) return make_error(list.error().code, "Nameservers: " + list.error().message);
        config.nameservers = std::move(*list);
        return {};
    }
    if (text::iequals(name, "TrustAnchorFile")) {
        config.trust_anchor_file = std::string(value);
        return {};
    }
    if (text::iequals(name, "TestDNSData")) {
        config.test_dns_data = std::string(value);
        return {};
    }
    if (text::iequals(name, "StoreDatabase")) {
        config.store = store_path(value);
        return {};
    }
    return make_error(Errc::invalid_value, "unknown setting " + std::string(name));
}

Result<void> load_web_config(const std::string& path, WebConfig& config) {
    std::ifstream in(path);
    if (!in) return make_error(Errc::io, path + ": cannot open");
    std::string line;
    int number = 0;
    std::size_t total = 0;
    while (std::getline(in, line)) {
        ++number;
        total += line.size() + 1;
        if (line.size() > limits::kMaxConfigLineBytes || total > limits::kMaxConfigFileBytes) {
            return make_error(Errc::limit, path + ":" + std::to_string(number) + ": too long");
        }
        if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::string_view content = text::trim(line);
        if (content.empty()) continue;
        auto space = content.find_first_of(" \t");
        std::string_view name = content.substr(0, space);
        std::string_view value = space == std::string_view::npos
                                     ? std::string_view()
                                     : text::trim(content.substr(space));
        if (auto r = apply_web_setting(name, value, config); !r) {
            return make_error(r.error().code,
                              path + ":" + std::to_string(number) + ": " + r.error().message);
        }
    }
    return {};
}

}  // namespace dmarc::web
