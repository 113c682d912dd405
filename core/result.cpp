// Names of error codes, for logs and test messages.
#include "core/result.hpp"

namespace dmarc {

const char* to_string(Errc code) noexcept {
    switch (code) {
        case Errc::syntax:
            return "syntax";
        case Errc::limit:
            return "limit";
        case Errc::invalid_value:
            return "invalid value";
        case Errc::not_found:
            return "not found";
        case Errc::temporary:
            return "temporary";
        case Errc::io:
            return "io";
        case Errc::internal:
            return "internal";
    }
    return "unknown";
}

}  // namespace dmarc
