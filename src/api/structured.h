// Structured outputs: a request's `response_format` (OpenAI) or `structured_outputs` (vLLM:
// json, regex, choice, grammar) turned into a compiled grammar the engine decodes under. Compiled
// grammars are cached per model by their GBNF text: an application sends the same schema with
// every request, and the cache keeps each grammar's per-position token masks warm too.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "api/api_error.h"
#include "grammar/matcher.h"
#include "tokenizer/tokenizer.h"

namespace hearth::api {

// The vocabulary as the grammar matcher sees it: each token's bytes; control tokens match no
// text, except those whose text is in `markers` (a tool-call syntax written in special tokens);
// end-of-generation tokens end a finished grammar. Ids past the tokenizer's (a padded output
// layer) match nothing.
std::shared_ptr<const grammar::TokenVocab> make_token_vocab(const tokenizer::Tokenizer& tok, int32_t n_vocab,
                                                            const std::vector<std::string>& markers = {});

class GrammarCache {
 public:
  GrammarCache(const tokenizer::Tokenizer& tok, int32_t n_vocab, std::vector<std::string> markers = {})
      : tok_(tok), n_vocab_(n_vocab), markers_(std::move(markers)) {}
  // Parses and checks GBNF (cached by its text); the error says what is wrong with it.
  Result<std::shared_ptr<const grammar::CompiledGrammar>> compile(const std::string& gbnf);
  std::shared_ptr<const grammar::TokenVocab> vocab();

 private:
  static constexpr size_t kEntries = 64;
  const tokenizer::Tokenizer& tok_;
  int32_t n_vocab_;
  std::vector<std::string> markers_;
  std::mutex mutex_;
  std::shared_ptr<const grammar::TokenVocab> vocab_;
  std::list<std::pair<std::string, std::shared_ptr<const grammar::CompiledGrammar>>> lru_;
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
};

// The GBNF a request's structured-output fields ask for, or nullopt when they ask for none.
// `chat`: response_format is read too (a chat completions field). Errors are 400s naming the
// field and, for schemas, the keyword.
ApiResult<std::optional<std::string>> structured_output_gbnf(const nlohmann::ordered_json& body, bool chat);

// A string as a GBNF literal ("..." with the escapes the parser reads).
std::string gbnf_literal(std::string_view text);

// Renames every rule of a GBNF text (definitions and references) to prefix + name, so that
// grammars compiled separately can live in one file.
std::string prefix_rules(const std::string& gbnf, const std::string& prefix);

// The grammar with room for a reasoning block first: `<think>` (unless the prompt already opened
// it: `starts_inside`), any text, `</think>`, a few blanks, then what `gbnf` matches. A constraint
// applies to the answer, never to the thinking.
std::string allow_reasoning_first(const std::string& gbnf, bool starts_inside);

}  // namespace hearth::api
