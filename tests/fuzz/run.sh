#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from a seed corpus of real files (small GGUF
# files from shared/testdata, generated safetensors). Fails if a fuzzer finds a crash.
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1
seconds=${2:-60}
here="$(cd "$(dirname "$0")" && pwd)"
shared="${HEARTH_SHARED_DIR:-$here/../../../shared}"
work="$build/fuzz-work"
mkdir -p "$work"

run() {
  local name=$1 seeds=$2
  local bin="$build/tests/fuzz/$name"
  [ -x "$bin" ] || { echo "fuzz: $bin missing" >&2; exit 1; }
  mkdir -p "$work/$name-corpus"
  echo "fuzz: $name for ${seconds}s"
  # -max_len keeps inputs small enough to explore headers; -rss_limit_mb catches big allocations.
  "$bin" "$work/$name-corpus" $seeds -max_total_time="$seconds" -max_len=65536 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/$name-" 2>&1 | tail -n 12
}

gguf_seeds="$work/gguf-seeds"
mkdir -p "$gguf_seeds"
# Seed with the headers of real llama.cpp files (truncated: the fuzzer mutates the header).
for f in "$shared"/testdata/quants/Q4_K.gguf "$shared"/testdata/quants/MXFP4.gguf; do
  head -c 65536 "$f" > "$gguf_seeds/$(basename "$f")"
done
run fuzz_gguf "$gguf_seeds"
# Whole tiny models (tests/fuzz/make_model_seeds.py): hyperparameters, an older DeepSeek file's
# attn_kv_b split, tensor shapes against the architecture.
run fuzz_model_file "$here/corpus/model_file"
if [ -x "$build/tests/fuzz/fuzz_hf_folder" ]; then
  # Seeds: config.json, NUL, tokenizer.json, NUL, README.md of a folder of each kind the loader
  # reads by its own rules (nomic's GPT-2 keys, a cross-encoder's label, a Qwen3-Reranker's class
  # tokens and README, Gemma 4's experts, plain llama).
  hf_seeds="$work/hf-folder-seeds"
  mkdir -p "$hf_seeds"
  wordpiece='{"model":{"type":"WordPiece","vocab":{"[CLS]":0,"a":1,"##b":2}},"added_tokens":[{"id":0,"content":"[CLS]","special":true}]}'
  printf '%s\0%s' '{"architectures":["NomicBertModel"],"model_type":"nomic_bert","n_embd":8,"n_layer":1,"n_head":2,"n_inner":16,"n_positions":8192,"max_trained_positions":2048,"layer_norm_epsilon":1e-12,"rotary_emb_base":1000,"activation_function":"swiglu","type_vocab_size":2,"vocab_size":8}' "$wordpiece" > "$hf_seeds/nomic"
  printf '%s\0%s' '{"architectures":["BertForSequenceClassification"],"model_type":"bert","hidden_size":8,"num_hidden_layers":1,"intermediate_size":16,"num_attention_heads":2,"max_position_embeddings":8,"layer_norm_eps":1e-12,"type_vocab_size":2,"id2label":{"0":"LABEL_0"}}' "$wordpiece" > "$hf_seeds/cross_encoder"
  printf '%s\0%s\0%s' '{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","hidden_size":8,"num_hidden_layers":1,"intermediate_size":16,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"rms_norm_eps":1e-6,"vocab_size":8,"tie_word_embeddings":false}' '{"model":{"type":"BPE","vocab":{"a":0,"yes":3}},"added_tokens":[{"id":1,"content":"no"}]}' '# Qwen3-Reranker-0.6B' > "$hf_seeds/qwen3_reranker"
  printf '%s' '{"architectures":["Gemma4ForCausalLM"],"model_type":"gemma4_text","hidden_size":8,"num_hidden_layers":2,"intermediate_size":16,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"global_head_dim":4,"rms_norm_eps":1e-6,"vocab_size":8,"layer_types":["sliding_attention","full_attention"],"num_kv_shared_layers":0,"sliding_window":4,"rope_parameters":{"full_attention":{"rope_type":"proportional","partial_rotary_factor":0.25,"rope_theta":1000000},"sliding_attention":{"rope_type":"default","rope_theta":10000}},"enable_moe_block":true,"num_experts":2,"top_k_experts":1,"moe_intermediate_size":8}' > "$hf_seeds/gemma4_moe"
  printf '%s' '{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"intermediate_size":16,"num_attention_heads":2,"rms_norm_eps":1e-5,"vocab_size":8,"rope_scaling":{"rope_type":"llama3","factor":8.0}}' > "$hf_seeds/llama"
  run fuzz_hf_folder "$hf_seeds"
fi

if [ -x "$build/tests/fuzz/fuzz_safetensors" ]; then
  st_seeds="$here/corpus/safetensors"
  run fuzz_safetensors "$( [ -d "$st_seeds" ] && echo "$st_seeds" )"
fi

run fuzz_openai "$here/corpus/openai"
if [ -x "$build/tests/fuzz/fuzz_hf_tokenizer" ]; then
  # Seeds: small tokenizer.json files of each shape (byte-level, SentencePiece-style, Metaspace).
  tok_seeds="$work/hf-tokenizer-seeds"
  mkdir -p "$tok_seeds"
  printf '%s' '{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"\u0120":3,"\u0120a":4},"merges":["a b",["\u0120","a"]]},"added_tokens":[{"id":5,"content":"<s>","special":true,"lstrip":true}],"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'"'"'s|'"'"'t|'"'"'re|'"'"'ve|'"'"'m|'"'"'ll|'"'"'d)| ?\\p{L}+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated"},{"type":"ByteLevel","use_regex":false}]},"decoder":{"type":"ByteLevel"},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}},{"Sequence":{"id":"A"}}],"special_tokens":{"<s>":{"ids":[5]}}}}' > "$tok_seeds/byte_level.json"
  printf '%s' '{"model":{"type":"BPE","byte_fallback":true,"fuse_unk":true,"unk_token":"<unk>","vocab":{"<unk>":0,"\u2581":1,"a":2,"\u2581a":3,"<0x41>":4},"merges":["\u2581 a"]},"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"\u2581"},{"type":"Replace","pattern":{"String":" "},"content":"\u2581"},{"type":"NFKC"}]},"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"\u2581"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}}' > "$tok_seeds/spm.json"
  printf '%s' '{"model":{"vocab":{"\u2581a":0,"a":1,"\u2581":2},"merges":["\u2581 a"]},"pre_tokenizer":{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"first","split":true},"decoder":{"type":"Metaspace","replacement":"\u2581"},"normalizer":{"type":"Lowercase"}}' > "$tok_seeds/metaspace.json"
  run fuzz_hf_tokenizer "$tok_seeds"
fi
if [ -x "$build/tests/fuzz/fuzz_unigram" ]; then
  # Seed: no charsmap at all; the fuzzer grows double arrays and replacements from there.
  ugm_seeds="$work/unigram-seeds"
  mkdir -p "$ugm_seeds"
  printf 'plain text, no charsmap' > "$ugm_seeds/empty"
  run fuzz_unigram "$ugm_seeds"
fi
if [ -x "$build/tests/fuzz/fuzz_vocab_text" ]; then
  # Seed: prompt-like text with spaces, newline runs, a special token and a stray UTF-8 lead byte.
  text_seeds="$work/vocab-text-seeds"
  mkdir -p "$text_seeds"
  printf 'ab a\n\n\nb <tool> \xc3 A<bos>' > "$text_seeds/prompt"
  run fuzz_vocab_text "$text_seeds"
fi
# Seed: a chat completion stream as hearth serves it, with CRLF and CR line ends and a comment.
sse_seeds="$work/sse-seeds"
mkdir -p "$sse_seeds"
printf '\x05: ping\r\n\r\ndata: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\nevent: x\rdata: a\rdata: b\r\rdata: [DONE]\n\n' > "$sse_seeds/stream"
run fuzz_sse "$sse_seeds"
# Seeds: a key secret's shape, a date, a time, a key name.
tenant_seeds="$work/tenants-seeds"
mkdir -p "$tenant_seeds"
printf 'hk-0123456789abcdef.%064d' 0 > "$tenant_seeds/secret"
printf '2026-02-28' > "$tenant_seeds/date"
printf '2026-12-06T21:04:05Z' > "$tenant_seeds/time"
printf 'team-a.prod_1' > "$tenant_seeds/name"
run fuzz_tenants "$tenant_seeds"
# Seeds: one per front end (GBNF, JSON Schema, raw regex, JSON-string regex), each with text to match.
grammar_seeds="$work/grammar-seeds"
mkdir -p "$grammar_seeds"
printf '\x00root ::= "{" ( [a-z]+ ":" [0-9]{1,3} )* "}"\x00{ab:12}' > "$grammar_seeds/gbnf"
printf '\x01{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":70},"b":{"type":"string","pattern":"^x+$"}},"required":["a"]}\x00{"a":7}' > "$grammar_seeds/schema"
printf '\x02(a|ab)+[^x-z]{2,4}\\d?\x00abab12' > "$grammar_seeds/regex"
printf '\x03^"[^"]*"$\x00"\\"q\\""' > "$grammar_seeds/regex-json"
run fuzz_grammar "$grammar_seeds"
# Seeds: model outputs in three families' call syntax (Hermes, Mistral, harmony) and a think block.
parser_seeds="$work/output-parser-seeds"
mkdir -p "$parser_seeds"
printf '\x86<think>hm</think>Hi <tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>' > "$parser_seeds/hermes"
printf '\x03[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "x"}}]' > "$parser_seeds/mistral"
printf '\x06<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary to=functions.add <|constrain|>json<|message|>{"a":1}<|call|>' > "$parser_seeds/harmony"
run fuzz_output_parser "$parser_seeds"
