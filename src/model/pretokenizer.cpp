// The per-model pre-tokenizer regexes. The expressions come from the models' own tokenizer.json
// files as llama.cpp adopts them (src/llama-vocab.cpp), written here in PCRE2 syntax; where
// llama.cpp's matching differs from plain regex semantics, the comments say how it is followed.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/pretokenizer.h"

#include <pcre2.h>

#include <initializer_list>

namespace lingua {
namespace {

// GPT-2's split: contractions, letter runs, digit runs, other-symbol runs (each may take one
// leading space), and whitespace that leaves its last character to the word after it. llama.cpp
// runs this one through a hand-written matcher that also takes whitespace the other branches
// leave over, hence the final \s+.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Llama 3 and Qwen 2. Their tokenizer.json says (?i:'s|...), but PCRE2's Unicode case folding
// would also match e.g. U+017F for 's'; llama.cpp only folds ASCII here, so spell it out.
#define LINGUA_LLAMA3_STYLE(digits)                                                       \
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
  "\\p{N}" digits "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
constexpr const char* kLlama3 = LINGUA_LLAMA3_STYLE("{1,3}");
constexpr const char* kQwen2 = LINGUA_LLAMA3_STYLE("");
#undef LINGUA_LLAMA3_STYLE

// CJK ideographs, a wide block below them, and Hangul: split off as runs (DeepSeek).
constexpr const char* kDeepseekCjk = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

// DeepSeek LLM's letters: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee and other cased
// scripts, listed by range in its tokenizer.json.
constexpr const char* kDeepseekLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}"
    "\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
    "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";

// ASCII, full-width and CJK punctuation. The original range starts at U+3000 (ideographic space),
// but llama.cpp matches with non-ASCII whitespace replaced by a vertical tab, so U+3000 never
// falls in it; starting at U+3001 gives the same words.
constexpr const char* kDeepseekPunct =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3001}-\\x{3002}]+";

struct Family {
  std::initializer_list<const char*> names;
  std::initializer_list<const char*> regexes;
  bool ignore_merges;
};

// Names sharing a row tokenize identically. "gpt-neox" is not a name llama.cpp writes, but
// NeoX-derived vocabularies (MPT, OLMo) use GPT-2's split, so it is accepted as one.
const Family kFamilies[] = {
    {{"default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}, false},
    {{"gpt-2", "gpt-neox", "mpt", "olmo", "phi-2", "jais", "roberta-bpe", "gigachat", "jina-es",
      "jina-de", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code"},
     {kGpt2}, false},
    {{"llama-bpe", "llama3", "llama-v3", "falcon3"}, {kLlama3}, true},
    {{"dbrx", "smaug-bpe"}, {kLlama3}, false},
    {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"}, {kQwen2}, false},
    // "\s+\z": llama.cpp's std::regex "$" only matches at the end of the word, unlike PCRE2's.
    {{"deepseek-llm"},
     {"[\\r\\n]", kDeepseekLetters, kDeepseekPunct, "\\s+\\z", kDeepseekCjk, "\\p{N}+"}, false},
    {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kDeepseekCjk, "\\p{N}"}, false},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}, false},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {"\\p{N}", kGpt2}, false},
};

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::supported_names() {
  std::vector<std::string> out;
  for (const Family& f : kFamilies) out.insert(out.end(), f.names.begin(), f.names.end());
  return out;
}

Expected<PreTokenizer> PreTokenizer::create(const std::string& pre) {
  const std::string name = pre.empty() ? "default" : pre;
  const Family* family = nullptr;
  for (const Family& f : kFamilies) {
    for (const char* n : f.names) {
      if (name == n) family = &f;
    }
  }
  if (!family) {
    std::string list;
    for (const std::string& n : supported_names()) list += (list.empty() ? "" : ", ") + n;
    return Status::error("unsupported pre-tokenizer '" + name + "' (tokenizer.ggml.pre); supported: " +
                         list);
  }

  PreTokenizer p;
  p.name_ = name;
  p.ignore_merges_ = family->ignore_merges;
  for (const char* pattern : family->regexes) {
    int code = 0;
    PCRE2_SIZE where = 0;
    auto compiled = std::make_unique<Compiled>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &code, &where, nullptr);
    if (!compiled->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof message);
      return Status::error("pre-tokenizer '" + name + "': regex does not compile at offset " +
                           std::to_string(where) + ": " + reinterpret_cast<const char*>(message));
    }
    // JIT is an optimisation only: without it (or where it is unsupported) matching still works.
    (void)pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
    p.regexes_.push_back(std::move(compiled));
  }
  return p;
}

Expected<std::vector<std::string_view>> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> words;
  if (!text.empty()) words.push_back(text);
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> match(
      pcre2_match_data_create(1, nullptr), pcre2_match_data_free);
  if (!match) return Status::error("pre-tokenizer: out of memory");

  std::vector<std::string_view> next;
  for (const auto& regex : regexes_) {
    next.clear();
    for (std::string_view word : words) {
      // Each word is its own subject, so lookahead and \z stop at its end, as in the reference.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(word.data());
      size_t pos = 0;  // where the next search starts
      size_t gap = 0;  // start of the text no match has taken yet
      while (pos < word.size()) {
        // The input was validated once up front; rechecking every word would be quadratic.
        int rc = pcre2_match(regex->code, subject, word.size(), pos, PCRE2_NO_UTF_CHECK,
                             match.get(), nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
          rc = pcre2_match(regex->code, subject, word.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                           match.get(), nullptr);
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR message[256];
          pcre2_get_error_message(rc, message, sizeof message);
          return Status::error("pre-tokenizer '" + name_ + "': matching failed: " +
                               reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
        const size_t begin = ovector[0];
        size_t end = ovector[1];
        if (end == begin) {
          // No expression here matches empty text; should one, step over a character rather
          // than loop, leaving it to the text between matches.
          end = begin + 1;
          while (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) ++end;
          pos = end;
          continue;
        }
        if (begin > gap) next.push_back(word.substr(gap, begin - gap));
        next.push_back(word.substr(begin, end - begin));
        gap = pos = end;
      }
      if (gap < word.size()) next.push_back(word.substr(gap));
    }
    words.swap(next);
  }
  return words;
}

}  // namespace lingua
