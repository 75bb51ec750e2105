// hearth template (-m MODEL | --tokenizer TOKENIZER.json | --chat-template FILE) --request REQUEST.json [--now TIME]: prints
// exactly the prompt a chat request renders to through the model's chat template (ChatML when
// the model has none). REQUEST.json is an OpenAI chat request plus add_generation_prompt,
// bos_token, eos_token and chat_template_kwargs (see chat/chat_request.h).
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include <nlohmann/json.hpp>

#include "chat/chat_request.h"
#include "chat/template.h"
#include "cli/commands.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace hearth::cli {
namespace {

struct TemplateOptions {
  std::string model_path;
  std::string template_path;
  std::string tokenizer_path;
  std::string request_path;
  std::string now;  // "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM"
};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read {}", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int render_template(const TemplateOptions& opt) {
  chat::ChatDefaults defaults;
  std::string source;
  if (!opt.template_path.empty()) {
    Result<std::string> text = read_file(opt.template_path);
    if (!text.ok()) {
      fmt::print(stderr, "error: {}\n", text.error().message);
      return 1;
    }
    source = std::move(*text);
  } else if (!opt.tokenizer_path.empty()) {
    Result<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::from_hf_path(opt.tokenizer_path);
    if (!tok.ok()) {
      fmt::print(stderr, "error: {}\n", tok.error().message);
      return 1;
    }
    source = tok->chat_template().empty() ? std::string(chat::kChatMlTemplate) : tok->chat_template();
    if (tok->bos() != tokenizer::kNoToken) defaults.bos_token = tok->token_text(tok->bos());
    if (tok->eos() != tokenizer::kNoToken) defaults.eos_token = tok->token_text(tok->eos());
  } else {
    Result<ModelFile> model = ModelFile::open(opt.model_path);
    if (!model.ok()) {
      fmt::print(stderr, "error: {}\n", model.error().message);
      return 1;
    }
    source = model->get_string("tokenizer.chat_template").value_or(chat::kChatMlTemplate);
    Result<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::from_model(*model);
    if (!tok.ok()) {
      fmt::print(stderr, "error: {}\n", tok.error().message);
      return 1;
    }
    if (tok->bos() != tokenizer::kNoToken) defaults.bos_token = tok->token_to_piece(tok->bos(), true);
    if (tok->eos() != tokenizer::kNoToken) defaults.eos_token = tok->token_to_piece(tok->eos(), true);
  }
  Result<std::string> request_text = read_file(opt.request_path);
  if (!request_text.ok()) {
    fmt::print(stderr, "error: {}\n", request_text.error().message);
    return 1;
  }
  const auto request = nlohmann::ordered_json::parse(*request_text, nullptr, false);
  if (request.is_discarded()) {
    fmt::print(stderr, "error: {}: not valid JSON\n", opt.request_path);
    return 1;
  }
  chat::RenderOptions render;
  if (!opt.now.empty()) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0;
    const int n = std::sscanf(opt.now.c_str(), "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi);
    if (n != 3 && n != 5) {
      fmt::print(stderr, "error: --now: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM, got '{}'\n", opt.now);
      return 2;
    }
    render.has_now = true;
    render.now.tm_year = y - 1900;
    render.now.tm_mon = mo - 1;
    render.now.tm_mday = d;
    render.now.tm_hour = h;
    render.now.tm_min = mi;
  }
  Result<chat::Template> tmpl = chat::Template::parse(std::move(source));
  if (!tmpl.ok()) {
    fmt::print(stderr, "error: {}\n", tmpl.error().message);
    return 1;
  }
  Result<std::string> prompt = chat::apply_chat_template(*tmpl, request, defaults, render);
  if (!prompt.ok()) {
    fmt::print(stderr, "error: {}\n", prompt.error().message);
    return 1;
  }
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

}  // namespace

void add_template_command(CLI::App& app, int& exit_code) {
  auto opt = std::make_shared<TemplateOptions>();
  CLI::App* cmd = app.add_subcommand("template", "Print the prompt a chat request renders to through a chat template");
  CLI::Option* model = cmd->add_option("-m,--model", opt->model_path, "GGUF file or Hugging Face folder (its chat template)");
  CLI::Option* file = cmd->add_option("--chat-template", opt->template_path, "A Jinja chat template file");
  CLI::Option* hf = cmd->add_option("--tokenizer", opt->tokenizer_path,
                                    "A Hugging Face tokenizer.json or its folder (tokenizer_config.json's chat_template)");
  model->excludes(file)->excludes(hf);
  file->excludes(model)->excludes(hf);
  hf->excludes(model)->excludes(file);
  cmd->add_option("--request", opt->request_path, "Chat request JSON (messages, tools, add_generation_prompt, ...)")
      ->required();
  cmd->add_option("--now", opt->now, "The time strftime_now() sees: YYYY-MM-DD[THH:MM] (default: now)");
  cmd->callback([opt, &exit_code, model, file, hf] {
    if (model->count() == 0 && file->count() == 0 && hf->count() == 0) {
      fmt::print(stderr, "error: template: give -m MODEL, --tokenizer TOKENIZER.json or --chat-template FILE\n");
      exit_code = 2;
      return;
    }
    exit_code = render_template(*opt);
  });
}

}  // namespace hearth::cli
