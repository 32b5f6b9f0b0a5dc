# Writes OUT, a C file holding every MIGRATIONS_DIR/*.sql as an
# se_pg_migration (name, sql), in name order, so the binary carries its own
# schema. PREFIX names the table and its header: <PREFIX>_migrations[],
# <PREFIX>_n_migrations, declared in <PREFIX>_migrations.h.
#   cmake -DMIGRATIONS_DIR=... -DPREFIX=menu -DOUT=... -P embed_migrations.cmake
# Used through se_embed_migrations() (cmake/se_migrations.cmake).
file(GLOB files RELATIVE ${MIGRATIONS_DIR} ${MIGRATIONS_DIR}/*.sql)
list(SORT files)
set(body "/* Generated at build time by cmake/embed_migrations.cmake from\n * ${MIGRATIONS_DIR}/NNN_name.sql; do not edit. */\n#include \"${PREFIX}_migrations.h\"\n\n")
set(table "")
set(i 0)
foreach(f ${files})
  file(READ ${MIGRATIONS_DIR}/${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND body "static const char sql_${i}[] = {${bytes}0x00};\n")
  string(APPEND table "    {\"${f}\", sql_${i}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nconst se_pg_migration ${PREFIX}_migrations[] = {\n${table}};\nconst size_t ${PREFIX}_n_migrations = ${i};\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
