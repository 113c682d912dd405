// fuzz_web_request: the request parsing that faces the network before any login (issue 7):
// request targets, query strings and form bodies (URL Standard §5.1), Cookie headers (RFC 6265
// §5.4), the dashboard's filter validation, and HTML escaping. Input: target, '\n', cookie
// header, '\n', form body. Invariants: no crash; escaped text never holds a markup character;
// percent-encoding round-trips; a filter that validates holds only bounded, printable values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "web/html.hpp"
#include "web/http.hpp"
#include "web/routes.hpp"

using namespace dmarc::web;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto nl = input.find('\n');
    std::string_view target = input.substr(0, nl);
    std::string_view rest =
        nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    auto nl2 = rest.find('\n');
    std::string_view cookie = rest.substr(0, nl2);
    std::string_view body =
        nl2 == std::string_view::npos ? std::string_view() : rest.substr(nl2 + 1);

    Request request;
    request.now = 1'800'000'000;
    if (fill_target(request, target)) {
        if (request.path.find('\0') != std::string::npos) std::abort();
        auto filter = parse_filter(request, dmarc::io::DomainScope{});
        if (filter) {
            if (filter->header_from.size() > 253 || filter->queue_id.size() > 64) std::abort();
            for (char c : filter->header_from) {
                if (static_cast<unsigned char>(c) < 0x20) std::abort();
            }
            // The query a page links to reproduces the same filter.
            Request again;
            again.now = request.now;
            if (!fill_target(again, "/?" + filter->query())) std::abort();
            auto reparsed = parse_filter(again, dmarc::io::DomainScope{});
            if (!reparsed || reparsed->query() != filter->query()) std::abort();
        }
    }
    (void)parse_cookies(cookie);
    (void)parse_form(body);

    const std::string escaped = escape_html(input);
    if (escaped.find_first_of("<>\"'") != std::string::npos) std::abort();
    const std::string encoded = percent_encode(input);
    auto decoded = percent_decode(encoded, true);
    if (input.find('\0') == std::string_view::npos) {
        if (!decoded || *decoded != input) std::abort();
    } else if (decoded) {
        std::abort();  // a NUL never survives decoding
    }
    return 0;
}
