// Subcommand registry for the hearth binary. Each cmd_*.cpp defines one add_*_command that
// declares its options on a CLI11 subcommand and sets the callback that runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::cli {

// Each returns the process exit code through `exit_code` when its subcommand ran.
void add_inspect_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
void add_mkmodel_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_tokenize_command(CLI::App& app, int& exit_code);
void add_logits_command(CLI::App& app, int& exit_code);
void add_perplexity_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_template_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_embed_command(CLI::App& app, int& exit_code);
void add_chat_command(CLI::App& app, int& exit_code);
void add_grammar_command(CLI::App& app, int& exit_code);
void add_keys_command(CLI::App& app, int& exit_code);
void add_usage_command(CLI::App& app, int& exit_code);

// Token ids written as integers separated by spaces or commas; nullopt when the text is not such
// a list (or an id does not fit 32 bits). An empty text is an empty list.
std::optional<std::vector<int32_t>> parse_token_list(const std::string& text);

int run_main(int argc, char** argv);

}  // namespace hearth::cli
