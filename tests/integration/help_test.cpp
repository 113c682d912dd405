// `--help` of each program is a man page (issue 9): NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT
// STATUS, FILES and EXAMPLES, in that order, on standard output with exit 0; the NAME line names
// the program. The reporter joins when it is built.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/integration/program_runner.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc {
namespace {

TEST(ProgramHelp, EveryProgramHasAManPage) {
    test::TempDir dir;
    int checked = 0;
    for (std::string program : {"dmarc-milter", "dmarc-collector", "dmarc-web", "dmarc-reporter"}) {
        if (program == "dmarc-reporter" && !std::filesystem::exists(test::program_path(program))) {
            continue;
        }
        auto r = test::run_program(program, {"--help"}, dir.path());
        ASSERT_EQ(r.status, 0) << program << ": " << r.err;
        std::size_t at = 0;
        for (const char* section :
             {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES"}) {
            auto found = r.out.find("\n" + std::string(section) + "\n", at == 0 ? 0 : at);
            if (at == 0 && r.out.starts_with(std::string(section) + "\n")) found = 0;
            ASSERT_NE(found, std::string::npos) << program << ": no " << section << " after "
                                                << "the previous section\n"
                                                << r.out;
            at = found + 1;
        }
        EXPECT_NE(r.out.find("    " + program + " - "), std::string::npos) << r.out;
        ++checked;
    }
    EXPECT_GE(checked, 3);
}

}  // namespace
}  // namespace dmarc
