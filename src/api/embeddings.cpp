#include "api/embeddings.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>

#include "model/pooling.h"

namespace hearth::api {
namespace {

constexpr const char* kBadInput =
    "'input' must be a string, an array of strings, an array of token ids, or an array of arrays of "
    "token ids (ids in the vocabulary)";

// One input that is an array of token ids; nullopt when it is not one.
std::optional<std::vector<int32_t>> token_ids(const ojson& arr, const ModelContext& m) {
  std::vector<int32_t> ids;
  for (const auto& v : arr) {
    if (!v.is_number_integer()) return std::nullopt;
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= m.n_vocab) return std::nullopt;
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace

ApiResult<EmbeddingPlan> parse_embeddings_request(const ojson& body, const ModelContext& m) {
  EmbeddingPlan plan;
  if (!body.is_object()) return bad_request("the request body must be a JSON object");
  // Every field is honoured or refused: none is silently ignored. `user` only names the caller.
  for (const auto& [key, value] : body.items())
    if (key != "input" && key != "model" && key != "encoding_format" && key != "dimensions" && key != "user" &&
        key != "embd_normalize")
      return bad_request(fmt::format("'{}' is not supported by /v1/embeddings", key), key);
  if (auto e = check_model(body, m)) return *e;
  if (m.pooling == Pooling::kRank)
    return bad_request(fmt::format("the model '{}' is a reranker: send its queries and documents to /v1/rerank", m.name),
                       "model");
  if (m.pooling == Pooling::kNone)
    return bad_request(fmt::format("the model '{}' does not produce embeddings: its file sets no pooling type "
                                   "({{arch}}.pooling_type); serve an embedding model", m.name),
                       "model");

  auto input = body.find("input");
  if (input == body.end() || input->is_null()) return bad_request("'input' is required", "input");
  if (input->is_string()) {
    plan.inputs.push_back(encode_prompt(*m.tokenizer, input->get<std::string>()));
    if (input->get<std::string>().empty()) return bad_request("'input' must not be empty", "input");
  } else if (input->is_array()) {
    if (input->empty()) return bad_request("'input' must not be empty", "input");
    if (input->size() > kMaxEmbeddingInputs)
      return bad_request(fmt::format("'input' holds {} items; at most {} are allowed", input->size(), kMaxEmbeddingInputs),
                         "input");
    if ((*input)[0].is_number()) {
      auto ids = token_ids(*input, m);
      if (!ids) return bad_request(kBadInput, "input");
      plan.inputs.push_back(std::move(*ids));
    } else {
      for (const auto& item : *input) {
        if (item.is_string()) {
          if (item.get<std::string>().empty()) return bad_request("'input' must not hold empty strings", "input");
          plan.inputs.push_back(encode_prompt(*m.tokenizer, item.get<std::string>()));
        } else if (item.is_array()) {
          auto ids = token_ids(item, m);
          if (!ids) return bad_request(kBadInput, "input");
          if (ids->empty()) return bad_request("'input' must not hold empty token arrays", "input");
          plan.inputs.push_back(std::move(*ids));
        } else {
          return bad_request(kBadInput, "input");
        }
      }
    }
  } else {
    return bad_request(kBadInput, "input");
  }
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    const auto n = static_cast<int64_t>(plan.inputs[i].size());
    if (n == 0) return bad_request("'input' must not be empty", "input");
    if (n > m.max_context)
      return bad_request(fmt::format("input {} has {} tokens; this model's maximum context length is {} tokens", i, n,
                                     m.max_context),
                         "input");
  }

  if (auto it = body.find("encoding_format"); it != body.end() && !it->is_null()) {
    const std::string f = it->is_string() ? it->get<std::string>() : std::string();
    if (f != "float" && f != "base64")
      return bad_request("'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
    plan.base64 = f == "base64";
  }
  if (auto it = body.find("dimensions"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > m.n_embd)
      return bad_request(fmt::format("'dimensions' must be an integer from 1 to {} (the model's width)", m.n_embd),
                         "dimensions");
    plan.dimensions = it->get<int64_t>();
  }
  if (auto it = body.find("embd_normalize"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < -1 || it->get<int64_t>() > 64)
      return bad_request("'embd_normalize' must be an integer from -1 to 64 (-1: none, 2: euclidean)", "embd_normalize");
    plan.normalize = static_cast<int>(it->get<int64_t>());
  }
  return plan;
}

std::string base64_encode(const void* data, size_t size) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8 | p[i + 2];
    out += kDigits[v >> 18];
    out += kDigits[(v >> 12) & 63];
    out += kDigits[(v >> 6) & 63];
    out += kDigits[v & 63];
  }
  if (i < size) {
    const uint32_t v = uint32_t(p[i]) << 16 | (i + 1 < size ? uint32_t(p[i + 1]) << 8 : 0u);
    out += kDigits[v >> 18];
    out += kDigits[(v >> 12) & 63];
    out += i + 1 < size ? kDigits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string embeddings_response(const EmbeddingPlan& plan, std::vector<std::vector<float>> pooled,
                                const std::string& model) {
  static_assert(std::endian::native == std::endian::little, "base64 embeddings are little-endian float32");
  json data = json::array();
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < pooled.size(); ++i) {
    std::vector<float>& v = pooled[i];
    // Matryoshka: the leading dimensions, normalised again (what the models were trained for).
    if (plan.dimensions > 0 && static_cast<size_t>(plan.dimensions) < v.size()) v.resize(size_t(plan.dimensions));
    normalize_embedding(v, plan.normalize);
    json item = {{"object", "embedding"}, {"index", i}};
    if (plan.base64) item["embedding"] = base64_encode(v.data(), v.size() * sizeof(float));
    else item["embedding"] = v;
    data.push_back(std::move(item));
    prompt_tokens += static_cast<int64_t>(plan.inputs[i].size());
  }
  const json r = {{"object", "list"}, {"data", std::move(data)}, {"model", model},
                  {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
  return dump(r);
}

}  // namespace hearth::api
