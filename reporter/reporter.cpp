// One dmarc-reporter run (reporter.hpp): periods from the ledger, reports built from SQL-grouped
// rows, destinations verified, deliveries sent and committed one by one.
#include "reporter/reporter.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/limits.hpp"
#include "core/org_domain.hpp"
#include "core/report_destinations.hpp"
#include "core/report_mail.hpp"
#include "core/report_xml.hpp"
#include "core/text.hpp"
#include "io/archive.hpp"
#include "io/file.hpp"
#include "io/smtp.hpp"

namespace dmarc::reporter {

std::string to_string(const RunSummary& s, bool dry_run) {
    if (dry_run) {
        return fmt::format(
            "dmarc-reporter (dry run): {} reports built, {} deliveries would be sent, {} "
            "suppressed, {} unauthorised, {} ignored; nothing sent, the store unchanged",
            s.built, s.would_send, s.suppressed, s.unauthorised, s.ignored);
    }
    return fmt::format(
        "dmarc-reporter: {} reports built, {} sent, {} retried, {} failed, {} suppressed, {} "
        "unauthorised, {} ignored",
        s.built, s.sent, s.retried, s.failed, s.suppressed, s.unauthorised, s.ignored);
}

void complete_identity(config::ReporterConfig& c) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string name = text::lower(host);
    if (name.empty()) name = "localhost";
    const auto dot = name.find('.');
    const std::string domain = dot == std::string::npos ? name : name.substr(dot + 1);
    if (c.report_email.empty()) c.report_email = "postmaster@" + domain;
    if (c.report_org.empty()) {
        const auto at = c.report_email.rfind('@');
        c.report_org = at == std::string::npos ? domain : c.report_email.substr(at + 1);
    }
    if (c.smtp_helo.empty()) c.smtp_helo = name;
}

namespace {

io::SmtpTls tls_of(const std::string& name) {
    if (name == "starttls") return io::SmtpTls::starttls_optional;
    if (name == "starttls-required") return io::SmtpTls::starttls_required;
    if (name == "smtps") return io::SmtpTls::implicit;
    return io::SmtpTls::none;
}

class Run {
  public:
    Run(const Options& options, io::ReportStore& store, DnsResolver& resolver, std::int64_t now)
        : o_(options), c_(options.config), store_(store), resolver_(resolver), now_(now) {
        const auto at = c_.report_email.rfind('@');
        submitter_ =
            text::lower(at == std::string::npos ? c_.report_email : c_.report_email.substr(at + 1));
        identity_.org_name = c_.report_org;
        identity_.org_domain = submitter_;
        identity_.email = c_.report_email;
        identity_.extra_contact_info = c_.report_contact;
        identity_.generator = "dmarc-reporter 0.1.0";
        smtp_.server = c_.smtp_server;
        smtp_.port = c_.smtp_port;
        smtp_.helo_name = c_.smtp_helo;
        smtp_.tls = tls_of(c_.smtp_tls);
        smtp_.username = c_.smtp_username;
        smtp_.password = c_.smtp_password;
    }

    Result<void> init() {
        if (!c_.public_suffix_list.empty()) {
            auto text = io::load_file(c_.public_suffix_list, limits::kMaxPublicSuffixListBytes);
            if (!text) return tl::unexpected(text.error());
            auto list = PublicSuffixList::parse(*text);
            if (!list) return tl::unexpected(list.error());
            psl_ = std::make_unique<PublicSuffixList>(std::move(*list));
        }
        return {};
    }

    Result<RunSummary> run() {
        if (!o_.resend.empty()) {
            if (!o_.dry_run) {
                auto found = store_.reset_for_resend(o_.resend);
                if (!found) return tl::unexpected(found.error());
                if (!*found) return make_error(Errc::not_found, "no report " + o_.resend);
            } else {
                auto found = store_.find_report(o_.resend);
                if (!found) return tl::unexpected(found.error());
                if (!*found) return make_error(Errc::not_found, "no report " + o_.resend);
            }
        } else if (auto r = build_reports(); !r) {
            return tl::unexpected(r.error());
        }
        if (auto r = deliver(); !r) return tl::unexpected(r.error());
        return summary_;
    }

  private:
    void log(const std::string& line) const {
        if (o_.verbose) std::fprintf(stderr, "dmarc-reporter: %s\n", line.c_str());
    }

    // A fresh finder per report: the tree-walk cache then lives for one report only.
    struct Finder {
        std::unique_ptr<DmarcRecordFetcher> fetcher;
        std::unique_ptr<OrgDomainFinder> finder;
    };
    Finder make_finder() {
        Finder f;
        if (psl_) {
            f.finder = std::make_unique<PslOrgDomainFinder>(*psl_);
        } else {
            f.fetcher = std::make_unique<DmarcRecordFetcher>(resolver_);
            f.finder = std::make_unique<TreeWalkOrgDomainFinder>(*f.fetcher);
        }
        return f;
    }

    bool suppressed(std::string_view address) {
        if (!suppressions_loaded_) {
            auto list = store_.suppressions();
            if (list) suppressions_ = std::move(*list);
            suppressions_loaded_ = true;
        }
        return std::any_of(suppressions_.begin(), suppressions_.end(), [&](const Suppression& s) {
            return suppression_matches(s, address, now_);
        });
    }

    Result<void> write_file(const std::string& name, std::string_view bytes) const {
        std::error_code ec;
        std::filesystem::create_directories(c_.output_dir, ec);
        const std::string path = (std::filesystem::path(c_.output_dir) / name).string();
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) return make_error(Errc::io, path + ": cannot write");
        return {};
    }

    Result<std::string> compress(const std::string& xml, const std::string& filename) const {
        if (c_.compression == ReportCompression::zip) {
            // The zip holds "<stem>.xml".
            return io::zip_compress(xml, filename.substr(0, filename.size() - 4) + ".xml");
        }
        return io::gzip_compress(xml);
    }

    // Per domain, period after period from the end of its ledger: each begins where the last
    // reported one ended (or at the aligned start of the period holding the first unreported
    // message) and lasts the interval of the record in force for its first message (its ri,
    // rounded, at least ReportInterval). Only complete periods (end before now) are built.
    Result<void> build_reports() {
        std::int64_t until = now_ - 1;
        if (o_.period_end) until = std::min(until, *o_.period_end);
        auto backlog = store_.domains_with_data(until, o_.domain);
        if (!backlog) return tl::unexpected(backlog.error());
        for (const auto& domain : *backlog) {
            std::optional<std::int64_t> ledger_next;
            if (domain.last_period_end) ledger_next = *domain.last_period_end + 1;
            std::int64_t from = ledger_next.value_or(domain.first_unreported);
            if (o_.period_begin) from = std::max(from, *o_.period_begin);
            for (;;) {
                auto next = store_.next_unreported(domain.policy_domain, from, until);
                if (!next) return tl::unexpected(next.error());
                if (!*next) break;
                const std::uint32_t interval = effective_report_interval((*next)->ri, c_.interval);
                const ReportPeriod period =
                    next_report_period(ledger_next, (*next)->received, interval);
                if (period.end > until) break;  // still running (or past --period's end)
                auto rows = store_.period_rows(domain.policy_domain, period);
                if (!rows) return tl::unexpected(rows.error());
                if (!rows->rows.empty()) {
                    if (auto r = build_one(domain.policy_domain, period, *rows, interval); !r) {
                        return r;
                    }
                }
                ledger_next = period.end + 1;
                from = period.end + 1;
            }
        }
        return {};
    }

    Result<void> build_one(const std::string& policy_domain, const ReportPeriod& period,
                           const io::PeriodRows& rows, std::uint32_t interval) {
        std::vector<AggregateInput> without_envelope_to;
        std::span<const AggregateInput> inputs = rows.rows;
        if (!c_.report_envelope_to) {
            without_envelope_to = rows.rows;
            for (auto& row : without_envelope_to) row.envelope_to_domain.clear();
            inputs = without_envelope_to;
        }
        auto report = build_aggregate_report(identity_, policy_domain, period, inputs, c_.format);
        if (!report) return tl::unexpected(report.error());
        auto xml = write_report_xml(*report);
        if (!xml) return tl::unexpected(xml.error());
        const std::string& id = report->metadata.report_id;
        auto filename = report_filename(submitter_, policy_domain, period, id, c_.compression);
        if (!filename) return tl::unexpected(filename.error());
        auto archive = compress(*xml, *filename);
        if (!archive) return tl::unexpected(archive.error());

        io::NewReport entry;
        entry.policy_domain = policy_domain;
        entry.period = period;
        entry.report_id = id;
        entry.format = c_.format;
        entry.created = now_;
        entry.message_count = report->message_count();
        entry.record_count = report->records.size();
        entry.compression = c_.compression;
        entry.archive = std::move(*archive);
        auto finder = make_finder();
        std::vector<std::string> addresses;
        for (const auto& d :
             resolve_report_destinations(policy_domain, rows.rua, *finder.finder, resolver_)) {
            io::NewDelivery delivery;
            delivery.destination = d.uri;
            delivery.address = d.address.empty() ? d.uri : d.address;
            delivery.detail = d.detail;
            delivery.max_size = d.max_size;
            switch (d.status) {
                case DestinationStatus::deliver:
                    if (suppressed(d.address)) {
                        delivery.status = io::DeliveryStatus::suppressed;
                        delivery.detail = "suppressed";
                        ++summary_.suppressed;
                    } else {
                        delivery.status = io::DeliveryStatus::pending;
                        addresses.push_back(d.address);
                    }
                    break;
                case DestinationStatus::temperror:
                    // RFC 7489 §7.1 step 5: fail temporarily so the check is made again.
                    delivery.status = io::DeliveryStatus::temp_failed;
                    delivery.verified = false;
                    delivery.next_retry = now_ + retry_delay_seconds(1);
                    ++summary_.retried;
                    break;
                case DestinationStatus::unauthorised:
                    delivery.status = io::DeliveryStatus::unauthorised;
                    ++summary_.unauthorised;
                    break;
                case DestinationStatus::ignored:
                    delivery.status = io::DeliveryStatus::ignored;
                    ++summary_.ignored;
                    break;
            }
            log(fmt::format("{} {}: {} ({})", id, d.uri, to_string(d.status), d.detail));
            entry.deliveries.push_back(std::move(delivery));
        }
        ++summary_.built;
        log(fmt::format("report {} for {} {}..{} (interval {} s): {} messages, {} records", id,
                        policy_domain, period.begin, period.end, interval, entry.message_count,
                        entry.record_count));
        if (o_.dry_run || o_.keepfiles) {
            if (auto r = write_file(*filename, entry.archive); !r) return r;
        }
        if (o_.dry_run) {
            summary_.would_send += addresses.size();
            for (const auto& a : addresses) {
                std::printf("would email %s report %s for %llu records to %s\n",
                            policy_domain.c_str(), id.c_str(),
                            static_cast<unsigned long long>(entry.record_count), a.c_str());
            }
            return {};
        }
        auto created = store_.create_report(entry);
        if (!created) return tl::unexpected(created.error());
        return {};
    }

    // ---- delivery ----

    Result<void> deliver() {
        auto due = store_.due_deliveries(now_, o_.resend);
        if (!due) return tl::unexpected(due.error());
        bool first = true;
        for (auto& d : *due) {
            if (!d.verified && !reverify(d)) continue;
            if (suppressed(d.address)) {
                d.status = io::DeliveryStatus::suppressed;
                d.smtp_reply = "suppressed";
                ++summary_.suppressed;
                if (!o_.dry_run) {
                    if (auto r = store_.update_delivery(d); !r) return r;
                }
                continue;
            }
            if (o_.dry_run) {
                ++summary_.would_send;
                std::printf("would email %s report %s to %s\n", d.report.policy_domain.c_str(),
                            d.report.report_id.c_str(), d.address.c_str());
                continue;
            }
            if (!first && c_.send_pause_ms > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(c_.send_pause_ms));
            }
            first = false;
            if (auto r = send_delivery(d); !r) return r;
        }
        return {};
    }

    // A delivery whose §7.1 check met a DNS temperror: check again. false: not sendable now.
    bool reverify(io::Delivery& d) {
        auto finder = make_finder();
        auto results = verify_report_destination(d.report.policy_domain, d.destination,
                                                 *finder.finder, resolver_);
        const ReportDestination& r = results.front();
        if (r.status == DestinationStatus::deliver) {
            d.verified = true;
            d.address = r.address;
            d.max_size = r.max_size;
            return true;
        }
        if (r.status == DestinationStatus::temperror) {
            ++d.attempts;
            if (d.attempts >= kMaxDeliveryAttempts) {
                d.status = io::DeliveryStatus::perm_failed;
                d.smtp_reply = "gave up: " + r.detail;
                ++summary_.failed;
            } else {
                d.status = io::DeliveryStatus::temp_failed;
                d.next_retry = now_ + retry_delay_seconds(d.attempts);
                d.smtp_reply = r.detail;
                ++summary_.retried;
            }
        } else {
            d.status = r.status == DestinationStatus::unauthorised
                           ? io::DeliveryStatus::unauthorised
                           : io::DeliveryStatus::ignored;
            d.smtp_reply = r.detail;
            ++(r.status == DestinationStatus::unauthorised ? summary_.unauthorised
                                                           : summary_.ignored);
        }
        d.last_attempt = now_;
        if (!o_.dry_run) (void)store_.update_delivery(d);
        return false;
    }

    ReportMail mail_for(const io::Delivery& d, const std::string& report_id,
                        const std::string& filename, std::string attachment,
                        std::string_view suffix) const {
        ReportMail mail;
        mail.from = c_.report_email;
        mail.to = d.address;
        mail.date = rfc5322_date(now_);
        // Stable per delivery (and part): a duplicate after a crash carries the same Message-ID.
        mail.message_id = fmt::format("{}.{}{}@{}", report_id, d.id, suffix, submitter_);
        mail.policy_domain = d.report.policy_domain;
        mail.submitter = submitter_;
        mail.report_id = report_id;
        mail.filename = filename;
        mail.attachment = std::move(attachment);
        mail.compression = d.report.compression;
        return mail;
    }

    // Records what the server said; true when accepted.
    Result<bool> settle(io::Delivery& d, const io::SmtpResult& result, std::string_view what) {
        d.last_attempt = now_;
        ++d.attempts;
        const std::string reply = result.reply.empty() ? result.detail : result.reply;
        bool accepted = false;
        switch (result.status) {
            case io::SmtpStatus::accepted:
                d.status = io::DeliveryStatus::sent;
                d.sent_at = now_;
                d.next_retry.reset();
                d.smtp_reply = std::string(what) + reply;
                accepted = true;
                break;
            case io::SmtpStatus::temporary:
                if (d.attempts >= kMaxDeliveryAttempts) {
                    d.status = io::DeliveryStatus::perm_failed;
                    d.smtp_reply = fmt::format("gave up after {} attempts: {}", d.attempts, reply);
                } else {
                    d.status = io::DeliveryStatus::temp_failed;
                    d.next_retry = now_ + retry_delay_seconds(d.attempts);
                    d.smtp_reply = reply;
                }
                break;
            case io::SmtpStatus::permanent:
                d.status = io::DeliveryStatus::perm_failed;
                d.smtp_reply = reply;
                break;
        }
        // Committed at once: the window for a duplicate is this call alone.
        if (auto r = store_.update_delivery(d); !r) return tl::unexpected(r.error());
        return accepted;
    }

    void count(const io::Delivery& d) {
        switch (d.status) {
            case io::DeliveryStatus::sent:
                ++summary_.sent;
                break;
            case io::DeliveryStatus::temp_failed:
                ++summary_.retried;
                break;
            case io::DeliveryStatus::perm_failed:
                ++summary_.failed;
                break;
            default:
                break;
        }
        log(fmt::format("{} -> {}: {} {}", d.report.report_id, d.address, io::to_string(d.status),
                        d.smtp_reply));
    }

    Result<void> send_delivery(io::Delivery& d) {
        const auto& r = d.report;
        auto filename =
            report_filename(submitter_, r.policy_domain, r.period, r.report_id, r.compression);
        if (!filename) return tl::unexpected(filename.error());
        auto message = compose_report_mail(mail_for(d, r.report_id, *filename, d.archive, ""));
        if (!message) return tl::unexpected(message.error());
        // RFC 7489 §6.2 / §7.2.1: !size is a 7489 notion (RFC 9990 drops it).
        const bool too_large = r.format == ReportFormat::rfc7489 &&
                               d.kind != io::DeliveryKind::split &&
                               !within_size_limit(message->size(), d.max_size);
        if (too_large || (d.kind == io::DeliveryKind::split && d.parts_sent > 0)) {
            if (c_.split_oversized) {
                auto split = send_split(d, message->size());
                if (!split) return tl::unexpected(split.error());
                if (*split) return {};
            }
            return send_error_report(d, message->size());
        }
        const auto result = io::send_mail(smtp_, c_.report_email, d.address, *message);
        auto settled = settle(d, result, "");
        if (!settled) return tl::unexpected(settled.error());
        count(d);
        return {};
    }

    // RFC 7489 §7.2.2: the short error report instead of the report that does not fit.
    Result<void> send_error_report(io::Delivery& d, std::size_t size) {
        ErrorReport e;
        e.report_date = rfc5322_date(now_);
        e.policy_domain = d.report.policy_domain;
        e.report_id = d.report.report_id;
        e.report_size = size;
        e.submitter = submitter_;
        e.submitting_uri = d.destination;
        auto message = compose_error_report_mail(
            e, c_.report_email, d.address, e.report_date,
            fmt::format("{}.{}e@{}", d.report.report_id, d.id, submitter_));
        if (!message) return tl::unexpected(message.error());
        d.kind = io::DeliveryKind::error_report;
        const auto result = io::send_mail(smtp_, c_.report_email, d.address, *message);
        auto settled = settle(
            d, result,
            fmt::format("error report ({} bytes over !size {}): ", size, d.max_size.value_or(0)));
        if (!settled) return tl::unexpected(settled.error());
        count(d);
        return {};
    }

    // Splits the report into parts that each fit the !size limit (each a valid report with its
    // own Report-ID: the original id + "p" + part number) and sends those not yet accepted.
    // false: it cannot be split small enough (one record alone is too large).
    Result<bool> send_split(io::Delivery& d, std::size_t whole_size) {
        auto xml = io::decompress_report(d.archive);
        if (!xml) return tl::unexpected(xml.error());
        auto parsed = parse_report_xml(*xml);
        if (!parsed) return tl::unexpected(parsed.error());
        const AggregateReport& whole = parsed->report;
        const std::size_t records = whole.records.size();
        const std::uint64_t limit = d.max_size.value_or(0);
        std::size_t parts = std::max<std::size_t>(
            2, static_cast<std::size_t>(whole_size / std::max<std::uint64_t>(limit, 1)) + 1);
        std::vector<std::string> messages;
        for (; parts <= std::max<std::size_t>(records, 2); parts *= 2) {
            messages.clear();
            bool fits = true;
            const std::size_t per = (records + parts - 1) / parts;
            for (std::size_t k = 0; k * per < records && fits; ++k) {
                AggregateReport part = whole;
                part.format = d.report.format;
                part.records.assign(whole.records.begin() + static_cast<std::ptrdiff_t>(k * per),
                                    whole.records.begin() + static_cast<std::ptrdiff_t>(
                                                                std::min(records, (k + 1) * per)));
                const std::string id = fmt::format("{}p{}", d.report.report_id, k + 1);
                part.metadata.report_id = id;
                auto part_xml = write_report_xml(part);
                if (!part_xml) return tl::unexpected(part_xml.error());
                auto filename = report_filename(submitter_, d.report.policy_domain, d.report.period,
                                                id, d.report.compression);
                if (!filename) return tl::unexpected(filename.error());
                auto archive = compress(*part_xml, *filename);
                if (!archive) return tl::unexpected(archive.error());
                auto message = compose_report_mail(
                    mail_for(d, id, *filename, std::move(*archive), fmt::format("p{}", k + 1)));
                if (!message) return tl::unexpected(message.error());
                fits = within_size_limit(message->size(), d.max_size);
                messages.push_back(std::move(*message));
            }
            if (fits) break;
            if (per == 1) return false;
        }
        if (messages.empty()) return false;
        d.kind = io::DeliveryKind::split;
        for (std::size_t k = static_cast<std::size_t>(d.parts_sent); k < messages.size(); ++k) {
            if (k > static_cast<std::size_t>(d.parts_sent) && c_.send_pause_ms > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(c_.send_pause_ms));
            }
            const auto result = io::send_mail(smtp_, c_.report_email, d.address, messages[k]);
            if (result.status == io::SmtpStatus::accepted) {
                d.parts_sent = static_cast<int>(k + 1);
                if (k + 1 < messages.size()) {
                    // Part accepted: commit the progress before the next part.
                    d.smtp_reply =
                        fmt::format("part {}/{}: {}", k + 1, messages.size(), result.reply);
                    if (auto r = store_.update_delivery(d); !r) return tl::unexpected(r.error());
                    continue;
                }
            }
            auto settled = settle(d, result, fmt::format("split in {} parts: ", messages.size()));
            if (!settled) return tl::unexpected(settled.error());
            count(d);
            return true;
        }
        return true;
    }

    const Options& o_;
    const config::ReporterConfig& c_;
    io::ReportStore& store_;
    DnsResolver& resolver_;
    std::int64_t now_;
    std::string submitter_;
    ReportIdentity identity_;
    io::SmtpOptions smtp_;
    std::unique_ptr<PublicSuffixList> psl_;
    std::vector<Suppression> suppressions_;
    bool suppressions_loaded_ = false;
    RunSummary summary_;
};

}  // namespace

Result<RunSummary> run_reports(const Options& options, io::ReportStore& store,
                               DnsResolver& resolver, std::int64_t now) {
    Run run(options, store, resolver, now);
    if (auto r = run.init(); !r) return tl::unexpected(r.error());
    return run.run();
}

}  // namespace dmarc::reporter
