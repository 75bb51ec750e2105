// Ids -> bytes: each token's piece (U+2581 -> space and <0xNN> bytes for SPM, U+2581 -> space
// for WordPiece; GPT-2's byte alphabet reversed for BPE), llama_detokenize's leading-space and
// space-cleaning rules, and the streaming decoder that only ever emits whole UTF-8 characters.
#include <optional>

#include "base/strings.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xNN>" -> NN.
std::optional<uint8_t> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  const int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// GPT-2 alphabet -> bytes. A codepoint outside the alphabet is spelled out the way llama.cpp
// does it, so such (malformed) tokens still render identically.
std::string decode_gpt2_text(std::string_view text) {
  std::string out;
  for (uint32_t cp : utf8_to_codepoints(text)) {
    if (std::optional<uint8_t> byte = gpt2_codepoint_to_byte(cp)) {
      out.push_back(static_cast<char>(*byte));
      continue;
    }
    out += "[UNK_BYTE_0x";
    for (char c : utf8_encode(cp)) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
    out += text;
    out += "]";
  }
  return out;
}

}  // namespace

std::string Tokenizer::piece(int32_t id, bool special, bool strip_leading_space) const {
  if (id < 0 || id >= n_vocab()) return {};
  const TokenData& token = tokens_[id];
  if (!special && (token.attr & (kAttrUnknown | kAttrControl))) return {};
  std::string out;
  if (token.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
    out = token.text;
  } else if (token.attr & kAttrNormal) {
    out = token.text;
    if (type_ != VocabType::kBpe || spm_style_) replace_all(out, "\xE2\x96\x81", " ");
    else out = decode_gpt2_text(out);
  } else if (token.attr & kAttrByte) {
    if (std::optional<uint8_t> byte = parse_byte_token(token.text)) out.push_back(static_cast<char>(*byte));
    else out = token.text;  // malformed byte token: its text, rather than a guess
  }
  if (strip_leading_space && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const { return piece(id, special, false); }

std::string Tokenizer::decode(std::span<const int32_t> ids, bool remove_special, bool unparse_special) const {
  if (hf_ != nullptr) return decode_hf(ids, remove_special, unparse_special);
  bool strip_space = add_space_prefix_;
  if (remove_special && add_bos_ && !ids.empty() && ids.front() == bos_) {
    strip_space = false;
    ids = ids.subspan(1);
  }
  if (remove_special && add_eos_ && !ids.empty() && ids.back() == eos_) ids = ids.first(ids.size() - 1);

  std::string text;
  for (int32_t id : ids) {
    text += piece(id, unparse_special, strip_space);
    strip_space = false;
  }
  if (!clean_spaces_ || text.empty()) return text;

  // llama.cpp's three clean-up passes (tokenizers' clean_up_tokenization_spaces), compacting in
  // place so that each pass sees the same neighbours llama.cpp sees:
  // " ?" " !" " ." " ," lose the space; " ' " loses both spaces; " 's" " 'm" " 're" " 've" lose
  // the space.
  size_t total = text.size();
  size_t w = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --w;
    text[w++] = x;
  }
  total = w;
  w = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (x == '\'' && i + 1 < total && text[i - 1] == ' ' && text[i + 1] == ' ') {
      --w;
      text[++i] = '\0';  // the space after is dropped (and no longer counts as a space)
    }
    text[w++] = x;
  }
  total = w;
  w = 1;
  for (size_t i = 1; i < total; ++i) {
    const char x = text[i];
    if (text[i - 1] == ' ' && x == '\'' && i + 1 < total) {
      const char x1 = text[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --w;
      } else if (i + 2 < total) {
        const char x2 = text[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --w;
      }
    }
    text[w++] = x;
  }
  text.resize(w);
  return text;
}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->piece(id, render_special_, first_ && strip_first_space_ && tokenizer_->add_space_prefix());
  first_ = false;
  // Emit everything except a trailing sequence that may still be completed by the next token;
  // bytes that can never become valid are replaced now.
  const size_t tail = utf8_incomplete_tail(pending_);
  std::string out = utf8_sanitize(std::string_view(pending_).substr(0, pending_.size() - tail));
  pending_.erase(0, pending_.size() - tail);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

void StreamDecoder::reset() {
  pending_.clear();
  first_ = true;
}

}  // namespace hearth::tokenizer
