# embed.cmake - writes OUT, a C file holding the bytes of IN as rg_dashboard_html[]
# (run as `cmake -DIN=... -DOUT=... -P embed.cmake`; needs nothing but CMake).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}" "/* generated from ${IN} by embed.cmake; do not edit */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char rg_dashboard_html[];\n"
    "extern const size_t rg_dashboard_html_len;\n"
    "const unsigned char rg_dashboard_html[] = {\n${bytes}0x00};\n"
    "const size_t rg_dashboard_html_len = ${len};\n")
