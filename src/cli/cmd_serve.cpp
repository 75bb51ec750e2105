// hearth serve: the OpenAI-compatible server. It needs the forward pass (issue: "Run Llama, Qwen2/2.5,
// Qwen3 ... on CPU") and the engine/server (issue: "hearth serve"), neither of which has landed;
// until then the command says so plainly instead of pretending.
#include <fmt/format.h>

#include "cli/commands.h"

namespace hearth::cli {

void add_serve_command(CLI::App& app, int& exit_code) {
  auto model = std::make_shared<std::string>();
  auto host = std::make_shared<std::string>("127.0.0.1");
  auto port = std::make_shared<int>(8080);
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", *model, "GGUF file or Hugging Face folder")->required();
  cmd->add_option("--host", *host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", *port, "Port")->capture_default_str();
  cmd->callback([=, &exit_code] {
    fmt::print(stderr,
               "hearth serve: not implemented yet: the forward pass and the server are still "
               "open issues. The model {} was built and can be inspected with `hearth inspect`.\n",
               *model);
    exit_code = 1;
  });
}

}  // namespace hearth::cli
