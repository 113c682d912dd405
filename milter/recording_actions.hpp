// An Actions that records every call instead of talking to an MTA: `-t` test mode prints the
// record, tests compare it. Macros are whatever the caller set.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "milter/actions.hpp"

namespace dmarc::milter {

class RecordingActions final : public Actions {
  public:
    struct Call {
        enum class Kind { insert_header, remove_header, add_recipient, quarantine, set_reply } kind;
        std::size_t index = 0;  // insert: position; remove: occurrence
        std::string name;       // header name / recipient / reason / reply code
        std::string value;      // header value / "xcode text"
        friend bool operator==(const Call&, const Call&) = default;
    };

    std::map<std::string, std::string> macros;
    std::vector<Call> calls;
    bool fail_calls = false;  // every smfi_* call reports failure (MTA refused)

    std::optional<std::string> macro(std::string_view name) override {
        auto it = macros.find(std::string(name));
        if (it == macros.end()) return std::nullopt;
        return it->second;
    }
    bool insert_header(std::size_t index, std::string_view name, std::string_view value) override {
        calls.push_back({Call::Kind::insert_header, index, std::string(name), std::string(value)});
        return !fail_calls;
    }
    bool remove_header(std::string_view name, std::size_t occurrence) override {
        calls.push_back({Call::Kind::remove_header, occurrence, std::string(name), ""});
        return !fail_calls;
    }
    bool add_recipient(std::string_view recipient) override {
        calls.push_back({Call::Kind::add_recipient, 0, std::string(recipient), ""});
        return !fail_calls;
    }
    bool quarantine(std::string_view reason) override {
        calls.push_back({Call::Kind::quarantine, 0, std::string(reason), ""});
        return !fail_calls;
    }
    bool set_reply(std::string_view code, std::string_view xcode, std::string_view text) override {
        calls.push_back({Call::Kind::set_reply, 0, std::string(code),
                         std::string(xcode) + " " + std::string(text)});
        return !fail_calls;
    }

    // One line per call, as `-t` prints them.
    std::vector<std::string> describe() const {
        std::vector<std::string> out;
        for (const auto& c : calls) {
            switch (c.kind) {
                case Call::Kind::insert_header:
                    out.push_back("insheader " + std::to_string(c.index) + " " + c.name + ": " +
                                  c.value);
                    break;
                case Call::Kind::remove_header:
                    out.push_back("chgheader " + c.name + "[" + std::to_string(c.index) +
                                  "] removed");
                    break;
                case Call::Kind::add_recipient:
                    out.push_back("addrcpt " + c.name);
                    break;
                case Call::Kind::quarantine:
                    out.push_back("quarantine " + c.name);
                    break;
                case Call::Kind::set_reply:
                    out.push_back("setreply " + c.name + " " + c.value);
                    break;
            }
        }
        return out;
    }
};

}  // namespace dmarc::milter
