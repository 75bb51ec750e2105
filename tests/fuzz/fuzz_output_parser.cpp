// libFuzzer target for the model-output parsers (chat/output_parser.h): a model file comes from a
// stranger, so its output is arbitrary text. The first byte picks the tool-call and reasoning
// formats and the piece size; the rest is the output. Fed whole and fed in pieces, the parser must
// give the same content, reasoning and calls, and never crash or hang.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "chat/output_parser.h"

using namespace hearth::chat;

namespace {

OutputDelta run(const OutputFormats& f, std::string_view text, size_t piece) {
  OutputParserOptions options;
  options.id_seed = 1;
  OutputParser parser(f, {"get_weather", "add"}, false, options);
  OutputDelta all;
  auto take = [&](OutputDelta d) {
    all.content += d.content;
    all.reasoning += d.reasoning;
    for (auto& c : d.calls) all.calls.push_back(std::move(c));
  };
  for (size_t i = 0; i < text.size(); i += piece) take(parser.feed(text.substr(i, piece)));
  take(parser.finish());
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ToolCallFormat tools[] = {ToolCallFormat::kNone, ToolCallFormat::kHermes, ToolCallFormat::kLlama3Json,
                                  ToolCallFormat::kMistral, ToolCallFormat::kDeepSeekV3, ToolCallFormat::kQwen3CoderXml,
                                  ToolCallFormat::kGptOss};
  const OutputFormats f{tools[data[0] % 7],
                        data[0] & 0x80 ? ReasoningFormat::kThinkTags : ReasoningFormat::kNone};
  const OutputFormats formats = f.tools == ToolCallFormat::kGptOss ? OutputFormats{f.tools, ReasoningFormat::kGptOss} : f;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t piece = 1 + (data[0] >> 3) % 7;
  const OutputDelta whole = run(formats, text, text.empty() ? 1 : text.size());
  const OutputDelta pieces = run(formats, text, piece);
  if (whole.content != pieces.content || whole.reasoning != pieces.reasoning || whole.calls != pieces.calls) std::abort();
  return 0;
}
