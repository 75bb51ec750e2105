// OpenAI's POST /v1/embeddings: the request's inputs as token sequences, and the response (float
// arrays or base64 of little-endian float32, as the official clients ask by default), with
// Matryoshka truncation (`dimensions`) and llama-server's `embd_normalize`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/openai.h"

namespace hearth::api {

// OpenAI's limit on inputs per request.
constexpr size_t kMaxEmbeddingInputs = 2048;

struct EmbeddingPlan {
  std::vector<std::vector<int32_t>> inputs;
  bool base64 = false;
  int64_t dimensions = 0;  // 0: the model's width
  int normalize = 2;       // llama.cpp's embd_normalize (2: unit vectors, as OpenAI returns)
};

ApiResult<EmbeddingPlan> parse_embeddings_request(const ojson& body, const ModelContext& m);

// The response body for pooled (not yet normalised) embeddings, one per input in order;
// prompt_tokens is the sum of the inputs' lengths.
std::string embeddings_response(const EmbeddingPlan& plan, std::vector<std::vector<float>> pooled,
                                 const std::string& model);

// Standard base64 (RFC 4648, padded) of bytes.
std::string base64_encode(const void* data, size_t size);

}  // namespace hearth::api
