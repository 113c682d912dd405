// dmarc-web's settings: a `Name value` file in the style of the milter's (opendmarc.conf(5):
// '#' comments, names case-insensitive) and command-line flags that override it.
#pragma once

#include <string>

#include "core/result.hpp"
#include "web/server.hpp"

namespace dmarc::web {

struct WebConfig {
    ServerOptions server;
    std::string store = "/var/lib/dmarc/store.db";  // SQLite store path (sqlite:// URIs accepted)
};

// Keys: WebListen ADDRESS:PORT, WebTLSCertificateFile, WebTLSKeyFile, WebThreads N, StoreDatabase.
Result<void> load_web_config(const std::string& path, WebConfig& config);
Result<void> apply_web_setting(std::string_view name, std::string_view value, WebConfig& config);
// "sqlite:///abs/path" and "sqlite:rel" -> the path; anything else is taken as a path.
std::string store_path(std::string_view uri);

}  // namespace dmarc::web
