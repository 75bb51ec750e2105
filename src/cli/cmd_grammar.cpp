// hearth grammar check --cases FILE.jsonl: whether grammars (GBNF, JSON Schema, regex) accept
// texts, one JSON line in and out per case, so the peer tests can hold the compilers against ajv
// and JavaScript's RegExp.
// hearth grammar bench (-m MODEL | --vocab GGUF) (--schema FILE | --gbnf FILE): the cost of
// token masks on a real vocabulary, along a seeded random walk through the grammar; writes the
// walk's tokens for llama.cpp's grammar sampler to replay (bench/grammar_masks.sh).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/structured.h"
#include "cli/commands.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/regex.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

using ojson = nlohmann::ordered_json;

Result<std::string> gbnf_of_case(const ojson& c) {
  if (c.contains("gbnf") && c["gbnf"].is_string()) return c["gbnf"].get<std::string>();
  if (c.contains("schema")) return grammar::json_schema_to_gbnf(c["schema"]);
  if (c.contains("json_object")) return grammar::json_object_gbnf();
  if (c.contains("regex") && c["regex"].is_string()) {
    const bool json = c.value("target", "raw") == "json";
    auto expr = grammar::regex_to_gbnf(c["regex"].get<std::string>(),
                                       json ? grammar::RegexTarget::kJsonStringContent : grammar::RegexTarget::kRaw);
    if (!expr.ok()) return expr.error();
    // JSON target: the texts are whole JSON strings, quotes included.
    return json ? "root ::= \"\\\"\" " + *expr + " \"\\\"\"\n" : "root ::= " + *expr + "\n";
  }
  return make_error("a case needs 'gbnf', 'schema', 'json_object' or 'regex'");
}

int check(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    fmt::print(stderr, "hearth grammar: cannot read {}\n", path);
    return 1;
  }
  // Acceptance of whole texts needs no vocabulary: texts go in byte by byte.
  auto vocab = std::make_shared<grammar::TokenVocab>(std::vector<std::string>{}, std::vector<int32_t>{},
                                                     std::vector<int32_t>{});
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const ojson c = ojson::parse(line, nullptr, false);
    ojson out;
    if (c.is_discarded() || !c.is_object()) {
      out["error"] = "not a JSON object";
    } else if (auto gbnf = gbnf_of_case(c); !gbnf.ok()) {
      out["error"] = gbnf.error().message;
    } else if (auto g = grammar::parse_gbnf(*gbnf); !g.ok()) {
      out["error"] = g.error().message;
    } else {
      auto compiled = std::make_shared<const grammar::CompiledGrammar>(std::move(*g), vocab);
      out["accepts"] = ojson::array();
      for (const auto& t : c.value("texts", ojson::array())) {
        grammar::GrammarMatcher m(compiled);
        const std::string text = t.is_string() ? t.get<std::string>() : t.dump();
        out["accepts"].push_back(m.accept_bytes(text) && m.can_finish());
      }
    }
    std::cout << out.dump() << "\n" << std::flush;
  }
  return 0;
}

// Whether a token's bytes could be a piece of valid UTF-8 (it may start or end mid-character).
// --write-masks hashes only such tokens, as llama-harness grammar-masks does: llama.cpp's grammar
// also lets through bytes that can never complete a character (C0, C1, F5-FF, surrogate and
// overlong starts), which hearth refuses.
bool utf8_fragment_ok(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && i < 3 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0) return false;
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= s.size()) return true;
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      if (k == 1 && ((c == 0xE0 && cc < 0xA0) || (c == 0xED && cc > 0x9F) || (c == 0xF0 && cc < 0x90) || (c == 0xF4 && cc > 0x8F)))
        return false;
    }
    i += len;
  }
  return true;
}

struct BenchArgs {
  std::string model, schema, gbnf, tokens_out, masks_out, gbnf_out;
  int tokens = 2000;
  int dump_step = -1;
  uint32_t seed = 1;
};

int bench(const BenchArgs& a) {
  auto file = ModelFile::open(a.model);
  if (!file.ok()) {
    fmt::print(stderr, "hearth grammar: {}\n", file.error().message);
    return 1;
  }
  auto tok = tokenizer::Tokenizer::from_model(*file);
  if (!tok.ok()) {
    fmt::print(stderr, "hearth grammar: {}\n", tok.error().message);
    return 1;
  }
  std::string gbnf;
  if (!a.schema.empty()) {
    std::ifstream in(a.schema);
    std::stringstream ss;
    ss << in.rdbuf();
    const ojson schema = ojson::parse(ss.str(), nullptr, false);
    if (schema.is_discarded()) {
      fmt::print(stderr, "hearth grammar: {} is not JSON\n", a.schema);
      return 1;
    }
    auto g = grammar::json_schema_to_gbnf(schema);
    if (!g.ok()) {
      fmt::print(stderr, "hearth grammar: {}\n", g.error().message);
      return 1;
    }
    gbnf = *g;
  } else {
    std::ifstream in(a.gbnf);
    std::stringstream ss;
    ss << in.rdbuf();
    gbnf = ss.str();
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto vocab = api::make_token_vocab(*tok, tok->n_vocab());
  const double vocab_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  auto parsed = grammar::parse_gbnf(gbnf);
  if (!parsed.ok()) {
    fmt::print(stderr, "hearth grammar: {}\n", parsed.error().message);
    return 1;
  }
  auto compiled = std::make_shared<const grammar::CompiledGrammar>(std::move(*parsed), vocab);
  if (!a.gbnf_out.empty()) std::ofstream(a.gbnf_out) << gbnf;
  std::ofstream masks_out;
  if (!a.masks_out.empty()) masks_out.open(a.masks_out);

  // Two passes over the same walk: cold (the compiled grammar's position cache empty, as for the
  // first request with a schema) and warm (a later request with the same schema).
  std::vector<int32_t> walk;
  std::vector<size_t> doc_ends;
  nlohmann::json report;
  report["vocab"] = tok->n_vocab();
  report["vocab_trie_ms"] = vocab_ms;
  for (int pass = 0; pass < 2; ++pass) {
    std::mt19937 rng(a.seed);
    std::vector<double> us;
    size_t allowed_total = 0;
    auto matcher = std::make_unique<grammar::GrammarMatcher>(compiled);
    for (int i = 0; i < a.tokens; ++i) {
      const auto s = Clock::now();
      const grammar::TokenMask& mask = matcher->mask();
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      std::vector<int32_t> allowed;
      for (size_t w = 0; w < mask.words.size(); ++w)
        for (uint64_t bits = mask.words[w]; bits; bits &= bits - 1)
          allowed.push_back(static_cast<int32_t>(w * 64 + size_t(__builtin_ctzll(bits))));
      allowed_total += allowed.size();
      if (pass == 0 && i == a.dump_step)
        for (int32_t id : allowed) fmt::print(stderr, "allowed {}\n", id);
      if (pass == 0 && masks_out.is_open()) {
        unsigned long long hash = 0, count = 0;
        for (int32_t id : allowed)
          if (vocab->is_end(id) || utf8_fragment_ok(vocab->piece(id))) {
            hash += (unsigned long long)(id + 1) * 0x9E3779B97F4A7C15ull;
            ++count;
          }
        masks_out << count << " " << fmt::format("{:x}", hash) << "\n";
      }
      if (allowed.empty()) {
        std::string tail;
        for (size_t k = walk.size() > 40 ? walk.size() - 40 : 0; k < walk.size(); ++k) tail += vocab->piece(walk[k]);
        fmt::print(stderr, "hearth grammar bench: no token allowed after step {} ({}); the walk ends with: {}\n", i,
                   matcher->failed() ? "too ambiguous" : "dead end", tail);
        break;
      }
      int32_t pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      if (pass == 0) walk.push_back(pick);
      matcher->accept(pick);
      if (vocab->is_end(pick) || matcher->finished()) {
        if (pass == 0) doc_ends.push_back(walk.size());
        matcher = std::make_unique<grammar::GrammarMatcher>(compiled);
      }
    }
    std::vector<double> sorted = us;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (double v : us) sum += v;
    auto pct = [&](double p) { return sorted.empty() ? 0.0 : sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size())))]; };
    nlohmann::json r = {{"tokens", us.size()},
                        {"mean_us", sum / double(std::max<size_t>(1, us.size()))},
                        {"p50_us", pct(0.5)},
                        {"p99_us", pct(0.99)},
                        {"max_us", sorted.empty() ? 0.0 : sorted.back()},
                        {"mean_allowed", double(allowed_total) / double(std::max<size_t>(1, us.size()))}};
    report[pass == 0 ? "cold" : "warm"] = r;
  }
  report["documents"] = doc_ends.size();
  fmt::print("{}\n", report.dump(2));
  if (!a.tokens_out.empty()) {
    std::ofstream out(a.tokens_out);
    for (size_t i = 0, d = 0; i < walk.size(); ++i) {
      out << walk[i] << (d < doc_ends.size() && doc_ends[d] == i + 1 ? "\n" : " ");
      if (d < doc_ends.size() && doc_ends[d] == i + 1) ++d;
    }
    out << "\n";
  }
  return 0;
}

}  // namespace

void add_grammar_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("grammar", "Check grammars, JSON Schemas and regexes; measure token-mask cost");
  cmd->require_subcommand(1);
  auto cases = std::make_shared<std::string>();
  CLI::App* chk = cmd->add_subcommand("check", "Whether each case's grammar accepts its texts (JSON lines in and out)");
  chk->add_option("--cases", *cases, "JSON lines: {gbnf|schema|regex[,target]|json_object, texts: [...]}")->required();
  chk->callback([cases, &exit_code] { exit_code = check(*cases); });

  auto args = std::make_shared<BenchArgs>();
  CLI::App* b = cmd->add_subcommand("bench", "Token-mask cost per step on a model's vocabulary, along a random walk");
  b->add_option("-m,--model,--vocab", args->model, "GGUF file whose vocabulary to use")->required();
  b->add_option("--schema", args->schema, "A JSON Schema file");
  b->add_option("--gbnf", args->gbnf, "A GBNF file");
  b->add_option("--tokens", args->tokens, "Steps to walk")->capture_default_str();
  b->add_option("--seed", args->seed, "Walk seed")->capture_default_str();
  b->add_option("--write-walk", args->tokens_out, "Write the walk's token ids (one document per line)");
  b->add_option("--write-masks", args->masks_out, "Write each step's allowed count and an order-free hash of the ids");
  b->add_option("--write-gbnf", args->gbnf_out, "Write the grammar (the schema's GBNF)");
  b->add_option("--dump-step", args->dump_step, "Print the ids the mask allows at this step (0-based) to stderr");
  b->callback([args, &exit_code] {
    if (args->schema.empty() == args->gbnf.empty()) {
      fmt::print(stderr, "hearth grammar bench: give one of --schema or --gbnf\n");
      exit_code = 2;
      return;
    }
    exit_code = bench(*args);
  });
}

}  // namespace hearth::cli
