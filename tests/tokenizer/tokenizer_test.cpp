// Behaviour beyond the test vectors: BOS/EOS, special-token parsing, pieces, the streaming
// decoder, arbitrary bytes, and the UTF-8 helpers.
#include <gtest/gtest.h>

#include <random>

#include "model/model_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

const std::string kVocabDir = std::string(HEARTH_SHARED_DIR) + "/testdata/vocab/";

const Tokenizer& vocab(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    Result<ModelFile> model = ModelFile::open(kVocabDir + "ggml-vocab-" + name + ".gguf");
    HEARTH_CHECK(model.ok(), model.ok() ? "" : model.error().message);
    Result<Tokenizer> tok = Tokenizer::from_model(*model);
    HEARTH_CHECK(tok.ok(), tok.ok() ? "" : tok.error().message);
    it = cache.emplace(name, std::move(tok).value()).first;
  }
  return it->second;
}

using Ids = std::vector<int32_t>;

TEST(Tokenizer, BosEosFollowTheModel) {
  const Tokenizer& spm = vocab("llama-spm");
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_EQ(spm.encode("Hello world", true, false), (Ids{1, 15043, 3186}));
  EXPECT_EQ(spm.encode("Hello world", false, false), (Ids{15043, 3186}));
  EXPECT_EQ(spm.encode("", true, false), (Ids{1}));
  EXPECT_TRUE(spm.encode("", false, false).empty());
  const Tokenizer& llama3 = vocab("llama-bpe");
  EXPECT_EQ(llama3.bos(), 128000);
  EXPECT_TRUE(llama3.add_bos());  // llama-bpe pre-tokenizer default
  EXPECT_EQ(llama3.encode("Hello", true, false).front(), 128000);
  const Tokenizer& qwen = vocab("qwen2");
  EXPECT_FALSE(qwen.add_bos());
  EXPECT_EQ(qwen.encode("Hello", true, false), (Ids{9707}));
}

TEST(Tokenizer, EndOfGenerationTokens) {
  const Tokenizer& llama3 = vocab("llama-bpe");
  EXPECT_TRUE(llama3.is_eog(128001));                       // <|end_of_text|> (eos)
  EXPECT_TRUE(llama3.is_eog(llama3.find_token("<|eot_id|>")));
  EXPECT_FALSE(llama3.is_eog(9906));
  const Tokenizer& qwen = vocab("qwen2");
  EXPECT_TRUE(qwen.is_eog(qwen.find_token("<|im_end|>")));
  EXPECT_TRUE(qwen.is_eog(qwen.find_token("<|endoftext|>")));
  EXPECT_EQ(qwen.n_vocab(), 151936);
}

TEST(Tokenizer, SpecialTokensOnlyWhenAsked) {
  const Tokenizer& qwen = vocab("qwen2");
  const int32_t im_start = qwen.find_token("<|im_start|>");
  const int32_t im_end = qwen.find_token("<|im_end|>");
  ASSERT_NE(im_start, kNoToken);
  ASSERT_TRUE(qwen.is_control(im_start));
  const std::string text = "<|im_start|>user\nhi<|im_end|>";
  const Ids parsed = qwen.encode(text, false, true);
  EXPECT_EQ(parsed.front(), im_start);
  EXPECT_EQ(parsed.back(), im_end);
  const Ids plain = qwen.encode(text, false, false);
  for (int32_t id : plain) {
    EXPECT_NE(id, im_start);
    EXPECT_NE(id, im_end);
  }
  EXPECT_EQ(qwen.decode(plain), text);
  // Control tokens render only when asked.
  EXPECT_EQ(qwen.token_to_piece(im_start, true), "<|im_start|>");
  EXPECT_EQ(qwen.token_to_piece(im_start, false), "");
  EXPECT_EQ(qwen.decode(parsed), "user\nhi");
  EXPECT_EQ(qwen.decode(parsed, false, true), text);
}

TEST(Tokenizer, SpmSpecialTokensAndSpacePrefix) {
  const Tokenizer& spm = vocab("llama-spm");
  // "</s>" as text is three pieces unless special parsing is on; the text after a special token
  // gets the leading space again.
  EXPECT_EQ(spm.encode("a</s>b", false, true), (Ids{263, 2, 289}));
  const Ids plain = spm.encode("a</s>b", false, false);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(spm.decode(plain), "a</s>b");
  // Phi-3 drops the whitespace after special tokens (RSTRIP).
  const Tokenizer& phi3 = vocab("phi-3");
  const int32_t user = phi3.find_token("<|user|>");
  ASSERT_NE(user, kNoToken);
  EXPECT_EQ(phi3.encode("<|user|>\nHi", false, true), phi3.encode("<|user|>Hi", false, true));
}

TEST(Tokenizer, PiecesAndByteTokens) {
  const Tokenizer& spm = vocab("llama-spm");
  EXPECT_EQ(spm.token_to_piece(15043), " Hello");
  EXPECT_EQ(spm.token_to_piece(spm.find_token("<0x0A>")), "\n");
  EXPECT_EQ(spm.token_to_piece(spm.find_token("<0xF0>")), "\xF0");
  EXPECT_EQ(spm.decode(Ids{15043, 3186}), "Hello world");  // leading space removed
  EXPECT_EQ(spm.decode(Ids{1, 15043}, /*remove_special=*/true), " Hello");  // after BOS it stays
  const Tokenizer& gpt2 = vocab("gpt-2");
  EXPECT_EQ(gpt2.token_to_piece(gpt2.find_token("\xC4\xA0the")), " the");  // "Ġthe"
  EXPECT_EQ(gpt2.token_to_piece(gpt2.find_token("\xC4\x8A")), "\n");       // "Ċ"
  // Out-of-range ids render as nothing rather than crashing.
  EXPECT_EQ(gpt2.token_to_piece(-5), "");
  EXPECT_EQ(gpt2.token_to_piece(gpt2.n_vocab()), "");
  EXPECT_EQ(gpt2.decode(Ids{-1, 1 << 30, 464}), "The");
}

TEST(Tokenizer, CleanSpacesAsLlamaCpp) {
  const Tokenizer& gpt2 = vocab("gpt-2");  // clean_spaces on
  EXPECT_EQ(gpt2.decode(gpt2.encode("Hello , world ! It 's ok .", false, false)), "Hello, world! It's ok.");
  const Tokenizer& qwen = vocab("qwen2");  // clean_spaces off
  EXPECT_EQ(qwen.decode(qwen.encode("Hello , world !", false, false)), "Hello , world !");
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  const Tokenizer& qwen = vocab("qwen2");
  const Ids ids = qwen.encode("Hi 🦙 你好", false, false);
  StreamDecoder stream(qwen);
  std::string text;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    EXPECT_EQ(utf8_sanitize(part), part) << "emitted invalid UTF-8";
    text += part;
  }
  text += stream.flush();
  EXPECT_EQ(text, "Hi 🦙 你好");

  // The llama emoji is three byte-level tokens: nothing comes out until the last one.
  StreamDecoder llama(qwen);
  EXPECT_EQ(llama.push(11162), " ");  // " \xF0\x9F": the space is complete, the rest waits
  EXPECT_EQ(llama.push(99), "");
  EXPECT_EQ(llama.push(247), "🦙");
  EXPECT_EQ(llama.flush(), "");
}

TEST(StreamDecoder, SpmByteFallbackAcrossTokens) {
  const Tokenizer& spm = vocab("llama-spm");
  StreamDecoder stream(spm, false, /*strip_first_space=*/true);
  std::string text;
  for (const char* byte : {"<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"}) text += stream.push(spm.find_token(byte));
  EXPECT_EQ(text, "🦙");
  EXPECT_EQ(stream.push(15043), " Hello");  // only the very first piece loses its space
  StreamDecoder first(spm, false, true);
  EXPECT_EQ(first.push(15043), "Hello");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer& spm = vocab("llama-spm");
  StreamDecoder stream(spm);
  // A lead byte followed by a non-continuation byte can never complete: replaced at once.
  EXPECT_EQ(stream.push(spm.find_token("<0xE4>")), "");
  EXPECT_EQ(stream.push(spm.find_token("<0x41>")), "\xEF\xBF\xBD" "A");
  // A truncated sequence at the end is replaced only at flush.
  EXPECT_EQ(stream.push(spm.find_token("<0xF0>")), "");
  EXPECT_EQ(stream.push(spm.find_token("<0x9F>")), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  // A stray continuation byte is replaced immediately.
  EXPECT_EQ(stream.push(spm.find_token("<0x80>")), "\xEF\xBF\xBD");
  // Control tokens render as nothing by default.
  EXPECT_EQ(stream.push(2), "");
  StreamDecoder special(spm, /*render_special=*/true);
  EXPECT_EQ(special.push(2), "</s>");
}

TEST(Tokenizer, ArbitraryBytesNeverCrash) {
  std::mt19937 rng(7);
  for (const char* name : {"llama-spm", "phi-3", "llama-bpe", "qwen2", "deepseek-coder", "falcon", "gpt-2"}) {
    const Tokenizer& tok = vocab(name);
    for (int round = 0; round < 40; ++round) {
      std::string bytes(1 + rng() % 64, '\0');
      for (char& c : bytes) c = static_cast<char>(rng() % 256);
      if (round % 4 == 0) bytes += "<|im_start|><s></s>";  // special text mixed with garbage
      const Ids ids = tok.encode(bytes, true, round % 2 == 0);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.n_vocab()) << name;
      const std::string back = tok.decode(ids);
      StreamDecoder stream(tok);
      std::string streamed;
      for (int32_t id : ids) streamed += stream.push(id);
      streamed += stream.flush();
      EXPECT_EQ(utf8_sanitize(streamed), streamed);
    }
  }
}

TEST(Tokenizer, InvalidUtf8EncodesLikeLlamaCpp) {
  // Byte-level BPE sees invalid bytes as U+FFFD (llama.cpp decodes to codepoints first); SPM
  // falls back to the raw bytes.
  const Tokenizer& qwen = vocab("qwen2");
  EXPECT_EQ(qwen.encode("a\xFF" "b", false, false), qwen.encode("a\xEF\xBF\xBD" "b", false, false));
  const Tokenizer& spm = vocab("llama-spm");
  const Ids ids = spm.encode("\xFF", false, false);
  EXPECT_EQ(ids.back(), spm.find_token("<0xFF>"));
}

TEST(Utf8, LenientDecodingAndTail) {
  EXPECT_EQ(utf8_to_codepoints("a\xC3\xA9\xF0\x9F\xA6\x99"), (std::vector<uint32_t>{'a', 0xE9, 0x1F999}));
  EXPECT_EQ(utf8_to_codepoints("\x80" "a\xE4" "b"), (std::vector<uint32_t>{0xFFFD, 'a', 0xFFFD, 'b'}));
  EXPECT_EQ(utf8_to_codepoints("\xF7\xBF\xBF\xBF"), (std::vector<uint32_t>{0xFFFD}));  // > U+10FFFF
  EXPECT_EQ(utf8_incomplete_tail("ab\xF0\x9F"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xF0\x9F\xA6\x99"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xC3"), 1u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xC0"), 0u);  // never valid: not held back
  EXPECT_EQ(utf8_sanitize("a\xE2\x82" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  for (int b = 0; b < 256; ++b) {
    const std::string& s = gpt2_byte_to_utf8(static_cast<uint8_t>(b));
    EXPECT_EQ(gpt2_codepoint_to_byte(utf8_to_codepoints(s).at(0)), b);
  }
  EXPECT_EQ(gpt2_byte_to_utf8(' '), "\xC4\xA0");  // Ġ
}

}  // namespace
}  // namespace hearth::tokenizer
