// Unicode normalisation of text before tokenizing, for vocabularies whose tokenizer normalises
// (Qwen 2/3 say NFC in their tokenizer.json), so composed and decomposed input give the same ids.
#pragma once
#include <string>
#include <string_view>

#include "core/status.h"

namespace lingua {

// `text` (valid UTF-8) in Normalization Form C. ASCII-only text is returned unchanged without
// calling into ICU.
Expected<std::string> normalize_nfc(std::string_view text);

}  // namespace lingua
