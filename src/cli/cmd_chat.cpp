// hearth chat (-m MODEL | --url http://HOST:PORT): a conversation in the terminal. With -m it
// loads the model behind a private server on a loopback port (random key, no web pages) and talks
// to it as any client would, so the terminal and the API share one path: the chat template, the
// streaming, the cancellation when the client leaves. With --url it talks to a running server.
//
// Line editing and history come from libedit (BSD licensed, Debian's libedit-dev).
#include <fmt/format.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/served_model.h"
#include "server/http_server.h"

namespace hearth::cli {
namespace {
using nlohmann::json;

struct ChatArgs {
  ServingOptions model;
  std::string url;
  std::string api_key;
  std::string system;
  std::optional<double> temperature, top_p;
  std::optional<int64_t> max_tokens;
};

// --- Ctrl-C -----------------------------------------------------------------------------------
// While an answer streams, the first Ctrl-C ends it (the socket is shut, the server cancels);
// another one, or one at the prompt, leaves.
std::atomic<bool> g_streaming{false};
std::atomic<bool> g_stopping{false};

void on_sigint(int) {
  if (g_streaming && !g_stopping) {
    g_stopping = true;
    ApiClient::interrupt();
    return;
  }
  const char nl[] = "\n";
  (void)!::write(STDOUT_FILENO, nl, 1);
  ::_exit(130);
}

// --- terminal output --------------------------------------------------------------------------

struct Style {
  bool color = false;
  const char* dim() const { return color ? "\x1b[2m" : ""; }
  const char* reset() const { return color ? "\x1b[0m" : ""; }
};

// Prints a streamed answer: reasoning (reasoning_content, or a leading <think>...</think> in the
// content) dimmed, then the answer. Text that might still become "<think>" or "</think>" is held
// back until the next piece decides it.
class AnswerPrinter {
 public:
  explicit AnswerPrinter(Style style) : style_(style) {}

  void add(std::string_view content, std::string_view reasoning) {
    if (!reasoning.empty()) {
      begin_reasoning();
      fmt::print("{}", reasoning);
    }
    content_ += content;
    flush(false);
    std::fflush(stdout);
  }
  void finish() {
    flush(true);
    if (in_reasoning_) end_reasoning();
    std::fflush(stdout);
  }

 private:
  void begin_reasoning() {
    if (in_reasoning_) return;
    fmt::print("{}", style_.dim());
    in_reasoning_ = true;
  }
  void end_reasoning() {
    fmt::print("{}\n", style_.reset());
    in_reasoning_ = false;
  }

  void flush(bool all) {
    static constexpr std::string_view kOpen = "<think>", kClose = "</think>";
    while (printed_ < content_.size()) {
      std::string_view rest(content_.data() + printed_, content_.size() - printed_);
      if (mode_ == Mode::kStart) {
        const size_t ws = rest.find_first_not_of(" \t\r\n");
        if (ws == std::string_view::npos) {
          if (!all) return;
          mode_ = Mode::kAnswer;
          continue;
        }
        std::string_view head = rest.substr(ws);
        if (head.substr(0, kOpen.size()) == kOpen) {
          printed_ += ws + kOpen.size();
          mode_ = Mode::kThinking;
          begin_reasoning();
          continue;
        }
        if (!all && kOpen.substr(0, head.size()) == head) return;  // may still be "<think>"
        mode_ = Mode::kAnswer;
        continue;
      }
      if (mode_ == Mode::kThinking) {
        const size_t close = rest.find(kClose);
        if (close != std::string_view::npos) {
          fmt::print("{}", rest.substr(0, close));
          printed_ += close + kClose.size();
          end_reasoning();
          mode_ = Mode::kAfterThinking;
          continue;
        }
        // Hold back a tail that may be the start of "</think>".
        size_t keep = 0;
        for (size_t k = std::min(rest.size(), kClose.size() - 1); k > 0 && !all; --k)
          if (kClose.substr(0, k) == rest.substr(rest.size() - k)) {
            keep = k;
            break;
          }
        fmt::print("{}", rest.substr(0, rest.size() - keep));
        printed_ += rest.size() - keep;
        return;
      }
      if (mode_ == Mode::kAfterThinking) {  // the answer's leading blank lines
        const size_t text = rest.find_first_not_of(" \t\r\n");
        if (text == std::string_view::npos) {
          printed_ = content_.size();
          return;
        }
        printed_ += text;
        mode_ = Mode::kAnswer;
        continue;
      }
      if (in_reasoning_) end_reasoning();
      fmt::print("{}", rest);
      printed_ = content_.size();
    }
  }

  enum class Mode { kStart, kThinking, kAfterThinking, kAnswer };
  Style style_;
  Mode mode_ = Mode::kStart;
  std::string content_;
  size_t printed_ = 0;
  bool in_reasoning_ = false;
};

// The answer without a leading <think>...</think> block (what goes back into the conversation).
std::string without_reasoning(const std::string& content) {
  const size_t start = content.find_first_not_of(" \t\r\n");
  if (start == std::string::npos || content.compare(start, 7, "<think>") != 0) return content;
  const size_t close = content.find("</think>", start);
  if (close == std::string::npos) return "";
  const size_t text = content.find_first_not_of(" \t\r\n", close + 8);
  return text == std::string::npos ? "" : content.substr(text);
}

// --- input ------------------------------------------------------------------------------------

class Input {
 public:
  Input() : tty_(::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO)) {}
  bool tty() const { return tty_; }

  // One line, or nullopt at end of input.
  std::optional<std::string> line(const char* prompt) {
    if (tty_) {
      char* raw = ::readline(prompt);
      if (!raw) return std::nullopt;
      std::string s(raw);
      std::free(raw);
      return s;
    }
    std::string s;
    if (!std::getline(std::cin, s)) return std::nullopt;
    return s;
  }

  // A message: one line; lines ending in '\' continue; """ opens and closes a block.
  std::optional<std::string> message() {
    auto first = line(">>> ");
    if (!first) return std::nullopt;
    std::string text = *first;
    if (text == "\"\"\"") {
      text.clear();
      for (;;) {
        auto next = line("... ");
        if (!next || *next == "\"\"\"") break;
        text += (text.empty() ? "" : "\n") + *next;
      }
    } else {
      while (!text.empty() && text.back() == '\\') {
        text.back() = '\n';
        auto next = line("... ");
        if (!next) break;
        text += *next;
      }
    }
    if (tty_ && !text.empty()) ::add_history(text.c_str());
    return text;
  }

 private:
  bool tty_;
};

// --- the conversation -------------------------------------------------------------------------

class Chat {
 public:
  Chat(ApiClient client, std::string model, int64_t max_context, const ChatArgs& args, Style style)
      : client_(std::move(client)), model_(std::move(model)), max_context_(max_context), args_(args),
        system_(args.system), style_(style) {}

  int run(Input& input) {
    fmt::print("hearth chat: {} (context {} tokens). /help for commands; Ctrl-C stops an answer, Ctrl-D leaves.\n",
               model_, max_context_);
    for (;;) {
      std::fflush(stdout);
      auto text = input.message();
      if (!text) break;
      if (text->empty()) continue;
      if ((*text)[0] == '/') {
        if (!command(*text)) break;
        continue;
      }
      messages_.push_back({{"role", "user"}, {"content", *text}});
      if (!answer()) messages_.erase(messages_.end() - 1);
    }
    fmt::print("\n");
    return 0;
  }

 private:
  json request_messages() const {
    json out = json::array();
    if (!system_.empty()) out.push_back({{"role", "system"}, {"content", system_}});
    for (const json& m : messages_) out.push_back(m);
    return out;
  }

  // Streams the answer to the conversation; false when it failed (the user's message is dropped).
  bool answer() {
    json body = {{"model", model_}, {"messages", request_messages()}};
    if (args_.temperature) body["temperature"] = *args_.temperature;
    if (args_.top_p) body["top_p"] = *args_.top_p;
    if (args_.max_tokens) body["max_tokens"] = *args_.max_tokens;
    AnswerPrinter printer(style_);
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    Clock::time_point first{}, last{};
    int64_t pieces = 0;  // the tokens received, when the answer ends before its usage chunk
    g_stopping = false;
    g_streaming = true;
    auto result = client_.stream_chat(body, [&](std::string_view content, std::string_view reasoning) {
      if (first == Clock::time_point{}) first = Clock::now();
      last = Clock::now();
      ++pieces;
      printer.add(content, reasoning);
    });
    g_streaming = false;
    printer.finish();
    if (!result.ok()) {
      fmt::print(stderr, "\nerror: {}\n", result.error().message);
      return false;
    }
    messages_.push_back({{"role", "assistant"}, {"content", without_reasoning(result->content)}});
    const int64_t completion = result->usage ? result->usage->value("completion_tokens", int64_t{0}) : pieces;
    const double seconds = std::chrono::duration<double>(last - first).count();
    std::string stats = fmt::format("{} tokens", completion);
    if (completion > 1 && seconds > 0) stats += fmt::format(", {:.1f} tokens/s", double(completion - 1) / seconds);
    if (pieces > 0)
      stats += fmt::format(", first token {:.0f} ms", 1000 * std::chrono::duration<double>(first - start).count());
    if (result->usage)
      stats += fmt::format(", context {} / {}", result->usage->value("prompt_tokens", int64_t{0}) + completion, max_context_);
    if (result->interrupted) stats += ", stopped";
    else if (result->finish_reason == "length") stats += ", cut at the token limit";
    fmt::print("\n{}[{}]{}\n", style_.dim(), stats, style_.reset());
    return true;
  }

  // A /command; false to leave.
  bool command(const std::string& text) {
    const size_t space = text.find(' ');
    const std::string name = text.substr(0, space);
    std::string arg = space == std::string::npos ? "" : text.substr(space + 1);
    while (!arg.empty() && arg.back() == ' ') arg.pop_back();
    if (name == "/bye" || name == "/exit" || name == "/quit") return false;
    if (name == "/help") {
      fmt::print(
          "/clear          forget the conversation (the system prompt stays)\n"
          "/system [TEXT]  set the system prompt (without TEXT: show it)\n"
          "/set NAME VALUE temperature, top_p or max_tokens for the next answers ('default' unsets)\n"
          "/save FILE      write the conversation as a chat request (JSON)\n"
          "/load FILE      read a conversation written by /save (or any chat request)\n"
          "/prompt         show the prompt the model would read next, through its chat template\n"
          "/bye            leave (as Ctrl-D does)\n"
          "A line ending in \\ continues on the next; \"\"\" opens and closes a block of lines.\n");
    } else if (name == "/clear") {
      messages_.clear();
      fmt::print("(conversation cleared)\n");
    } else if (name == "/system") {
      if (arg.empty()) {
        fmt::print("{}\n", system_.empty() ? "(no system prompt)" : system_);
      } else {
        system_ = arg;
        fmt::print("(system prompt set)\n");
      }
    } else if (name == "/set") {
      set(arg);
    } else if (name == "/save") {
      if (arg.empty()) return usage("/save FILE");
      std::ofstream out(arg, std::ios::binary | std::ios::trunc);
      out << json({{"model", model_}, {"messages", request_messages()}}).dump(2, ' ', false, json::error_handler_t::replace)
          << "\n";
      if (!out) fmt::print(stderr, "error: cannot write {}\n", arg);
      else fmt::print("(saved {} messages to {})\n", messages_.size() + (system_.empty() ? 0 : 1), arg);
    } else if (name == "/load") {
      if (arg.empty()) return usage("/load FILE");
      load(arg);
    } else if (name == "/prompt") {
      auto r = client_.post("/apply-template", {{"model", model_}, {"messages", request_messages()}});
      if (!r.ok()) fmt::print(stderr, "error: {}\n", r.error().message);
      else if (r->contains("prompt") && (*r)["prompt"].is_string()) fmt::print("{}\n", (*r)["prompt"].get<std::string>());
    } else {
      fmt::print(stderr, "unknown command {} (/help lists them)\n", name);
    }
    return true;
  }

  void set(const std::string& arg) {
    const size_t space = arg.find(' ');
    const std::string name = arg.substr(0, space);
    const std::string value = space == std::string::npos ? "" : arg.substr(space + 1);
    if (value.empty() || (name != "temperature" && name != "top_p" && name != "max_tokens")) {
      usage("/set temperature|top_p|max_tokens VALUE|default");
      return;
    }
    if (value == "default") {
      if (name == "temperature") args_.temperature.reset();
      else if (name == "top_p") args_.top_p.reset();
      else args_.max_tokens.reset();
      fmt::print("({} is the server's default)\n", name);
      return;
    }
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (errno || end == value.c_str() || *end || !std::isfinite(v) || v < 0 ||
        (name == "max_tokens" && (v < 1 || v > 1e9 || v != std::floor(v)))) {
      fmt::print(stderr, "error: {} is not a valid {}\n", value, name);
      return;
    }
    if (name == "temperature") args_.temperature = v;
    else if (name == "top_p") args_.top_p = v;
    else args_.max_tokens = static_cast<int64_t>(v);
    fmt::print("({} = {})\n", name, value);
  }

  bool usage(const char* text) {
    fmt::print(stderr, "usage: {}\n", text);
    return true;
  }

  void load(const std::string& path) {
    auto text = read_text_file(path, size_t{64} << 20);
    if (!text.ok()) {
      fmt::print(stderr, "error: {}\n", text.error().message);
      return;
    }
    json j = json::parse(*text, nullptr, false);
    const json* list = j.is_object() && j.contains("messages") ? &j["messages"] : &j;
    if (!list->is_array()) {
      fmt::print(stderr, "error: {} holds no \"messages\" array\n", path);
      return;
    }
    std::string system;
    json messages = json::array();
    for (const json& m : *list) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
          !m["content"].is_string()) {
        fmt::print(stderr, "error: {}: each message needs a string role and content\n", path);
        return;
      }
      const std::string role = m["role"];
      if (role == "system" && messages.empty()) system = m["content"];
      else if (role == "user" || role == "assistant") messages.push_back({{"role", role}, {"content", m["content"]}});
      else {
        fmt::print(stderr, "error: {}: a message with role '{}' cannot be loaded here\n", path, role);
        return;
      }
    }
    system_ = system;
    messages_ = std::move(messages);
    fmt::print("(loaded {} messages from {})\n", messages_.size(), path);
  }

  ApiClient client_;
  std::string model_;
  int64_t max_context_;
  ChatArgs args_;  // its sampling settings change with /set
  std::string system_;
  json messages_ = json::array();
  Style style_;
};

std::string random_key() {
  std::random_device rd;
  return fmt::format("{:016x}{:016x}", (uint64_t(rd()) << 32) | rd(), (uint64_t(rd()) << 32) | rd());
}

int chat(ChatArgs a) {
  if (a.model.model.empty() == a.url.empty()) {
    fmt::print(stderr, "hearth chat: give either -m MODEL or --url http://HOST:PORT\n");
    return 2;
  }
  if (a.api_key.empty())
    if (const char* key = std::getenv("HEARTH_API_KEY"); key && *key) a.api_key = key;
  Input input;
  Style style{input.tty()};

  std::unique_ptr<server::Server> local;
  std::unique_ptr<ServedModel> served;
  std::string url = a.url;
  if (!a.model.model.empty()) {
    server::ServerOptions opt;
    opt.port = 0;
    opt.web_ui = false;
    opt.handle_signals = false;  // Ctrl-C is the chat's
    a.api_key = random_key();    // the loopback port is for this chat alone
    opt.api_keys = {a.api_key};
    local = std::make_unique<server::Server>(opt);
    if (Status st = local->start(); !st.ok()) {
      fmt::print(stderr, "hearth chat: {}\n", st.message());
      return 1;
    }
    auto loaded = ServedModel::load(a.model, "chat");
    if (!loaded.ok()) {
      fmt::print(stderr, "hearth chat: {}\n", loaded.error().message);
      return 1;
    }
    served = std::move(*loaded);
    if (!served->context().generates) {
      fmt::print(stderr, "hearth chat: {} is an encoder (embeddings or reranking): it does not chat\n", a.model.model);
      return 1;
    }
    local->set_model(served->context(), &served->engine());
    url = fmt::format("http://127.0.0.1:{}", local->port());
  }
  auto client = ApiClient::create(url, a.api_key);
  if (!client.ok()) {
    fmt::print(stderr, "hearth chat: {}\n", client.error().message);
    return 2;
  }
  // The model: the one asked for, else the server's first.
  Result<json> models = make_error("the server is not ready");
  for (int i = 0; i < 600; ++i) {  // a local server turns ready a moment after set_model
    models = client->get("/v1/models");
    if (models.ok() || a.model.model.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!models.ok()) {
    fmt::print(stderr, "hearth chat: {}: {}\n", url, models.error().message);
    return 1;
  }
  std::string model = a.model.served_name;
  int64_t max_context = 0;
  if (models->contains("data") && (*models)["data"].is_array())
    for (const json& m : (*models)["data"]) {
      if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
      if (model.empty() || m["id"] == model) {
        model = m["id"];
        max_context = m.value("max_model_len", int64_t{0});
        break;
      }
    }
  if (model.empty()) {
    fmt::print(stderr, "hearth chat: {} lists no model\n", url);
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  Chat chat(std::move(*client), model, max_context, a, style);
  const int code = chat.run(input);
  return code;
}

}  // namespace

void add_chat_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model in the terminal (or with a running server: --url)");
  cmd->add_option("-m,--model", a->model.model, "GGUF file or Hugging Face folder to load");
  cmd->add_option("--url", a->url, "A running server to talk to instead, http://HOST:PORT");
  cmd->add_option("--api-key", a->api_key, "The server's API key (with --url; also $HEARTH_API_KEY)");
  cmd->add_option("--system", a->system, "System prompt");
  cmd->add_option("--temperature", a->temperature, "Sampling temperature (default: the server's)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling (default: the server's)");
  cmd->add_option("--max-tokens", a->max_tokens, "Most tokens per answer (default: the rest of the context)");
  add_serving_options(cmd, a->model);
  cmd->callback([a, &exit_code] { exit_code = chat(*a); });
}

}  // namespace hearth::cli
