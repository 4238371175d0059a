// Byte-level BPE splits text into words before merging, with regexes chosen by
// tokenizer.ggml.pre; those need Unicode classes and lookahead, so they run on PCRE2.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lingua {

class PreTokenizer {
 public:
  // `pre` is tokenizer.ggml.pre; empty means "default". The error names an unknown one and lists
  // the supported names. Regexes are compiled here, once per tokenizer.
  static Expected<PreTokenizer> create(const std::string& pre);
  static std::vector<std::string> supported_names();

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // The words of `text` (valid UTF-8), in order and together covering all of it. Each regex in
  // turn splits every word the previous ones produced into its matches and the text between them.
  Expected<std::vector<std::string_view>> split(std::string_view text) const;

  // Llama 3 style: a word that is itself a vocabulary piece is taken whole, without merging.
  bool ignore_merges() const { return ignore_merges_; }
  const std::string& name() const { return name_; }

 private:
  struct Compiled;
  PreTokenizer();
  std::string name_;
  bool ignore_merges_ = false;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace lingua
