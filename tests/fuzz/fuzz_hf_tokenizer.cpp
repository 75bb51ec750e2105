// libFuzzer target: arbitrary bytes as a tokenizer.json (and, split at the first NUL byte, a
// tokenizer_config.json). Parsing must return an error or a spec; a spec that loads must encode
// and decode a few fixed texts (including invalid UTF-8) without a crash or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/hf_spec.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view config;
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    config = input.substr(nul + 1);
    input = input.substr(0, nul);
  }
  auto spec = hearth::tokenizer::parse_hf_tokenizer(input, config);
  if (!spec.ok()) return 0;
  auto tok = hearth::tokenizer::Tokenizer::from_hf_spec(std::move(*spec));
  if (!tok.ok()) return 0;
  for (std::string_view text : {"Hello world! It's 123 <s>", " \t\n\xE2\x96\x81x", "\xFF\xC3 caf\xC3\xA9 \xF0\x9F\xA6\x99"}) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, special, special);
      (void)tok->decode(ids, special, !special);
    }
  }
  return 0;
}
