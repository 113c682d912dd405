// The dashboard's CSS and JS, compiled into the binary (web/embed_assets.cmake): the server looks
// names up in this fixed table, so no request can reach the filesystem (no path traversal).
#pragma once

#include <span>
#include <string_view>

namespace dmarc::web {

struct Asset {
    std::string_view name;  // "app.css"
    std::string_view body;
};

std::span<const Asset> all_assets() noexcept;

}  // namespace dmarc::web
