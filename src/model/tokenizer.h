// Text <-> token ids for a Vocab. One interface, one implementation per tokenizer.ggml.model.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/vocab.h"

namespace lingua {

struct TokenizeOptions {
  bool add_bos = false;       // prepend BOS (when the vocab has one)
  bool parse_special = false; // text like "<s>" becomes the control token instead of characters
  bool add_eos = false;       // append EOS (when the vocab has one)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Errors: invalid UTF-8 in text (the message says at which byte).
  virtual Expected<std::vector<TokenId>> encode(const std::string& text,
                                                const TokenizeOptions& options) const = 0;
  // The bytes a token stands for as it appears in running text (byte tokens give their byte,
  // control tokens give nothing unless render_special). `previous` is the token before it, or -1
  // at the start: SentencePiece drops the leading space of the first piece after BOS.
  virtual std::string piece_bytes(TokenId id, TokenId previous, bool render_special = false) const = 0;
  // The bytes of a whole sequence: piece_bytes of each id with its predecessor (-1 for the first).
  // May end inside a UTF-8 character when the ids do; Utf8Streamer handles that for streams.
  std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const;
  const Vocab& vocab() const { return vocab_; }

  // Picks the implementation for vocab.model; the error names an unsupported model and the
  // supported ones.
  static Expected<std::unique_ptr<Tokenizer>> create(Vocab vocab);

 protected:
  explicit Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}
  Vocab vocab_;
};

// Turns a stream of token bytes into complete UTF-8 text: bytes of a character split across
// tokens are held back until the character is complete. flush() returns what is left (invalid
// sequences become U+FFFD).
class Utf8Streamer {
 public:
  std::string push(const std::string& bytes);
  std::string flush();

 private:
  std::string pending_;
};

// Checks UTF-8; error names the byte offset of the first invalid sequence.
Status validate_utf8(const std::string& text);

}  // namespace lingua
