#include "tokenizer/utf8.h"

#include <array>

namespace hearth::tokenizer {

size_t utf8_len_from_lead(uint8_t lead) {
  const uint8_t high = lead >> 4;
  if (high < 0xC) return 1;
  if (high < 0xE) return 2;
  if (high == 0xE) return 3;
  return 4;
}

namespace {

bool is_continuation(std::string_view text, size_t i) {
  return i < text.size() && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80;
}

}  // namespace

uint32_t utf8_decode_one(std::string_view text, size_t& offset) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[offset + i])); };
  const uint32_t b0 = b(0);
  if (b0 < 0x80) {
    offset += 1;
    return b0;
  }
  size_t n = 0;
  uint32_t cp = 0;
  if ((b0 & 0x40) == 0) {
    n = 0;  // stray continuation byte
  } else if ((b0 & 0x20) == 0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0x10) == 0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0x08) == 0) {
    n = 4;
    cp = b0 & 0x07;
  }
  if (n == 0) {
    offset += 1;
    return kReplacementChar;
  }
  for (size_t i = 1; i < n; ++i) {
    if (!is_continuation(text, offset + i)) {
      offset += 1;
      return kReplacementChar;
    }
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  offset += n;
  // llama.cpp would throw re-encoding these; a replacement character keeps us total.
  return cp > 0x10FFFF ? kReplacementChar : cp;
}

std::vector<uint32_t> utf8_to_codepoints(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) out.push_back(utf8_decode_one(text, offset));
  return out;
}

std::string utf8_encode(uint32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

// Strict validity (no overlongs, no surrogates, <= U+10FFFF) of one sequence at `i`; returns its
// length, 0 when malformed, or -1 when `bytes` ends before the sequence does but is a valid prefix.
static int strict_sequence(std::string_view bytes, size_t i) {
  const uint8_t b0 = static_cast<uint8_t>(bytes[i]);
  if (b0 < 0x80) return 1;
  int n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= bytes.size()) return -1;
    const uint8_t c = static_cast<uint8_t>(bytes[i + k]);
    const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) return 0;
  }
  return n;
}

size_t utf8_incomplete_tail(std::string_view bytes) {
  // A pending sequence starts at most 3 bytes from the end.
  const size_t start = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t i = start; i < bytes.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(bytes[i]);
    if ((b & 0xC0) == 0x80) continue;
    if (strict_sequence(bytes, i) == -1) return bytes.size() - i;
  }
  return 0;
}

std::string utf8_sanitize(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = strict_sequence(bytes, i);
    if (n == -1) {  // truncated final sequence
      out += "\xEF\xBF\xBD";
      break;
    }
    if (n > 0) {
      out.append(bytes.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
      continue;
    }
    // Maximal subpart rule: one U+FFFD per maximal invalid prefix (skip following continuation
    // bytes that the broken lead byte announced).
    out += "\xEF\xBF\xBD";
    size_t skip = 1;
    const size_t want = utf8_len_from_lead(static_cast<uint8_t>(bytes[i]));
    while (skip < want && i + skip < bytes.size() &&
           (static_cast<uint8_t>(bytes[i + skip]) & 0xC0) == 0x80 &&
           strict_sequence(bytes.substr(0, i + skip + 1), i) == -1) {
      ++skip;
    }
    i += skip;
  }
  return out;
}

namespace {

struct Gpt2Bytes {
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 0x144> from_cp{};  // every mapped codepoint is below U+0144
  Gpt2Bytes() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      to_utf8[b] = utf8_encode(cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const Gpt2Bytes& gpt2_bytes() {
  static const Gpt2Bytes table;
  return table;
}

}  // namespace

const std::string& gpt2_byte_to_utf8(uint8_t byte) { return gpt2_bytes().to_utf8[byte]; }

std::optional<uint8_t> gpt2_codepoint_to_byte(uint32_t cp) {
  if (cp >= gpt2_bytes().from_cp.size() || gpt2_bytes().from_cp[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(gpt2_bytes().from_cp[cp]);
}

}  // namespace hearth::tokenizer
