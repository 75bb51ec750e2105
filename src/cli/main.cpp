// hearth: one binary, many subcommands. Each subcommand lives in its own cmd_*.cpp and registers
// itself in run_main below.
#include <cstdio>

#include "cli/commands.h"

namespace hearth::cli {

int run_main(int argc, char** argv) {
  CLI::App app{"hearth: run open-weight LLMs on your own hardware"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");
  int exit_code = 0;
  add_inspect_command(app, exit_code);
  add_quantize_command(app, exit_code);
  add_mkmodel_command(app, exit_code);
  add_serve_command(app, exit_code);
  add_tokenize_command(app, exit_code);
  add_logits_command(app, exit_code);
  add_perplexity_command(app, exit_code);
  add_run_command(app, exit_code);
  add_template_command(app, exit_code);
  add_bench_command(app, exit_code);
  add_embed_command(app, exit_code);
  add_chat_command(app, exit_code);
  add_grammar_command(app, exit_code);
  add_keys_command(app, exit_code);
  add_usage_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Bad usage: a clear message and a non-zero exit (CLI11 prints the message to stderr).
    app.exit(e);
    return e.get_exit_code() == 0 ? 2 : e.get_exit_code();
  }
  return exit_code;
}

}  // namespace hearth::cli

int main(int argc, char** argv) { return hearth::cli::run_main(argc, argv); }
