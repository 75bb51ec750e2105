// libFuzzer target: arbitrary bytes as a Unigram vocabulary's precompiled_charsmap (the part a
// hostile GGUF controls byte for byte) and, after the first NUL, the text to tokenize. Loading
// must refuse the charsmap or accept it; encoding any text with an accepted one must not read
// outside it (ASan) nor crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view text = "Hello  w\xC3\xB6rld \xEF\xBC\xA1 \xFF<x>";
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    text = input.substr(nul + 1);
    input = input.substr(0, nul);
  }
  hearth::tokenizer::VocabSpec spec;
  spec.model = "t5";
  spec.tokens = {"<pad>", "</s>", "<unk>", "\xE2\x96\x81", "\xE2\x96\x81H", "ello", "w", "o", "<x>", "a"};
  spec.scores = {0, 0, 0, -2, -1, -1, -3, -3, 0, -4};
  spec.token_types = {3, 3, 2, 1, 1, 1, 1, 1, 4, 1};
  spec.precompiled_charsmap.assign(input.begin(), input.end());
  spec.remove_extra_whitespaces = size % 2;
  auto tok = hearth::tokenizer::Tokenizer::from_spec(std::move(spec));
  if (!tok.ok()) return 0;
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = tok->encode(text, special, special);
    (void)tok->decode(ids, special, !special);
  }
  return 0;
}
