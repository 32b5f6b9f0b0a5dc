# se_embed_migrations(<out_var> <prefix>): compiles the current source
# directory's migrations/*.sql into a generated C file
# (<binary dir>/<prefix>_migrations.c, defining <prefix>_migrations[] and
# <prefix>_n_migrations as declared in the component's <prefix>_migrations.h)
# and stores its path in <out_var>, to add to a library's sources. The file
# is rewritten when a migration changes (and when one is added: the glob is
# CONFIGURE_DEPENDS), so a service binary needs no files at run time.
# Shared by services/menu and services/order.
set(SE_EMBED_MIGRATIONS_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_migrations.cmake)

function(se_embed_migrations out_var prefix)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/migrations)
  file(GLOB sql CONFIGURE_DEPENDS ${dir}/*.sql)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_migrations.c)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMIGRATIONS_DIR=${dir} -DPREFIX=${prefix} -DOUT=${out}
            -P ${SE_EMBED_MIGRATIONS_SCRIPT}
    DEPENDS ${sql} ${SE_EMBED_MIGRATIONS_SCRIPT}
    COMMENT "Embedding the ${prefix} migrations")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
