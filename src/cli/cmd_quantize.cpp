#include "cli/commands.h"

namespace hearth::cli {

void add_quantize_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("quantize", "not implemented yet");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace hearth::cli
