// The IgnoreHosts list (opendmarc.conf(5) IgnoreHosts): clients whose mail the milter accepts
// unevaluated. One entry per line: an IPv4/IPv6 address, a CIDR network (RFC 4632 "a.b.c.d/n",
// OpenDMARC's "a.b.c.d/m.m.m.m" netmask form, RFC 4291 "addr/n"), a host name, or ".suffix" for
// every host below it; "!" in front excludes. The most specific matching entry decides, and an
// exclusion beats an inclusion of the same specificity (OpenDKIM/OpenDMARC peer-list semantics).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.hpp"
#include "core/result.hpp"

namespace dmarc {

class IgnoreHostList {
  public:
    struct Issue {
        std::size_t line = 0;
        std::string message;
    };

    // The default when no IgnoreHosts file is configured: 127.0.0.1 and ::1 (OpenDMARC §8.2 #28:
    // IPv6 loopback submissions are local too).
    static IgnoreHostList defaults();

    // Parses the file text. Bad lines are skipped and reported; over the limits in
    // core/limits.hpp (entries, line length) is an Errc::limit error for the whole list, since a
    // half-loaded list silently changes which mail is checked.
    static Result<IgnoreHostList> parse(std::string_view text,
                                        std::vector<Issue>* issues = nullptr);

    // True if the connection is to be ignored. client_ip nullopt: no network client (local
    // submission), treated as 127.0.0.1 as OpenDMARC does. host_name is the MTA's name for the
    // client (the connect callback's hostname; "[192.0.2.1]" or "unknown" when unverified).
    bool matches(const std::optional<IpAddress>& client_ip, std::string_view host_name) const;

    std::size_t size() const noexcept { return networks_.size() + names_.size(); }

  private:
    struct NetworkEntry {
        IpNetwork network;
        bool negated = false;
    };
    struct NameEntry {
        std::string name;     // lower case, no trailing dot
        bool suffix = false;  // ".example.com": hosts strictly below example.com
        bool negated = false;
    };
    std::vector<NetworkEntry> networks_;
    std::vector<NameEntry> names_;
};

}  // namespace dmarc
