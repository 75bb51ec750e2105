// OutputParser: the streaming state machine (reasoning, content, tool-call regions, harmony
// messages) and format detection. The per-family call readers are in tool_calls_formats.cpp.
//
// Every decision looks only at text already received and is taken only when no continuation
// could change it (a marker split across pieces waits; at finish() partial markers are plain
// text), which is what makes the result independent of how the output was fragmented.
#include "chat/output_parser.h"

#include <algorithm>

#include "base/result.h"

namespace hearth::chat {

using detail::RegionResult;

namespace {

constexpr std::string_view kWs = " \t\r\n";
constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

// Harmony (gpt-oss) tokens.
constexpr std::string_view kStart = "<|start|>";
constexpr std::string_view kChannel = "<|channel|>";
constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kEnd = "<|end|>";
constexpr std::string_view kReturn = "<|return|>";
constexpr std::string_view kCall = "<|call|>";
constexpr size_t kMaxHarmonyHeaderBytes = 256;  // longer, and it is text, not a header

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

struct MarkerMatch {
  size_t pos;  // where the earliest candidate starts; text.size() when none
  int which;   // index of the full match there; -1: none, or one that may still complete (wait)
};

// The earliest position where one of `markers` starts, fully or (unless at_end) as a partial
// match running to the end of `text`. Where a full and a partial match start together the partial
// one wins (wait: the longer marker may still complete); among full matches the longest wins.
MarkerMatch find_marker(std::string_view text, const std::vector<std::string_view>& markers,
                        bool at_end) {
  for (size_t i = 0; i < text.size(); ++i) {
    int full = -1;
    bool partial = false;
    for (size_t m = 0; m < markers.size(); ++m) {
      std::string_view marker = markers[m];
      if (text[i] != marker.front()) continue;
      std::string_view rest = text.substr(i);
      if (rest.starts_with(marker)) {
        if (full < 0 || marker.size() > markers[full].size()) full = static_cast<int>(m);
      } else if (!at_end && rest.size() < marker.size() && marker.starts_with(rest)) {
        partial = true;
      }
    }
    if (partial) return {i, -1};
    if (full >= 0) return {i, full};
  }
  return {text.size(), -1};
}

// The word after `key` in a harmony header ("<|channel|>final", "to=functions.get_weather").
std::string header_word(std::string_view header, std::string_view key) {
  size_t at = header.find(key);
  if (at == std::string_view::npos) return {};
  std::string_view rest = header.substr(at + key.size());
  size_t end = 0;
  while (end < rest.size() && kWs.find(rest[end]) == std::string_view::npos && rest[end] != '<')
    ++end;
  return std::string(rest.substr(0, end));
}

// Could `text` be (the start of) a harmony header? "<|start|>assistant<|channel|>...",
// "<|channel|>...", " to=functions.f<|channel|>..." (right after the prompt's <|start|>assistant).
bool plausible_harmony_header(std::string_view text) {
  size_t first = text.find_first_not_of(kWs);
  if (first == std::string_view::npos) return true;
  text = text.substr(first);
  for (std::string_view opener :
       {kStart, kChannel, std::string_view("to="), std::string_view("assistant")}) {
    size_t n = std::min(text.size(), opener.size());
    if (text.substr(0, n) == opener.substr(0, n)) return true;
  }
  return false;
}

}  // namespace

OutputFormats detect_output_formats(std::string_view source) {
  OutputFormats formats;
  if (contains(source, kChannel)) return {ToolCallFormat::kGptOss, ReasoningFormat::kGptOss};
  if (contains(source, "<｜tool▁calls▁begin｜>") || contains(source, "<｜tool▁call▁begin｜>")) {
    formats.tools = ToolCallFormat::kDeepSeekV3;
  } else if (contains(source, "<function=") && contains(source, "<parameter=")) {
    formats.tools =
        ToolCallFormat::kQwen3CoderXml;  // before Hermes: its template writes <tool_call> too
  } else if (contains(source, "[TOOL_CALLS]")) {
    formats.tools = ToolCallFormat::kMistral;
  } else if (contains(source, "<tool_call>")) {
    formats.tools =
        ToolCallFormat::kHermes;  // before Llama: Hermes 2/3 templates say "parameters" too
  } else if (contains(source, "<|python_tag|>") ||
             (contains(source, "\"parameters\"") && contains(source, "ipython"))) {
    formats.tools = ToolCallFormat::kLlama3Json;
  }
  if (contains(source, kThinkOpen) || contains(source, kThinkClose))
    formats.reasoning = ReasoningFormat::kThinkTags;
  return formats;
}

bool prompt_opens_reasoning(std::string_view prompt, OutputFormats formats) {
  if (formats.reasoning != ReasoningFormat::kThinkTags) return false;
  size_t last = prompt.find_last_not_of(kWs);
  return last != std::string_view::npos && prompt.substr(0, last + 1).ends_with(kThinkOpen);
}

const char* to_string(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kNone:
      return "none";
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kLlama3Json:
      return "llama3_json";
    case ToolCallFormat::kMistral:
      return "mistral";
    case ToolCallFormat::kDeepSeekV3:
      return "deepseek_v3";
    case ToolCallFormat::kQwen3CoderXml:
      return "qwen3_coder_xml";
    case ToolCallFormat::kGptOss:
      return "gpt_oss";
  }
  return "?";
}

const char* to_string(ReasoningFormat format) {
  switch (format) {
    case ReasoningFormat::kNone:
      return "none";
    case ReasoningFormat::kThinkTags:
      return "think_tags";
    case ReasoningFormat::kGptOss:
      return "gpt_oss";
  }
  return "?";
}

OutputParser::OutputParser(OutputFormats formats, std::vector<std::string> tool_names,
                           bool starts_in_reasoning, OutputParserOptions options)
    : tools_format_(tool_names.empty() ? ToolCallFormat::kNone : formats.tools),
      tools_{std::move(tool_names), std::move(options.parameter_schemas)},
      rng_(options.id_seed ? *options.id_seed : std::random_device{}()) {
  bool harmony =
      formats.tools == ToolCallFormat::kGptOss || formats.reasoning == ReasoningFormat::kGptOss;
  trim_at_markers_ = harmony || tools_format_ != ToolCallFormat::kNone ||
                     formats.reasoning != ReasoningFormat::kNone;
  openers_ = detail::call_openers(tools_format_);
  if (harmony) {
    tools_format_ = ToolCallFormat::kGptOss;
    state_ = State::kHarmonyHeader;
  } else if (formats.reasoning == ReasoningFormat::kThinkTags) {
    state_ = starts_in_reasoning ? State::kReasoning : State::kStart;
    if (starts_in_reasoning) reasoning_.segment_start = true;
  } else {
    state_ = State::kContentStart;
  }
}

OutputDelta OutputParser::feed(std::string_view piece) {
  buf_.append(piece);
  while (step(false)) {
  }
  return take();
}

OutputDelta OutputParser::finish() {
  while (step(true)) {
  }
  HEARTH_CHECK(buf_.empty(), "every state decides all of its text at the end");
  out_.content += content_.held_ws;
  out_.reasoning += reasoning_.held_ws;
  content_.held_ws.clear();
  reasoning_.held_ws.clear();
  return take();
}

OutputDelta OutputParser::take() {
  OutputDelta delta = std::move(out_);
  out_ = OutputDelta{};
  return delta;
}

bool OutputParser::step(bool at_end) {
  switch (state_) {
    case State::kStart:
      return step_start(at_end);
    case State::kReasoning:
      return step_reasoning(at_end);
    case State::kContentStart:
      return step_content_start(at_end);
    case State::kContent:
      return step_content(at_end);
    case State::kRegion:
      return step_region(at_end);
    case State::kHarmonyHeader:
      return step_harmony_header(at_end);
    case State::kHarmonyBody:
      return step_harmony_body(at_end);
    case State::kHarmonyCall:
      return step_harmony_call(at_end);
    case State::kHarmonyBetween:
      return step_harmony_between(at_end);
  }
  return false;
}

// Think tags: reasoning only when the output opens (after whitespace) with <think>.
bool OutputParser::step_start(bool at_end) {
  size_t first = buf_.find_first_not_of(kWs);
  if (first == std::string::npos && !at_end) return false;
  std::string_view rest =
      first == std::string::npos ? std::string_view() : std::string_view(buf_).substr(first);
  if (rest.starts_with(kThinkOpen)) {
    buf_.erase(0, first + kThinkOpen.size());
    boundary();
    state_ = State::kReasoning;
    return true;
  }
  if (!at_end && kThinkOpen.starts_with(rest)) return false;
  state_ = State::kContentStart;
  return true;
}

bool OutputParser::step_reasoning(bool at_end) {
  MarkerMatch match = find_marker(buf_, {kThinkClose}, at_end);
  emit(/*to_reasoning=*/true, std::string_view(buf_).substr(0, match.pos));
  if (match.which >= 0) {
    buf_.erase(0, match.pos + kThinkClose.size());
    boundary();
    state_ = State::kContentStart;
    return true;
  }
  buf_.erase(0, match.pos);
  return match.pos > 0;
}

// Llama 3 calls are the whole content: a JSON object at its start (after whitespace).
bool OutputParser::step_content_start(bool at_end) {
  if (tools_format_ == ToolCallFormat::kLlama3Json) {
    size_t first = buf_.find_first_not_of(kWs);
    if (first == std::string::npos && !at_end) return false;
    if (first != std::string::npos) {
      std::string_view rest = std::string_view(buf_).substr(first);
      constexpr std::string_view kPythonTag = "<|python_tag|>";
      if (rest.front() == '{' || rest.starts_with(kPythonTag)) {
        state_ = State::kRegion;
        return true;
      }
      if (!at_end && kPythonTag.starts_with(rest)) return false;
    }
  }
  state_ = State::kContent;
  return true;
}

bool OutputParser::step_content(bool at_end) {
  if (buf_.empty()) return false;
  MarkerMatch match = find_marker(buf_, openers_, at_end);
  emit(/*to_reasoning=*/false, std::string_view(buf_).substr(0, match.pos));
  buf_.erase(0, match.pos);
  if (match.which >= 0) {
    state_ = State::kRegion;  // the region keeps its opener: invalid calls return verbatim
    return true;
  }
  return match.pos > 0;
}

bool OutputParser::step_region(bool at_end) {
  RegionResult result;
  switch (tools_format_) {
    case ToolCallFormat::kHermes:
      result = detail::read_hermes_region(buf_, at_end, tools_);
      break;
    case ToolCallFormat::kQwen3CoderXml:
      result = detail::read_qwen3_coder_region(buf_, at_end, tools_);
      break;
    case ToolCallFormat::kMistral:
      result = detail::read_mistral_region(buf_, at_end, tools_);
      break;
    case ToolCallFormat::kDeepSeekV3:
      result = detail::read_deepseek_region(buf_, at_end, tools_);
      break;
    case ToolCallFormat::kLlama3Json:
      result = detail::read_llama3_region(buf_, at_end, tools_);
      break;
    case ToolCallFormat::kNone:
    case ToolCallFormat::kGptOss:
      result.consumed = buf_.size();
      result.items.push_back({std::nullopt, buf_});
      break;
  }
  if (result.need_more) return false;
  HEARTH_CHECK(result.consumed > 0 && result.consumed <= buf_.size(),
               "region reader consumed nothing");
  for (detail::RegionItem& item : result.items) {
    if (item.call)
      push_call(std::move(*item.call));
    else
      emit(/*to_reasoning=*/false, item.raw);
  }
  buf_.erase(0, result.consumed);
  state_ = State::kContent;
  return true;
}

// Harmony: a header runs to <|message|>; its channel picks where the body goes and a recipient
// ("to=functions.f") makes the body a call. The body runs to <|end|>, <|return|> or <|call|>.
bool OutputParser::step_harmony_header(bool at_end) {
  std::string_view window =
      std::string_view(buf_).substr(0, kMaxHarmonyHeaderBytes + kMessage.size());
  size_t message = window.find(kMessage);
  size_t stray_end = std::min({window.find(kEnd), window.find(kReturn), window.find(kCall)});
  // Plausibility looks only at the first bytes, and once false stays false as text arrives, so
  // the verdict is the same however the header was fragmented.
  bool plausible = plausible_harmony_header(buf_);
  if (plausible && message != std::string_view::npos && message < stray_end) {
    std::string_view header = window.substr(0, message);
    std::string channel = header_word(header, kChannel);
    harmony_recipient_ = header_word(header, "to=");
    boundary();
    if (!harmony_recipient_.empty()) {
      harmony_body_start_ = message + kMessage.size();
      state_ = State::kHarmonyCall;
      return true;
    }
    harmony_reasoning_ = channel == "analysis";
    buf_.erase(0, message + kMessage.size());
    state_ = State::kHarmonyBody;
    return true;
  }
  bool too_long = window.size() >= kMaxHarmonyHeaderBytes + kMessage.size();
  if (!at_end && !too_long && stray_end == std::string_view::npos && plausible) return false;
  if (buf_.empty()) return false;
  // Not a header: its first byte is text, and what follows is looked at again.
  emit(/*to_reasoning=*/false, std::string_view(buf_).substr(0, 1));
  buf_.erase(0, 1);
  state_ = State::kHarmonyBetween;
  return true;
}

bool OutputParser::step_harmony_body(bool at_end) {
  // <|start|> or <|channel|> here means the model skipped the terminator: a new header begins.
  static const std::vector<std::string_view> kMarkers = {kEnd, kReturn, kCall, kStart, kChannel};
  MarkerMatch match = find_marker(buf_, kMarkers, at_end);
  emit(harmony_reasoning_, std::string_view(buf_).substr(0, match.pos));
  if (match.which >= 0) {
    bool terminator = match.which < 3;
    buf_.erase(0, match.pos + (terminator ? kMarkers[match.which].size() : 0));
    state_ = State::kHarmonyBetween;
    return true;
  }
  buf_.erase(0, match.pos);
  return match.pos > 0;
}

bool OutputParser::step_harmony_call(bool at_end) {
  static const std::vector<std::string_view> kMarkers = {kCall, kEnd, kReturn, kStart, kChannel};
  std::string_view body = std::string_view(buf_).substr(harmony_body_start_);
  MarkerMatch match = find_marker(body, kMarkers, at_end);
  if (match.which < 0 && !at_end) return false;
  bool terminator = match.which >= 0 && match.which < 3;
  size_t consumed =
      harmony_body_start_ + match.pos + (terminator ? kMarkers[match.which].size() : 0);
  std::optional<ToolCall> call;
  constexpr std::string_view kFunctions = "functions.";
  if (std::string_view(harmony_recipient_).starts_with(kFunctions)) {
    std::optional<nlohmann::ordered_json> args = detail::parse_json(body.substr(0, match.pos));
    if (args)
      call =
          tools_.make_call(std::string_view(harmony_recipient_).substr(kFunctions.size()), &*args);
  }
  // Not a call to an offered tool: the whole message, verbatim, is content.
  if (call)
    push_call(std::move(*call));
  else
    emit(/*to_reasoning=*/false, std::string_view(buf_).substr(0, consumed));
  buf_.erase(0, consumed);
  state_ = State::kHarmonyBetween;
  return true;
}

bool OutputParser::step_harmony_between(bool at_end) {
  if (buf_.empty()) return false;
  MarkerMatch match = find_marker(buf_, {kStart, kChannel}, at_end);
  emit(/*to_reasoning=*/false, std::string_view(buf_).substr(0, match.pos));
  buf_.erase(0, match.pos);
  if (match.which >= 0) {
    state_ = State::kHarmonyHeader;  // the header keeps its marker: a bad call returns verbatim
    return true;
  }
  return match.pos > 0;
}

void OutputParser::emit(bool to_reasoning, std::string_view text) {
  Channel& channel = to_reasoning ? reasoning_ : content_;
  std::string& out = to_reasoning ? out_.reasoning : out_.content;
  if (!trim_at_markers_) {
    out.append(text);
    return;
  }
  if (channel.segment_start) {
    size_t first = text.find_first_not_of(kWs);
    if (first == std::string_view::npos) return;
    text.remove_prefix(first);
    channel.segment_start = false;
  }
  if (text.empty()) return;
  size_t last = text.find_last_not_of(kWs);
  if (last == std::string_view::npos) {
    channel.held_ws.append(text);
    return;
  }
  out.append(channel.held_ws);
  channel.held_ws.assign(text.substr(last + 1));
  out.append(text.substr(0, last + 1));
}

void OutputParser::boundary() {
  for (Channel* channel : {&content_, &reasoning_}) {
    channel->held_ws.clear();
    channel->segment_start = true;
  }
}

void OutputParser::push_call(ToolCall call) {
  boundary();
  call.id = next_id();
  out_.calls.push_back(std::move(call));
}

std::string OutputParser::next_id() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  bool mistral = tools_format_ == ToolCallFormat::kMistral;
  std::string id = mistral ? "" : "call_";
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  for (int i = 0; i < (mistral ? 9 : 24); ++i) id += kAlphabet[pick(rng_)];
  return id;
}

}  // namespace hearth::chat
