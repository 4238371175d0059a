// Reading a Hugging Face tokenizer.json into the vocabulary form llama.cpp's converter writes
// (convert_hf_to_gguf.py and gguf-py are the reference for which key holds what). Everything the
// tokenizer.json says that Lingua's tokenizers cannot reproduce is an error, never ignored.
#include "model/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "model/vocab_writer.h"

namespace lingua {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The split regexes of the byte-level vocabularies Lingua implements, as their tokenizer.json
// files spell them (llama.cpp names them "llama-bpe" and "qwen2").
constexpr const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kSpaceMark = "\xE2\x96\x81";  // U+2581

Expected<json> read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path.string() + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    return Status::error(path.string() + ": not valid JSON: " + e.what());
  }
}

std::string type_of(const json& node) {
  if (!node.is_object()) return "";
  const auto it = node.find("type");
  return it != node.end() && it->is_string() ? it->get<std::string>() : "";
}

// The node itself, or the members of a {"type": "Sequence"} node (key `list`).
std::vector<json> flatten(const json& node, const char* list) {
  if (node.is_null()) return {};
  if (type_of(node) == "Sequence" && node.contains(list) && node[list].is_array())
    return node[list].get<std::vector<json>>();
  return {node};
}

// "<|begin_of_text|>" or {"content": "<|begin_of_text|>", ...}; nullopt for null or absent.
std::optional<std::string> token_text(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

bool looks_special(const std::string& t) {
  auto wraps = [&](const std::string& open, const std::string& close) {
    return t.size() >= open.size() + close.size() && t.compare(0, open.size(), open) == 0 &&
           t.compare(t.size() - close.size(), close.size(), close) == 0;
  };
  // The texts llama.cpp's converter treats as control tokens even when a model marks them plain.
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wraps("<|", "|>") ||
         wraps("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wraps("<unused", ">");
}

bool is_byte_piece(const std::string& p) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && hex(p[3]) && hex(p[4]) && p[5] == '>';
}

class Converter {
 public:
  Converter(fs::path dir, HfTokenizerOptions options) : dir_(std::move(dir)), options_(options) {}

  Expected<HfTokenizer> run() {
    LINGUA_ASSIGN_OR_RETURN(tok_, read_json(dir_ / "tokenizer.json"));
    if (fs::exists(dir_ / "tokenizer_config.json")) {
      LINGUA_ASSIGN_OR_RETURN(config_, read_json(dir_ / "tokenizer_config.json"));
    }
    if (!config_.is_object()) config_ = json::object();
    if (!tok_.is_object() || !tok_.contains("model") || !tok_["model"].is_object())
      return error("has no \"model\" object");
    const json& model = tok_["model"];
    const std::string type = type_of(model);
    if (type != "BPE")
      return error("uses tokenizer model type '" + (type.empty() ? std::string("(none)") : type) +
                   "', which Lingua does not support (supported: BPE, byte-level or SentencePiece-style)");
    if (!model.contains("vocab") || !model["vocab"].is_object()) return error("model has no \"vocab\" object");

    LINGUA_TRY(read_pieces());
    LINGUA_TRY(read_merges());
    LINGUA_TRY(byte_level_ ? byte_level() : sentencepiece_style());
    LINGUA_TRY(special_ids());
    HfTokenizer out;
    const auto tmpl = config_.find("chat_template");
    if (tmpl != config_.end() && tmpl->is_string()) out.chat_template = tmpl->get<std::string>();
    else if (tmpl != config_.end() && !tmpl->is_null())
      return Status::error((dir_ / "tokenizer_config.json").string() +
                           ": chat_template is not a string (a list of named templates is not supported)");
    v_.find_end_of_generation();
    LINGUA_TRY(v_.validate());
    out.vocab = std::move(v_);
    out.name = dir_.filename().string();
    if (out.name.empty()) out.name = dir_.parent_path().filename().string();
    return out;
  }

 private:
  Status error(const std::string& problem) const {
    return Status::error((dir_ / "tokenizer.json").string() + ": " + problem);
  }

  Status read_pieces() {
    std::vector<std::pair<int64_t, std::string>> entries;
    for (const auto& [piece, id] : tok_["model"]["vocab"].items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0)
        return error("vocab entry '" + piece + "' has no valid id");
      entries.emplace_back(id.get<int64_t>(), piece);
    }
    struct Added {
      int64_t id;
      std::string content;
      bool special;
    };
    std::vector<Added> added;
    if (tok_.contains("added_tokens") && tok_["added_tokens"].is_array()) {
      for (const json& a : tok_["added_tokens"]) {
        if (!a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string())
          return error("an added_tokens entry lacks an id or content");
        added.push_back({a["id"].get<int64_t>(), a["content"].get<std::string>(),
                         a.value("special", false)});
      }
    }
    int64_t defined = 0;
    for (const auto& e : entries) defined = std::max(defined, e.first + 1);
    for (const auto& a : added) defined = std::max(defined, a.id + 1);

    int64_t size = options_.vocab_size;
    if (size < 0 && fs::exists(dir_ / "config.json")) {
      LINGUA_ASSIGN_OR_RETURN(json model_config, read_json(dir_ / "config.json"));
      const json* holder = &model_config;
      if (!model_config.contains("vocab_size") && model_config.contains("text_config")) holder = &model_config["text_config"];
      if (holder->contains("vocab_size") && (*holder)["vocab_size"].is_number_integer())
        size = (*holder)["vocab_size"].get<int64_t>();
    }
    if (size < 0) size = defined;
    if (size < 1 || size > INT32_MAX) return error("vocabulary size " + std::to_string(size) + " is out of range");

    v_.pieces.assign(static_cast<size_t>(size), "");
    v_.types.assign(static_cast<size_t>(size), TokenType::UNUSED);
    std::vector<bool> set(static_cast<size_t>(size), false);
    for (const auto& [id, piece] : entries) {
      if (id >= size)
        return error("vocab piece '" + piece + "' has id " + std::to_string(id) + ", past the vocabulary size " +
                     std::to_string(size));
      v_.pieces[static_cast<size_t>(id)] = piece;
      v_.types[static_cast<size_t>(id)] = TokenType::NORMAL;
      set[static_cast<size_t>(id)] = true;
    }
    for (const auto& a : added) {
      if (a.id >= size) continue;  // beyond the model's embedding: the model cannot use it
      v_.pieces[static_cast<size_t>(a.id)] = a.content;
      v_.types[static_cast<size_t>(a.id)] =
          a.special || looks_special(a.content) ? TokenType::CONTROL : TokenType::USER_DEFINED;
      set[static_cast<size_t>(a.id)] = true;
      added_ids_.insert(static_cast<TokenId>(a.id));
    }
    for (int64_t id = 0; id < size; ++id) {
      if (!set[static_cast<size_t>(id)]) v_.pieces[static_cast<size_t>(id)] = "[PAD" + std::to_string(id) + "]";
      piece_to_id_.emplace(v_.pieces[static_cast<size_t>(id)], static_cast<TokenId>(id));
    }

    for (const json& p : flatten(tok_.value("pre_tokenizer", json()), "pretokenizers"))
      if (type_of(p) == "ByteLevel") byte_level_ = true;
    if (type_of(tok_.value("decoder", json())) == "ByteLevel") byte_level_ = true;
    return Status::ok();
  }

  Status read_merges() {
    const json& model = tok_["model"];
    if (!model.contains("merges") || !model["merges"].is_array()) return error("model has no merges");
    for (const json& m : model["merges"]) {
      std::string left, right;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ', 1);
        if (space == std::string::npos) return error("merge '" + s + "' is not two pieces separated by a space");
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        return error("a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
      merges_.emplace_back(std::move(left), std::move(right));
    }
    return Status::ok();
  }

  Status byte_level() {
    const json& model = tok_["model"];
    v_.model = "gpt2";
    std::vector<std::string> regexes;
    bool gpt2_regex = false;
    for (const json& p : flatten(tok_.value("pre_tokenizer", json()), "pretokenizers")) {
      const std::string t = type_of(p);
      if (t == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
        if (p.value("behavior", "") != "Isolated" || p.value("invert", false))
          return error("pre_tokenizer Split with behavior '" + p.value("behavior", "") + "' is not supported");
        regexes.push_back(p["pattern"]["Regex"].get<std::string>());
      } else if (t == "ByteLevel") {
        if (p.value("add_prefix_space", false)) return error("ByteLevel add_prefix_space is not supported");
        gpt2_regex = p.value("use_regex", true);
      } else {
        return error("pre_tokenizer '" + (t.empty() ? p.dump() : t) + "' is not supported");
      }
    }
    const bool ignore_merges = model.value("ignore_merges", false);
    if (regexes.size() == 1 && !gpt2_regex && regexes[0] == kLlama3Regex) {
      v_.pre = ignore_merges ? "llama-bpe" : "smaug-bpe";
    } else if (regexes.size() == 1 && !gpt2_regex && regexes[0] == kQwen2Regex && !ignore_merges) {
      v_.pre = "qwen2";
    } else if (regexes.empty() && gpt2_regex && !ignore_merges) {
      v_.pre = "gpt-2";
    } else {
      std::string what = regexes.empty() ? std::string("ByteLevel") : "Split regex '" + regexes[0] + "'";
      if (regexes.size() > 1) what += " and " + std::to_string(regexes.size() - 1) + " more";
      return error("unknown pre-tokenizer: " + what + (ignore_merges ? " with ignore_merges" : "") +
                   " (Lingua implements the GPT-2, Llama 3 and Qwen 2 splits)");
    }

    for (const json& n : flatten(tok_.value("normalizer", json()), "normalizers")) {
      const std::string t = type_of(n);
      if (t == "NFC") {
        v_.normalizer = "nfc";
      } else {
        return error("normalizer '" + (t.empty() ? n.dump() : t) + "' is not supported for byte-level BPE");
      }
    }
    if (model.value("byte_fallback", false)) return error("byte-level BPE with byte_fallback is not supported");
    for (const auto& [left, right] : merges_) {
      if (left.find(' ') != std::string::npos || right.find(' ') != std::string::npos)
        return error("merge ['" + left + "', '" + right + "'] contains a space, which byte-level pieces never do");
      v_.merges.push_back(left + " " + right);
    }
    return Status::ok();
  }

  // SentencePiece-style BPE (Gemma, Llama 2): text with spaces as U+2581 is split into characters
  // and merged; characters without a piece become <0xNN> byte tokens. Lingua's SentencePiece
  // tokenizer merges by piece score, so each merge result scores minus the rank of its first
  // merge: the best-ranked merge is the highest-scoring piece.
  Status sentencepiece_style() {
    const json& model = tok_["model"];
    v_.model = "llama";
    v_.pre = "default";
    bool replaces_spaces = false, prepends = false;
    for (const json& n : flatten(tok_.value("normalizer", json()), "normalizers")) {
      const std::string t = type_of(n);
      if (t == "Replace" && n.contains("pattern") && n["pattern"].value("String", "") == " " &&
          n.value("content", "") == kSpaceMark) {
        replaces_spaces = true;
      } else if (t == "Prepend" && n.value("prepend", "") == kSpaceMark && !replaces_spaces) {
        prepends = true;
      } else {
        return error("normalizer '" + (t.empty() ? n.dump() : t) +
                     "' is not supported for SentencePiece-style BPE (supported: Prepend U+2581, Replace ' ' with U+2581)");
      }
    }
    for (const json& p : flatten(tok_.value("pre_tokenizer", json()), "pretokenizers")) {
      // Splitting at ' ' is a no-op once the normalizer has replaced every space.
      const bool noop_split = type_of(p) == "Split" && replaces_spaces && p.contains("pattern") &&
                              p["pattern"].value("String", "") == " ";
      if (!noop_split) return error("pre_tokenizer '" + type_of(p) + "' is not supported for SentencePiece-style BPE");
    }
    if (!replaces_spaces || !model.value("byte_fallback", false))
      return error("BPE that is neither byte-level (ByteLevel pre-tokenizer) nor SentencePiece-style (spaces "
                   "replaced by U+2581, byte_fallback) is not supported");
    if (model.value("ignore_merges", false)) return error("SentencePiece-style BPE with ignore_merges is not supported");
    v_.add_space_prefix = prepends;

    v_.scores.assign(v_.pieces.size(), 0.0f);
    std::vector<bool> scored(v_.pieces.size(), false);
    for (size_t rank = 0; rank < merges_.size(); ++rank) {
      const auto& [left, right] = merges_[rank];
      const auto it = piece_to_id_.find(left + right);
      if (it == piece_to_id_.end() || !piece_to_id_.count(left) || !piece_to_id_.count(right))
        return error("merge ['" + left + "', '" + right + "'] names a piece the vocabulary lacks");
      if (!scored[static_cast<size_t>(it->second)]) {
        v_.scores[static_cast<size_t>(it->second)] = -static_cast<float>(rank);
        scored[static_cast<size_t>(it->second)] = true;
      }
    }
    for (TokenId id = 0; id < v_.size(); ++id) {
      if (added_ids_.count(id) == 0 && is_byte_piece(v_.pieces[static_cast<size_t>(id)]))
        v_.types[static_cast<size_t>(id)] = TokenType::BYTE;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      const auto it = piece_to_id_.find(model["unk_token"].get<std::string>());
      if (it != piece_to_id_.end()) {
        v_.unk = it->second;
        v_.types[static_cast<size_t>(it->second)] = TokenType::UNKNOWN;
      }
    }
    return Status::ok();
  }

  Status special_ids() {
    auto id_of = [&](const char* key, TokenId& out) -> Status {
      const auto text = token_text(config_, key);
      if (!text) return Status::ok();
      const auto it = piece_to_id_.find(*text);
      if (it == piece_to_id_.end())
        return Status::error((dir_ / "tokenizer_config.json").string() + ": " + key + " '" + *text +
                             "' is not a token of the vocabulary");
      out = it->second;
      return Status::ok();
    };
    LINGUA_TRY(id_of("bos_token", v_.bos));
    LINGUA_TRY(id_of("eos_token", v_.eos));
    LINGUA_TRY(id_of("pad_token", v_.pad));
    if (v_.unk < 0) LINGUA_TRY(id_of("unk_token", v_.unk));

    // BOS/EOS as the post-processor adds them (a template starting with BOS, ending with EOS),
    // then as tokenizer_config.json says; the tokenizer family's default otherwise.
    std::optional<bool> add_bos, add_eos;
    for (const json& p : flatten(tok_.value("post_processor", json()), "processors")) {
      if (type_of(p) != "TemplateProcessing" || !p.contains("single") || !p["single"].is_array()) continue;
      const json& single = p["single"];
      auto special_at = [&](const json& item) -> std::string {
        return item.contains("SpecialToken") ? item["SpecialToken"].value("id", "") : "";
      };
      if (!single.empty()) {
        const std::string first = special_at(single.front()), last = special_at(single.back());
        add_bos = !first.empty() && v_.bos >= 0 && first == v_.pieces[static_cast<size_t>(v_.bos)];
        add_eos = !last.empty() && v_.eos >= 0 && last == v_.pieces[static_cast<size_t>(v_.eos)];
      }
    }
    if (config_.contains("add_bos_token") && config_["add_bos_token"].is_boolean()) add_bos = config_["add_bos_token"].get<bool>();
    if (config_.contains("add_eos_token") && config_["add_eos_token"].is_boolean()) add_eos = config_["add_eos_token"].get<bool>();
    const bool llama3 = v_.pre == "llama-bpe";
    v_.add_bos = add_bos.value_or(v_.model == "llama" || llama3);
    v_.add_eos = add_eos.value_or(false);
    return Status::ok();
  }

  fs::path dir_;
  HfTokenizerOptions options_;
  json tok_, config_;
  Vocab v_;
  bool byte_level_ = false;
  std::vector<std::pair<std::string, std::string>> merges_;
  std::unordered_map<std::string, TokenId> piece_to_id_;
  std::unordered_set<TokenId> added_ids_;
};

}  // namespace

Expected<HfTokenizer> read_hf_tokenizer(const std::string& dir, const HfTokenizerOptions& options) {
  if (!fs::is_directory(dir)) return Status::error(dir + ": not a directory (expected one holding tokenizer.json)");
  return Converter(dir, options).run();
}

Status write_hf_tokenizer_gguf(const HfTokenizer& tokenizer, const std::string& path) {
  gguf::Writer w;
  w.set("general.name", gguf::Value::str(tokenizer.name));
  set_vocab_keys(w, tokenizer.vocab, tokenizer.chat_template);
  return w.write(path, nullptr);
}

}  // namespace lingua
