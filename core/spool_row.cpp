// Tokens for MilterAction and the escaped list encoding of spool_row.hpp.
#include "core/spool_row.hpp"

#include "core/text.hpp"

namespace dmarc {

std::string_view to_string(MilterAction value) noexcept {
    switch (value) {
        case MilterAction::accept:
            return "accept";
        case MilterAction::reject:
            return "reject";
        case MilterAction::quarantine:
            return "quarantine";
        case MilterAction::tempfail:
            return "tempfail";
        case MilterAction::discard:
            return "discard";
    }
    return "accept";
}

std::optional<MilterAction> parse_milter_action(std::string_view text) noexcept {
    for (auto value : {MilterAction::accept, MilterAction::reject, MilterAction::quarantine,
                       MilterAction::tempfail, MilterAction::discard}) {
        if (text::iequals(text, to_string(value))) return value;
    }
    return std::nullopt;
}

std::string encode_list(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        for (char c : item) {
            if (c == '\\') {
                out += "\\\\";
            } else if (c == '\n') {
                out += "\\n";
            } else {
                out += c;
            }
        }
        out += '\n';
    }
    return out;
}

std::optional<std::vector<std::string>> decode_list(std::string_view text) {
    std::vector<std::string> items;
    std::string item;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\n') {
            items.push_back(std::move(item));
            item.clear();
        } else if (c == '\\') {
            if (i + 1 >= text.size()) return std::nullopt;
            char next = text[++i];
            if (next == '\\') {
                item += '\\';
            } else if (next == 'n') {
                item += '\n';
            } else {
                return std::nullopt;
            }
        } else {
            item += c;
        }
    }
    if (!item.empty()) return std::nullopt;  // an unterminated item
    return items;
}

}  // namespace dmarc
