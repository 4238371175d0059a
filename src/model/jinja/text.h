// Python's str semantics on UTF-8 text: code points (len, slicing), whitespace as str.strip
// sees it, and the case mappings templates apply to roles and types.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lingua::jinja {

std::vector<uint32_t> decode_code_points(std::string_view s);
std::string encode_code_points(const std::vector<uint32_t>& cps, size_t begin, size_t end);
void append_code_point(std::string& out, uint32_t cp);
size_t code_point_count(std::string_view s);
bool is_python_space(uint32_t cp);

// str.strip / lstrip / rstrip; `chars` empty with has_chars false means whitespace.
std::string python_strip(std::string_view s, bool left, bool right, const std::string* chars);
// Case mapping for ASCII, Latin-1, Greek and Cyrillic letters (others are left as they are).
std::string simple_upper(std::string_view s);
std::string simple_lower(std::string_view s);
// Python's str.split(sep, maxsplit) and str.split() (whitespace runs).
std::vector<std::string> python_split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::string replace_all(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// Python's str.splitlines() line breaks.
std::vector<std::string> python_splitlines(std::string_view s);

}  // namespace lingua::jinja
