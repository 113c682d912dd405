// Reading whole files with a size bound (PSL, configuration, zone files for tests).
#pragma once

#include <cstddef>
#include <string>

#include "core/result.hpp"

namespace dmarc::io {

// Reads path into memory; a file over max_bytes is an Errc::limit error, never truncated.
Result<std::string> load_file(const std::string& path, std::size_t max_bytes);

}  // namespace dmarc::io
