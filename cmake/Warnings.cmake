# Warning flags for our own targets (not for third-party code).
add_library(dmarc_warnings INTERFACE)
target_compile_options(dmarc_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
    # GCC 12 at -O2/-O3 reports impossible overlaps inside libstdc++'s std::string operator+
    # (GCC bug 105329, fixed in GCC 13): a false positive in the library, not in our code.
    $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
    $<$<BOOL:${DMARC_WERROR}>:-Werror>)
