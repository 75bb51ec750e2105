// libFuzzer target: arbitrary bytes as the text a prompt brings (invalid UTF-8, lone newlines,
// special-token look-alikes) through each GGUF vocabulary model hearth tokenizes: SentencePiece,
// byte-level BPE, Gemma 4's SentencePiece-style BPE and WordPiece, with and without special
// tokens. Encoding and decoding must neither crash nor read outside their tables (ASan), and
// decoding what was encoded must not fail.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace {

using hearth::tokenizer::Tokenizer;
using hearth::tokenizer::VocabSpec;

Tokenizer make(std::string model) {
  VocabSpec spec;
  spec.model = std::move(model);
  if (spec.model == "bert") {
    spec.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81" "hello", "##o", "\xE2\x96\x81" "a", "a", "##a"};
    spec.token_types = {3, 2, 3, 3, 1, 1, 1, 1, 1};
    spec.bos_id = 2, spec.sep_id = 3, spec.unk_id = 1;
  } else {
    spec.tokens = {"<pad>", "<eos>", "<bos>", "<unk>", "<0x41>", "<0xC3>", "\n", "\n\n", "\xE2\x96\x81",
                   "a", "b", "ab", "\xE2\x96\x81" "a", "\xC4\xA0", "\xC4\xA0" "a", "<tool>"};
    spec.token_types = {3, 3, 3, 2, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4};
    spec.scores = std::vector<float>(spec.tokens.size(), -1.0f);
    spec.merges = {"a b", "\xE2\x96\x81 a", "\xC4\xA0 a", "\n \n"};
    spec.bos_id = 2, spec.eos_id = 1, spec.unk_id = 3;
  }
  auto tok = Tokenizer::from_spec(std::move(spec));
  if (!tok.ok()) __builtin_trap();  // the fixed vocabularies above are valid
  return std::move(tok).value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer spm = make("llama"), bpe = make("gpt2"), gemma4 = make("gemma4"), wpm = make("bert");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Tokenizer* tok : {&spm, &bpe, &gemma4, &wpm}) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, special, special);
      (void)tok->decode(ids, special, !special);
    }
  }
  return 0;
}
