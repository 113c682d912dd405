// One SMTP transaction through libcurl (RFC 5321; STARTTLS RFC 3207; AUTH RFC 4954), with the
// server's final reply captured from libcurl's protocol trace. See smtp.hpp.
#include "io/smtp.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include <fmt/format.h>

namespace dmarc::io {

std::string_view to_string(SmtpStatus status) noexcept {
    switch (status) {
        case SmtpStatus::accepted:
            return "accepted";
        case SmtpStatus::temporary:
            return "temporary";
        case SmtpStatus::permanent:
            return "permanent";
    }
    return "temporary";
}

namespace {

struct CurlCleanup {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistFree {
    void operator()(curl_slist* s) const noexcept { curl_slist_free_all(s); }
};

struct Upload {
    std::string_view rest;
};

std::size_t read_body(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* upload = static_cast<Upload*>(user);
    const std::size_t n = std::min(size * count, upload->rest.size());
    std::memcpy(buffer, upload->rest.data(), n);
    upload->rest.remove_prefix(n);
    return n;
}

// The server's replies, as libcurl saw them (CURLINFO_HEADER_IN is what the server sent).
struct Trace {
    std::string pending;  // an incomplete line
    std::string reply;    // the reply being collected (multi-line "250-...")
    std::string last;     // the last complete reply
    int last_code = 0;
};

void take_line(Trace& trace, std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (line.size() < 3) return;
    int code = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') return;
        code = code * 10 + (line[i] - '0');
    }
    if (!trace.reply.empty()) trace.reply += '\n';
    trace.reply.append(line);
    if (line.size() == 3 || line[3] != '-') {  // "250 ..." ends a reply, "250-..." continues
        // 221 answers the QUIT libcurl sends after a refusal: the refusal is the reply we keep.
        if (code == 221 && trace.last_code != 0) {
            trace.reply.clear();
            return;
        }
        trace.last = std::move(trace.reply);
        trace.reply.clear();
        trace.last_code = code;
    }
}

int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
    if (type != CURLINFO_HEADER_IN) return 0;
    auto* trace = static_cast<Trace*>(user);
    trace->pending.append(data, size);
    std::size_t start = 0;
    while (true) {
        const auto end = trace->pending.find('\n', start);
        if (end == std::string::npos) break;
        take_line(*trace, std::string_view(trace->pending).substr(start, end + 1 - start));
        start = end + 1;
    }
    trace->pending.erase(0, start);
    return 0;
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string angle(std::string_view address) {
    return fmt::format("<{}>", address);
}

bool has_line_break(std::string_view s) {
    return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

}  // namespace

SmtpResult send_mail(const SmtpOptions& options, std::string_view mail_from,
                     std::string_view rcpt_to, std::string_view message) {
    SmtpResult result;
    if (has_line_break(mail_from) || has_line_break(rcpt_to) || rcpt_to.empty() ||
        has_line_break(options.helo_name)) {
        result.status = SmtpStatus::permanent;
        result.detail = "envelope address or EHLO name with a line break, or no recipient";
        return result;
    }
    global_init();
    std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
    if (!curl) {
        result.detail = "curl_easy_init failed";
        return result;
    }
    CURL* c = curl.get();
    const bool v6 = options.server.find(':') != std::string::npos;
    const std::string url =
        fmt::format("{}://{}{}{}:{}/{}", options.tls == SmtpTls::implicit ? "smtps" : "smtp",
                    v6 ? "[" : "", options.server, v6 ? "]" : "", options.port, options.helo_name);
    const std::string from = angle(mail_from);
    std::unique_ptr<curl_slist, SlistFree> rcpt(curl_slist_append(nullptr, angle(rcpt_to).c_str()));
    Upload upload{message};
    Trace trace;
    char error[CURL_ERROR_SIZE] = {};

    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
    // libcurl waits for the reply to the final dot in its "done" phase, which CURLOPT_TIMEOUT
    // does not cover: a server that stalls there held the call for the 120 s default of this
    // per-reply timeout (tests/fault SmtpFault StallAfterDot). Never longer than the total.
    curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                     std::max(1L, static_cast<long>((options.total_timeout.count() + 999) / 1000)));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // feeds on_debug; nothing is printed
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, &trace);
    switch (options.tls) {
        case SmtpTls::none:
        case SmtpTls::implicit:
            break;
        case SmtpTls::starttls_optional:
            curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
            break;
        case SmtpTls::starttls_required:
            curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
            break;
    }
    if (options.tls != SmtpTls::none) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options.verify_peer ? 1L : 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options.verify_peer ? 2L : 0L);
        if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
    }
    if (!options.username.empty()) {
        curl_easy_setopt(c, CURLOPT_USERNAME, options.username.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, options.password.c_str());
    }

    const CURLcode code = curl_easy_perform(c);
    long response = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response);
    result.code = trace.last_code != 0 ? trace.last_code : static_cast<int>(response);
    result.reply = trace.last;
    if (code == CURLE_OK) {
        result.status = SmtpStatus::accepted;
        return result;
    }
    result.detail = error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(code));
    // A 5xx answer is the server's final word; everything else (4xx, no connection, timeout,
    // TLS failure, a dropped connection) may work later.
    result.status =
        result.code >= 500 && result.code <= 599 ? SmtpStatus::permanent : SmtpStatus::temporary;
    return result;
}

}  // namespace dmarc::io
