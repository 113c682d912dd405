// Test support: an independent, small MIME reader (RFC 2045/2046) to take our report mail apart:
// header fields (unfolded), the multipart boundary, each part's headers and body, base64
// decoding that refuses bad characters. Written separately from core/report_mail so the tests
// do not check the composer with its own logic.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmarc::test_support {

struct MimePart {
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

inline std::string mime_lower(std::string s) {
    for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return s;
}

// Splits "headers CRLF CRLF body"; headers unfolded.
inline MimePart parse_mime_entity(std::string_view text) {
    MimePart part;
    const auto split = text.find("\r\n\r\n");
    const std::string_view head = text.substr(0, split);
    part.body = split == std::string_view::npos ? "" : std::string(text.substr(split + 4));
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos <= head.size()) {
        auto end = head.find("\r\n", pos);
        if (end == std::string_view::npos) end = head.size();
        std::string line(head.substr(pos, end - pos));
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !lines.empty()) {
            lines.back() += line;
        } else if (!line.empty()) {
            lines.push_back(line);
        }
        pos = end + 2;
    }
    for (const auto& line : lines) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        part.headers.emplace(mime_lower(line.substr(0, colon)), value);
    }
    return part;
}

inline std::optional<std::string> mime_param(const std::string& header, const std::string& name) {
    const std::string lower = mime_lower(header);
    const auto at = lower.find(name + "=");
    if (at == std::string::npos) return std::nullopt;
    std::size_t start = at + name.size() + 1;
    if (start < header.size() && header[start] == '"') {
        const auto close = header.find('"', start + 1);
        return header.substr(start + 1, close - start - 1);
    }
    const auto end = header.find(';', start);
    return header.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

inline std::vector<MimePart> mime_parts(const MimePart& message) {
    std::vector<MimePart> parts;
    const auto boundary = mime_param(message.header("content-type"), "boundary");
    if (!boundary) return parts;
    const std::string delimiter = "\r\n--" + *boundary;
    const std::string body = "\r\n" + message.body;
    std::size_t pos = body.find(delimiter);
    while (pos != std::string::npos) {
        const std::size_t start = pos + delimiter.size();
        if (body.compare(start, 2, "--") == 0) break;  // close delimiter
        const std::size_t content = body.find("\r\n", start) + 2;
        const std::size_t next = body.find(delimiter, content);
        if (next == std::string::npos) break;
        parts.push_back(parse_mime_entity(std::string_view(body).substr(content, next - content)));
        pos = next;
    }
    return parts;
}

// base64 with CRLF line breaks; nullopt on any other character or bad padding.
inline std::optional<std::string> base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text) {
        if (c == '\r' || c == '\n') continue;
        clean += c;
    }
    if (clean.size() % 4 != 0) return std::nullopt;
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < clean.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = clean[i + static_cast<std::size_t>(k)];
            if (c == '=' && i + 4 == clean.size() && k >= 2) {
                v[k] = 0;
                ++pad;
            } else {
                if (pad) return std::nullopt;
                v[k] = value(c);
                if (v[k] < 0) return std::nullopt;
            }
        }
        const unsigned triple = (static_cast<unsigned>(v[0]) << 18) |
                                (static_cast<unsigned>(v[1]) << 12) |
                                (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
        out += static_cast<char>((triple >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((triple >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(triple & 0xff);
    }
    return out;
}

}  // namespace dmarc::test_support
