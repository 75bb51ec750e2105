#include "cli/commands.h"

namespace hearth::cli {

void add_mkmodel_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("mkmodel", "not implemented yet");
  cmd->callback([&exit_code] { exit_code = 1; });
}

}  // namespace hearth::cli
