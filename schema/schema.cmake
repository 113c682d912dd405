# Included by io/CMakeLists.txt: generates the embedded migrations (schema/embed.cmake) as a source
# of dmarc_io whenever a schema/*.sql file changes.
file(GLOB_RECURSE DMARC_SCHEMA_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/schema/*.sql)
set(DMARC_SCHEMA_CPP ${CMAKE_BINARY_DIR}/generated/schema_sql.cpp)
add_custom_command(
    OUTPUT ${DMARC_SCHEMA_CPP}
    COMMAND ${CMAKE_COMMAND} -DOUT=${DMARC_SCHEMA_CPP} -DROOT=${CMAKE_SOURCE_DIR}/schema
            -P ${CMAKE_SOURCE_DIR}/schema/embed.cmake
    DEPENDS ${DMARC_SCHEMA_FILES} ${CMAKE_SOURCE_DIR}/schema/embed.cmake
    COMMENT "Embedding schema/*.sql"
    VERBATIM)
