// Offline test mode (see test_mode.hpp).
#include "milter/test_mode.hpp"

#include <cstdlib>
#include <ostream>

#include "core/limits.hpp"
#include "io/file.hpp"
#include "milter/failure_reports.hpp"
#include "milter/recording_actions.hpp"

namespace dmarc::milter {
namespace {

// What Postfix 3.7 offers a milter: every action, every protocol step and no-reply flag.
constexpr std::uint32_t kPostfixActions = 0x1ff;
constexpr std::uint32_t kPostfixSteps = 0x1ff7ff & ~0x800u;

// Services for one test run: the runtime's snapshot and history, log lines kept for printing.
class TestServices final : public Services {
  public:
    TestServices(Runtime& runtime, std::optional<unsigned> pct) : runtime_(runtime), pct_(pct) {}
    std::shared_ptr<const Snapshot> snapshot() override { return runtime_.snapshot(); }
    void log(LogLevel, std::string_view line) noexcept override {
        try {
            lines.emplace_back(line);
        } catch (...) {
        }
    }
    void record(const MessageVerdict& v, const Envelope& e,
                std::int64_t received) noexcept override {
        runtime_.record(v, e, received);
    }
    // FailureReports: what the daemon would hand to its sender thread; nothing is sent here.
    void report_failure(const MessageVerdict& v, const Envelope&, const std::vector<HeaderField>&,
                        std::int64_t) noexcept override {
        try {
            auto snap = runtime_.snapshot();
            if (!snap) return;
            const auto plan = plan_failure_report(v, snap->config);
            if (!plan.any()) {
                failure_report =
                    "none for this message (fo=, ruf=, the policy and "
                    "FailureReportsOnNone decide)";
                return;
            }
            std::string to;
            if (plan.to_policy_domain && v.evaluation.published) {
                for (const auto& uri : v.evaluation.published->ruf) {
                    if (!uri.is_mailto()) continue;
                    to += (to.empty() ? "to " : ", ") + uri.address;
                }
                to += " (fo=" + to_string(v.evaluation.published->fo) +
                      "; external destinations verified and rate-limited when sent)";
            }
            if (!snap->config.failure_reports_bcc.empty()) {
                to += to.empty() ? "" : "; ";
                to += "copy to";
                for (const auto& b : snap->config.failure_reports_bcc) to += " " + b;
            }
            failure_report = "would be sent (ReportCommand): " + to;
        } catch (...) {
        }
    }
    std::int64_t now() noexcept override { return runtime_.now(); }
    std::uint64_t now_ms() noexcept override { return runtime_.now_ms(); }
    std::uint8_t pct_sample() noexcept override {
        return pct_ ? static_cast<std::uint8_t>(*pct_) : runtime_.pct_sample();
    }
    std::vector<std::string> lines;
    std::string failure_report;  // empty: FailureReports is off

  private:
    Runtime& runtime_;
    std::optional<unsigned> pct_;
};

std::string env_or(const std::optional<std::string>& option, const char* variable,
                   std::string fallback) {
    if (option) return *option;
    if (const char* v = std::getenv(variable)) return v;
    return fallback;
}

}  // namespace

int run_test_mode(const Options& o, Runtime& runtime, std::ostream& out) {
    std::string ip_text = env_or(o.test_client_ip, "OPENDMARC_TEST_CLIENTIP", "127.0.0.1");
    auto client_ip = IpAddress::parse(ip_text);
    if (!client_ip) {
        out << "error: bad client address " << ip_text << "\n";
        return 64;
    }
    std::string mail_from = env_or(o.test_mail_from, "OPENDMARC_TEST_ENVFROM", "");
    int status = 0;
    for (const auto& path : o.test_files) {
        auto text = io::load_file(path, limits::kMaxMilterHeaderBytes * 4);
        if (!text) {
            out << "file: " << path << "\nerror: " << text.error().message << "\n\n";
            status = 66;
            continue;
        }
        TestServices services(runtime, o.test_pct_sample);
        Session session(services);
        session.set_explain(true);
        RecordingActions actions;
        actions.macros["j"] = o.test_hostname.value_or("localhost");
        actions.macros["i"] = o.test_queue_id.value_or("TEST-QUEUE-ID");
        if (o.test_auth) actions.macros["{auth_authen}"] = *o.test_auth;
        // Negotiated as with Postfix 3.7 (every action and step offered), so what prints is
        // what the daemon would do; the IgnoreHosts check is part of the run too.
        Negotiation negotiation;
        session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation);
        std::string name = o.test_client_name.value_or("client.test");
        Status s = session.on_connect(name, client_ip, actions);
        if (s == Status::proceed) {
            session.on_helo(o.test_helo.value_or(name));
            s = session.on_envfrom({"<" + mail_from + ">"}, actions);
        }
        if (s == Status::proceed || s == Status::no_reply) {
            for (const auto& r : o.test_rcpt_to) session.on_envrcpt({"<" + r + ">"});
            for (const auto& f : parse_header_block(*text)) session.on_header(f.name, f.value);
            s = session.on_eom(actions);
        }
        session.on_close();
        out << "file: " << path << "\n";
        out << "action: " << to_string(s == Status::proceed ? Status::accept : s);
        if (const auto& v = session.last_verdict(); v && v->action == MilterAction::quarantine) {
            out << " (quarantine)";
        }
        out << "\n";
        if (const auto& v = session.last_verdict(); v && !v->evaluation.trace.empty()) {
            out << "trace: " << v->evaluation.trace << "\n";
        }
        for (const auto& line : actions.describe()) out << line << "\n";
        for (const auto& line : services.lines) out << "log: " << line << "\n";
        if (!services.failure_report.empty()) {
            out << "failure report: " << services.failure_report << "\n";
        }
        out << "\n";
    }
    return status;
}

}  // namespace dmarc::milter
