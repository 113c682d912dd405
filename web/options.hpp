// dmarc-web's settings: a `Name value` file in the style of the milter's (opendmarc.conf(5):
// '#' comments, names case-insensitive) and command-line flags that override it.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "web/server.hpp"

namespace dmarc::web {

struct WebConfig {
    ServerOptions server;
    std::string store = "/var/lib/dmarc/dmarc.db";  // a path or a postgresql:// URI
    // Host names the dashboard answers to besides its listen address (DNS rebinding check).
    std::vector<std::string> hosts;
    // DNS (the DNS check page and reverse DNS of sources), as the milter's keys.
    unsigned dns_timeout_s = 2;
    std::vector<std::string> nameservers;  // unbound "address[@port]"; empty: resolv.conf
    std::string trust_anchor_file;
    std::string test_dns_data;  // a MemoryResolver zone file instead of the network (tests)
    bool reverse_dns = true;
    std::int64_t cache_seconds = 60;
};

// One documented settings key: the reference (docs/configuration.md, dist/config_reference.cpp)
// is generated from web_keys(), and a test applies each `example` through apply_web_setting and
// checks that every name apply_web_setting knows is in the table.
struct WebKey {
    std::string_view name, example, default_text, meaning;
};
std::span<const WebKey> web_keys();

// Keys: WebListen ADDRESS:PORT, WebTLSCertificateFile, WebTLSKeyFile, WebThreads N, StoreDatabase,
// WebHosts NAME[,NAME...], WebReverseDNS yes|no, WebCacheSeconds N, DNSTimeout SECONDS,
// Nameservers ADDR[@PORT][,...], TrustAnchorFile PATH, TestDNSData PATH.
Result<void> load_web_config(const std::string& path, WebConfig& config);
Result<void> apply_web_setting(std::string_view name, std::string_view value, WebConfig& config);
// "sqlite:///abs/path" and "sqlite:rel" -> the path; a postgresql:// URI stays as it is; anything
// else is taken as a path.
std::string store_path(std::string_view uri);

}  // namespace dmarc::web
