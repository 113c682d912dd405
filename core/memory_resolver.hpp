// An in-memory DnsResolver for tests, the milter's offline test mode (-t) and TestDNSData: zones
// built in code or loaded from a small text format. Semantics follow the real DNS where DMARC
// and SPF care: NXDOMAIN only when neither the name nor anything below it exists (RFC 8020),
// NODATA for existing names (including empty non-terminals), CNAME chains, "*." wildcards
// (RFC 4592, closest-encloser form), and injected temperrors. Every query is logged.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dns.hpp"
#include "core/result.hpp"

namespace dmarc {

class MemoryResolver final : public DnsResolver {
  public:
    // Zone text, one record per line ('#' starts a comment outside quotes):
    //   example.com.        TXT    "v=spf1 " "-all"     several strings are concatenated
    //   example.com         A      192.0.2.1
    //   example.com         AAAA   2001:db8::1
    //   example.com         MX     10 mail.example.com
    //   1.2.0.192.in-addr.arpa PTR host.example.com
    //   www.example.com     CNAME  example.com
    //   *.example.org       TXT    "v=DMARC1"           wildcard
    //   broken.example.com  SERVFAIL                    every query at that name: temperror
    //   slow.example.com    TIMEOUT TXT                 one type only: temperror
    //   empty.example.com   EXISTS                      the name exists with no records
    // An unquoted TXT value is taken as one string (the rest of the line).
    static Result<MemoryResolver> parse(std::string_view zone_text);

    MemoryResolver() = default;
    MemoryResolver(const MemoryResolver& other);
    MemoryResolver& operator=(const MemoryResolver& other);

    void add_txt(std::string_view name, std::string_view text);
    void add_a(std::string_view name, const IpAddress& address);
    void add_mx(std::string_view name, std::uint16_t preference, std::string_view exchange);
    void add_ptr(std::string_view name, std::string_view target);
    void add_cname(std::string_view name, std::string_view target);
    void add_exists(std::string_view name);
    // Makes queries for name (of one type, or of every type) answer temperror.
    void add_failure(std::string_view name, std::optional<RrType> type = std::nullopt);

    DnsResponse lookup(std::string_view name, RrType type) override;
    // Never waits: every answer is in memory.
    std::optional<DnsResponse> lookup_now(std::string_view name, RrType type) override {
        return lookup(name, type);
    }

    // Queries seen so far, in order ("TXT _dmarc.example.com").
    std::vector<std::string> queries() const;
    std::size_t query_count() const;
    void clear_queries();

  private:
    struct Node {
        std::vector<std::string> txt;
        std::vector<IpAddress> addresses;
        std::vector<MxRecord> mx;
        std::vector<std::string> ptr;
        std::optional<std::string> cname;
        bool fail_all = false;
        std::vector<RrType> fail_types;
    };

    Node& node(std::string_view name);
    const Node* find_node(const std::string& name) const;
    bool has_descendant(const std::string& name) const;
    DnsResponse answer(const std::string& name, RrType type, int depth) const;

    std::map<std::string, Node> nodes_;
    mutable std::mutex mutex_;
    std::vector<std::string> log_;
};

}  // namespace dmarc
