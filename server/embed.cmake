# embed.cmake - writes OUT, a C file holding the bytes of IN as ${NAME}[] and ${NAME}_len
# (run as `cmake -DIN=... -DOUT=... -DNAME=... -P embed.cmake`; needs nothing but CMake).
if(NOT NAME)
    set(NAME rg_dashboard_html)
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}" "/* generated from ${IN} by embed.cmake; do not edit */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char ${NAME}[];\n"
    "extern const size_t ${NAME}_len;\n"
    "const unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
