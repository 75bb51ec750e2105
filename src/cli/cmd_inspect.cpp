#include "cli/commands.h"

namespace hearth::cli {

void add_inspect_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("inspect", "not implemented yet");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace hearth::cli
