// hearth embed: embeddings of texts (or token ids) from an embedding model, pooled as the file's
// {arch}.pooling_type says and normalised as llama.cpp's llama-embedding does (--normalize 2,
// unit vectors, by default); for a reranker, each input's class probabilities (the first is the
// relevance score). Prints a JSON array of vectors, or writes raw f32 [inputs, width].
#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "api/openai.h"
#include "base/thread_pool.h"
#include "cli/commands.h"
#include "model/pooling.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {

void add_embed_command(CLI::App& app, int& exit_code) {
  struct Args {
    std::string model, file, tokens, output;
    std::vector<std::string> prompts;
    int normalize = 2;
    int n_threads = default_thread_count();
    int64_t n_batch = 512;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("embed", "Embeddings of texts from an embedding model (Qwen3-Embedding, ...)");
  cmd->add_option("-m,--model", args->model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("-p,--prompt", args->prompts, "A text to embed (repeatable)");
  cmd->add_option("-f,--file", args->file, "Texts to embed, one per line");
  cmd->add_option("--tokens", args->tokens, "Token ids of one input, space or comma separated (used as given)");
  cmd->add_option("--normalize", args->normalize,
                  "-1 none, 0 max-abs to int16 range, 1 taxicab, 2 euclidean, p > 2 the p-norm")
      ->capture_default_str()
      ->check(CLI::Range(-1, 64));
  cmd->add_option("-o,--output", args->output, "Write raw f32 [inputs, n_embd] here instead of JSON on stdout");
  cmd->add_option("-t,--threads", args->n_threads, "Threads")->capture_default_str();
  cmd->add_option("-b,--batch-size", args->n_batch, "Tokens per forward chunk")->capture_default_str();
  cmd->callback([args, &exit_code] {
    exit_code = 1;
    auto fail = [&](const std::string& message, int code = 1) {
      fmt::print(stderr, "hearth embed: {}\n", message);
      exit_code = code;
    };
    auto model = ModelFile::open(args->model);
    if (!model.ok()) return fail(model.error().message);
    auto hp = read_hparams(*model);
    if (!hp.ok()) return fail(hp.error().message);
    if (hp->pooling == Pooling::kNone)
      return fail(fmt::format("{} is not an embedding model: it sets no {}.pooling_type", args->model,
                              model->architecture()));
    std::vector<std::vector<int32_t>> inputs;
    std::optional<tokenizer::Tokenizer> tok;
    if (!args->prompts.empty() || !args->file.empty()) {  // --tokens alone needs no vocabulary
      auto made = tokenizer::Tokenizer::from_model(*model);
      if (!made.ok()) return fail(made.error().message);
      tok.emplace(std::move(*made));
    }
    for (const std::string& p : args->prompts) inputs.push_back(api::encode_prompt(*tok, p));
    if (!args->file.empty()) {
      std::ifstream in(args->file);
      if (!in) return fail(fmt::format("cannot read {}", args->file));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) inputs.push_back(api::encode_prompt(*tok, line));
    }
    if (!args->tokens.empty()) {
      std::optional<std::vector<int32_t>> ids = parse_token_list(args->tokens);
      if (!ids) return fail("--tokens must be a list of integers", 2);
      inputs.push_back(std::move(*ids));
    }
    if (inputs.empty()) return fail("nothing to embed: give -p, -f or --tokens", 2);
    int64_t longest = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].empty()) return fail(fmt::format("input {} has no tokens", i), 2);
      longest = std::max<int64_t>(longest, static_cast<int64_t>(inputs[i].size()));
    }
    if (longest > hp->n_ctx_train)
      return fail(fmt::format("an input has {} tokens; the model's context is {}", longest, hp->n_ctx_train), 2);

    TransformerOptions opt;
    opt.n_ctx = longest;
    opt.n_batch = hp->causal ? args->n_batch : std::max<int64_t>(args->n_batch, longest);  // an encoder: whole inputs
    opt.n_threads = args->n_threads;
    auto tf = Transformer::create(*model, opt);
    if (!tf.ok()) return fail(tf.error().message);

    // A reranker gives its class scores instead of a vector: a qwen3 reranker's probabilities of
    // "yes" and "no", a cross-encoder's logit.
    const int64_t n_embd = hp->pooling == Pooling::kRank ? hp->n_cls_out : hp->n_embd;
    Pooler pooler(hp->pooling, hp->n_embd, hp->rank_first);
    std::vector<float> out, hidden;
    for (const std::vector<int32_t>& ids : inputs) {
      (*tf)->reset();
      pooler.reset();
      Status st = (*tf)->forward_hidden(ids, /*all=*/true, hidden);
      if (!st.ok()) return fail(st.message());
      const auto n = static_cast<int64_t>(ids.size());
      for (int64_t t = 0; t < n; ++t)
        if (pooler.reads(t, n))
          pooler.add(std::span<const float>(hidden.data() + t * hp->n_embd, size_t(hp->n_embd)));
      std::vector<float> v = pooler.result();
      if (hp->pooling == Pooling::kRank) {  // a reranker: its class scores, as llama-embedding prints
        std::vector<float> probs;
        st = (*tf)->classify(v, probs);
        if (!st.ok()) return fail(st.message());
        v = std::move(probs);
      } else {
        (*tf)->project_pooled(v);
        normalize_embedding(v, args->normalize);
      }
      out.insert(out.end(), v.begin(), v.end());
    }
    if (!args->output.empty()) {
      std::ofstream f(args->output, std::ios::binary);
      f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size() * sizeof(float)));
      if (!f) return fail(fmt::format("cannot write {}", args->output));
      fmt::print(stderr, "embed: {} inputs x {} ({} pooling) -> {}\n", inputs.size(), n_embd,
                 pooling_name(hp->pooling), args->output);
    } else {
      nlohmann::json all = nlohmann::json::array();
      for (size_t i = 0; i < inputs.size(); ++i)
        all.push_back(std::vector<float>(out.begin() + int64_t(i) * n_embd, out.begin() + int64_t(i + 1) * n_embd));
      fmt::print("{}\n", all.dump());
    }
    exit_code = 0;
  });
}

}  // namespace hearth::cli
