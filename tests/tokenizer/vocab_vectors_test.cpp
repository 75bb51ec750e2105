// llama.cpp's tokenizer test vectors (shared/testdata/vocab): every input of X.gguf.inp,
// tokenized with no BOS/EOS and no special-token parsing, must give exactly the ids on the
// matching line of X.gguf.out. Inputs are separated by "\n__ggml_vocab_test__\n" (so an input
// may be empty or consist of newlines); output line i holds input i's ids.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {
namespace {

const std::string kVocabDir = std::string(HEARTH_SHARED_DIR) + "/testdata/vocab/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> read_cases(const std::string& vocab) {
  const std::string inp = read_file(kVocabDir + vocab + ".inp");
  const std::string out = read_file(kVocabDir + vocab + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& text : texts) {
    if (!std::getline(lines, line)) break;
    Case c{text, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << vocab << ": .inp and .out disagree on the number of tests";
  return cases;
}

Tokenizer load(const std::string& vocab) {
  Result<ModelFile> model = ModelFile::open(kVocabDir + vocab);
  EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message);
  Result<Tokenizer> tok = Tokenizer::from_model(*model);
  EXPECT_TRUE(tok.ok()) << (tok.ok() ? "" : tok.error().message);
  return std::move(tok).value();
}

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20) ? fmt::format("\\x{:02x}", c) : std::string(1, static_cast<char>(c));
  return out;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, AllInputsMatchExactly) {
  const std::string vocab = GetParam();
  const std::vector<Case> cases = read_cases(vocab);
  ASSERT_EQ(cases.size(), 46u);
  const Tokenizer tok = load(vocab);
  size_t exact = 0;
  for (const Case& c : cases) {
    const std::vector<int32_t> got = tok.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    if (got == c.ids) ++exact;
    else ADD_FAILURE() << vocab << ": '" << show(c.text) << "' got " << ::testing::PrintToString(got);
  }
  std::printf("%s: %zu of %zu inputs exact\n", vocab.c_str(), exact, cases.size());
  EXPECT_EQ(exact, cases.size());
}

// Detokenizing gives back the input wherever llama.cpp's detokenizer does: byte-level BPE
// without space clean-up always; SPM up to its leading-space rule. Vocabularies that clean up
// spaces before punctuation (gpt-2, falcon, llama-bpe) return the input whenever the input has
// no " ,", " .", " ?", " !", " '" sequence.
TEST_P(VocabVectors, DecodeRoundTrips) {
  const std::string vocab = GetParam();
  const Tokenizer tok = load(vocab);
  for (const Case& c : read_cases(vocab)) {
    const std::string decoded = tok.decode(c.ids);
    const bool cleaned = c.text.find(" ,") != std::string::npos || c.text.find(" .") != std::string::npos ||
                         c.text.find(" ?") != std::string::npos || c.text.find(" !") != std::string::npos ||
                         c.text.find(" '") != std::string::npos;
    if (vocab.find("-spm") != std::string::npos || vocab.find("phi-3") != std::string::npos) {
      // The tokenizer adds a leading space and detokenize removes one, so the text comes back
      // either whole or (where llama.cpp's does too) short of one leading space.
      EXPECT_TRUE(decoded == c.text || " " + decoded == c.text) << vocab << ": '" << show(c.text) << "' -> '"
                                                                 << show(decoded) << "'";
    } else if (!cleaned) {
      EXPECT_EQ(decoded, c.text) << vocab;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVocabs, VocabVectors,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf",
                                           "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf",
                                           "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-falcon.gguf",
                                           "ggml-vocab-gpt-2.gguf"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(11, info.param.size() - 16);
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace hearth::tokenizer
