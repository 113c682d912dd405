// dmarc-web's settings keys against the configuration reference, both directions (issue 9): the
// reference's dmarc-web section is web_keys(); every documented key's example is accepted by
// apply_web_setting (what `dmarc-web -c FILE` runs); every key name apply_web_setting compares
// against (read from web/options.cpp itself) is documented; an unknown key is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "web/options.hpp"

namespace dmarc::web {
namespace {

const std::string kSourceDir = std::string(DMARC_TEST_DATA) + "/../..";

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(WebConfigKeys, ReferenceSectionIsTheKeyTable) {
    std::istringstream in(slurp(kSourceDir + "/docs/configuration.md"));
    std::vector<std::string> documented;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.starts_with("# ")) inside = line == "# Configuration reference: dmarc-web";
        if (inside && line.starts_with("| `")) {
            documented.push_back(line.substr(3, line.find('`', 3) - 3));
        }
    }
    std::vector<std::string> table;
    for (const auto& k : web_keys()) table.emplace_back(k.name);
    ASSERT_FALSE(table.empty());
    EXPECT_EQ(documented, table) << "docs/configuration.md is stale: build the dmarc-docs target";
}

TEST(WebConfigKeys, EveryDocumentedKeyIsAcceptedAndNothingElse) {
    for (const auto& k : web_keys()) {
        WebConfig config;
        auto r = apply_web_setting(k.name, k.example, config);
        EXPECT_TRUE(r) << k.name << " " << k.example << ": " << (r ? "" : r.error().message);
    }
    WebConfig config;
    EXPECT_FALSE(apply_web_setting("WebColour", "blue", config));
}

TEST(WebConfigKeys, EveryKeyTheParserKnowsIsDocumented) {
    const std::string source = slurp(kSourceDir + "/web/options.cpp");
    const std::string marker = "text::iequals(name, \"";
    std::set<std::string> parsed;
    for (auto pos = source.find(marker); pos != std::string::npos;
         pos = source.find(marker, pos + 1)) {
        auto begin = pos + marker.size();
        parsed.insert(source.substr(begin, source.find('"', begin) - begin));
    }
    ASSERT_GE(parsed.size(), 10u);
    std::set<std::string> table;
    for (const auto& k : web_keys()) table.emplace(k.name);
    EXPECT_EQ(parsed, table);
}

}  // namespace
}  // namespace dmarc::web
