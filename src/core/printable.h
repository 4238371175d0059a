// Text from files and command lines ends up in one-line error messages: a stray 0xFF byte or a
// control character there would garble the terminal, so messages show such bytes as \xFF.
#pragma once
#include <string>
#include <string_view>

namespace lingua {

// `text` with valid, printable UTF-8 kept as it is and every other byte (invalid UTF-8, C0/C1
// control characters, DEL) written as \xNN; newlines and tabs become \n and \t.
std::string printable_text(std::string_view text);

}  // namespace lingua
