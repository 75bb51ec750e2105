#include "api/rerank.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "base/strings.h"

namespace hearth::api {

std::vector<int32_t> rerank_prompt(const tokenizer::Tokenizer& tok, const std::string& tmpl, const std::string& query,
                                   const std::string& document) {
  if (!tmpl.empty()) {
    std::string prompt = tmpl;
    replace_all(prompt, "{query}", query);
    replace_all(prompt, "{document}", document);
    return tok.encode(prompt, /*add_special=*/false, /*parse_special=*/true);
  }
  if (tok.type() == tokenizer::VocabType::kWpm) {  // [CLS] query [SEP] document, as llama-server
    std::vector<int32_t> ids = tok.encode(query, /*add_special=*/true, /*parse_special=*/false);
    const std::vector<int32_t> d = tok.encode(document, false, false);
    ids.insert(ids.end(), d.begin(), d.end());
    return ids;
  }
  std::vector<int32_t> ids;
  if (tok.add_bos() && tok.bos() >= 0) ids.push_back(tok.bos());
  const std::vector<int32_t> q = tok.encode(query, false, false), d = tok.encode(document, false, false);
  ids.insert(ids.end(), q.begin(), q.end());
  if (tok.add_eos() && tok.eos() >= 0) ids.push_back(tok.eos());
  ids.insert(ids.end(), d.begin(), d.end());
  if (tok.add_eos() && tok.eos() >= 0) ids.push_back(tok.eos());
  return ids;
}

ApiResult<RerankPlan> parse_rerank_request(const ojson& body, const ModelContext& m) {
  RerankPlan plan;
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  for (const auto& [key, value] : body.items())
    if (key != "query" && key != "documents" && key != "top_n" && key != "model" && key != "return_documents")
      return bad_request(fmt::format("'{}' is not supported by /v1/rerank", key), key);
  if (auto e = check_model(body, m)) return *e;
  if (m.pooling != Pooling::kRank)
    return bad_request(fmt::format("the model '{}' is not a reranker: its file sets no rank pooling and no "
                                   "classification head; serve a reranker (Qwen3-Reranker)", m.name),
                       "model");
  auto query = body.find("query");
  if (query == body.end() || !query->is_string()) return bad_request("'query' must be a string", "query");
  if (query->get<std::string>().empty()) return bad_request("'query' must not be empty", "query");
  auto docs = body.find("documents");
  if (docs == body.end() || !docs->is_array() || docs->empty())
    return bad_request("'documents' must be a non-empty array of strings", "documents");
  if (docs->size() > kMaxRerankDocuments)
    return bad_request(fmt::format("'documents' holds {} items; at most {} are allowed", docs->size(), kMaxRerankDocuments),
                       "documents");
  for (const auto& d : *docs) {
    if (!d.is_string()) return bad_request("'documents' must be a non-empty array of strings", "documents");
    plan.documents.push_back(d.get<std::string>());
  }
  plan.top_n = static_cast<int64_t>(plan.documents.size());
  if (auto it = body.find("top_n"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1)
      return bad_request("'top_n' must be a positive integer", "top_n");
    plan.top_n = std::min<int64_t>(it->get<int64_t>(), plan.top_n);
  }
  if (auto it = body.find("return_documents"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad_request("'return_documents' must be a boolean", "return_documents");
    plan.return_documents = it->get<bool>();
  }
  // Every prompt's size before any is built (bounded: 1024 documents of a body-limited size).
  const size_t template_bytes = m.rerank_template.empty() ? 16 : m.rerank_template.size();
  size_t total = 0;
  for (const std::string& d : plan.documents) total += template_bytes + query->get_ref<const std::string&>().size() + d.size();
  if (total > kMaxRerankPromptBytes)
    return bad_request(fmt::format("the query repeated in each of {} documents' prompts makes {} bytes to tokenize; "
                                   "at most {} are allowed (send fewer documents or a shorter query)",
                                   plan.documents.size(), total, kMaxRerankPromptBytes),
                       "documents");
  for (size_t i = 0; i < plan.documents.size(); ++i) {
    plan.inputs.push_back(rerank_prompt(*m.tokenizer, m.rerank_template, query->get<std::string>(), plan.documents[i]));
    const auto n = static_cast<int64_t>(plan.inputs.back().size());
    if (n > m.max_context)
      return bad_request(fmt::format("document {} makes a prompt of {} tokens; this model's maximum context length is {} "
                                     "tokens", i, n, m.max_context),
                         "documents");
  }
  return plan;
}

std::string rerank_response(const RerankPlan& plan, const std::vector<float>& scores, const std::string& model) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Best first; equal scores keep the documents' order.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  json results = json::array();
  for (size_t k = 0; k < order.size() && static_cast<int64_t>(k) < plan.top_n; ++k) {
    json r = {{"index", order[k]}, {"relevance_score", scores[order[k]]}};
    if (plan.return_documents) r["document"] = {{"text", plan.documents[order[k]]}};
    results.push_back(std::move(r));
  }
  int64_t tokens = 0;
  for (const auto& in : plan.inputs) tokens += static_cast<int64_t>(in.size());
  const json out = {{"object", "list"}, {"model", model}, {"results", std::move(results)},
                    {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  return dump(out);
}

}  // namespace hearth::api
