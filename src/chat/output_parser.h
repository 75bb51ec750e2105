// Model-output parsers: split a chat model's generated text (decoded WITH its special tokens' text,
// e.g. "<tool_call>", "<|channel|>") into visible content, reasoning and tool calls, per model
// family, as the text streams in.
//
// Contract (tested by feeding every recorded output at every piece size 1..n):
// - Output is identical whatever the fragmentation of the input.
// - Text that might be the start of a marker is held back until it is decided; other text streams
//   at once. Whitespace touching a marker is dropped (the `\n` after "</think>" or between two
//   calls): while parsing is active, a run of trailing whitespace waits for the next visible text.
// - A tool call is emitted whole, once complete and valid (JSON parses, arguments an object, a
//   name among the offered tools). Anything else (bad or truncated JSON, an unknown tool, a
//   missing name) comes back as content, verbatim with its markers. No exceptions, no lost text.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat {

enum class ToolCallFormat {
  kNone,
  kHermes,      // <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call> (Qwen2.5/3, Hermes)
  kLlama3Json,  // {"name": ..., "parameters": {...}}, optionally after <|python_tag|> (Llama 3.1+)
  kMistral,     // [TOOL_CALLS][{...}] (v3) or [TOOL_CALLS]name[CALL_ID]id[ARGS]{...} (v11+)
  kDeepSeekV3,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>...<｜tool▁call▁end｜>... (V3, R1,
                // V3.1)
  kQwen3CoderXml,  // <tool_call>\n<function=NAME>\n<parameter=p>\nvalue\n</parameter>\n</function>...
  kGptOss,         // harmony: <|channel|>commentary to=functions.NAME ...<|message|>{...}<|call|>
};

enum class ReasoningFormat {
  kNone,
  kThinkTags,  // <think>...</think> at the start of the output (DeepSeek R1, Qwen3, QwQ)
  kGptOss,     // harmony's analysis channel
};

struct OutputFormats {
  ToolCallFormat tools = ToolCallFormat::kNone;
  ReasoningFormat reasoning = ReasoningFormat::kNone;
  bool operator==(const OutputFormats&) const = default;
};

// Picks the formats from the chat template's Jinja source by the markers it writes.
OutputFormats detect_output_formats(std::string_view chat_template_source);

// Whether the rendered prompt already opened the reasoning block, so the output starts inside it
// (Qwen3-Thinking-2507, DeepSeek R1 0528 and V3.1 with thinking end their prompt with "<think>").
bool prompt_opens_reasoning(std::string_view prompt, OutputFormats formats);

const char* to_string(ToolCallFormat format);
const char* to_string(ReasoningFormat format);

struct ToolCall {
  std::string id;  // "call_" + 24 alphanumerics; Mistral: 9 alphanumerics (its templates demand it)
  std::string name;
  std::string arguments;  // compact JSON object text, keys in the model's order
  bool operator==(const ToolCall&) const = default;
};

// What one feed() or finish() produced. Within one delta the relative order of content, reasoning
// and calls is not kept; feed token by token where that order matters.
struct OutputDelta {
  std::string content;          // new visible text
  std::string reasoning;        // new reasoning text
  std::vector<ToolCall> calls;  // calls completed by this piece (whole, validated)
  bool empty() const { return content.empty() && reasoning.empty() && calls.empty(); }
};

struct OutputParserOptions {
  // Tool name -> its JSON-schema "parameters" object. Types Qwen3-Coder's raw XML parameter values
  // by each property's "type"; without it a value that parses as JSON is taken as JSON.
  std::map<std::string, nlohmann::ordered_json, std::less<>> parameter_schemas;
  // Seeds the call-id generator (tests); unset, it is seeded from std::random_device.
  std::optional<uint64_t> id_seed;
};

namespace detail {

// The offered tools, and the checks every format's calls go through.
struct ToolSet {
  std::vector<std::string> names;
  std::map<std::string, nlohmann::ordered_json, std::less<>> parameter_schemas;

  bool has(std::string_view name) const;
  // A call to `name` with `arguments` (an object, a JSON string holding one, or null/absent for
  // none); nullopt unless the tool is offered and the arguments are an object. Id left empty.
  std::optional<ToolCall> make_call(std::string_view name,
                                    const nlohmann::ordered_json* arguments) const;
  // {"name": ..., "arguments"|"parameters": ...}
  std::optional<ToolCall> call_from_json(const nlohmann::ordered_json& object) const;
  // The schema "type" of a tool's parameter ("" when unknown).
  std::string parameter_type(std::string_view tool, std::string_view parameter) const;
};

// One decided piece of a tool-call region: a validated call, or text handed back as content.
struct RegionItem {
  std::optional<ToolCall> call;
  std::string raw;  // when !call
};

struct RegionResult {
  bool need_more = false;  // undecided: wait for more text (never when at_end)
  size_t consumed = 0;     // bytes of the region decided, from its start
  std::vector<RegionItem> items;
};

// Region readers: `text` starts at one of the format's openers (Llama 3: at the content start,
// possibly after whitespace); `at_end`: no more text will come. Defined in tool_calls_formats.cpp.
RegionResult read_hermes_region(std::string_view text, bool at_end, const ToolSet& tools);
RegionResult read_qwen3_coder_region(std::string_view text, bool at_end, const ToolSet& tools);
RegionResult read_mistral_region(std::string_view text, bool at_end, const ToolSet& tools);
RegionResult read_deepseek_region(std::string_view text, bool at_end, const ToolSet& tools);
RegionResult read_llama3_region(std::string_view text, bool at_end, const ToolSet& tools);

// The openers that start a region in content, per format.
std::vector<std::string_view> call_openers(ToolCallFormat format);

// Parses `text` as exactly one JSON value; nullopt on any error.
std::optional<nlohmann::ordered_json> parse_json(std::string_view text);

}  // namespace detail

class OutputParser {
 public:
  // tool_names: the tools offered; calls to other names are not calls (their text stays content).
  // With no tools offered, no tool-call parsing happens at all (reasoning still does).
  // starts_in_reasoning: the prompt already opened <think> (see prompt_opens_reasoning).
  OutputParser(OutputFormats formats, std::vector<std::string> tool_names, bool starts_in_reasoning,
               OutputParserOptions options = {});

  OutputDelta feed(std::string_view piece);  // any fragmentation, even one byte at a time
  OutputDelta finish();                      // end of generation: decide and flush what was held

 private:
  enum class State {
    kStart,           // think tags: is the output opening with <think>?
    kReasoning,       // inside <think>, until </think>
    kContentStart,    // content's first bytes (Llama 3: does a JSON call open here?)
    kContent,         // visible text, watching for a call opener
    kRegion,          // a tool-call region, held until the format's reader decides it
    kHarmonyHeader,   // harmony: a message header, until <|message|>
    kHarmonyBody,     // harmony: streaming an analysis/final/commentary body
    kHarmonyCall,     // harmony: a body addressed to a recipient, held until it ends
    kHarmonyBetween,  // harmony: after a message, until the next <|start|>/<|channel|>
  };
  // Content and reasoning each drop whitespace next to markers (see the file comment).
  struct Channel {
    std::string held_ws;  // trailing whitespace, kept until visible text follows
    bool segment_start = false;
  };

  bool step(bool at_end);  // decides what it can of buf_; false when it needs more text
  bool step_start(bool at_end);
  bool step_reasoning(bool at_end);
  bool step_content_start(bool at_end);
  bool step_content(bool at_end);
  bool step_region(bool at_end);
  bool step_harmony_header(bool at_end);
  bool step_harmony_body(bool at_end);
  bool step_harmony_call(bool at_end);
  bool step_harmony_between(bool at_end);

  void emit(bool to_reasoning, std::string_view text);
  void boundary();  // a marker: whitespace on both sides of it is dropped
  void push_call(ToolCall call);
  std::string next_id();
  OutputDelta take();

  ToolCallFormat tools_format_;  // kNone when no tools were offered
  bool trim_at_markers_;
  detail::ToolSet tools_;
  std::vector<std::string_view> openers_;
  State state_;
  std::string buf_;  // undecided text
  size_t harmony_body_start_ = 0;
  std::string harmony_recipient_;
  bool harmony_reasoning_ = false;  // the current harmony body is analysis
  OutputDelta out_;
  Channel content_;
  Channel reasoning_;
  std::mt19937_64 rng_;
};

}  // namespace hearth::chat
