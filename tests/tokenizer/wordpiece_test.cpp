// WordPiece on a hand-made vocabulary: the rules llama.cpp's WPM tokenizer follows (words split at
// whitespace and punctuation, lowercased, accents stripped; the longest piece at each position,
// "▁" marking a word's start; a word with an unmatched position is [UNK] whole; [CLS] ... [SEP]
// with special tokens). Agreement with llama.cpp itself on a real vocabulary, its test vectors
// and a few hundred strings: tests/peers/tokenizer.test.mjs (ggml-vocab-bert-bge.gguf).
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {
namespace {

Tokenizer tiny_wordpiece(bool with_unk = true) {
  VocabSpec spec;
  spec.model = "bert";
  spec.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81play", "ing", "\xE2\x96\x81" ",", "\xE2\x96\x81hello",
                 "\xE2\x96\x81" "cafe", "\xE2\x96\x81" "!", "\xE2\x96\x81pl", "ay", "\xE2\x96\x81\xE4\xBD\xA0"};
  spec.token_types = {3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  spec.bos_id = 2;
  spec.sep_id = 3;
  spec.unk_id = with_unk ? 1 : kNoToken;
  if (!with_unk) spec.token_types[1] = 1;
  auto tok = Tokenizer::from_spec(spec);
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  return std::move(*tok);
}

TEST(WordPiece, LongestPiecesPerWordLowercasedWithoutAccents) {
  const Tokenizer tok = tiny_wordpiece();
  EXPECT_EQ(tok.type(), VocabType::kWpm);
  // "Playing" -> ▁play + ing (longest first: not ▁pl + ay...), "," its own word, "CAFÉ" -> ▁cafe.
  EXPECT_EQ(tok.encode("Playing, CAF\xC3\x89!", false, false), (std::vector<int32_t>{4, 5, 6, 8, 9}));
  // An unmatched position makes the whole word [UNK]; CJK characters are words of their own.
  EXPECT_EQ(tok.encode("playx hello\xE4\xBD\xA0", false, false), (std::vector<int32_t>{1, 7, 12}));
  // Controls vanish; any whitespace separates.
  EXPECT_EQ(tok.encode("\x01hello\t\xE3\x80\x80hello", false, false), (std::vector<int32_t>{7, 7}));
  EXPECT_EQ(tok.encode("hello", true, false), (std::vector<int32_t>{2, 7, 3}));  // [CLS] hello [SEP]
  EXPECT_EQ(tok.encode("", false, false), (std::vector<int32_t>{}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{4, 5, 6, 7}), " playing, hello");
  EXPECT_EQ(wordpiece_words("A\xCC\x81" "b c.", true, true), (std::vector<std::string>{"ab", "c", "."}));
  EXPECT_EQ(wordpiece_words("A\xCC\x81" "b", false, false), (std::vector<std::string>{"A\xCC\x81" "b"}));
}

TEST(WordPiece, AVocabularyWithoutUnknownDropsUnmatchedWords) {
  const Tokenizer tok = tiny_wordpiece(false);
  EXPECT_EQ(tok.encode("xyz hello", false, false), (std::vector<int32_t>{7}));
  // A long unmatched word costs its length times the longest token, not more.
  EXPECT_EQ(tok.encode(std::string(100000, 'q'), false, false), (std::vector<int32_t>{}));
}

// One huge entry in a hostile vocabulary does not make every position probe its length.
TEST(WordPiece, AHugeVocabularyEntryDoesNotWidenTheSearch) {
  VocabSpec spec;
  spec.model = "bert";
  spec.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81" "a", "a", std::string(1 << 20, 'z')};
  auto tok = Tokenizer::from_spec(spec);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const std::vector<int32_t> ids = tok->encode(std::string(20000, 'a'), false, false);
  ASSERT_EQ(ids.size(), 20000u);
  EXPECT_EQ(ids.front(), 4);
  EXPECT_EQ(ids.back(), 5);
}

}  // namespace
}  // namespace hearth::tokenizer
