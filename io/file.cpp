// Bounded whole-file reads with errno text in the error (see file.hpp).
#include "io/file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace dmarc::io {

Result<std::string> load_file(const std::string& path, std::size_t max_bytes) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                         &std::fclose);
    if (!file) return make_error(Errc::io, path + ": " + std::strerror(errno));
    std::string out;
    char buf[65536];
    for (;;) {
        std::size_t n = std::fread(buf, 1, sizeof buf, file.get());
        if (n > 0) {
            if (out.size() + n > max_bytes) {
                return make_error(Errc::limit,
                                  path + ": larger than " + std::to_string(max_bytes) + " bytes");
            }
            out.append(buf, n);
        }
        if (n < sizeof buf) {
            if (std::ferror(file.get())) {
                return make_error(Errc::io, path + ": read error: " + std::strerror(errno));
            }
            break;
        }
    }
    return out;
}

}  // namespace dmarc::io
