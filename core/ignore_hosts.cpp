// IgnoreHosts parsing and matching (see ignore_hosts.hpp).
#include "core/ignore_hosts.hpp"

#include <algorithm>
#include <bit>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

// "255.255.255.0" -> 24; nullopt for a non-contiguous mask.
std::optional<unsigned> netmask_prefix(std::string_view text) {
    auto mask = IpAddress::parse(text);
    if (!mask || !mask->is_v4()) return std::nullopt;
    const auto& b = mask->bytes();
    std::uint32_t m = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                      (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    auto ones = static_cast<unsigned>(std::countl_one(m));
    if (ones < 32 && (m << ones) != 0) return std::nullopt;
    return ones;
}

std::optional<IpNetwork> parse_network(std::string_view text) {
    if (text.size() > 2 && text.front() == '[') {
        // "[2001:db8::1]" or "[2001:db8::]/32"
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string joined(text.substr(1, close - 1));
        joined += text.substr(close + 1);
        return parse_network(joined);
    }
    auto slash = text.find('/');
    if (slash != std::string_view::npos &&
        text.substr(slash + 1).find('.') != std::string_view::npos) {
        auto address = IpAddress::parse(text.substr(0, slash));
        auto prefix = netmask_prefix(text.substr(slash + 1));
        if (!address || !address->is_v4() || !prefix) return std::nullopt;
        return IpNetwork{*address, *prefix};
    }
    return IpNetwork::parse(text);
}

bool looks_like_address(std::string_view text) {
    // Host names never contain ':' and never end in a digit-only label; networks always do one
    // or the other (RFC 1123 §2.1: a top-level label is alphabetic).
    if (text.find(':') != std::string_view::npos || text.find('/') != std::string_view::npos ||
        text.front() == '[') {
        return true;
    }
    auto last_dot = text.rfind('.');
    auto last = last_dot == std::string_view::npos ? text : text.substr(last_dot + 1);
    return !last.empty() &&
           std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

IgnoreHostList IgnoreHostList::defaults() {
    IgnoreHostList list;
    list.networks_.push_back({*IpNetwork::parse("127.0.0.1"), false});
    list.networks_.push_back({*IpNetwork::parse("::1"), false});
    return list;
}

Result<IgnoreHostList> IgnoreHostList::parse(std::string_view text, std::vector<Issue>* issues) {
    if (text.size() > limits::kMaxIgnoreHostsFileBytes) {
        return make_error(Errc::limit, "IgnoreHosts file larger than kMaxIgnoreHostsFileBytes");
    }
    IgnoreHostList list;
    auto issue = [&](std::size_t line, std::string message) {
        if (issues) issues->push_back({line, std::move(message)});
    };
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        ++line_no;
        if (line.size() > limits::kMaxConfigLineBytes) {
            return make_error(Errc::limit,
                              "IgnoreHosts line " + std::to_string(line_no) + " is too long");
        }
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = text::trim(line);
        if (line.empty()) continue;
        if (list.size() >= limits::kMaxIgnoreHostsEntries) {
            return make_error(Errc::limit, "IgnoreHosts has more than kMaxIgnoreHostsEntries");
        }
        bool negated = line.front() == '!';
        std::string_view entry = text::trim(negated ? line.substr(1) : line);
        if (entry.empty()) {
            issue(line_no, "'!' without an entry");
            continue;
        }
        if (looks_like_address(entry)) {
            auto network = parse_network(entry);
            if (!network) {
                issue(line_no, "not an IP address or network: " + std::string(entry));
                continue;
            }
            // "::ffff:192.0.2.0/120" names IPv4 clients (RFC 4291 §2.5.5.2), which matches()
            // sees unmapped: store it as the IPv4 network it is.
            if (!network->address.is_v4() && network->address.unmapped().is_v4() &&
                network->prefix_len >= 96) {
                network = IpNetwork{network->address.unmapped(), network->prefix_len - 96};
            }
            list.networks_.push_back({*network, negated});
            continue;
        }
        bool suffix = entry.front() == '.';
        std::string_view name = suffix ? entry.substr(1) : entry;
        if (!name.empty() && name.back() == '.') name.remove_suffix(1);
        auto normalised = to_a_label_domain(name);
        if (!normalised) {
            issue(line_no, "not a host name: " + std::string(entry));
            continue;
        }
        list.names_.push_back({*normalised, suffix, negated});
    }
    return list;
}

bool IgnoreHostList::matches(const std::optional<IpAddress>& client_ip,
                             std::string_view host_name) const {
    // The most specific entry decides: the longest prefix among networks...
    IpAddress ip = client_ip ? client_ip->unmapped() : *IpAddress::parse("127.0.0.1");
    int best_prefix = -1;
    bool ip_ignored = false;
    for (const auto& e : networks_) {
        if (!e.network.contains(ip)) continue;
        int prefix = static_cast<int>(e.network.prefix_len);
        if (prefix > best_prefix || (prefix == best_prefix && e.negated)) {
            best_prefix = prefix;
            ip_ignored = !e.negated;
        }
    }
    if (ip_ignored) return true;

    // ...and the longest name among host names (an exact entry beats a ".suffix" one).
    std::string_view host = text::trim(host_name);
    if (host.empty() || host.front() == '[' || names_.empty()) return false;
    if (host.back() == '.') host.remove_suffix(1);
    std::string lowered = text::lower(host);
    std::size_t best_len = 0;
    bool found = false;
    bool name_ignored = false;
    for (const auto& e : names_) {
        bool hit = false;
        std::size_t len = e.name.size() * 2;
        if (e.suffix) {
            hit = lowered.size() > e.name.size() &&
                  lowered.compare(lowered.size() - e.name.size(), e.name.size(), e.name) == 0 &&
                  lowered[lowered.size() - e.name.size() - 1] == '.';
        } else {
            hit = lowered == e.name;
            len += 1;  // exact beats a suffix of the same name
        }
        if (!hit) continue;
        if (!found || len > best_len || (len == best_len && e.negated)) {
            found = true;
            best_len = len;
            name_ignored = !e.negated;
        }
    }
    return name_ignored;
}

}  // namespace dmarc
