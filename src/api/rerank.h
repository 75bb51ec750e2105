// POST /v1/rerank (and /rerank, /v1/reranking, /reranking): the shape llama-server, Jina and
// Cohere use. `query` and `documents` become one reranker prompt per document (the model's
// `rerank` chat template, as llama-server formats it), each scored by the reranker's head; the
// results are sorted by relevance_score, best first, and cut to `top_n`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/openai.h"

namespace hearth::api {

constexpr size_t kMaxRerankDocuments = 1024;
// The query is repeated in every document's prompt, and all of them are tokenized before the
// request runs: their total text is bounded, so a long query times many documents is a 400, not
// seconds of tokenizing on the server's I/O thread.
constexpr size_t kMaxRerankPromptBytes = size_t{8} << 20;

struct RerankPlan {
  std::vector<std::string> documents;
  std::vector<std::vector<int32_t>> inputs;  // one prompt per document
  int64_t top_n = 0;                         // results returned (default: all)
  bool return_documents = false;             // each result carries {"document": {"text"}}
};

// The prompt of one (query, document) pair: `tmpl` (the file's tokenizer.chat_template.rerank)
// with every "{query}" and then every "{document}" replaced, tokenized with special tokens
// parsed; without a template, BOS (if the model adds one), the query, EOS (if it adds one), the
// document, EOS (if it adds one); WordPiece: [CLS] query [SEP] document (llama-server's order).
std::vector<int32_t> rerank_prompt(const tokenizer::Tokenizer& tok, const std::string& tmpl, const std::string& query,
                                   const std::string& document);

ApiResult<RerankPlan> parse_rerank_request(const ojson& body, const ModelContext& m);

// scores[i]: document i's relevance score.
std::string rerank_response(const RerankPlan& plan, const std::vector<float>& scores, const std::string& model);

}  // namespace hearth::api
