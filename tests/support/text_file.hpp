// A whole file as bytes, for tests that read their data (tests/data) or a program's output.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace dmarc::test {

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace dmarc::test
