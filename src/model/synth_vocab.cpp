// Builds the synthetic vocabulary (shorter pieces score higher, so each longer piece can be
// formed from two pieces already in the vocabulary), or borrows a real one from another file.
#include "model/synth_vocab.h"

#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

namespace lingua {

Vocab make_synth_vocab(int64_t size) {
  Vocab v;
  v.model = "llama";
  v.pre = "default";
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  auto push = [&](const std::string& piece, TokenType type, float score) {
    v.pieces.push_back(piece);
    v.types.push_back(type);
    v.scores.push_back(score);
  };
  push("<unk>", TokenType::UNKNOWN, 0.0f);
  push("<s>", TokenType::CONTROL, 0.0f);
  push("</s>", TokenType::CONTROL, 0.0f);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    push(name, TokenType::BYTE, 0.0f);
  }
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's word boundary
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  std::vector<std::string> singles = {space};
  for (char c : letters) singles.emplace_back(1, c);
  for (char c : std::string("ETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,;:!?'\"-()")) singles.emplace_back(1, c);

  std::unordered_set<std::string> seen;
  float score = -1.0f;
  auto add = [&](const std::string& piece) {
    if (static_cast<int64_t>(v.pieces.size()) >= size || !seen.insert(piece).second) return;
    push(piece, TokenType::NORMAL, score);
    score -= 1.0f;
  };
  for (const auto& s : singles) add(s);
  // Then word-start and inner pieces of growing length over the lowercase alphabet, in
  // frequency order, until the vocabulary is full.
  std::vector<std::string> level(letters.size());
  for (size_t i = 0; i < letters.size(); ++i) level[i] = std::string(1, letters[i]);
  while (static_cast<int64_t>(v.pieces.size()) < size) {
    for (const auto& s : level) add(space + s);
    std::vector<std::string> next;
    for (const auto& s : level)
      for (char c : letters) {
        next.push_back(s + c);
        add(s + c);
        if (static_cast<int64_t>(v.pieces.size()) >= size) break;
      }
    level.swap(next);
  }
  return v;
}

Expected<VocabKeys> read_vocab_keys(const std::string& path) {
  LINGUA_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
  auto vocab = Vocab::from_gguf(file);
  if (!vocab) return Status::error("--vocab-from " + path + ": " + vocab.error());
  VocabKeys out;
  out.size = vocab->size();
  for (const auto& [key, value] : file.metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) out.keys.emplace_back(key, value);
  }
  return out;
}

}  // namespace lingua
