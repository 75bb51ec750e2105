// UTF-8 helpers for the tokenizer, with llama.cpp's lenient decoding rules: a byte that does not
// start a well-formed sequence becomes U+FFFD and decoding resumes at the next byte; overlong
// forms and surrogates are accepted as the bit pattern says (llama-vocab does the same, and
// token ids must match it). Also GPT-2's byte <-> printable-codepoint table for byte-level BPE.
#pragma once

#include "base/utf8.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Sequence length announced by a lead byte's high nibble (1 for ASCII and stray continuation
// bytes, 2 for 0xC_/0xD_, 3 for 0xE_, 4 for 0xF_), without validating the rest.
size_t utf8_len_from_lead(uint8_t lead);

// Decodes one codepoint at `offset` and advances it; malformed input yields U+FFFD and advances
// by one byte. Codepoints above U+10FFFF (from 0xF4..0xF7 leads) also yield U+FFFD.
uint32_t utf8_decode_one(std::string_view text, size_t& offset);
std::vector<uint32_t> utf8_to_codepoints(std::string_view text);

// Appends the UTF-8 form of `cp` (surrogates encoded as their 3-byte pattern, as llama.cpp does).
using hearth::utf8_append;  // base/utf8.h
std::string utf8_encode(uint32_t cp);

// Number of bytes at the end of `bytes` that form the start of a multi-byte sequence still
// waiting for continuation bytes (0 when the text ends on a character boundary).
size_t utf8_incomplete_tail(std::string_view bytes);

// Replaces every malformed sequence with U+FFFD (for display: a flushed stream, the CLI).
std::string utf8_sanitize(std::string_view bytes);

// GPT-2 byte-level BPE alphabet: each byte maps to one printable codepoint ('!'..'~', '¡'..'¬',
// '®'..'ÿ' map to themselves; the rest to U+0100 onwards in byte order).
const std::string& gpt2_byte_to_utf8(uint8_t byte);
std::optional<uint8_t> gpt2_codepoint_to_byte(uint32_t cp);

}  // namespace hearth::tokenizer
