// Aggregate report XML writer (RFC 7489 Appendix C, RFC 9990 §2 and its XSD) and lenient reader
// (standards §1.13, §3, §8 item 6). See report_xml.hpp for the decisions.
#include "core/report_xml.hpp"

#include <charconv>
#include <cstdint>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "core/ip.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool is_cont(unsigned char c) noexcept {
    return (c & 0xC0) == 0x80;
}

}  // namespace

std::string xml_safe_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                out += kReplacement;
            } else {
                out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
            code = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            code = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            code = c & 0x07u;
        }
        bool valid = length != 0 && i + length <= text.size();
        for (std::size_t k = 1; valid && k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (!is_cont(next)) {
                valid = false;
            } else {
                code = (code << 6) | (next & 0x3Fu);
            }
        }
        if (valid) {
            const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
            const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
            const bool nonchar = code == 0xFFFE || code == 0xFFFF || code > 0x10FFFF;
            valid = !overlong && !surrogate && !nonchar;
        }
        if (valid) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            out += kReplacement;
            ++i;  // one replacement per bad byte, resynchronising on the next one
        }
    }
    return out;
}

namespace {

// ---- Writer
// ---------------------------------------------------------------------------------------

class StringWriter final : public pugi::xml_writer {
  public:
    void write(const void* data, std::size_t size) override {
        out.append(static_cast<const char*>(data), size);
    }
    std::string out;
};

pugi::xml_node add(pugi::xml_node parent, const char* name, std::string_view value) {
    pugi::xml_node node = parent.append_child(name);
    const std::string safe = xml_safe_text(value);
    node.text().set(safe.c_str());
    return node;
}

std::string uncompressed_ipv6(const IpAddress& ip) {
    const auto& b = ip.bytes();
    std::string out;
    for (std::size_t g = 0; g < 8; ++g) {
        const unsigned group = (static_cast<unsigned>(b[2 * g]) << 8) | b[2 * g + 1];
        if (g != 0) out += ':';
        out += fmt::format("{:x}", group);
    }
    return out;
}

Result<std::string> source_ip_text(std::string_view source_ip, ReportFormat format) {
    const auto ip = IpAddress::parse(source_ip);
    if (!ip) {
        return make_error(Errc::invalid_value,
                          fmt::format("source_ip '{}' is not an IP address", source_ip));
    }
    const IpAddress address = ip->unmapped();
    if (address.is_v4() || format == ReportFormat::rfc9990) return address.to_string();
    return uncompressed_ipv6(address);
}

std::string_view policy_name(Policy p) {
    return to_string(p);
}
std::string_view align_name(AlignMode mode) {
    return mode == AlignMode::strict ? "s" : "r";
}

}  // namespace

Result<std::string> write_report_xml(const AggregateReport& report) {
    const bool v2 = report.format == ReportFormat::rfc9990;
    const ReportFormat format = report.format;
    pugi::xml_document doc;
    pugi::xml_node decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";

    pugi::xml_node feedback = doc.append_child("feedback");
    if (v2) feedback.append_attribute("xmlns") = std::string(kDmarc2Namespace).c_str();
    add(feedback, "version", "1.0");

    const ReportMetadata& meta = report.metadata;
    pugi::xml_node metadata = feedback.append_child("report_metadata");
    add(metadata, "org_name", meta.org_name);
    add(metadata, "email", meta.email);
    if (!meta.extra_contact_info.empty())
        add(metadata, "extra_contact_info", meta.extra_contact_info);
    add(metadata, "report_id", meta.report_id);
    pugi::xml_node range = metadata.append_child("date_range");
    add(range, "begin", std::to_string(meta.period.begin));
    add(range, "end", std::to_string(meta.period.end));
    if (v2) {
        // The 9990 XSD allows one <error>.
        if (!meta.errors.empty()) {
            std::string joined;
            for (const auto& error : meta.errors) {
                if (!joined.empty()) joined += "; ";
                joined += error;
            }
            add(metadata, "error", joined);
        }
        if (!meta.generator.empty()) add(metadata, "generator", meta.generator);
    } else {
        for (const auto& error : meta.errors) add(metadata, "error", error);
    }

    const ReportPolicy& policy = report.policy_published;
    pugi::xml_node published = feedback.append_child("policy_published");
    add(published, "domain", policy.domain);
    add(published, "adkim", align_name(policy.adkim));
    add(published, "aspf", align_name(policy.aspf));
    add(published, "p", policy_name(policy.p));
    if (v2) {
        if (policy.sp) add(published, "sp", policy_name(*policy.sp));
        if (policy.np) add(published, "np", policy_name(*policy.np));
        add(published, "discovery_method", to_string(policy.discovery_method));
        add(published, "fo", policy.fo.empty() ? "0" : policy.fo);
        add(published, "testing", policy.testing ? "y" : "n");
    } else {
        add(published, "sp", policy_name(policy.sp.value_or(policy.p)));
        add(published, "pct", std::to_string(policy.pct));
        add(published, "fo", policy.fo.empty() ? "0" : policy.fo);
    }

    for (const ReportRecord& r : report.records) {
        pugi::xml_node record = feedback.append_child("record");
        pugi::xml_node row = record.append_child("row");
        auto ip = source_ip_text(r.source_ip, format);
        if (!ip) return tl::unexpected(ip.error());
        add(row, "source_ip", *ip);
        add(row, "count", std::to_string(r.count));
        pugi::xml_node evaluated = row.append_child("policy_evaluated");
        Disposition disposition = r.disposition;
        if (!v2 && disposition == Disposition::pass) disposition = Disposition::none;
        add(evaluated, "disposition", to_string(disposition));
        add(evaluated, "dkim", r.dkim_aligned ? "pass" : "fail");
        add(evaluated, "spf", r.spf_aligned ? "pass" : "fail");
        for (const ReportReason& given : r.reasons) {
            const ReportReason reason = reason_for_format(given, format);
            pugi::xml_node node = evaluated.append_child("reason");
            add(node, "type", to_string(reason.type));
            if (!reason.comment.empty()) add(node, "comment", reason.comment);
        }

        pugi::xml_node identifiers = record.append_child("identifiers");
        if (!r.envelope_to.empty()) add(identifiers, "envelope_to", r.envelope_to);
        add(identifiers, "envelope_from", r.envelope_from);
        add(identifiers, "header_from", r.header_from);

        pugi::xml_node auth = record.append_child("auth_results");
        for (const AggregateDkim& dkim : r.dkim) {
            pugi::xml_node node = auth.append_child("dkim");
            add(node, "domain", dkim.dkim_d);
            if (v2 || !dkim.selector.empty()) add(node, "selector", dkim.selector);
            add(node, "result", to_string(dkim.result));
            if (!dkim.human_result.empty()) add(node, "human_result", dkim.human_result);
        }
        if (r.spf) {
            pugi::xml_node node = auth.append_child("spf");
            add(node, "domain", r.spf->domain);
            if (!v2 || r.spf->scope == SpfScope::mfrom) add(node, "scope", to_string(r.spf->scope));
            add(node, "result", to_string(r.spf->result));
        } else if (!v2) {
            pugi::xml_node node = auth.append_child("spf");
            add(node, "domain", r.envelope_from.empty() ? r.header_from : r.envelope_from);
            add(node, "scope", "mfrom");
            add(node, "result", "none");
        }
    }

    StringWriter writer;
    doc.save(writer, "  ", pugi::format_indent, pugi::encoding_utf8);
    return std::move(writer.out);
}

// ---- Lenient reader ----------------------------------------------------------------------------

namespace {

std::string_view local_name(const char* name) {
    const std::string_view full(name);
    const auto colon = full.rfind(':');
    return colon == std::string_view::npos ? full : full.substr(colon + 1);
}

pugi::xml_node child(pugi::xml_node node, std::string_view name) {
    for (pugi::xml_node c : node.children()) {
        if (c.type() == pugi::node_element && local_name(c.name()) == name) return c;
    }
    return {};
}

std::string text_of(pugi::xml_node node) {
    return std::string(text::trim(node.child_value()));
}

template <class T>
bool parse_number(std::string_view text, T& out) {
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end;
}

class Reader {
  public:
    explicit Reader(ParsedReport& out) : out_(out) {}

    template <class T, class Parse>
    void read_enum(pugi::xml_node parent, std::string_view name, T& value, Parse parse,
                   bool required) {
        const pugi::xml_node node = child(parent, name);
        if (!node) {
            if (required) warn(fmt::format("{} missing", name));
            return;
        }
        const std::string text = text::lower(text_of(node));
        if (auto parsed = parse(text)) {
            value = *parsed;
        } else {
            warn(fmt::format("{}: unknown value '{}'", name, text));
        }
    }

    // Bounded (limits::kMaxReportWarnings): a million empty <record/> elements would otherwise
    // give several million warning strings, hundreds of MB from a 9 MB document.
    void warn(std::string line) {
        if (out_.warnings.size() < limits::kMaxReportWarnings) {
            out_.warnings.push_back(std::move(line));
        } else {
            ++warnings_dropped_;
        }
    }
    void finish() {
        if (warnings_dropped_ > 0) {
            out_.warnings.push_back(fmt::format("{} more warnings not listed", warnings_dropped_));
        }
    }

  private:
    ParsedReport& out_;
    std::size_t warnings_dropped_ = 0;
};

bool is_dmarc2_namespace(pugi::xml_node root) {
    for (pugi::xml_attribute a : root.attributes()) {
        const std::string_view name(a.name());
        if ((name == "xmlns" || name.rfind("xmlns:", 0) == 0) && a.value() == kDmarc2Namespace) {
            return true;
        }
    }
    return false;
}

bool parse_pass_fail(std::string_view text, bool& out) {
    if (text::iequals(text, "pass")) {
        out = true;
        return true;
    }
    out = false;
    return text::iequals(text, "fail");
}

}  // namespace

Result<ParsedReport> parse_report_xml(std::string_view xml) {
    if (xml.size() > limits::kMaxReportXmlBytes) {
        return make_error(Errc::limit, fmt::format("report XML is {} bytes, over the {} limit",
                                                   xml.size(), limits::kMaxReportXmlBytes));
    }
    pugi::xml_document doc;
    const pugi::xml_parse_result loaded =
        doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_doctype);
    if (!loaded) {
        return make_error(Errc::syntax, fmt::format("report XML: {} at offset {}",
                                                    loaded.description(), loaded.offset));
    }
    for (pugi::xml_node node : doc.children()) {
        if (node.type() == pugi::node_doctype) {
            return make_error(Errc::invalid_value, "report XML: a DOCTYPE is not accepted");
        }
    }
    const pugi::xml_node root = doc.document_element();
    if (local_name(root.name()) != "feedback") {
        return make_error(
            Errc::invalid_value,
            fmt::format("report XML: root element is '{}', not feedback", root.name()));
    }

    ParsedReport parsed;
    Reader reader(parsed);
    AggregateReport& report = parsed.report;
    parsed.version = text_of(child(root, "version"));

    const pugi::xml_node meta = child(root, "report_metadata");
    if (!meta) reader.warn("report_metadata missing");
    report.metadata.org_name = text_of(child(meta, "org_name"));
    report.metadata.email = text_of(child(meta, "email"));
    report.metadata.extra_contact_info = text_of(child(meta, "extra_contact_info"));
    report.metadata.report_id = text_of(child(meta, "report_id"));
    report.metadata.generator = text_of(child(meta, "generator"));
    const pugi::xml_node range = child(meta, "date_range");
    if (!parse_number(text_of(child(range, "begin")), report.metadata.period.begin) ||
        !parse_number(text_of(child(range, "end")), report.metadata.period.end)) {
        reader.warn("date_range: begin or end missing or not a number");
    }
    for (pugi::xml_node c : meta.children()) {
        if (c.type() == pugi::node_element && local_name(c.name()) == "error") {
            report.metadata.errors.push_back(text_of(c));
        }
    }

    const pugi::xml_node policy = child(root, "policy_published");
    if (!policy) reader.warn("policy_published missing");
    ReportPolicy& published = report.policy_published;
    published.domain = text::lower(text_of(child(policy, "domain")));
    reader.read_enum(policy, "p", published.p, parse_policy, true);
    if (child(policy, "sp")) {
        Policy sp = published.p;
        reader.read_enum(policy, "sp", sp, parse_policy, false);
        published.sp = sp;
    }
    if (child(policy, "np")) {
        Policy np = published.p;
        reader.read_enum(policy, "np", np, parse_policy, false);
        published.np = np;
    }
    reader.read_enum(policy, "adkim", published.adkim, parse_align_mode, false);
    reader.read_enum(policy, "aspf", published.aspf, parse_align_mode, false);
    reader.read_enum(policy, "discovery_method", published.discovery_method, parse_discovery_method,
                     false);
    if (const auto pct = child(policy, "pct")) {
        unsigned value = 0;
        if (parse_number(text_of(pct), value) && value <= 100) {
            published.pct = static_cast<std::uint8_t>(value);
        } else {
            reader.warn(fmt::format("pct: '{}' is not 0-100", text_of(pct)));
        }
    }
    if (const auto fo = child(policy, "fo")) published.fo = text_of(fo);
    if (const auto testing = child(policy, "testing")) {
        published.testing = text::iequals(text_of(testing), "y");
    }

    const bool v2 = is_dmarc2_namespace(root) || child(policy, "np") || child(policy, "testing") ||
                    child(policy, "discovery_method") || child(meta, "generator");
    report.format = v2 ? ReportFormat::rfc9990 : ReportFormat::rfc7489;

    for (pugi::xml_node node : root.children()) {
        if (node.type() != pugi::node_element || local_name(node.name()) != "record") continue;
        if (report.records.size() >= limits::kMaxReportRecords) {
            return make_error(Errc::limit, fmt::format("report XML: more than {} records",
                                                       limits::kMaxReportRecords));
        }
        ReportRecord record;
        const pugi::xml_node row = child(node, "row");
        record.source_ip = text_of(child(row, "source_ip"));
        if (!parse_number(text_of(child(row, "count")), record.count)) {
            reader.warn(fmt::format("record {}: count '{}' is not a number", report.records.size(),
                                    text_of(child(row, "count"))));
        }
        const pugi::xml_node evaluated = child(row, "policy_evaluated");
        reader.read_enum(evaluated, "disposition", record.disposition, parse_disposition, true);
        if (!parse_pass_fail(text_of(child(evaluated, "dkim")), record.dkim_aligned)) {
            reader.warn("policy_evaluated/dkim is neither pass nor fail");
        }
        if (!parse_pass_fail(text_of(child(evaluated, "spf")), record.spf_aligned)) {
            reader.warn("policy_evaluated/spf is neither pass nor fail");
        }
        for (pugi::xml_node c : evaluated.children()) {
            if (c.type() != pugi::node_element || local_name(c.name()) != "reason") continue;
            ReportReason reason;
            reader.read_enum(c, "type", reason.type, parse_override_reason, true);
            reason.comment = text_of(child(c, "comment"));
            record.reasons.push_back(std::move(reason));
        }

        const pugi::xml_node ids = child(node, "identifiers");
        record.header_from = text::lower(text_of(child(ids, "header_from")));
        record.envelope_from = text::lower(text_of(child(ids, "envelope_from")));
        record.envelope_to = text::lower(text_of(child(ids, "envelope_to")));

        const pugi::xml_node auth = child(node, "auth_results");
        for (pugi::xml_node c : auth.children()) {
            if (c.type() != pugi::node_element) continue;
            const std::string_view name = local_name(c.name());
            if (name == "dkim") {
                if (record.dkim.size() >= limits::kMaxReportDkimPerRecord) {
                    return make_error(Errc::limit,
                                      fmt::format("report XML: more than {} dkim in a record",
                                                  limits::kMaxReportDkimPerRecord));
                }
                AggregateDkim dkim;
                dkim.dkim_d = text::lower(text_of(child(c, "domain")));
                dkim.selector = text_of(child(c, "selector"));
                reader.read_enum(c, "result", dkim.result, parse_dkim_result, true);
                dkim.human_result = text_of(child(c, "human_result"));
                record.dkim.push_back(std::move(dkim));
            } else if (name == "spf") {
                if (record.spf) {
                    reader.warn("more than one spf in a record: the first is kept");
                    continue;
                }
                AggregateSpf spf;
                spf.domain = text::lower(text_of(child(c, "domain")));
                reader.read_enum(c, "scope", spf.scope, parse_spf_scope, false);
                reader.read_enum(c, "result", spf.result, parse_spf_result, true);
                record.spf = std::move(spf);
            }
        }
        report.records.push_back(std::move(record));
    }
    if (report.records.empty()) reader.warn("no record");
    reader.finish();
    return parsed;
}

}  // namespace dmarc
