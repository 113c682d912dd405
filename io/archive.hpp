// Report containers: gzip (RFC 1952 via zlib; RFC 7489 §7.2.1.1 / RFC 9990 "application/gzip",
// ".xml.gz") and zip (libzip; "application/zip", what Google sends), and bounded decompression
// of both for tests and ingestion: the container is sniffed by its magic bytes (standards §1.12:
// never by name or media type), and output over a cap is an Errc::limit error (zip bombs).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/limits.hpp"
#include "core/result.hpp"

namespace dmarc::io {

enum class ArchiveKind { gzip, zip, plain };

// 1f 8b: gzip; "PK\x03\x04": zip; anything else: plain.
ArchiveKind sniff_archive(std::string_view data) noexcept;

// A single gzip member, zlib's default level, header mtime 0 and no file name: the same input gives
// the same bytes (a resend of a report is byte-identical).
Result<std::string> gzip_compress(std::string_view data);

// A zip archive holding one file `entry_name` (deflated, fixed 1980-01-01 time: deterministic).
Result<std::string> zip_compress(std::string_view data, std::string_view entry_name);

// gzip (every concatenated member, as gzip -d does) into at most max_bytes.
Result<std::string> gzip_decompress(std::string_view data,
                                    std::size_t max_bytes = limits::kMaxDecompressedBytes);

// The first file of the archive whose name ends in ".xml" (else the first file), into at most
// max_bytes; at most limits::kMaxZipEntries entries are looked at. libzip checks the CRC.
Result<std::string> zip_decompress(std::string_view data,
                                   std::size_t max_bytes = limits::kMaxDecompressedBytes);

// Sniffs and decompresses; plain data is returned as is (bounded by max_bytes too).
Result<std::string> decompress_report(std::string_view data,
                                      std::size_t max_bytes = limits::kMaxDecompressedBytes);

}  // namespace dmarc::io
