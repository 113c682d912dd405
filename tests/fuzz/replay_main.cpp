// Replays a libFuzzer corpus through a fuzz target's entry point under GCC, so every corpus
// file (seeds and former crashers) is an ordinary ctest case. Usage: <target>_replay DIR...
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path dir(argv[i]);
        if (!std::filesystem::is_directory(dir)) {
            std::fprintf(stderr, "no corpus directory %s\n", argv[i]);
            return 1;
        }
        for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
            LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                   bytes.size());
            ++count;
        }
    }
    // The empty input is always worth a try.
    LLVMFuzzerTestOneInput(nullptr, 0);
    if (count == 0) {
        std::fprintf(stderr, "corpus is empty\n");
        return 1;
    }
    std::printf("replayed %zu inputs\n", count);
    return 0;
}
