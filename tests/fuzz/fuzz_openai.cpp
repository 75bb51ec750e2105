// libFuzzer target for the request paths: body bytes -> JSON (depth-bounded) -> chat, completion,
// embeddings or rerank plan (field validation, chat template rendering, tokenization, tools and
// structured outputs compiled to grammars) -> context check; Anthropic Messages and Responses
// bodies translated to chat first; for embeddings and reranking the response (truncation,
// normalisation, base64, ordering).
// Every input must end in a plan or an ApiError, never a crash, hang or unbounded allocation.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/anthropic.h"
#include "api/embeddings.h"
#include "api/rerank.h"
#include "api/openai.h"
#include "api/responses.h"
#include "model/model_file.h"

namespace {

struct Fixture {
  hearth::tokenizer::Tokenizer tokenizer;
  hearth::chat::Template chatml;
  hearth::api::ModelContext ctx;
  std::unique_ptr<hearth::api::GrammarCache> grammars;
};

Fixture* fixture() {
  static Fixture* f = [] {
    const char* dir = std::getenv("HEARTH_SHARED_DIR");
    const std::string shared = dir ? dir : HEARTH_SHARED_DIR_DEFAULT;
    auto model = hearth::ModelFile::open(shared + "/testdata/vocab/ggml-vocab-qwen2.gguf");
    if (!model.ok()) std::abort();
    auto tok = hearth::tokenizer::Tokenizer::from_model(*model);
    auto tmpl = hearth::chat::Template::parse(hearth::chat::kChatMlTemplate);
    if (!tok.ok() || !tmpl.ok()) std::abort();
    auto* fx = new Fixture{std::move(*tok), std::move(*tmpl), {}, nullptr};
    fx->ctx.name = "m";
    fx->ctx.tokenizer = &fx->tokenizer;
    fx->ctx.chat_template = &fx->chatml;
    fx->ctx.max_context = 4096;
    fx->ctx.n_vocab = fx->tokenizer.n_vocab();
    fx->ctx.pooling = hearth::Pooling::kLast;
    fx->ctx.n_embd = 16;
    fx->grammars = std::make_unique<hearth::api::GrammarCache>(fx->tokenizer, fx->tokenizer.n_vocab());
    fx->ctx.grammars = fx->grammars.get();
    fx->ctx.output_formats = {hearth::chat::ToolCallFormat::kHermes, hearth::chat::ReasoningFormat::kThinkTags};
    return fx;
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::api;
  Fixture* f = fixture();
  if (size == 0) return 0;
  // The first byte picks the route (0 completions, 1 chat, 2 embeddings, 3 rerank, 4 Anthropic
  // messages, 5 responses, mod 6), the rest is the body.
  const int route = data[0] % 6;
  const bool chat = route == 1;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiResult<ojson> body = parse_json_body(text);
  if (std::holds_alternative<ApiError>(body)) return 0;
  if (route == 3) {
    ModelContext rerank = f->ctx;
    rerank.pooling = hearth::Pooling::kRank;
    rerank.rerank_template = "<|im_start|>{query}\n{document}<|im_end|>";
    ApiResult<RerankPlan> r = parse_rerank_request(std::get<ojson>(body), rerank);
    if (auto* p = std::get_if<RerankPlan>(&r)) {
      std::vector<float> scores;
      for (size_t i = 0; i < p->inputs.size(); ++i) scores.push_back(float(i % 3) * 0.25f);
      (void)rerank_response(*p, scores, "m");
    }
    return 0;
  }
  if (route == 2) {
    ApiResult<EmbeddingPlan> e = parse_embeddings_request(std::get<ojson>(body), f->ctx);
    if (auto* p = std::get_if<EmbeddingPlan>(&e)) {
      std::vector<std::vector<float>> pooled(p->inputs.size(), std::vector<float>(16, 0.5f));
      (void)embeddings_response(*p, std::move(pooled), "m");
    }
    return 0;
  }
  if (route == 4 || route == 5) {
    ojson chat_body;
    if (route == 4) {
      auto t = anthropic::to_chat_request(std::get<ojson>(body));
      if (std::holds_alternative<ApiError>(t)) return 0;
      chat_body = std::get<anthropic::Translated>(t).chat_body;
    } else {
      auto t = responses::to_chat_request(std::get<ojson>(body));
      if (std::holds_alternative<ApiError>(t)) return 0;
      chat_body = std::get<responses::Translated>(t).chat_body;
    }
    ApiResult<GenerationPlan> plan = parse_chat_request(chat_body, f->ctx);
    if (auto* p = std::get_if<GenerationPlan>(&plan)) (void)resolve_lengths(*p, f->ctx);
    return 0;
  }
  ApiResult<GenerationPlan> plan = chat ? parse_chat_request(std::get<ojson>(body), f->ctx)
                                        : parse_completion_request(std::get<ojson>(body), f->ctx);
  if (auto* p = std::get_if<GenerationPlan>(&plan)) (void)resolve_lengths(*p, f->ctx);
  return 0;
}
