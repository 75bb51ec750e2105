// Unigram on a hand-made vocabulary: the rules llama.cpp's UGM tokenizer follows (the
// highest-scoring segmentation, a word-initial U+2581, <unk> for a character nothing covers with
// runs of them merged, user-defined pieces at score 0, </s> appended with special tokens), and
// hostile charsmaps and vocabularies. Agreement with llama.cpp and transformers.js on XLM-R's
// real vocabulary and charsmap: tests/peers/tokenizer.test.mjs (ggml-vocab-nomic-bert-moe.gguf).
#include <gtest/gtest.h>

#include <cstring>

#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {
namespace {

const std::string kSp = "\xE2\x96\x81";  // U+2581

VocabSpec tiny_spec() {
  VocabSpec spec;
  spec.model = "t5";
  //             0        1       2        3     4          5           6    7    8    9            10
  spec.tokens = {"<pad>", "</s>", "<unk>", kSp, kSp + "a", kSp + "ab", "b", "a", "c", kSp + "abc", "<x>"};
  spec.scores = {0, 0, 0, -2.0f, -1.0f, -1.5f, -3.0f, -3.0f, -4.0f, -10.0f, 0};
  spec.token_types = {3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 4};
  spec.add_space_prefix = 1;
  return spec;
}

Tokenizer make(VocabSpec spec) {
  auto tok = Tokenizer::from_spec(std::move(spec));
  EXPECT_TRUE(tok.ok()) << tok.error().message;
  return std::move(*tok);
}

using Ids = std::vector<int32_t>;

TEST(Unigram, HighestScoringSegmentation) {
  const Tokenizer tok = make(tiny_spec());
  EXPECT_EQ(tok.type(), VocabType::kUgm);
  EXPECT_EQ(tok.encode("ab", false, false), (Ids{5}));        // ▁ab (-1.5) over ▁a b (-4)
  EXPECT_EQ(tok.encode("abc", false, false), (Ids{5, 8}));    // ▁ab c (-5.5) over ▁abc (-10)
  EXPECT_EQ(tok.encode("ba", false, false), (Ids{3, 6, 7}));  // ▁ b a
  // Characters nothing covers: one <unk> for the run.
  EXPECT_EQ(tok.encode("a\xE2\x82\xAC\xE2\x82\xAC" "b", false, false), (Ids{4, 2, 6}));
  // Spaces are U+2581 pieces; </s> closes the text when special tokens are added; no BOS.
  EXPECT_EQ(tok.encode("a a", true, false), (Ids{4, 4, 1}));
  // A user-defined piece splits the text; each side is normalised (and space-prefixed) alone.
  EXPECT_EQ(tok.encode("a<x>b", false, false), (Ids{4, 10, 3, 6}));
  EXPECT_EQ(tok.encode("", false, false), (Ids{}));
  EXPECT_EQ(tok.decode(Ids{4, 4, 6}), "a ab");
}

TEST(Unigram, ExtraWhitespaceMergesWhenTheVocabularySaysSo) {
  VocabSpec spec = tiny_spec();
  EXPECT_EQ(make(spec).encode("a  b", false, false), (Ids{4, 3, 3, 6}));  // ▁a ▁ ▁ b
  spec.remove_extra_whitespaces = 1;
  EXPECT_EQ(make(spec).encode("  a  b  ", false, false), (Ids{4, 3, 6}));  // ▁a ▁ b
}

// [uint32 size][double array][replacements]: a blob that does not fit is refused at load; a
// double array pointing outside itself, or a replacement without its NUL, only ends a match.
TEST(Unigram, HostileCharsmapsAreRefusedOrHarmless) {
  VocabSpec spec = tiny_spec();
  spec.precompiled_charsmap = {1, 0};
  auto small = Tokenizer::from_spec(spec);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("too small"), std::string::npos) << small.error().message;
  spec.precompiled_charsmap = {0xFF, 0xFF, 0, 0, 1, 2, 3};
  auto big = Tokenizer::from_spec(spec);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("does not fit"), std::string::npos) << big.error().message;
  // One entry whose BASE sends every byte far outside the array, then a replacement without NUL.
  spec.precompiled_charsmap = {4, 0, 0, 0};
  const uint32_t entry = 0xFFFFFC00u;
  spec.precompiled_charsmap.resize(8);
  std::memcpy(spec.precompiled_charsmap.data() + 4, &entry, 4);
  spec.precompiled_charsmap.push_back('z');
  const Tokenizer tok = make(spec);
  EXPECT_EQ(tok.encode("ab", false, false), (Ids{5}));
}

// A huge entry in a hostile vocabulary does not make every position walk its length.
TEST(Unigram, AHugeVocabularyEntryDoesNotWidenTheSearch) {
  VocabSpec spec = tiny_spec();
  spec.tokens.push_back(kSp + std::string(1 << 20, 'a'));
  spec.scores.push_back(0);
  spec.token_types.push_back(1);
  const Tokenizer tok = make(spec);
  const Ids ids = tok.encode(std::string(200000, 'a'), false, false);  // quadratic would not finish
  ASSERT_EQ(ids.size(), 200000u);  // ▁a, then a, a, ...
  EXPECT_EQ(ids.front(), 4);
  EXPECT_EQ(ids.back(), 7);
}

}  // namespace
}  // namespace hearth::tokenizer
