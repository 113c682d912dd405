// ASCII helpers (see text.hpp).
#include "core/text.hpp"

namespace dmarc::text {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view text, std::string_view suffix) noexcept {
    return text.size() >= suffix.size() &&
           iequals(text.substr(text.size() - suffix.size()), suffix);
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = to_lower(c);
    return out;
}

std::string_view trim(std::string_view text) noexcept {
    while (!text.empty() && is_fws(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_fws(text.back())) text.remove_suffix(1);
    return text;
}

}  // namespace dmarc::text
