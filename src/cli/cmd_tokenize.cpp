// hearth tokenize (-m MODEL | --tokenizer TOKENIZER.json) [--ids] [--no-special] [--decode]
// [-f FILE | TEXT]: the token ids a model's
// vocabulary gives a text, one "id<TAB>piece" line per token (the piece with its bytes escaped
// where they are not printable UTF-8), or with --ids all ids on one line.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string tokenizer_path;
  std::string text;
  std::string file;
  bool ids_only = false;
  bool no_special = false;
  bool no_add_special = false;
  bool jsonl = false;
  bool decode = false;
  int bench_repeat = 0;
};

// A piece as readable text: control bytes and invalid UTF-8 are escaped (\n, \t, \xNN).
std::string printable_piece(const std::string& piece) {
  const std::string valid = tokenizer::utf8_sanitize(piece);
  if (valid != piece) {  // a fragment of a character (byte tokens): show the raw bytes
    std::string out;
    for (unsigned char c : piece) out += fmt::format("\\x{:02x}", c);
    return out;
  }
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

int tokenize(const TokenizeOptions& opt) {
  std::string text = opt.text;
  if (!opt.file.empty()) {
    std::ifstream in(opt.file, std::ios::binary);
    if (!in) {
      fmt::print(stderr, "error: cannot read {}\n", opt.file);
      return 1;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Result<tokenizer::Tokenizer> tok = Error{"no tokenizer"};
  if (!opt.tokenizer_path.empty()) {
    tok = tokenizer::Tokenizer::from_hf_path(opt.tokenizer_path);
  } else {
    Result<ModelFile> model = ModelFile::open(opt.model_path);
    if (!model.ok()) {
      fmt::print(stderr, "error: {}\n", model.error().message);
      return 1;
    }
    tok = tokenizer::Tokenizer::from_model(*model);
  }
  if (!tok.ok()) {
    fmt::print(stderr, "error: {}\n", tok.error().message);
    return 1;
  }
  const bool parse_special = !opt.no_special;
  const bool add_special = parse_special && !opt.no_add_special;
  if (opt.bench_repeat > 0) {
    // Throughput: the whole text encoded N times; the best run as "bytes tokens seconds MB/s"
    // (the same line tests/peers/llama_harness.cpp's tokenize-bench prints).
    double best_s = 1e30;
    size_t n_tokens = 0;
    for (int r = 0; r < opt.bench_repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      n_tokens = tok->encode(text, add_special, parse_special).size();
      best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    fmt::print("{} {} {:.6f} {:.3f}\n", text.size(), n_tokens, best_s, static_cast<double>(text.size()) / best_s / 1e6);
    return 0;
  }
  if (opt.jsonl) {
    // Many texts in one run (tests compare hundreds of strings; loading a vocabulary costs more
    // than tokenizing): each input line is a JSON string, each output line its ids.
    std::string out;
    size_t line_no = 0;
    for (size_t at = 0; at < text.size();) {
      size_t end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + at, end - at);
      at = end + 1;
      ++line_no;
      if (line.empty()) continue;
      nlohmann::json item = nlohmann::json::parse(line, nullptr, false);
      if (item.is_discarded() || !item.is_string()) {
        fmt::print(stderr, "error: line {}: not a JSON string\n", line_no);
        return 1;
      }
      const std::vector<int32_t> ids = tok->encode(item.get<std::string>(), add_special, parse_special);
      if (opt.decode) {  // {"ids": [...], "text": decode(ids)}, special tokens rendered
        nlohmann::json row;
        row["ids"] = ids;
        row["text"] = tokenizer::utf8_sanitize(tok->decode(ids, false, true));
        out += row.dump();
      } else {
        for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? " " : "", ids[i]);
      }
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  const std::vector<int32_t> ids = tok->encode(text, add_special, parse_special);
  std::string out;
  if (opt.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? " " : "", ids[i]);
    out += '\n';
  } else {
    for (int32_t id : ids) out += fmt::format("{}\t{}\n", id, printable_piece(tok->token_to_piece(id, true)));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show the tokens a model's vocabulary gives a text");
  CLI::Option* model =
      cmd->add_option("-m,--model", opt->model_path, "GGUF file (vocab-only files work) or Hugging Face folder");
  CLI::Option* hf = cmd->add_option("--tokenizer", opt->tokenizer_path,
                                    "A Hugging Face tokenizer.json (or its folder; tokenizer_config.json beside it is read)");
  model->excludes(hf);
  hf->excludes(model);
  cmd->add_flag("--ids", opt->ids_only, "Print only the ids, space-separated on one line");
  cmd->add_flag("--no-special", opt->no_special, "Add no BOS/EOS and treat special-token text as plain text");
  cmd->add_flag("--no-add-special", opt->no_add_special,
                "Add no BOS/EOS but still parse special-token text (HF's add_special_tokens=false)");
  CLI::Option* file = cmd->add_option("-f,--file", opt->file, "Tokenize this file's exact bytes");
  cmd->add_option("text", opt->text, "Text to tokenize")->excludes(file);
  cmd->add_flag("--jsonl", opt->jsonl,
                "Input lines are JSON strings; print one line of ids per input (implies --ids)");
  cmd->add_option("--bench", opt->bench_repeat,
                  "Encode the text N times and print the best run: bytes tokens seconds MB/s");
  cmd->add_flag("--decode", opt->decode,
                "With --jsonl: print {\"ids\": [...], \"text\": decode(ids)} per input line");
  cmd->callback([opt, &exit_code, model, hf] {
    if (model->count() == 0 && hf->count() == 0) {
      fmt::print(stderr, "error: tokenize: give -m MODEL or --tokenizer TOKENIZER.json\n");
      exit_code = 2;
      return;
    }
    exit_code = tokenize(*opt);
  });
}

}  // namespace hearth::cli
