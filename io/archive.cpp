// gzip (zlib) and zip (libzip) for report attachments, with bounded decompression.
// See archive.hpp for the decisions.
#include "io/archive.hpp"

#include <zip.h>
#include <zlib.h>

#include <array>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/text.hpp"

namespace dmarc::io {

ArchiveKind sniff_archive(std::string_view data) noexcept {
    if (data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
        static_cast<unsigned char>(data[1]) == 0x8b) {
        return ArchiveKind::gzip;
    }
    if (data.size() >= 4 && data.substr(0, 4) == std::string_view("PK\x03\x04", 4)) {
        return ArchiveKind::zip;
    }
    return ArchiveKind::plain;
}

namespace {

constexpr std::size_t kChunk = 64 * 1024;

struct DeflateEnd {
    void operator()(z_stream* s) const noexcept { deflateEnd(s); }
};
struct InflateEnd {
    void operator()(z_stream* s) const noexcept { inflateEnd(s); }
};

Bytef* in_ptr(std::string_view data) {
    // zlib's next_in is not const-qualified in its API but is only read.
    return reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
}

}  // namespace

Result<std::string> gzip_compress(std::string_view data) {
    z_stream stream{};
    // 15 + 16: a gzip wrapper (RFC 1952) instead of zlib's. Level 6 (zlib's default): level 9 took
    // twice as long on report XML (bench_report) for output about 15% smaller.
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        return make_error(Errc::internal, "gzip: deflateInit2 failed");
    }
    std::unique_ptr<z_stream, DeflateEnd> guard(&stream);
    std::string out;
    out.resize(deflateBound(&stream, static_cast<uLong>(data.size())) + 32);
    std::size_t offset = 0;
    std::string_view rest = data;
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        const std::size_t take = std::min<std::size_t>(rest.size(), 1u << 30);
        stream.next_in = in_ptr(rest);
        stream.avail_in = static_cast<uInt>(take);
        if (offset == out.size()) out.resize(out.size() * 2);
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + offset);
        stream.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - offset, 1u << 30));
        const uInt before_out = stream.avail_out;
        status = deflate(&stream, take == rest.size() ? Z_FINISH : Z_NO_FLUSH);
        if (status == Z_STREAM_ERROR) return make_error(Errc::internal, "gzip: deflate failed");
        rest.remove_prefix(take - stream.avail_in);
        offset += before_out - stream.avail_out;
    }
    out.resize(offset);
    return out;
}

Result<std::string> gzip_decompress(std::string_view data, std::size_t max_bytes) {
    z_stream stream{};
    if (inflateInit2(&stream, 15 + 16) != Z_OK) {
        return make_error(Errc::internal, "gzip: inflateInit2 failed");
    }
    std::unique_ptr<z_stream, InflateEnd> guard(&stream);
    std::string out;
    std::array<char, kChunk> buffer{};
    std::string_view rest = data;
    bool member_done = false;
    while (true) {
        if (member_done) {
            // Concatenated members (RFC 1952 §2.2) are one file, as gzip -d reads them.
            if (rest.empty()) break;
            if (inflateReset(&stream) != Z_OK) return make_error(Errc::internal, "gzip: reset");
            member_done = false;
        }
        const std::size_t take = std::min<std::size_t>(rest.size(), 1u << 30);
        stream.next_in = in_ptr(rest);
        stream.avail_in = static_cast<uInt>(take);
        stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
        stream.avail_out = static_cast<uInt>(buffer.size());
        const int status = inflate(&stream, Z_NO_FLUSH);
        rest.remove_prefix(take - stream.avail_in);
        const std::size_t produced = buffer.size() - stream.avail_out;
        if (out.size() + produced > max_bytes) {
            return make_error(Errc::limit,
                              fmt::format("gzip: decompressed data over {} bytes", max_bytes));
        }
        out.append(buffer.data(), produced);
        if (status == Z_STREAM_END) {
            member_done = true;
            continue;
        }
        if (status == Z_BUF_ERROR && rest.empty() && produced == 0) {
            return make_error(Errc::syntax, "gzip: truncated data");
        }
        if (status != Z_OK && status != Z_BUF_ERROR) {
            return make_error(Errc::syntax,
                              fmt::format("gzip: {}", stream.msg ? stream.msg : "corrupt data"));
        }
    }
    return out;
}

namespace {

struct ZipDiscard {
    void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
struct ZipSourceFree {
    void operator()(zip_source_t* s) const noexcept { zip_source_free(s); }
};
struct ZipFileClose {
    void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDiscard>;
using ZipSourcePtr = std::unique_ptr<zip_source_t, ZipSourceFree>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileClose>;

std::string zip_error_text(zip_error_t* error) {
    std::string text = zip_error_strerror(error);
    zip_error_fini(error);
    return text;
}

constexpr time_t kZipFixedTime = 315532800;  // 1980-01-01T00:00:00Z, the DOS epoch

}  // namespace

Result<std::string> zip_compress(std::string_view data, std::string_view entry_name) {
    zip_error_t error;
    zip_error_init(&error);
    ZipSourcePtr archive_source(zip_source_buffer_create(nullptr, 0, 0, &error));
    if (!archive_source) return make_error(Errc::internal, "zip: " + zip_error_text(&error));
    zip_t* raw = zip_open_from_source(archive_source.get(), ZIP_TRUNCATE, &error);
    if (raw == nullptr) return make_error(Errc::internal, "zip: " + zip_error_text(&error));
    zip_error_fini(&error);
    // zip_open_from_source took our reference; keep one so the written bytes stay readable.
    zip_source_keep(archive_source.get());
    ZipPtr archive(raw);

    zip_source_t* file = zip_source_buffer(archive.get(), data.data(), data.size(), 0);
    if (file == nullptr) return make_error(Errc::internal, "zip: cannot create a source");
    const std::string name(entry_name);
    const zip_int64_t index = zip_file_add(archive.get(), name.c_str(), file, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
        zip_source_free(file);
        return make_error(Errc::internal, fmt::format("zip: {}", zip_strerror(archive.get())));
    }
    const auto entry = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive.get(), entry, ZIP_CM_DEFLATE, 9) != 0 ||
        zip_file_set_mtime(archive.get(), entry, kZipFixedTime, 0) != 0) {
        return make_error(Errc::internal, fmt::format("zip: {}", zip_strerror(archive.get())));
    }
    if (zip_close(archive.get()) != 0) {
        return make_error(Errc::internal, fmt::format("zip: {}", zip_strerror(archive.get())));
    }
    (void)archive.release();  // zip_close freed it

    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_source_stat(archive_source.get(), &stat) != 0 ||
        zip_source_open(archive_source.get()) != 0) {
        return make_error(Errc::internal, "zip: cannot read the archive back");
    }
    std::string out(static_cast<std::size_t>(stat.size), '\0');
    const zip_int64_t got = zip_source_read(archive_source.get(), out.data(), stat.size);
    zip_source_close(archive_source.get());
    if (got < 0 || static_cast<zip_uint64_t>(got) != stat.size) {
        return make_error(Errc::internal, "zip: short read of the archive");
    }
    return out;
}

Result<std::string> zip_decompress(std::string_view data, std::size_t max_bytes) {
    zip_error_t error;
    zip_error_init(&error);
    ZipSourcePtr source(zip_source_buffer_create(data.data(), data.size(), 0, &error));
    if (!source) return make_error(Errc::internal, "zip: " + zip_error_text(&error));
    zip_t* raw = zip_open_from_source(source.get(), ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (raw == nullptr) return make_error(Errc::syntax, "zip: " + zip_error_text(&error));
    zip_error_fini(&error);
    (void)source.release();  // owned by the archive now
    ZipPtr archive(raw);

    const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
    if (entries <= 0) return make_error(Errc::invalid_value, "zip: no file in the archive");
    const auto count =
        std::min<zip_uint64_t>(static_cast<zip_uint64_t>(entries), limits::kMaxZipEntries);
    std::optional<zip_uint64_t> chosen;
    for (zip_uint64_t i = 0; i < count; ++i) {
        const char* name = zip_get_name(archive.get(), i, 0);
        if (name == nullptr) continue;
        const std::string_view n(name);
        if (!n.empty() && n.back() == '/') continue;  // a directory
        if (text::iends_with(n, ".xml")) {
            chosen = i;
            break;
        }
        if (!chosen) chosen = i;
    }
    if (!chosen) return make_error(Errc::invalid_value, "zip: no file in the archive");

    ZipFilePtr file(zip_fopen_index(archive.get(), *chosen, 0));
    if (!file) return make_error(Errc::syntax, fmt::format("zip: {}", zip_strerror(archive.get())));
    std::string out;
    std::array<char, kChunk> buffer{};
    while (true) {
        const zip_int64_t n = zip_fread(file.get(), buffer.data(), buffer.size());
        if (n < 0) {
            return make_error(Errc::syntax, fmt::format("zip: {}", zip_file_strerror(file.get())));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
            return make_error(Errc::limit,
                              fmt::format("zip: decompressed data over {} bytes", max_bytes));
        }
        out.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return out;
}

Result<std::string> decompress_report(std::string_view data, std::size_t max_bytes) {
    switch (sniff_archive(data)) {
        case ArchiveKind::gzip:
            return gzip_decompress(data, max_bytes);
        case ArchiveKind::zip:
            return zip_decompress(data, max_bytes);
        case ArchiveKind::plain:
            break;
    }
    if (data.size() > max_bytes) {
        return make_error(Errc::limit, fmt::format("report over {} bytes", max_bytes));
    }
    return std::string(data);
}

}  // namespace dmarc::io
