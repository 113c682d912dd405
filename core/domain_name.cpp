// Domain normalisation (see domain_name.hpp). libidn2 does the IDNA work; the checks around it
// are ours so that every caller gets the same verdict on the same bytes.
#include "core/domain_name.hpp"

#include <idn2.h>

#include <array>
#include <memory>
#include <utility>

#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

// What one byte of an ASCII name is to check_labels (the IDNA path is for the rest).
enum ByteClass : unsigned char { kInvalid, kLdh, kUpper, kDot, kPrintable, kNonAscii };

constexpr std::array<ByteClass, 256> kByteClass = [] {
    std::array<ByteClass, 256> t{};
    for (int c = 0; c < 256; ++c) {
        ByteClass k = kInvalid;
        if (c >= 0x80) {
            k = kNonAscii;
        } else if (c == '.') {
            k = kDot;
        } else if (c >= 'A' && c <= 'Z') {
            k = kUpper;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            k = kLdh;
        } else if (c > 0x20 && c < 0x7f) {
            k = kPrintable;
        }
        t[static_cast<std::size_t>(c)] = k;
    }
    return t;
}();

// The checks of every name, in this order per label: empty, over 63 bytes, a byte the rule does
// not allow, a hyphen at either end (hostname). `name` is lower-case ASCII already.
Result<std::string> check_labels(std::string name, LabelRule rule) {
    if (name.empty()) return make_error(Errc::syntax, "empty domain name");
    if (name.size() > limits::kMaxDomainBytes) {
        return make_error(Errc::limit, "domain name longer than 253 bytes");
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('.', start);
        if (end == std::string::npos) end = name.size();
        std::string_view label(name.data() + start, end - start);
        if (label.empty()) return make_error(Errc::syntax, "empty label in domain name");
        if (label.size() > limits::kMaxLabelBytes) {
            return make_error(Errc::limit, "label longer than 63 bytes in domain name");
        }
        for (char c : label) {
            auto k = kByteClass[static_cast<unsigned char>(c)];
            bool ok = k == kLdh || (rule == LabelRule::dns && k != kInvalid && k != kNonAscii);
            if (!ok) return make_error(Errc::syntax, "invalid character in domain name");
        }
        if (rule == LabelRule::hostname && (label.front() == '-' || label.back() == '-')) {
            return make_error(Errc::syntax, "label starts or ends with '-'");
        }
        start = end + 1;
    }
    return name;
}

// The usual name: already lower-case LDH, no IDN, every label 1-63 bytes with no hyphen at
// either end. Such a name is its own normal form. Anything else (an error to report in
// check_labels' order, upper case, non-ASCII) takes the general path, which gives the same
// answer.
bool plain_hostname(std::string_view name) {
    if (name.empty() || name.size() > limits::kMaxDomainBytes) return false;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            std::size_t length = i - label_start;
            if (length == 0 || length > limits::kMaxLabelBytes || name[label_start] == '-' ||
                name[i - 1] == '-') {
                return false;
            }
            label_start = i + 1;
            continue;
        }
        if (kByteClass[static_cast<unsigned char>(name[i])] != kLdh) return false;
    }
    return true;
}

bool is_ascii(std::string_view s) {
    for (char c : s) {
        if (kByteClass[static_cast<unsigned char>(c)] == kNonAscii) return false;
    }
    return true;
}

}  // namespace

Result<std::string> to_a_label_domain(std::string_view name, LabelRule rule) {
    if (name.size() > 4 * limits::kMaxDomainBytes) {
        return make_error(Errc::limit, "domain name too long");
    }
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    // Built in place: this runs several times per message (author, alignment, SPF, PSL).
    if (plain_hostname(name)) return Result<std::string>(tl::in_place, name);
    if (is_ascii(name)) return check_labels(text::lower(name), rule);
    // libidn2 takes a C string: an embedded NUL would silently cut the name short.
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return make_error(Errc::syntax, "control byte in domain name");
    }

    std::string input(name);
    char* output = nullptr;
    int rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    std::unique_ptr<char, void (*)(void*)> owned(output, &idn2_free);
    if (rc != IDN2_OK || output == nullptr) {
        return make_error(Errc::syntax, std::string("not a valid internationalised domain name: ") +
                                            idn2_strerror(rc));
    }
    return check_labels(text::lower(output), rule);
}

std::vector<std::string_view> split_labels(std::string_view name) {
    std::vector<std::string_view> labels;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('.', start);
        if (end == std::string_view::npos) end = name.size();
        labels.push_back(name.substr(start, end - start));
        start = end + 1;
    }
    return labels;
}

bool is_same_or_subdomain(std::string_view name, std::string_view parent) noexcept {
    if (name.size() == parent.size()) return text::iequals(name, parent);
    if (name.size() < parent.size() + 1) return false;
    return name[name.size() - parent.size() - 1] == '.' &&
           text::iequals(name.substr(name.size() - parent.size()), parent);
}

}  // namespace dmarc
