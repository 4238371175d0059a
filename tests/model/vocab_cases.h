// Reading llama.cpp's recorded tokenizer test sets (ggml-vocab-*.gguf.inp/.out), shared by the
// parity tests of every tokenizer kind.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "model/vocab.h"

namespace lingua::testing {

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct VocabCase {
  std::string text;
  std::vector<TokenId> ids;
};

// llama.cpp's format: every test string is followed by "\n__ggml_vocab_test__\n" (strings may
// be empty or hold newlines, so no line-based reading), and line i of .out holds string i's ids.
inline std::vector<VocabCase> read_vocab_cases(const std::string& base) {
  const std::string raw = read_all(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(base + ".out");
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    VocabCase c;
    if (i < texts.size()) c.text = texts[i];
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << "the .inp and .out files disagree on the number of tests";
  return cases;
}

inline std::string show_ids(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

}  // namespace lingua::testing
