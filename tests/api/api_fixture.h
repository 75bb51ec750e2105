// The model context the API tests parse requests against: qwen2's vocabulary (shared/testdata),
// ChatML, a 64-token context. Built once per test binary.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "api/openai.h"
#include "model/model_file.h"

namespace hearth::api {

struct Fixture {
  tokenizer::Tokenizer tok;
  chat::Template chatml;
  ModelContext ctx;
  std::unique_ptr<GrammarCache> grammars;
};

inline Fixture& fx() {
  static Fixture* f = [] {
    auto model = ModelFile::open(std::string(HEARTH_SHARED_DIR) + "/testdata/vocab/ggml-vocab-qwen2.gguf");
    EXPECT_TRUE(model.ok());
    auto tok = tokenizer::Tokenizer::from_model(*model);
    auto tmpl = chat::Template::parse(chat::kChatMlTemplate);
    auto* out = new Fixture{std::move(*tok), std::move(*tmpl), {}, nullptr};
    out->ctx.name = "m";
    out->ctx.tokenizer = &out->tok;
    out->ctx.chat_template = &out->chatml;
    out->ctx.max_context = 64;
    out->ctx.n_vocab = out->tok.n_vocab();
    out->grammars = std::make_unique<GrammarCache>(out->tok, out->tok.n_vocab());
    out->ctx.grammars = out->grammars.get();
    return out;
  }();
  return *f;
}

}  // namespace hearth::api
