// /v1/embeddings' and /v1/rerank's request layers on their own: every malformed input is a 400
// naming its field, base64 is RFC 4648's, rerank prompts are formatted as llama-server formats
// them and results come best first. (Run under ASan+UBSan by `make san-test`; the embeddings peer test drives
// the same paths over HTTP with the official client, against llama.cpp's vectors.)
#include <gtest/gtest.h>

#include "api/api_fixture.h"
#include "api/embeddings.h"
#include "api/rerank.h"

namespace hearth::api {
namespace {

// The shared fixture's context, for a last-token embedding model 8 wide.
const ModelContext& embedding_ctx() {
  static const ModelContext ctx = [] {
    ModelContext c = fx().ctx;
    c.pooling = Pooling::kLast;
    c.n_embd = 8;
    return c;
  }();
  return ctx;
}

ApiResult<EmbeddingPlan> parse(const std::string& body, const ModelContext& ctx = embedding_ctx()) {
  ApiResult<ojson> j = parse_json_body(body);
  if (auto* e = std::get_if<ApiError>(&j)) return *e;
  return parse_embeddings_request(std::get<ojson>(j), ctx);
}

TEST(ApiEmbeddings, MalformedRequestsAre400sNamingTheField) {
  const std::string many = "[" + [] {
    std::string s;
    for (int i = 0; i < 2049; ++i) s += (i ? ",\"a\"" : "\"a\"");
    return s;
  }() + "]";
  const std::string long_ids = "[" + [] {
    std::string s;
    for (int i = 0; i < 65; ++i) s += (i ? ",1" : "1");
    return s;
  }() + "]";
  const std::pair<std::string, std::string> cases[] = {
      {R"({})", "input"},
      {R"({"input":null})", "input"},
      {R"({"input":""})", "input"},
      {R"({"input":[]})", "input"},
      {R"({"input":[""]})", "input"},
      {R"({"input":[[]]})", "input"},
      {R"({"input":[1,"a"]})", "input"},
      {R"({"input":["a",1]})", "input"},
      {R"({"input":[-1]})", "input"},
      {R"({"input":[1.5]})", "input"},
      {R"({"input":[[999999999]]})", "input"},
      {R"({"input":{"a":1}})", "input"},
      {R"({"input":true})", "input"},
      {"{\"input\":" + many + "}", "input"},
      {"{\"input\":" + long_ids + "}", "input"},  // 65 tokens: over the context (64)
      {R"({"input":"a","encoding_format":"int8"})", "encoding_format"},
      {R"({"input":"a","encoding_format":1})", "encoding_format"},
      {R"({"input":"a","dimensions":0})", "dimensions"},
      {R"({"input":"a","dimensions":9})", "dimensions"},
      {R"({"input":"a","dimensions":"8"})", "dimensions"},
      {R"({"input":"a","embd_normalize":-2})", "embd_normalize"},
      {R"({"input":"a","model":7})", "model"},
      {R"({"input":"a","priority":1})", "priority"},
  };
  for (const auto& [body, param] : cases) {
    auto r = parse(body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << body.substr(0, 60);
    const ApiError& e = std::get<ApiError>(r);
    EXPECT_EQ(e.status, 400) << body.substr(0, 60);
    EXPECT_EQ(e.param.value_or(""), param) << body.substr(0, 60) << ": " << e.message;
  }
  auto wrong_model = parse(R"({"input":"a","model":"other"})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(wrong_model));
  EXPECT_EQ(std::get<ApiError>(wrong_model).status, 404);
}

TEST(ApiEmbeddings, AModelWithoutPoolingServesNone) {
  ModelContext generator = embedding_ctx();
  generator.pooling = Pooling::kNone;
  auto r = parse(R"({"input":"a"})", generator);
  ASSERT_TRUE(std::holds_alternative<ApiError>(r));
  EXPECT_NE(std::get<ApiError>(r).message.find("does not produce embeddings"), std::string::npos);
}

TEST(ApiEmbeddings, InputShapesBecomeTokenSequences) {
  auto one = parse(R"({"input":"hello world","encoding_format":"base64","dimensions":4,"user":"u"})");
  ASSERT_TRUE(std::holds_alternative<EmbeddingPlan>(one));
  const EmbeddingPlan& p = std::get<EmbeddingPlan>(one);
  ASSERT_EQ(p.inputs.size(), 1u);
  EXPECT_EQ(p.inputs[0], encode_prompt(fx().tok, "hello world"));
  EXPECT_TRUE(p.base64);
  EXPECT_EQ(p.dimensions, 4);
  auto ids = parse(R"({"input":[[1,2,3],[4]]})");
  ASSERT_TRUE(std::holds_alternative<EmbeddingPlan>(ids));
  EXPECT_EQ(std::get<EmbeddingPlan>(ids).inputs, (std::vector<std::vector<int32_t>>{{1, 2, 3}, {4}}));
  auto flat = parse(R"({"input":[5,6]})");
  ASSERT_TRUE(std::holds_alternative<EmbeddingPlan>(flat));
  EXPECT_EQ(std::get<EmbeddingPlan>(flat).inputs, (std::vector<std::vector<int32_t>>{{5, 6}}));
}

TEST(ApiEmbeddings, Base64IsRfc4648) {
  // RFC 4648 section 10's test vectors.
  const std::pair<std::string, std::string> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) EXPECT_EQ(base64_encode(in.data(), in.size()), out) << in;
}

TEST(ApiEmbeddings, ResponseIsNormalisedTruncatedAndCounted) {
  EmbeddingPlan plan;
  plan.inputs = {{1, 2, 3}, {4}};
  plan.dimensions = 2;
  const std::string body = embeddings_response(plan, {{3, 4, 100}, {0, 0, 0}}, "m");
  const json j = json::parse(body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 4);
  EXPECT_EQ(j["data"][0]["embedding"], json({0.6f, 0.8f}));
  EXPECT_EQ(j["data"][1]["embedding"], json({0.0f, 0.0f}));  // a zero vector stays zero
  EXPECT_EQ(j["data"][1]["index"], 1);
}

ModelContext reranker_context() {
  ModelContext ctx = embedding_ctx();
  ctx.pooling = Pooling::kRank;
  ctx.max_context = 256;
  ctx.rerank_template = "<Q>{query}</Q><D>{document}</D><|im_end|>";
  return ctx;
}

TEST(ApiRerank, PromptsFollowTheTemplateAndErrorsNameTheField) {
  const ModelContext ctx = reranker_context();
  // Every {query}, then every {document}, with special tokens parsed.
  EXPECT_EQ(rerank_prompt(fx().tok, "{query}|{document}|{query}", "a", "b"),
            fx().tok.encode("a|b|a", false, true));
  EXPECT_EQ(rerank_prompt(fx().tok, ctx.rerank_template, "q", "d").back(), fx().tok.encode("<|im_end|>", false, true).back());
  auto parse_rr = [&](const std::string& body, const ModelContext& c) {
    ApiResult<ojson> j = parse_json_body(body);
    EXPECT_TRUE(std::holds_alternative<ojson>(j));
    return parse_rerank_request(std::get<ojson>(j), c);
  };
  const std::pair<std::string, std::string> cases[] = {
      {R"({"documents":["a"]})", "query"},
      {R"({"query":"","documents":["a"]})", "query"},
      {R"({"query":["q"],"documents":["a"]})", "query"},
      {R"({"query":"q"})", "documents"},
      {R"({"query":"q","documents":[]})", "documents"},
      {R"({"query":"q","documents":"a"})", "documents"},
      {R"({"query":"q","documents":["a",{"text":"b"}]})", "documents"},
      {R"({"query":"q","documents":["a"],"top_n":0})", "top_n"},
      {R"({"query":"q","documents":["a"],"top_n":"1"})", "top_n"},
      {R"({"query":"q","documents":["a"],"return_documents":1})", "return_documents"},
      {R"({"query":"q","documents":["a"],"rank_fields":["x"]})", "rank_fields"},
      {"{\"query\":\"q\",\"documents\":[\"" + std::string(2000, 'x') + " " + std::string(2000, 'y') + "\"]}", "documents"},
  };
  for (const auto& [body, param] : cases) {
    auto r = parse_rr(body, ctx);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << body.substr(0, 60);
    EXPECT_EQ(std::get<ApiError>(r).param.value_or(""), param) << body.substr(0, 60) << ": " << std::get<ApiError>(r).message;
  }
  // A long query repeated in 1024 documents' prompts: refused before anything is tokenized.
  const std::string long_query = "{\"query\":\"" + std::string(9000, 'q') + "\",\"documents\":[" + [] {
    std::string d;
    for (int i = 0; i < 1024; ++i) d += i ? ",\"d\"" : "\"d\"";
    return d;
  }() + "]}";
  auto amplified = parse_rr(long_query, ctx);
  ASSERT_TRUE(std::holds_alternative<ApiError>(amplified));
  EXPECT_EQ(std::get<ApiError>(amplified).param.value_or(""), "documents");
  EXPECT_NE(std::get<ApiError>(amplified).message.find("bytes to tokenize"), std::string::npos);
  auto not_reranker = parse_rr(R"({"query":"q","documents":["a"]})", fx().ctx);
  ASSERT_TRUE(std::holds_alternative<ApiError>(not_reranker));
  EXPECT_NE(std::get<ApiError>(not_reranker).message.find("not a reranker"), std::string::npos);
  auto ok = parse_rr(R"({"query":"q","documents":["a","b","c"],"top_n":9,"return_documents":true})", ctx);
  ASSERT_TRUE(std::holds_alternative<RerankPlan>(ok));
  EXPECT_EQ(std::get<RerankPlan>(ok).top_n, 3);
  EXPECT_EQ(std::get<RerankPlan>(ok).inputs[1], rerank_prompt(fx().tok, ctx.rerank_template, "q", "b"));
}

TEST(ApiRerank, ResultsComeBestFirstCutToTopN) {
  RerankPlan plan;
  plan.documents = {"a", "b", "c", "d"};
  plan.inputs = {{1}, {2, 3}, {4}, {5}};
  plan.top_n = 3;
  plan.return_documents = true;
  const json j = json::parse(rerank_response(plan, {0.25f, 0.75f, 0.5f, 0.75f}, "m"));
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["index"], 1);  // ties keep the documents' order
  EXPECT_EQ(j["results"][1]["index"], 3);
  EXPECT_EQ(j["results"][2]["index"], 2);
  EXPECT_EQ(j["results"][2]["relevance_score"], 0.5);
  EXPECT_EQ(j["results"][0]["document"]["text"], "b");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
}

// WordPiece models get [CLS] ... [SEP] around an input, as llama.cpp's tokenizer adds them (its
// vocabulary has no EOS for the generic path to append).
TEST(ApiEmbeddings, WordPieceInputsGetClsAndSep) {
  tokenizer::VocabSpec spec;
  spec.model = "bert";
  spec.tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81hello"};
  spec.token_types = {3, 2, 3, 3, 1};
  spec.bos_id = 2;
  spec.sep_id = 3;
  spec.unk_id = 1;
  auto tok = tokenizer::Tokenizer::from_spec(spec);
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  EXPECT_EQ(encode_prompt(*tok, "Hello"), (std::vector<int32_t>{2, 4, 3}));
  EXPECT_EQ(rerank_prompt(*tok, "", "hello", "hello"), (std::vector<int32_t>{2, 4, 3, 4}));
}

}  // namespace
}  // namespace hearth::api
