// Fuzz target: the escaped list encoding of spool and store columns (core/spool_row.hpp). Never
// crashes; whatever decodes encodes back to the same bytes, and every list round-trips. A decoded
// recipient list also goes through envelope_to_domain (core/aggregate.hpp), as dmarc-reporter
// does with messages.rcpt_to: empty or a lower-case domain without '@'.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/aggregate.hpp"
#include "core/spool_row.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto items = dmarc::decode_list(text);
    if (items) {
        if (dmarc::encode_list(*items) != text) std::abort();
        const std::string domain = dmarc::envelope_to_domain(*items);
        for (char c : domain) {
            if (c == '@' || (c >= 'A' && c <= 'Z')) std::abort();
        }
    }
    // Split the input into items at byte 0x00 and check the round trip of the encoding.
    std::vector<std::string> list;
    std::string current;
    for (char c : text) {
        if (c == '\0') {
            list.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    list.push_back(current);
    auto back = dmarc::decode_list(dmarc::encode_list(list));
    if (!back || *back != list) std::abort();
    return 0;
}
