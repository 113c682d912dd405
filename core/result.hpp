// Result<T>: expected failures as values (design §4). An Error carries a machine-readable code
// and a human message naming what was wrong and where; nothing here throws.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace dmarc {

enum class Errc {
    syntax,         // input does not follow the grammar
    limit,          // input is over a bound in limits.hpp
    invalid_value,  // well-formed, but a value is out of range or unknown
    not_found,      // the thing asked for is absent
    temporary,      // a transient failure (DNS timeout, SERVFAIL)
    io,             // the operating system refused (io/ only)
    internal,       // a bug or an impossible state
};

const char* to_string(Errc code) noexcept;

struct Error {
    Errc code = Errc::internal;
    std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(Errc code, std::string message) {
    return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace dmarc
