// The Public Suffix List snapshot in tests/data/psl (SOURCE.md there), parsed once per test
// program. A test program that cannot parse it fails and stops: every PSL test would be void.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/org_domain.hpp"
#include "tests/support/text_file.hpp"

namespace dmarc::test {

inline const std::string kPslSnapshot =
    std::string(DMARC_TEST_DATA) + "/psl/public_suffix_list.dat";

inline const PublicSuffixList& psl_snapshot() {
    static const Result<PublicSuffixList> list = PublicSuffixList::parse(read_text(kPslSnapshot));
    if (!list) {
        ADD_FAILURE() << kPslSnapshot << ": " << list.error().message;
        std::abort();
    }
    return *list;
}

}  // namespace dmarc::test
