# Warning flags for our own targets (not for third-party code).
add_library(dmarc_warnings INTERFACE)
target_compile_options(dmarc_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
    $<$<BOOL:${DMARC_WERROR}>:-Werror>)
