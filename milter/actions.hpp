// Everything dmarc-milter asks of the MTA, behind one interface: server.cpp implements it
// as milter protocol reply packets; tests and `-t` mode implement it with recorders. The session
// logic (session.hpp) never sees the protocol.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dmarc::milter {

class Actions {
  public:
    virtual ~Actions() = default;
    // smfi_getsymval: a macro the MTA sent ("i", "j", "{auth_authen}"); nullopt when absent.
    virtual std::optional<std::string> macro(std::string_view name) = 0;
    // smfi_insheader: index 0 puts the field above every other one.
    virtual bool insert_header(std::size_t index, std::string_view name,
                               std::string_view value) = 0;
    // smfi_chgheader with a NULL value: removes the occurrence-th (1-based) field of that name.
    virtual bool remove_header(std::string_view name, std::size_t occurrence) = 0;
    // smfi_addrcpt.
    virtual bool add_recipient(std::string_view recipient) = 0;
    // smfi_quarantine: Postfix puts the message on hold with this reason.
    virtual bool quarantine(std::string_view reason) = 0;
    // smfi_setreply: the SMTP reply used with the reject/tempfail the callback returns.
    virtual bool set_reply(std::string_view code, std::string_view xcode,
                           std::string_view text) = 0;
};

}  // namespace dmarc::milter
