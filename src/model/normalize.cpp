// NFC through ICU's normaliser: UTF-8 to UTF-16 and back, as ICU's C API works on UTF-16.
#include "model/normalize.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <climits>
#include <vector>

namespace lingua {

Expected<std::string> normalize_nfc(std::string_view text) {
  bool ascii = true;
  for (char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(text);
  if (text.size() > static_cast<size_t>(INT32_MAX) / 4) return Status::error("text too long to normalise");

  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfc = unorm2_getNFCInstance(&status);
  if (U_FAILURE(status)) return Status::error(std::string("NFC normaliser unavailable: ") + u_errorName(status));

  std::vector<UChar> utf16(text.size() + 1);
  int32_t utf16_length = 0;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &utf16_length, text.data(),
                static_cast<int32_t>(text.size()), &status);
  if (U_FAILURE(status)) return Status::error(std::string("NFC: cannot read the text: ") + u_errorName(status));

  // Composition never lengthens much; ICU says how much room it needs when it runs out.
  std::vector<UChar> composed(static_cast<size_t>(utf16_length) * 3 + 16);
  int32_t composed_length = unorm2_normalize(nfc, utf16.data(), utf16_length, composed.data(),
                                             static_cast<int32_t>(composed.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    composed.resize(static_cast<size_t>(composed_length) + 1);
    composed_length = unorm2_normalize(nfc, utf16.data(), utf16_length, composed.data(),
                                       static_cast<int32_t>(composed.size()), &status);
  }
  if (U_FAILURE(status)) return Status::error(std::string("NFC normalisation failed: ") + u_errorName(status));

  std::string out(static_cast<size_t>(composed_length) * 3 + 1, '\0');
  int32_t out_length = 0;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &out_length, composed.data(), composed_length, &status);
  if (U_FAILURE(status)) return Status::error(std::string("NFC: cannot write the text: ") + u_errorName(status));
  out.resize(static_cast<size_t>(out_length));
  return out;
}

}  // namespace lingua
