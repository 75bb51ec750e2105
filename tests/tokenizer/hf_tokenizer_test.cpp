// Hugging Face tokenizer.json loading: small hand-built tokenizers (byte-level BPE, SentencePiece
// style BPE with byte_fallback, Metaspace) exercise each pipeline piece; hostile files (bad JSON,
// wrong types, unsupported components, ids out of range) must give clear errors, never a crash.
// The real vocabularies are compared with transformers.js in tests/peers/hf_tokenizer.test.mjs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer/hf_pipeline.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

Json added(int id, const char* content, bool special, bool lstrip = false, bool rstrip = false) {
  return {{"id", id},         {"content", content},  {"special", special},  {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", false}, {"single_word", false}};
}

// Byte-level BPE: ids 0..255 are GPT-2's byte alphabet (id = byte), then "ab", "Ġa", "Ġab".
Json byte_level_json() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[gpt2_byte_to_utf8(static_cast<uint8_t>(b))] = b;
  vocab["ab"] = 256;
  vocab
      ["\xC4\xA0"
       "a"] = 257;
  vocab
      ["\xC4\xA0"
       "ab"] = 258;
  return {
      {"version", "1.0"},
      {"added_tokens",
       {added(300, "<s>", true), added(301, "</s>", true), added(302, "<tool>", false),
        added(303, "<L>", true, true, false), added(304, "<R>", true, false, true)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", " ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", Json::array()},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {300}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges",
         {"\xC4\xA0 a",
          "\xC4\xA0"
          "a b",
          "a b"}}}},
  };
}

// SentencePiece-style BPE as Mistral ships it: Prepend + Replace normalizers, byte_fallback,
// fuse_unk, and the Replace/ByteFallback/Fuse/Strip decoder.
Json spm_json() {
  const std::string sp = "\xE2\x96\x81";  // U+2581
  Json vocab = {{"<unk>", 0},   {"<s>", 1},    {"</s>", 2},    {sp, 3},
                {"a", 4},       {"b", 5},      {sp + "a", 6},  {"ab", 7},
                {sp + "ab", 8}, {"<0x5A>", 9}, {"<0xC3>", 10}, {"<0xA9>", 11}};
  return {
      {"added_tokens", {added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", sp}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", sp}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", sp}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", Json::array({Json::array({sp, "a"}), Json::array({"a", "b"}),
                                Json::array({sp + "a", "b"})})}}},
  };
}

Tokenizer load(const Json& json, const Json& config = Json()) {
  Result<HfTokenizerSpec> spec =
      parse_hf_tokenizer(json.dump(), config.is_null() ? "" : config.dump());
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().message);
  Result<Tokenizer> tok = Tokenizer::from_hf_spec(std::move(*spec));
  EXPECT_TRUE(tok.ok()) << (tok.ok() ? "" : tok.error().message);
  return std::move(*tok);
}

TEST(HfTokenizer, ByteLevelMergesAndSpecialTokens) {
  const Tokenizer tok = load(byte_level_json());
  EXPECT_TRUE(tok.is_hf());
  EXPECT_EQ(tok.encode("ab ab", false, true), (Ids{256, 258}));
  EXPECT_EQ(tok.encode("ab", true, true), (Ids{300, 256}));  // TemplateProcessing's BOS
  EXPECT_EQ(tok.encode("<s>ab", false, true), (Ids{300, 256}));
  EXPECT_EQ(tok.encode("<s>ab", false, false),
            (Ids{'<', 's', '>', 256}));  // special text stays text
  EXPECT_EQ(tok.encode("x<tool>y", false, false),
            (Ids{'x', 302, 'y'}));                                   // non-special: always split
  EXPECT_EQ(tok.encode("ab  <L>", false, true), (Ids{256, 303}));    // lstrip
  EXPECT_EQ(tok.encode("<R> \n ab", false, true), (Ids{304, 256}));  // rstrip
  EXPECT_EQ(tok.bos(), 300);
  EXPECT_TRUE(tok.add_bos());
}

TEST(HfTokenizer, ByteLevelDecode) {
  const Tokenizer tok = load(byte_level_json());
  const Ids ids = {300, 256, 258, 302};
  EXPECT_EQ(tok.decode(ids, false, true), "<s>ab ab<tool>");
  EXPECT_EQ(tok.decode(ids, false, false), "ab ab<tool>");  // special tokens skipped
  EXPECT_EQ(tok.token_to_piece(258), " ab");
  const std::string text = "caf\xC3\xA9 \xF0\x9F\xA6\x99!";
  EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
}

TEST(HfTokenizer, InvalidUtf8BecomesReplacementCharacter) {
  const Tokenizer tok = load(byte_level_json());
  EXPECT_EQ(tok.encode("\xFF", false, false), (Ids{0xEF, 0xBF, 0xBD}));
  EXPECT_EQ(tok.encode("a\xC3", false, false), (Ids{'a', 0xEF, 0xBF, 0xBD}));
  // A surrogate, an overlong '/', a codepoint past U+10FFFF: never handed to PCRE2 as UTF-8.
  for (const char* bad : {"\xED\xA0\x80", "\xC0\xAF", "\xF4\x90\x80\x80"}) {
    const Ids ids = tok.encode(bad, false, true);
    ASSERT_FALSE(ids.empty()) << bad;
    for (size_t i = 0; i < ids.size(); i += 3) EXPECT_EQ(ids[i], 0xEF) << bad;
  }
  std::string noise;
  for (int i = 0; i < 2000; ++i) noise.push_back(static_cast<char>((i * 7919) & 0xFF));
  EXPECT_FALSE(tok.encode(noise, true, true).empty());
}

TEST(HfTokenizer, AddBosTokenFromConfigOverridesPostProcessor) {
  Json json = byte_level_json();
  json["post_processor"] = {{"type", "ByteLevel"}};
  const Tokenizer plain = load(json, {{"bos_token", "<s>"}});
  EXPECT_EQ(plain.encode("ab", true, true), (Ids{256}));
  const Tokenizer with_bos =
      load(json, {{"bos_token", {{"content", "<s>"}, {"__type", "AddedToken"}}},
                  {"add_bos_token", true},
                  {"eos_token", "</s>"},
                  {"add_eos_token", true}});
  EXPECT_EQ(with_bos.encode("ab", true, true), (Ids{300, 256, 301}));
  const Tokenizer no_bos =
      load(byte_level_json(), {{"bos_token", "<s>"}, {"add_bos_token", false}});
  EXPECT_EQ(no_bos.encode("ab", true, true), (Ids{256}));
  EXPECT_TRUE(no_bos.is_eog(301));  // "</s>" ends generation
}

TEST(HfTokenizer, ConfigChatTemplate) {
  const Tokenizer tok = load(byte_level_json(), {{"chat_template", "{{ messages }}"}});
  EXPECT_EQ(tok.chat_template(), "{{ messages }}");
  const Tokenizer named =
      load(byte_level_json(),
           {{"chat_template", Json::array({{{"name", "tool_use"}, {"template", "T"}},
                                           {{"name", "default"}, {"template", "D"}}})}});
  EXPECT_EQ(named.chat_template(), "D");
}

TEST(HfTokenizer, SentencePieceStyleBpe) {
  const Tokenizer tok =
      load(spm_json(), {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}});
  EXPECT_EQ(tok.encode("ab", false, true), (Ids{8}));
  EXPECT_EQ(tok.encode("ab", true, true), (Ids{1, 8}));
  EXPECT_EQ(tok.encode("aZ", false, true), (Ids{6, 9}));              // byte fallback
  EXPECT_EQ(tok.encode("a\xC3\xA9", false, true), (Ids{6, 10, 11}));  // é as two bytes
  EXPECT_EQ(tok.encode("a\xE2\x82\xAC\xE2\x82\xAC", false, true),
            (Ids{6, 0}));  // € twice: one fused <unk>
  EXPECT_EQ(tok.decode(Ids{1, 8}, false, true), "<s> ab");
  EXPECT_EQ(tok.decode(Ids{1, 8}, false, false), "ab");
  EXPECT_EQ(tok.decode(Ids{6, 10, 11}), "a\xC3\xA9");
  EXPECT_EQ(tok.unk(), 0);
  EXPECT_TRUE(tok.is_eog(2));
}

TEST(HfTokenizer, MetaspacePreTokenizer) {
  Json json = spm_json();
  json["normalizer"] = nullptr;
  json["pre_tokenizer"] = {{"type", "Metaspace"},
                           {"replacement", "\xE2\x96\x81"},
                           {"prepend_scheme", "first"},
                           {"split", true}};
  json["decoder"] = {
      {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}};
  const Tokenizer tok = load(json);
  EXPECT_EQ(tok.encode("a b", false, true), (Ids{6, 3, 5}));  // "▁a" "▁b" ("▁b" is no token: ▁ + b)
  EXPECT_EQ(tok.encode("<s>ab", false, true), (Ids{1, 7}));  // "first": not after a special token
  EXPECT_EQ(tok.decode(Ids{6, 3, 5}), "a b");
}

TEST(HfTokenizer, SplitBehaviors) {
  const auto split = [](const char* behavior) {
    HfTokenizerSpec spec;
    HfPreTokenizer p;
    p.pattern.text = "-";
    const std::string b = behavior;
    p.behavior = b == "removed"    ? HfSplitBehavior::kRemoved
                 : b == "isolated" ? HfSplitBehavior::kIsolated
                 : b == "previous" ? HfSplitBehavior::kMergedWithPrevious
                 : b == "next"     ? HfSplitBehavior::kMergedWithNext
                                   : HfSplitBehavior::kContiguous;
    spec.pre_tokenizers.push_back(p);
    Result<HfPipeline> pipeline = HfPipeline::compile(spec);
    EXPECT_TRUE(pipeline.ok());
    std::vector<std::string> words;
    pipeline->pre_tokenize("a-b--c", true, words);
    return words;
  };
  using Words = std::vector<std::string>;
  EXPECT_EQ(split("isolated"), (Words{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(split("removed"), (Words{"a", "b", "c"}));
  EXPECT_EQ(split("previous"), (Words{"a-", "b-", "-", "c"}));
  EXPECT_EQ(split("next"), (Words{"a", "-b", "-", "-c"}));
  EXPECT_EQ(split("contiguous"), (Words{"a", "-", "b", "--", "c"}));
}

TEST(HfTokenizer, NormalizersNfcAndLowercase) {
  HfTokenizerSpec spec;
  for (auto kind : {HfNormalizer::Kind::kNfc, HfNormalizer::Kind::kLowercase}) {
    HfNormalizer n;
    n.kind = kind;
    spec.normalizers.push_back(n);
  }
  Result<HfPipeline> pipeline = HfPipeline::compile(spec);
  ASSERT_TRUE(pipeline.ok());
  EXPECT_EQ(pipeline->normalize("E\xCC\x81T\xC3\x89"), "\xC3\xA9t\xC3\xA9");  // NFC then lower
  EXPECT_EQ(pipeline->normalize("\xCE\xA3\xCE\x91\xCE\xA3"),
            "\xCF\x83\xCE\xB1\xCF\x82");  // final sigma
}

TEST(HfTokenizer, JavaScriptRegexSemantics) {
  std::vector<std::pair<size_t, size_t>> m;
  Result<JsRegex> space = JsRegex::compile("\\s+");
  ASSERT_TRUE(space.ok());
  space->find_all(
      "a\xC2\x85"
      "b\xEF\xBB\xBF"
      "c",
      m);  // U+0085 is no JS space; U+FEFF is
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{4, 7}}));
  Result<JsRegex> dot = JsRegex::compile(".+");
  ASSERT_TRUE(dot.ok());
  dot->find_all(
      "ab\xE2\x80\xA8"
      "cd",
      m);  // U+2028 ends a line
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{0, 2}, {5, 7}}));
  Result<JsRegex> contraction = JsRegex::compile("(?i:'s|'t|'re|'ve|'m|'ll|'d)");
  ASSERT_TRUE(contraction.ok());
  contraction->find_all("'S '\xC5\xBF", m);  // 'ſ is not 's in JavaScript
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{0, 2}}));
  Result<JsRegex> empty = JsRegex::compile("x*");
  ASSERT_TRUE(empty.ok());
  empty->find_all("axxb", m);
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{1, 3}}));
}

TEST(HfTokenizer, LoadsFromFilesAndFolder) {
  const std::filesystem::path dir =
      std::filesystem::path(HEARTH_TEST_TMP) / ("hf-tok-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << byte_level_json().dump();
  std::ofstream(dir / "tokenizer_config.json")
      << Json{{"chat_template", "X"}, {"eos_token", "</s>"}}.dump();
  std::ofstream(dir / "generation_config.json") << Json{{"eos_token_id", {301, 302}}}.dump();
  Result<Tokenizer> from_dir = Tokenizer::from_hf_path(dir.string());
  ASSERT_TRUE(from_dir.ok()) << from_dir.error().message;
  EXPECT_EQ(from_dir->chat_template(), "X");
  EXPECT_EQ(from_dir->eos(), 301);
  EXPECT_TRUE(from_dir->is_eog(302));  // from generation_config.json
  std::ofstream(dir / "generation_config.json") << Json{{"eos_token_id", "x"}}.dump();
  Result<Tokenizer> bad_generation = Tokenizer::from_hf_path(dir.string());
  ASSERT_FALSE(bad_generation.ok());
  EXPECT_NE(bad_generation.error().message.find(
                "generation_config.json: eos_token_id: expected an integer"),
            std::string::npos)
      << bad_generation.error().message;
  std::filesystem::remove(dir / "generation_config.json");
  Result<Tokenizer> from_file = Tokenizer::from_hf_path((dir / "tokenizer.json").string());
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->encode("ab", false, true), (Ids{256}));
  Result<Tokenizer> missing = Tokenizer::from_hf_path((dir / "nope.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("nope.json"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ---- Hostile files ----

struct BadCase {
  std::string name;
  std::string json;    // tokenizer.json text
  std::string config;  // tokenizer_config.json text ("" = none)
  std::string expected;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  const auto add = [&](std::string name, const Json& json, std::string expected,
                       const Json& config = Json()) {
    cases.push_back(
        {std::move(name), json.dump(), config.is_null() ? "" : config.dump(), std::move(expected)});
  };
  const auto raw = [&](std::string name, std::string json, std::string expected) {
    cases.push_back({std::move(name), std::move(json), "", std::move(expected)});
  };
  // clang-format off
  raw("not json", "{\"model\": ", "not valid JSON");
  raw("top-level array", "[1, 2]", "expected a JSON object at the top level");
  raw("deep nesting", std::string(100000, '[') + std::string(100000, ']'), "nested deeper than 64");
  raw("invalid utf-8 in json", "{\"model\": \"\xFF\"}", "not valid JSON");
  Json j;
  j = byte_level_json(); j.erase("model");                                   add("no model", j, "model: missing");
  j = byte_level_json(); j["model"]["type"] = "WordPiece";                   add("wordpiece", j, "model type 'WordPiece' is not supported");
  j = byte_level_json(); j["model"]["type"] = "Unigram";                     add("unigram", j, "'Unigram' is not supported");
  j = byte_level_json(); j["model"]["vocab"] = Json::array();                add("vocab array", j, "model.vocab: missing (expected an object");
  j = byte_level_json(); j["model"]["vocab"] = Json::object();               add("vocab empty", j, "model.vocab: is empty");
  j = byte_level_json(); j["model"]["vocab"]["x"] = -1;                      add("negative id", j, "model.vocab[\"x\"]: token id -1 is out of range");
  j = byte_level_json(); j["model"]["vocab"]["x"] = "7";                     add("string id", j, "model.vocab[\"x\"]: expected an integer, got string");
  j = byte_level_json(); j["model"]["vocab"]["x"] = 1;                       add("duplicate id", j, "id 1 is given to both");
  j = byte_level_json(); j["model"]["vocab"]["x"] = 10000000;                add("sparse id", j, "far beyond");
  j = byte_level_json(); j["model"]["merges"] = {"ab"};                      add("merge no space", j, "model.merges[0]: 'ab' is not two tokens");
  j = byte_level_json(); j["model"]["merges"] = {Json::array({"a"})};        add("merge pair of one", j, "model.merges[0]: expected");
  j = byte_level_json(); j["model"]["merges"] = {42};                        add("merge number", j, "model.merges[0]: expected");
  j = byte_level_json(); j["model"].erase("merges");                         add("no merges", j, "model.merges: missing");
  j = byte_level_json(); j["model"]["end_of_word_suffix"] = "</w>";          add("suffix", j, "subword affixes are not supported");
  j = byte_level_json(); j["added_tokens"][0].erase("id");                   add("added no id", j, "added_tokens[0]: needs \"id\"");
  j = byte_level_json(); j["added_tokens"][1]["content"] = "";               add("added empty", j, "added_tokens[1].content: empty token");
  j = byte_level_json(); j["added_tokens"][2]["special"] = "yes";            add("added special string", j, "added_tokens[2].special: expected true or false");
  j = byte_level_json(); j["added_tokens"] = "none";                         add("added not list", j, "added_tokens: expected an array");
  j = byte_level_json(); j["normalizer"] = {{"type", "Precompiled"}};        add("precompiled", j, "normalizer: normalizer type 'Precompiled' is not supported");
  j = byte_level_json(); j["normalizer"] = {{"kind", "NFC"}};                add("normalizer no type", j, "normalizer: missing \"type\"");
  j = byte_level_json(); j["normalizer"] = {{"type", "Replace"}, {"content", "x"}}; add("replace no pattern", j, "normalizer.pattern: missing");
  j = byte_level_json(); j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  add("bad behavior", j, "pre_tokenizer.pretokenizers[0].behavior: unknown split behavior 'Sideways'");
  j = byte_level_json(); j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(unclosed"}};
  add("bad regex", j, "does not compile");
  j = byte_level_json(); j["pre_tokenizer"]["pretokenizers"][1]["type"] = "BertPreTokenizer";
  add("bert pre-tokenizer", j, "pre-tokenizer type 'BertPreTokenizer' is not supported");
  j = byte_level_json(); j["pre_tokenizer"]["pretokenizers"] = 5;            add("pretokenizers not list", j, "pre_tokenizer.pretokenizers: expected an array");
  j = byte_level_json(); j["decoder"] = {{"type", "WordPiece"}};             add("wordpiece decoder", j, "decoder type 'WordPiece' is not supported");
  j = byte_level_json(); j["decoder"] = {{"type", "Strip"}, {"content", "ab"}}; add("strip two chars", j, "decoder.content: expected a single");
  j = byte_level_json(); j["post_processor"]["special_tokens"] = Json::object(); add("template no entry", j, "no entry for '<s>'");
  j = byte_level_json(); j["post_processor"]["special_tokens"]["<s>"]["ids"] = {99999}; add("template id out of range", j, "post_processor: id 99999");
  j = byte_level_json(); j["post_processor"]["type"] = "Mystery";            add("unknown post-processor", j, "post-processor type 'Mystery'");
  add("config bos missing", byte_level_json(), "bos_token '<nope>' is not in the vocabulary", {{"bos_token", "<nope>"}});
  add("config add_bos string", byte_level_json(), "add_bos_token: expected true or false", {{"add_bos_token", "true"}});
  add("config template number", byte_level_json(), "chat_template: expected a string or a list", {{"chat_template", 7}});
  add("config named template bad", byte_level_json(), "chat_template[0]: expected", {{"chat_template", Json::array({{{"name", "x"}}})}});
  cases.push_back({"config not json", byte_level_json().dump(), "{", "tokenizer_config.json: not valid JSON"});
  // clang-format on
  return cases;
}

TEST(HfTokenizer, MalformedFilesGiveClearErrors) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    Result<HfTokenizerSpec> spec = parse_hf_tokenizer(c.json, c.config);
    std::string message;
    if (!spec.ok()) {
      message = spec.error().message;
    } else {
      Result<Tokenizer> tok = Tokenizer::from_hf_spec(std::move(*spec));
      ASSERT_FALSE(tok.ok()) << "accepted";
      message = tok.error().message;
    }
    EXPECT_NE(message.find(c.expected), std::string::npos) << "message: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "multi-line message: " << message;
  }
}

TEST(HfTokenizer, OversizedStringsAreRefused) {
  Json j = byte_level_json();
  j["added_tokens"][0]["content"] = std::string(kMaxTokenBytes + 1, 'x');
  Result<HfTokenizerSpec> spec = parse_hf_tokenizer(j.dump(), "");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message.find("over the 65536 byte limit"), std::string::npos)
      << spec.error().message;
}

}  // namespace
}  // namespace hearth::tokenizer
