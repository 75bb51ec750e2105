// WordPiece ("bert" vocabularies: BERT, bge, nomic-embed), as llama.cpp's WPM tokenizer runs it:
// BertNormalizer-style preprocessing into words, then for each word with a phantom space (U+2581)
// in front, the longest vocabulary entry at each position; a word with a position nothing matches
// becomes [UNK] as a whole. llama.cpp's vocabularies store word-initial pieces with the phantom
// space and continuation pieces bare (its converter rewrites "##ing" to "ing").
//
// The character classes are llama.cpp's (scripts/gen-unicode-data.py over UnicodeData.txt):
// general categories from ICU, the White_Space list, the simple lowercase mapping, and "NFD" as
// the first codepoint of a character's full decomposition (so accents come off letters one
// character at a time, which is what llama.cpp's table does).
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

// llama.cpp's whitespace set (Unicode's White_Space property).
bool is_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// The CJK ranges BERT's tokenizer splits into single characters (llama.cpp's list, with the
// upper range starting at 0x2B920 as in Hugging Face's Rust code).
bool is_chinese_char(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

struct Classes {
  bool control = false, mark = false, punctuation = false, symbol = false;
};

Classes classes_of(uint32_t cp) {
  Classes c;
  if (cp > 0x10FFFF) return c;
  const uint32_t mask = U_GET_GC_MASK(static_cast<UChar32>(cp));
  // Unassigned code points (Cn) are "undefined" in llama.cpp, not control.
  c.control = (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)) != 0;
  c.mark = (mask & U_GC_M_MASK) != 0;
  c.punctuation = (mask & U_GC_P_MASK) != 0;
  c.symbol = (mask & U_GC_S_MASK) != 0;
  return c;
}

// The first codepoint of the canonical decomposition (the code point itself when it has none).
uint32_t nfd_first(uint32_t cp) {
  if (cp < 0xC0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return cp;
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&err);
  if (U_FAILURE(err)) return cp;
  UChar src[2];
  int32_t src_len = 0;
  U16_APPEND_UNSAFE(src, src_len, static_cast<UChar32>(cp));
  UChar dst[32];
  const int32_t n = unorm2_normalize(nfd, src, src_len, dst, 32, &err);
  if (U_FAILURE(err) || n <= 0) return cp;
  UChar32 first;
  int32_t i = 0;
  U16_NEXT(dst, i, n, first);
  return static_cast<uint32_t>(first);
}

}  // namespace

std::vector<std::string> wordpiece_words(std::string_view text, bool lowercase, bool strip_accents) {
  std::vector<std::string> words(1);
  size_t offset = 0;
  while (offset < text.size()) {
    uint32_t cp = utf8_decode_one(text, offset);
    if (strip_accents) cp = nfd_first(cp);
    if (is_whitespace(cp)) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    const Classes c = classes_of(cp);
    if (cp == 0 || cp == kReplacementChar || c.control) continue;
    if (strip_accents && c.mark) continue;
    const uint32_t out = lowercase && cp <= 0x10FFFF ? static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cp))) : cp;
    if (c.punctuation || (cp < 0x7F && c.symbol) || is_chinese_char(cp)) {
      if (!words.back().empty()) words.emplace_back();
      utf8_append(words.back(), out);  // a word of its own
      words.emplace_back();
    } else {
      utf8_append(words.back(), out);
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void Tokenizer::encode_wpm(std::string_view text, std::vector<int32_t>& out) const {
  for (const std::string& word : wordpiece_words(text, wpm_lowercase_, wpm_strip_accents_)) {
    if (word.empty()) continue;
    const std::string w = "\xE2\x96\x81" + word;
    const size_t n = w.size(), start = out.size();
    // At each byte position, the longest vocabulary entry (byte lengths, as llama.cpp compares).
    for (size_t i = 0; i < n; ++i) {
      bool matched = false;
      for (size_t j = std::min(n, i + max_token_len_ + 1); j > i; --j) {
        const int32_t id = find_token(std::string_view(w).substr(i, j - i));
        if (id != kNoToken) {
          out.push_back(id);
          matched = true;
          i = j - 1;
          break;
        }
      }
      if (!matched) {  // the whole word is unknown
        out.resize(start);
        break;
      }
    }
    if (out.size() == start && unk_ != kNoToken) out.push_back(unk_);
  }
}

}  // namespace hearth::tokenizer
