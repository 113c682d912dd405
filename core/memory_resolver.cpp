// In-memory resolver (see memory_resolver.hpp).
#include "core/memory_resolver.hpp"

#include <algorithm>
#include <charconv>

#include "core/text.hpp"

namespace dmarc {
namespace {

std::string normalise(std::string_view name) {
    name = text::trim(name);
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    return text::lower(name);
}

std::string parent_of(const std::string& name) {
    auto dot = name.find('.');
    return dot == std::string::npos ? std::string() : name.substr(dot + 1);
}

std::optional<RrType> parse_type(std::string_view t) {
    if (text::iequals(t, "A")) return RrType::a;
    if (text::iequals(t, "AAAA")) return RrType::aaaa;
    if (text::iequals(t, "TXT")) return RrType::txt;
    if (text::iequals(t, "MX")) return RrType::mx;
    if (text::iequals(t, "PTR")) return RrType::ptr;
    return std::nullopt;
}

// Splits a zone line into tokens; quoted strings keep their content (with \" and \\ escapes)
// and are marked as quoted. A '#' outside quotes ends the line (';' does not: DMARC and SPF
// records are full of them).
struct Token {
    std::string text;
    bool quoted = false;
};

std::optional<std::vector<Token>> tokenize(std::string_view line) {
    std::vector<Token> out;
    std::size_t i = 0;
    while (i < line.size()) {
        char c = line[i];
        if (text::is_fws(c)) {
            ++i;
            continue;
        }
        if (c == '#') break;
        Token tok;
        if (c == '"') {
            tok.quoted = true;
            ++i;
            bool closed = false;
            while (i < line.size()) {
                char d = line[i++];
                if (d == '\\' && i < line.size()) {
                    tok.text += line[i++];
                } else if (d == '"') {
                    closed = true;
                    break;
                } else {
                    tok.text += d;
                }
            }
            if (!closed) return std::nullopt;
        } else {
            while (i < line.size() && !text::is_fws(line[i])) tok.text += line[i++];
        }
        out.push_back(std::move(tok));
    }
    return out;
}

}  // namespace

MemoryResolver::MemoryResolver(const MemoryResolver& other) {
    std::lock_guard lock(other.mutex_);
    nodes_ = other.nodes_;
    log_ = other.log_;
}

MemoryResolver& MemoryResolver::operator=(const MemoryResolver& other) {
    if (this == &other) return *this;
    std::scoped_lock lock(mutex_, other.mutex_);
    nodes_ = other.nodes_;
    log_ = other.log_;
    return *this;
}

Result<MemoryResolver> MemoryResolver::parse(std::string_view zone_text) {
    MemoryResolver zone;
    std::size_t line_no = 0;
    while (!zone_text.empty()) {
        ++line_no;
        auto nl = zone_text.find('\n');
        std::string_view line = zone_text.substr(0, nl);
        zone_text = nl == std::string_view::npos ? std::string_view() : zone_text.substr(nl + 1);
        auto where = [&](const std::string& what) {
            return make_error(Errc::syntax, "zone line " + std::to_string(line_no) + ": " + what);
        };
        auto tokens = tokenize(line);
        if (!tokens) return where("unterminated quoted string");
        if (tokens->empty()) continue;
        if (tokens->size() < 2) return where("expected: name TYPE value");
        const std::string& name = (*tokens)[0].text;
        std::string type = text::lower((*tokens)[1].text);
        std::vector<Token> args(tokens->begin() + 2, tokens->end());
        if (type == "txt") {
            if (args.empty()) return where("TXT needs a value");
            std::string value;
            bool any_quoted =
                std::any_of(args.begin(), args.end(), [](const Token& t) { return t.quoted; });
            if (any_quoted) {
                for (const auto& t : args) value += t.text;
            } else {
                // Unquoted: the rest of the line after the type, as written.
                auto pos = line.find((*tokens)[1].text);
                std::string_view rest = line.substr(pos + (*tokens)[1].text.size());
                rest = rest.substr(0, rest.find('#'));
                value = std::string(text::trim(rest));
            }
            zone.add_txt(name, value);
        } else if (type == "a" || type == "aaaa") {
            if (args.size() != 1) return where("A/AAAA needs one address");
            auto ip = IpAddress::parse(args[0].text);
            if (!ip || (type == "a") != ip->is_v4()) return where("bad address " + args[0].text);
            zone.add_a(name, *ip);
        } else if (type == "mx") {
            if (args.size() != 2) return where("MX needs: preference exchange");
            unsigned pref = 0;
            const auto& p = args[0].text;
            auto res = std::from_chars(p.data(), p.data() + p.size(), pref);
            if (res.ec != std::errc{} || pref > 65535) return where("bad MX preference");
            zone.add_mx(name, std::uint16_t(pref), args[1].text);
        } else if (type == "ptr") {
            if (args.size() != 1) return where("PTR needs one target");
            zone.add_ptr(name, args[0].text);
        } else if (type == "cname") {
            if (args.size() != 1) return where("CNAME needs one target");
            zone.add_cname(name, args[0].text);
        } else if (type == "servfail" || type == "timeout") {
            if (args.empty()) {
                zone.add_failure(name);
            } else {
                for (const auto& a : args) {
                    auto t = parse_type(a.text);
                    if (!t) return where("unknown record type " + a.text);
                    zone.add_failure(name, *t);
                }
            }
        } else if (type == "exists") {
            zone.add_exists(name);
        } else {
            return where("unknown record type " + (*tokens)[1].text);
        }
    }
    return zone;
}

MemoryResolver::Node& MemoryResolver::node(std::string_view name) {
    return nodes_[normalise(name)];
}

void MemoryResolver::add_txt(std::string_view name, std::string_view value) {
    std::lock_guard lock(mutex_);
    node(name).txt.emplace_back(value);
}
void MemoryResolver::add_a(std::string_view name, const IpAddress& address) {
    std::lock_guard lock(mutex_);
    node(name).addresses.push_back(address);
}
void MemoryResolver::add_mx(std::string_view name, std::uint16_t pref, std::string_view exch) {
    std::lock_guard lock(mutex_);
    node(name).mx.push_back(MxRecord{pref, normalise(exch)});
}
void MemoryResolver::add_ptr(std::string_view name, std::string_view target) {
    std::lock_guard lock(mutex_);
    node(name).ptr.push_back(normalise(target));
}
void MemoryResolver::add_cname(std::string_view name, std::string_view target) {
    std::lock_guard lock(mutex_);
    node(name).cname = normalise(target);
}
void MemoryResolver::add_exists(std::string_view name) {
    std::lock_guard lock(mutex_);
    (void)node(name);
}
void MemoryResolver::add_failure(std::string_view name, std::optional<RrType> type) {
    std::lock_guard lock(mutex_);
    auto& n = node(name);
    if (type) {
        n.fail_types.push_back(*type);
    } else {
        n.fail_all = true;
    }
}

const MemoryResolver::Node* MemoryResolver::find_node(const std::string& name) const {
    auto it = nodes_.find(name);
    return it == nodes_.end() ? nullptr : &it->second;
}

bool MemoryResolver::has_descendant(const std::string& name) const {
    std::string suffix = "." + name;
    // Descendants sort anywhere (the map orders by full string), so scan; zones are small.
    return std::any_of(nodes_.begin(), nodes_.end(), [&](const auto& kv) {
        return kv.first.size() > suffix.size() &&
               kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
}

DnsResponse MemoryResolver::answer(const std::string& name, RrType type, int depth) const {
    if (depth > 8) {
        auto r = DnsResponse::make(DnsStatus::temperror);
        r.why = "CNAME chain too long";
        return r;
    }
    const Node* n = find_node(name);
    if (n == nullptr) {
        if (has_descendant(name)) return DnsResponse::make(DnsStatus::nodata);
        // Wildcard at the closest encloser (RFC 4592 §3.3.1).
        for (std::string parent = parent_of(name); !parent.empty(); parent = parent_of(parent)) {
            if (find_node(parent) != nullptr || has_descendant(parent)) {
                n = find_node("*." + parent);
                break;
            }
        }
        if (n == nullptr) return DnsResponse::make(DnsStatus::nxdomain);
    }
    if (n->fail_all ||
        std::find(n->fail_types.begin(), n->fail_types.end(), type) != n->fail_types.end()) {
        auto r = DnsResponse::make(DnsStatus::temperror);
        r.why = "injected failure";
        return r;
    }
    if (n->cname) return answer(*n->cname, type, depth + 1);
    DnsResponse r = DnsResponse::make(DnsStatus::answer);
    r.ttl = 300;
    switch (type) {
        case RrType::txt:
            r.txt = n->txt;
            break;
        case RrType::a:
            for (const auto& ip : n->addresses) {
                if (ip.is_v4()) r.addresses.push_back(ip);
            }
            break;
        case RrType::aaaa:
            for (const auto& ip : n->addresses) {
                if (!ip.is_v4()) r.addresses.push_back(ip);
            }
            break;
        case RrType::mx:
            r.mx = n->mx;
            break;
        case RrType::ptr:
            r.names = n->ptr;
            break;
    }
    if (r.txt.empty() && r.addresses.empty() && r.mx.empty() && r.names.empty()) {
        r.status = DnsStatus::nodata;
    }
    return r;
}

DnsResponse MemoryResolver::lookup(std::string_view name, RrType type) {
    std::lock_guard lock(mutex_);
    std::string key = normalise(name);
    log_.push_back(std::string(to_string(type)) + " " + key);
    return answer(key, type, 0);
}

std::vector<std::string> MemoryResolver::queries() const {
    std::lock_guard lock(mutex_);
    return log_;
}

std::size_t MemoryResolver::query_count() const {
    std::lock_guard lock(mutex_);
    return log_.size();
}

void MemoryResolver::clear_queries() {
    std::lock_guard lock(mutex_);
    log_.clear();
}

}  // namespace dmarc
