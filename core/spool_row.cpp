// The escaped list encoding of spool_row.hpp.
#include "core/spool_row.hpp"

#include "core/text.hpp"

namespace dmarc {

std::string encode_list(const std::vector<std::string>& items) {
    // Every spool row encodes its recipients and rua list: runs without a byte to escape are
    // copied whole rather than a character at a time.
    std::size_t size = 0;
    for (const auto& item : items) size += item.size() + 1;
    std::string out;
    out.reserve(size);
    for (const auto& item : items) {
        std::size_t run = 0;  // first byte of item not yet copied
        for (std::size_t i = 0; i < item.size(); ++i) {
            if (item[i] != '\\' && item[i] != '\n') continue;
            out.append(item, run, i - run);
            out += item[i] == '\\' ? "\\\\" : "\\n";
            run = i + 1;
        }
        out.append(item, run);
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
