// llama-harness: a thin command-line wrapper over the prebuilt llama.cpp libraries that ship in
// @node-llama-cpp/linux-x64 (llama.cpp commit de3ff81), so tests can hold hearth against
// llama.cpp's own quantizer, GGUF reader, dequantizers and model loader.
//
// This is test tooling, not hearth code: it only calls llama.cpp's public C API (llama.h,
// ggml.h, gguf.h, ggml-backend.h). Build it with tests/peers/build-harness.sh.
//
//   llama-harness quantize IN OUT FTYPE [--threads N] [--imatrix-ones] [--pure]
//                                                       llama_model_quantize, default params;
//                                                       --imatrix-ones gives every tensor an
//                                                       importance matrix of ones, which the
//                                                       1-3-bit IQ types cannot be made without;
//                                                       --pure: the FTYPE's type for every
//                                                       matrix (llama-quantize --pure)
//   llama-harness types FILE                            "name<TAB>type<TAB>ne0,ne1,..." per tensor
//   llama-harness dequant FILE TENSOR [OUT.f32]         floats via the type's to_float; to OUT as
//                                                       raw little-endian f32, else one per line
//   llama-harness load FILE [--prompt TEXT] [--threads N]
//                                                       load, create a context, decode the prompt
//                                                       tokens, print the first logits; exit 1
//                                                       unless every logit is finite and they
//                                                       are not all equal
//   llama-harness ftypes                                the FTYPE names accepted by quantize
//   llama-harness grammar-masks MODEL GBNF WALK OUT     llama.cpp's grammar mask at every step of
//                                                       a token walk: "count hash" lines to OUT
//   llama-harness logits MODEL --tokens "ID ..." -o OUT.f32 [--ubatch U] [--threads T] [--dump DIR]
//                                                       every position's logits of one sequence
//                                                       (raw f32); --dump writes every f32
//                                                       tensor of the graph, for diagnosis
//   llama-harness embed MODEL (--tokens "ID ..." | --text TEXT | --query Q --document D)
//                    -o OUT.f32 [--threads T]           the sequence's pooled embedding as the
//                                                       file's pooling type pools it (raw f32
//                                                       [n_embd], not normalised; a reranker's
//                                                       [n_cls_out] scores); --text is tokenized
//                                                       as llama-embedding does (special tokens
//                                                       added and parsed); --query/--document
//                                                       make llama-server's rerank prompt (the
//                                                       file's "rerank" template); --ubatch U
//                                                       (default: the whole sequence at once)
//   llama-harness bench MODEL [-p 512] [-n 128] [-t 2] [-r 5]
//                                                       llama-bench's pp/tg tokens/s as JSON lines
//   llama-harness perplexity MODEL TEXT N_CTX [--chunks N] [--threads T] [--kl-base OUT]
//                    [--ubatch U]                       llama-perplexity's default perplexity
//                                                       (one sequence per batch, n_batch = n_ctx,
//                                                       flash attention off, f16 KV cache): same
//                                                       "[i]ppl," and "Final estimate" lines;
//                                                       --kl-base writes its logits file;
//                                                       --ubatch (default min(N_CTX, 512), the
//                                                       tool's) measures llama.cpp against itself
//
// Exit status: 0 on success, 1 on a failed check or llama.cpp error, 2 on a usage error.
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#ifndef HARNESS_LIBDIR
#define HARNESS_LIBDIR ""
#endif

namespace {

struct FtypeName {
  const char* name;
  llama_ftype ftype;
};

// The names llama-quantize accepts for the file types we care about.
const FtypeName kFtypes[] = {
    {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},
    {"BF16", LLAMA_FTYPE_MOSTLY_BF16},     {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},     {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},
    {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},     {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},     {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S},
    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
    {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL}, {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS},
    {"IQ3_S", LLAMA_FTYPE_MOSTLY_IQ3_S},   {"IQ3_M", LLAMA_FTYPE_MOSTLY_IQ3_M},
    {"IQ3_XXS", LLAMA_FTYPE_MOSTLY_IQ3_XXS}, {"IQ3_XS", LLAMA_FTYPE_MOSTLY_IQ3_XS},
    {"IQ2_XXS", LLAMA_FTYPE_MOSTLY_IQ2_XXS}, {"IQ2_XS", LLAMA_FTYPE_MOSTLY_IQ2_XS},
    {"IQ2_S", LLAMA_FTYPE_MOSTLY_IQ2_S},   {"IQ2_M", LLAMA_FTYPE_MOSTLY_IQ2_M},
    {"IQ1_S", LLAMA_FTYPE_MOSTLY_IQ1_S},   {"IQ1_M", LLAMA_FTYPE_MOSTLY_IQ1_M},
    {"TQ1_0", LLAMA_FTYPE_MOSTLY_TQ1_0},   {"TQ2_0", LLAMA_FTYPE_MOSTLY_TQ2_0},
    {"MXFP4_MOE", LLAMA_FTYPE_MOSTLY_MXFP4_MOE},
};

bool g_verbose = false;
std::string* g_captured = nullptr;  // when set, every log line is appended here as well

void log_callback(ggml_log_level level, const char* text, void*) {
  if (g_captured != nullptr) *g_captured += text;
  // Errors and warnings always (quantize's fallback notes are warnings); the rest on request.
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN ||
      level == GGML_LOG_LEVEL_CONT) {
    std::fputs(text, stderr);
  }
}

int usage() {
  std::fputs(
      "usage: llama-harness quantize IN OUT FTYPE [--threads N] [--imatrix-ones] [--pure]\n"
      "       llama-harness types FILE\n"
      "       llama-harness dequant FILE TENSOR [OUT.f32]\n"
      "       llama-harness load FILE [--prompt TEXT] [--threads N]\n"
      "       llama-harness grammar-masks MODEL GRAMMAR.gbnf WALK.txt OUT.txt\n"
      "       llama-harness ftypes\n"
      "       llama-harness kv-bytes MODEL [--ctx N]  KV cache bytes per token (f16 cache, as llama.cpp logs it)\n"
      "       llama-harness perplexity MODEL TEXT N_CTX [--chunks N] [--threads T] [--kl-base OUT]\n"
      "                                [--ubatch U]\n"
      "       llama-harness logits MODEL --tokens \"ID ...\" -o OUT.f32 [--ubatch U] [--threads T]\n"
      "                            [--dump DIR]\n"
      "       llama-harness embed MODEL (--tokens \"ID ...\" | --text TEXT | --query Q --document D) -o OUT.f32\n"
      "                           [--ubatch U] [--threads T]\n"
      "       llama-harness bench MODEL [-p 512] [-n 128] [-t 2] [-r 5]\n"
      "       llama-harness tokenize-bench VOCAB TEXT [--repeat N]\n"
      "env: HARNESS_VERBOSE=1 shows llama.cpp's info logs\n",
      stderr);
  return 2;
}

int fail(const char* fmt, ...) {
  std::va_list args;
  va_start(args, fmt);
  std::fputs("llama-harness: ", stderr);
  std::vfprintf(stderr, fmt, args);
  std::fputc('\n', stderr);
  va_end(args);
  return 1;
}

// "--name VALUE" from argv[first..], or `fallback`.
std::string option(int argc, char** argv, int first, const char* name, const std::string& fallback) {
  for (int i = first; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

void load_backends() {
  const char* env_dir = std::getenv("HARNESS_LIBDIR");
  const char* dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : HARNESS_LIBDIR;
  // The CPU backends are separate shared objects (one per ISA level) next to libllama.
  if (*dir != '\0') ggml_backend_load_all_from_path(dir);
  if (ggml_backend_reg_count() == 0) ggml_backend_load_all();
}

struct GgufFile {
  gguf_context* ctx = nullptr;
  ~GgufFile() {
    if (ctx != nullptr) gguf_free(ctx);
  }
};

int cmd_quantize(int argc, char** argv) {
  if (argc < 5) return usage();
  const char* in = argv[2];
  const char* out = argv[3];
  const char* want = argv[4];
  llama_model_quantize_params params = llama_model_quantize_default_params();
  bool found = false;
  for (const FtypeName& f : kFtypes) {
    if (strcasecmp(f.name, want) == 0) {
      params.ftype = f.ftype;
      found = true;
    }
  }
  if (!found) return fail("unknown FTYPE '%s' (see `llama-harness ftypes`)", want);
  params.nthread = std::atoi(option(argc, argv, 5, "--threads", "0").c_str());
  // llama.cpp's importance matrix holds ne[0] weights per row per expert (ne[2]) of each tensor.
  std::vector<std::vector<float>> ones;
  std::vector<llama_model_imatrix_data> imatrix;
  bool want_ones = false;
  for (int i = 5; i < argc; ++i) {
    want_ones = want_ones || std::strcmp(argv[i], "--imatrix-ones") == 0;
    params.pure = params.pure || std::strcmp(argv[i], "--pure") == 0;
  }
  GgufFile f;  // the imatrix entries point at its tensor names until the quantizer is done
  if (want_ones) {
    f.ctx = gguf_init_from_file(in, gguf_init_params{/*no_alloc=*/true, /*ctx=*/nullptr});
    if (f.ctx == nullptr) return fail("cannot read GGUF file %s", in);
    const int64_t n = gguf_get_n_tensors(f.ctx);
    ones.reserve(size_t(n));  // no reallocation: the entries keep pointers into it
    for (int64_t i = 0; i < n; ++i) {
      const int64_t* ne = gguf_get_tensor_ne(f.ctx, i);
      const std::vector<float>& w = ones.emplace_back(size_t(ne[0] * ne[2]), 1.0f);
      imatrix.push_back({gguf_get_tensor_name(f.ctx, i), w.data(), w.size()});
    }
    imatrix.push_back({nullptr, nullptr, 0});
    params.imatrix = imatrix.data();
  }
  if (llama_model_quantize(in, out, &params) != 0) return fail("quantize %s -> %s failed", in, out);
  return 0;
}

int cmd_types(int argc, char** argv) {
  if (argc != 3) return usage();
  GgufFile f;
  f.ctx = gguf_init_from_file(argv[2], gguf_init_params{/*no_alloc=*/true, /*ctx=*/nullptr});
  if (f.ctx == nullptr) return fail("cannot read GGUF file %s", argv[2]);
  const int64_t n = gguf_get_n_tensors(f.ctx);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t* ne = gguf_get_tensor_ne(f.ctx, i);
    int n_dims = GGML_MAX_DIMS;
    while (n_dims > 1 && ne[n_dims - 1] == 1) --n_dims;
    std::printf("%s\t%s\t", gguf_get_tensor_name(f.ctx, i),
                ggml_type_name(gguf_get_tensor_type(f.ctx, i)));
    for (int d = 0; d < n_dims; ++d) std::printf(d == 0 ? "%lld" : ",%lld", (long long)ne[d]);
    std::printf("\n");
  }
  return 0;
}

int cmd_dequant(int argc, char** argv) {
  if (argc != 4 && argc != 5) return usage();
  GgufFile f;
  f.ctx = gguf_init_from_file(argv[2], gguf_init_params{/*no_alloc=*/true, /*ctx=*/nullptr});
  if (f.ctx == nullptr) return fail("cannot read GGUF file %s", argv[2]);
  const int64_t id = gguf_find_tensor(f.ctx, argv[3]);
  if (id < 0) return fail("no tensor '%s' in %s", argv[3], argv[2]);
  const ggml_type type = gguf_get_tensor_type(f.ctx, id);
  const ggml_type_traits* traits = ggml_get_type_traits(type);
  const int64_t* ne = gguf_get_tensor_ne(f.ctx, id);
  int64_t n_elems = 1;
  for (int d = 0; d < GGML_MAX_DIMS; ++d) n_elems *= ne[d];
  const size_t n_bytes = gguf_get_tensor_size(f.ctx, id);

  std::vector<unsigned char> raw(n_bytes);
  FILE* in = std::fopen(argv[2], "rb");
  if (in == nullptr) return fail("cannot open %s", argv[2]);
  const long offset = static_cast<long>(gguf_get_data_offset(f.ctx) + gguf_get_tensor_offset(f.ctx, id));
  const bool read_ok = std::fseek(in, offset, SEEK_SET) == 0 && std::fread(raw.data(), 1, n_bytes, in) == n_bytes;
  std::fclose(in);
  if (!read_ok) return fail("short read of tensor '%s' in %s", argv[3], argv[2]);

  std::vector<float> values(static_cast<size_t>(n_elems));
  if (type == GGML_TYPE_F32) {
    std::memcpy(values.data(), raw.data(), n_bytes);
  } else if (traits->to_float != nullptr) {
    traits->to_float(raw.data(), values.data(), n_elems);
  } else {
    return fail("type %s has no to_float", ggml_type_name(type));
  }

  if (argc == 5) {
    FILE* out = std::fopen(argv[4], "wb");
    if (out == nullptr) return fail("cannot create %s", argv[4]);
    const bool ok = std::fwrite(values.data(), sizeof(float), values.size(), out) == values.size();
    if (std::fclose(out) != 0 || !ok) return fail("cannot write %s", argv[4]);
  } else {
    for (float v : values) std::printf("%.9g\n", v);
  }
  return 0;
}

int cmd_load(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string prompt = option(argc, argv, 3, "--prompt", "Hello world, this is a test");
  const int threads = std::atoi(option(argc, argv, 3, "--threads", "2").c_str());
  load_backends();

  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[2], mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", argv[2]);

  int rc = 0;
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = 128;
  cparams.n_batch = 128;
  cparams.n_ubatch = 128;
  cparams.n_threads = threads;
  cparams.n_threads_batch = threads;
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) {
    llama_model_free(model);
    return fail("llama_init_from_model failed for %s", argv[2]);
  }

  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_token> tokens(64);
  int32_t n_tokens = llama_tokenize(vocab, prompt.c_str(), static_cast<int32_t>(prompt.size()),
                                    tokens.data(), static_cast<int32_t>(tokens.size()),
                                    /*add_special=*/false, /*parse_special=*/false);
  if (n_tokens <= 0) {
    // No usable tokenizer: fall back to the first few ids.
    n_tokens = std::min<int32_t>(4, n_vocab);
    for (int32_t i = 0; i < n_tokens; ++i) tokens[i] = i;
  }
  tokens.resize(n_tokens);

  llama_batch batch = llama_batch_get_one(tokens.data(), n_tokens);
  const int32_t status = llama_decode(ctx, batch);
  if (status != 0) {
    rc = fail("llama_decode returned %d for %s", status, argv[2]);
  } else {
    const float* logits = llama_get_logits_ith(ctx, -1);
    int64_t n_bad = 0;
    bool all_equal = true;
    for (int32_t i = 0; i < n_vocab; ++i) {
      if (!std::isfinite(logits[i])) ++n_bad;
      if (logits[i] != logits[0]) all_equal = false;
    }
    std::printf("n_vocab %d\nn_tokens %d\ntokens", n_vocab, n_tokens);
    for (llama_token t : tokens) std::printf(" %d", t);
    std::printf("\nlogits");
    for (int32_t i = 0; i < std::min<int32_t>(8, n_vocab); ++i) std::printf(" %.6g", logits[i]);
    std::printf("\n");
    if (n_bad > 0) rc = fail("%lld of %d logits are not finite", (long long)n_bad, n_vocab);
    else if (all_equal) rc = fail("all %d logits are equal (%g)", n_vocab, logits[0]);
  }
  llama_free(ctx);
  llama_model_free(model);
  return rc;
}

// KV cache bytes per token: llama.cpp's own account of the cache it allocates for a context of
// --ctx cells (default 65536, so that its two-decimal MiB figures give bytes per token to
// +-0.1), summed over its caches (one, or full and windowed layers). Prints
// "kv_bytes_per_token X".
int cmd_kv_bytes(int argc, char** argv) {
  if (argc < 3) return usage();
  const int n_ctx = std::atoi(option(argc, argv, 3, "--ctx", "65536").c_str());
  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[2], mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", argv[2]);
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = static_cast<uint32_t>(n_ctx);
  cparams.n_batch = 64;
  cparams.n_ubatch = 64;
  cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  std::string log;
  g_captured = &log;
  llama_context* ctx = llama_init_from_model(model, cparams);
  g_captured = nullptr;
  int rc = 0;
  if (ctx == nullptr) {
    rc = fail("llama_init_from_model failed for %s", argv[2]);
  } else {
    double per_token = 0.0;
    int n_caches = 0;
    for (size_t at = log.find("llama_kv_cache: size ="); at != std::string::npos;
         at = log.find("llama_kv_cache: size =", at + 1)) {
      double mib = 0.0;
      unsigned cells = 0;
      if (std::sscanf(log.c_str() + at, "llama_kv_cache: size = %lf MiB ( %u cells", &mib, &cells) != 2 || cells == 0) {
        rc = fail("cannot read llama.cpp's cache line: %s", log.substr(at, 120).c_str());
        break;
      }
      per_token += mib * 1048576.0 / cells;
      ++n_caches;
    }
    if (rc == 0 && n_caches == 0) rc = fail("llama.cpp logged no KV cache size");
    if (rc == 0) std::printf("kv_bytes_per_token %.2f\ncaches %d\n", per_token, n_caches);
    llama_free(ctx);
  }
  llama_model_free(model);
  return rc;
}

// ---- perplexity ---------------------------------------------------------------------------------
// What llama-perplexity computes by default (tools/perplexity/perplexity.cpp, `perplexity()`),
// restated through the public API: the text is tokenized with special tokens added but not
// parsed; it is cut into chunks of n_ctx tokens; each chunk is decoded from an empty cache as one
// sequence, its first token replaced by BOS when the vocabulary adds one; the logits of positions
// n_ctx/2 .. n_ctx-2 score the token that follows. The log-softmax sums exp in float terms into a
// double, as the tool does. With --kl-base the tool's logits file is written: "_logits_", i32
// n_ctx, i32 n_vocab, i32 n_chunk, the (unreplaced) tokens of the evaluated chunks, then per
// scored position nv = 2*((n_vocab+1)/2)+4 u16: f32 scale, f32 min log-prob, and every token's
// log-probability quantized to 16 bits over the range [max-16, max] of the logits.
// Differences from the tool that do not change the numbers: one sequence per decode (the tool
// packs n_batch/n_ctx chunks into one batch as separate sequences), and a sequential sum of the
// per-position terms (the tool sums per worker thread).

// Round half to even, as the tool's magic-number rounding does in range.
int round_nearest(float x) { return static_cast<int>(std::nearbyint(x)); }

// -log p(next) for one row of logits; when `packed` is set, fills it with the row's packed
// log-probabilities (nv u16).
double score_row(int n_vocab, const float* logits, int next, uint16_t* packed) {
  float hi = logits[0];
  float lo = logits[0];
  for (int i = 1; i < n_vocab; ++i) {
    hi = std::max(hi, logits[i]);
    lo = std::min(lo, logits[i]);
  }
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - hi);  // float exp
  if (packed == nullptr) return -(double(logits[next] - hi) - std::log(sum_exp));
  lo = std::max(lo, hi - 16);
  const float lse = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = lo - hi - lse;
  const float scale = (hi - lo) / 65535.f;
  std::memcpy(packed, &scale, sizeof scale);
  std::memcpy(packed + 2, &min_log_prob, sizeof min_log_prob);
  uint16_t* q = packed + 4;
  if (scale != 0) {
    const float inv = 1 / scale;
    for (int i = 0; i < n_vocab; ++i)
      q[i] = logits[i] > lo ? static_cast<uint16_t>(round_nearest(inv * (logits[i] - lo))) : 0;
  } else {
    std::fill(q, q + n_vocab, uint16_t{0});
  }
  return hi + lse - logits[next];
}

// One sequence on the CPU, as the comparisons run llama.cpp: flash attention off (its CPU kernel
// accumulates V in f16) and an f16 KV cache.
llama_context_params cpu_context_params(int n_ctx, int n_batch, int n_ubatch, int threads) {
  llama_context_params p = llama_context_default_params();
  p.n_ctx = static_cast<uint32_t>(n_ctx);
  p.n_batch = static_cast<uint32_t>(n_batch);
  p.n_ubatch = static_cast<uint32_t>(n_ubatch);
  p.n_seq_max = 1;
  p.n_threads = threads;
  p.n_threads_batch = threads;
  p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  p.type_k = GGML_TYPE_F16;
  p.type_v = GGML_TYPE_F16;
  return p;
}

int cmd_perplexity(int argc, char** argv) {
  if (argc < 5) return usage();
  const char* model_path = argv[2];
  const char* text_path = argv[3];
  const int n_ctx = std::atoi(argv[4]);
  const int chunks_wanted = std::atoi(option(argc, argv, 5, "--chunks", "-1").c_str());
  const int threads = std::atoi(option(argc, argv, 5, "--threads", "2").c_str());
  const std::string base_path = option(argc, argv, 5, "--kl-base", "");
  // llama.cpp against itself: another physical batch size takes other kernels (one token at a
  // time: ggml's vec_dot/gemv; larger: tinyBLAS/gemm), i.e. other float summation orders.
  const int n_ubatch = std::atoi(option(argc, argv, 5, "--ubatch", std::to_string(std::min(n_ctx, 512))).c_str());
  if (n_ctx < 4) return fail("N_CTX must be at least 4");
  if (n_ubatch < 1) return fail("--ubatch must be positive");

  std::ifstream in(text_path, std::ios::binary);
  if (!in) return fail("cannot open %s", text_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // As the tool's -f: one trailing newline is dropped.
  if (!text.empty() && text.back() == '\n') text.pop_back();

  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(model_path, mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", model_path);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  if (llama_vocab_get_add_eos(vocab)) {
    llama_model_free(model);
    return fail("the vocabulary adds EOS; llama-perplexity refuses such models");
  }

  // n_ubatch: the tool's default is 512.
  const llama_context_params cparams = cpu_context_params(n_ctx, n_ctx, std::min(n_ctx, n_ubatch), threads);
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) {
    llama_model_free(model);
    return fail("llama_init_from_model failed for %s", model_path);
  }

  int rc = 0;
  std::vector<llama_token> tokens(text.size() + 2);
  int32_t n_tok = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                                 static_cast<int32_t>(tokens.size()), /*add_special=*/true,
                                 /*parse_special=*/false);
  if (n_tok < 0) {
    tokens.resize(static_cast<size_t>(-n_tok));
    n_tok = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                           static_cast<int32_t>(tokens.size()), true, false);
  }
  const int n_vocab = llama_vocab_n_tokens(vocab);
  const int first = n_ctx / 2;
  const int rows = n_ctx - 1 - first;
  const int nv = 2 * ((n_vocab + 1) / 2) + 4;
  std::ofstream base;
  std::vector<uint16_t> packed;
  llama_batch batch = llama_batch_init(n_ctx, 0, 1);
  if (n_tok < 0) {
    rc = fail("tokenization failed");
  } else if (n_tok < 2 * n_ctx) {
    rc = fail("the text tokenizes to %d tokens; at least 2 * n_ctx = %d are needed", n_tok, 2 * n_ctx);
  } else {
    tokens.resize(static_cast<size_t>(n_tok));
    int n_chunk = n_tok / n_ctx;
    if (chunks_wanted >= 0) n_chunk = std::min(n_chunk, chunks_wanted);
    std::fprintf(stderr, "perplexity: %d tokens, n_ctx %d, %d chunks, n_vocab %d, add_bos %d\n", n_tok,
                 n_ctx, n_chunk, n_vocab, llama_vocab_get_add_bos(vocab) ? 1 : 0);
    if (!base_path.empty()) {
      base.open(base_path, std::ios::binary);
      if (!base) rc = fail("cannot create %s", base_path.c_str());
      const int32_t head[3] = {n_ctx, n_vocab, n_chunk};
      base.write("_logits_", 8);
      base.write(reinterpret_cast<const char*>(head), sizeof head);
      base.write(reinterpret_cast<const char*>(tokens.data()),
                 static_cast<std::streamsize>(size_t(n_chunk) * n_ctx * sizeof(llama_token)));
      packed.resize(size_t(rows) * nv);
    }
    double nll = 0, nll2 = 0;
    long count = 0;
    for (int c = 0; c < n_chunk && rc == 0; ++c) {
      llama_memory_clear(llama_get_memory(ctx), true);
      batch.n_tokens = n_ctx;
      for (int k = 0; k < n_ctx; ++k) {
        const bool bos = k == 0 && llama_vocab_get_add_bos(vocab);
        batch.token[k] = bos ? llama_vocab_bos(vocab) : tokens[size_t(c) * n_ctx + k];
        batch.pos[k] = k;
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = 0;
        batch.logits[k] = k >= first ? 1 : 0;
      }
      const int32_t status = llama_decode(ctx, batch);
      if (status != 0) {
        rc = fail("llama_decode returned %d on chunk %d", status, c);
        break;
      }
      for (int r = 0; r < rows; ++r) {
        const float* row = llama_get_logits_ith(ctx, first + r);
        const int next = tokens[size_t(c) * n_ctx + first + r + 1];
        const double v = score_row(n_vocab, row, next, base.is_open() ? packed.data() + size_t(r) * nv : nullptr);
        nll += v;
        nll2 += v * v;
      }
      if (base.is_open())
        base.write(reinterpret_cast<const char*>(packed.data()),
                   static_cast<std::streamsize>(packed.size() * sizeof(uint16_t)));
      count += rows;
      std::printf("[%d]%.4lf,", c + 1, std::exp(nll / double(count)));
      std::fflush(stdout);
    }
    if (rc == 0) {
      std::printf("\n");
      const double mean = nll / double(count);
      const double ppl = std::exp(mean);
      const double var = nll2 / double(count) - mean * mean;
      if (var > 0) {
        std::printf("Final estimate: PPL = %.4lf +/- %.5lf\n", ppl, std::sqrt(var / double(count - 1)) * ppl);
      } else {
        rc = fail("Unexpected negative standard deviation of log(prob)");
      }
      // More digits than the tool prints, for tight comparisons (stderr keeps stdout as the tool's).
      std::fprintf(stderr, "ppl %.10g mean_nll %.12g count %ld\n", ppl, mean, count);
    }
    if (base.is_open()) {
      base.close();
      if (!base) rc = fail("write to %s failed", base_path.c_str());
    }
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return rc;
}

// ---- logits -------------------------------------------------------------------------------------
// Every position's logits for a token list decoded as one sequence from an empty cache (n_ctx =
// n_batch = the token count, physical batch --ubatch, default all of them), written as raw f32
// [n_tokens][n_vocab]. With --dump DIR, every f32 tensor the graph computes is also written to
// DIR/NAME.K.f32 (K counts repeated names), with "ne0 ne1 ne2 ne3" in DIR/NAME.K.shape: for
// finding where two implementations' arithmetic first parts.
struct DumpState {
  std::string dir;
  std::vector<std::pair<std::string, int>> seen;
};

bool dump_tensor(ggml_tensor* t, bool ask, void* user) {
  auto* st = static_cast<DumpState*>(user);
  if (ask) return t->type == GGML_TYPE_F32;
  if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) return true;
  int k = 0;
  for (auto& [name, count] : st->seen)
    if (name == t->name) k = ++count;
  if (k == 0) st->seen.emplace_back(t->name, 0);
  const std::string base = st->dir + "/" + t->name + "." + std::to_string(k);
  std::vector<float> data(static_cast<size_t>(ggml_nelements(t)));
  ggml_backend_tensor_get(t, data.data(), 0, ggml_nbytes(t));
  if (FILE* f = std::fopen((base + ".f32").c_str(), "wb")) {
    std::fwrite(data.data(), sizeof(float), data.size(), f);
    std::fclose(f);
  }
  if (FILE* f = std::fopen((base + ".shape").c_str(), "w")) {
    std::fprintf(f, "%lld %lld %lld %lld\n", (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                 (long long)t->ne[3]);
    std::fclose(f);
  }
  return true;
}

// "ID ID ..." (any separators) -> token ids; parsing stops at the first non-number.
std::vector<llama_token> parse_tokens(const std::string& list) {
  std::vector<llama_token> tokens;
  for (const char* p = list.c_str(); *p != '\0';) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p) break;
    tokens.push_back(static_cast<llama_token>(v));
    p = end;
  }
  return tokens;
}

// Positions 0..n-1 of sequence 0, every token's output asked for (free with llama_batch_free).
llama_batch one_sequence_batch(const std::vector<llama_token>& tokens) {
  const int n = static_cast<int>(tokens.size());
  llama_batch batch = llama_batch_init(n, 0, 1);
  batch.n_tokens = n;
  for (int k = 0; k < n; ++k) {
    batch.token[k] = tokens[size_t(k)];
    batch.pos[k] = k;
    batch.n_seq_id[k] = 1;
    batch.seq_id[k][0] = 0;
    batch.logits[k] = 1;
  }
  return batch;
}

int cmd_logits(int argc, char** argv) {
  if (argc < 3) return usage();
  const char* model_path = argv[2];
  const std::string list = option(argc, argv, 3, "--tokens", "");
  const std::string out_path = option(argc, argv, 3, "-o", "");
  const int threads = std::atoi(option(argc, argv, 3, "--threads", "2").c_str());
  DumpState dump{option(argc, argv, 3, "--dump", ""), {}};
  const std::vector<llama_token> tokens = parse_tokens(list);
  const int n = static_cast<int>(tokens.size());
  if (n == 0 || out_path.empty()) return usage();
  const int n_ubatch = std::atoi(option(argc, argv, 3, "--ubatch", std::to_string(n)).c_str());

  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(model_path, mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", model_path);
  llama_context_params cparams = cpu_context_params(n, n, std::min(n, n_ubatch), threads);
  if (!dump.dir.empty()) {
    cparams.cb_eval = dump_tensor;
    cparams.cb_eval_user_data = &dump;
  }
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) {
    llama_model_free(model);
    return fail("llama_init_from_model failed for %s", model_path);
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_batch batch = one_sequence_batch(tokens);
  int rc = 0;
  if (const int32_t status = llama_decode(ctx, batch); status != 0) {
    rc = fail("llama_decode returned %d", status);
  } else if (FILE* f = std::fopen(out_path.c_str(), "wb")) {
    for (int k = 0; k < n; ++k) std::fwrite(llama_get_logits_ith(ctx, k), sizeof(float), size_t(n_vocab), f);
    if (std::fclose(f) != 0) rc = fail("write to %s failed", out_path.c_str());
  } else {
    rc = fail("cannot create %s", out_path.c_str());
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return rc;
}

int cmd_embed(int argc, char** argv) {
  if (argc < 3) return usage();
  const char* model_path = argv[2];
  const std::string list = option(argc, argv, 3, "--tokens", "");
  std::string text = option(argc, argv, 3, "--text", "");
  const std::string query = option(argc, argv, 3, "--query", "");
  const std::string document = option(argc, argv, 3, "--document", "");
  const std::string out_path = option(argc, argv, 3, "-o", "");
  const int threads = std::atoi(option(argc, argv, 3, "--threads", "2").c_str());
  const bool rerank = !query.empty();
  if (out_path.empty() || (int(!list.empty()) + int(!text.empty()) + int(rerank)) != 1) return usage();

  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(model_path, mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", model_path);
  std::vector<llama_token> tokens;
  if (!list.empty()) {
    tokens = parse_tokens(list);
  } else {
    const llama_vocab* vocab = llama_model_get_vocab(model);
    // llama.cpp's tokenization, special tokens parsed, added or not.
    auto tokenize = [&](const std::string& s, bool add_special) {
      std::vector<llama_token> ids(s.size() + 8);
      const int32_t k = llama_tokenize(vocab, s.data(), int32_t(s.size()), ids.data(), int32_t(ids.size()),
                                       add_special, /*parse_special=*/true);
      ids.resize(size_t(std::max(k, 0)));
      return ids;
    };
    const char* tmpl = rerank ? llama_model_chat_template(model, "rerank") : nullptr;
    if (rerank && tmpl == nullptr) {  // format_prompt_rerank in llama-server, for a cross-encoder
      llama_token eos = llama_vocab_eos(vocab);
      if (eos == LLAMA_TOKEN_NULL) eos = llama_vocab_sep(vocab);
      if (llama_vocab_get_add_bos(vocab)) tokens.push_back(llama_vocab_bos(vocab));
      const std::vector<llama_token> q = tokenize(query, false), d = tokenize(document, false);
      tokens.insert(tokens.end(), q.begin(), q.end());
      if (llama_vocab_get_add_eos(vocab)) tokens.push_back(eos);
      if (llama_vocab_get_add_sep(vocab)) tokens.push_back(llama_vocab_sep(vocab));
      tokens.insert(tokens.end(), d.begin(), d.end());
      if (llama_vocab_get_add_eos(vocab)) tokens.push_back(eos);
    } else if (rerank) {  // format_prompt_rerank in llama-server, through the model's rerank template
      text = tmpl;
      for (const auto& [from, to] : {std::pair<std::string, std::string>{"{query}", query}, {"{document}", document}})
        for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
          text.replace(at, from.size(), to);
      tokens = tokenize(text, false);
    } else {
      tokens = tokenize(text, true);
    }
  }
  const int n = static_cast<int>(tokens.size());
  if (n == 0) {
    llama_model_free(model);
    return fail("no tokens");
  }
  const int n_ubatch = std::atoi(option(argc, argv, 3, "--ubatch", std::to_string(n)).c_str());
  llama_context_params cparams = cpu_context_params(n, n, std::max(1, std::min(n, n_ubatch)), threads);
  cparams.embeddings = true;  // pooling: the file's (LLAMA_POOLING_TYPE_UNSPECIFIED)
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) {
    llama_model_free(model);
    return fail("llama_init_from_model failed for %s", model_path);
  }
  const int n_embd = llama_pooling_type(ctx) == LLAMA_POOLING_TYPE_RANK ? int(llama_model_n_cls_out(model))
                                                                       : llama_model_n_embd(model);
  llama_batch batch = one_sequence_batch(tokens);  // every token's output, as llama-embedding asks
  int rc = 0;
  const float* embd = nullptr;
  if (const int32_t status = llama_decode(ctx, batch); status != 0) {
    rc = fail("llama_decode returned %d", status);
  } else if ((embd = llama_get_embeddings_seq(ctx, 0)) == nullptr) {
    rc = fail("no pooled embedding (the file sets no pooling type?)");
  } else if (FILE* f = std::fopen(out_path.c_str(), "wb")) {
    std::fwrite(embd, sizeof(float), size_t(n_embd), f);
    if (std::fclose(f) != 0) rc = fail("write to %s failed", out_path.c_str());
    std::printf("%d tokens\n", n);
  } else {
    rc = fail("cannot create %s", out_path.c_str());
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  return rc;
}

// llama-bench's measurement through the C API, so bench/compare.sh can hold hearth's `hearth
// bench` against llama.cpp on the same file without the llama-bench binary (not shipped):
// ppP = one llama_decode of P random tokens (n_batch 2048, n_ubatch 512) from an empty cache,
// tgN = N single-token decodes from an empty cache; one warm-up of each, then mean and sample
// standard deviation of tokens/s over the reps. Flash attention off, f16 KV cache.
int cmd_bench(int argc, char** argv) {
  if (argc < 3) return usage();
  const char* model_path = argv[2];
  const int n_prompt = std::atoi(option(argc, argv, 3, "-p", "512").c_str());
  const int n_gen = std::atoi(option(argc, argv, 3, "-n", "128").c_str());
  const int threads = std::atoi(option(argc, argv, 3, "-t", "2").c_str());
  const int reps = std::atoi(option(argc, argv, 3, "-r", "5").c_str());
  if (n_prompt < 0 || n_gen < 0 || threads < 1 || reps < 1) return fail("bad -p/-n/-t/-r");

  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(model_path, mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", model_path);
  const llama_context_params cparams = cpu_context_params(n_prompt + n_gen + 1, 2048, 512, threads);
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) {
    llama_model_free(model);
    return fail("llama_init_from_model failed for %s", model_path);
  }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  std::srand(42);
  using clock = std::chrono::steady_clock;
  int rc = 0;
  auto pp = [&]() -> double {
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<llama_token> tokens(static_cast<size_t>(n_prompt));
    for (auto& t : tokens) t = std::rand() % n_vocab;
    const auto t0 = clock::now();
    for (int i = 0; i < n_prompt; i += 2048) {
      const int n = std::min(2048, n_prompt - i);
      if (llama_decode(ctx, llama_batch_get_one(tokens.data() + i, n)) != 0) rc = 1;
    }
    llama_synchronize(ctx);
    return n_prompt / std::chrono::duration<double>(clock::now() - t0).count();
  };
  auto tg = [&](int n) -> double {
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_token token = std::rand() % n_vocab;
    const auto t0 = clock::now();
    for (int i = 0; i < n; ++i) {
      if (llama_decode(ctx, llama_batch_get_one(&token, 1)) != 0) rc = 1;
      llama_synchronize(ctx);
      token = std::rand() % n_vocab;
    }
    return n / std::chrono::duration<double>(clock::now() - t0).count();
  };
  auto report = [&](const char* kind, int n, const std::vector<double>& v) {
    double mean = 0, sq = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    for (double x : v) sq += (x - mean) * (x - mean);
    const double sd = v.size() > 1 ? std::sqrt(sq / static_cast<double>(v.size() - 1)) : 0.0;
    std::printf("{\"model\": \"%s\", \"test\": \"%s%d\", \"threads\": %d, "
                "\"tokens_per_second\": %.3f, \"stddev\": %.3f}\n",
                model_path, kind, n, threads, mean, sd);
  };
  if (n_prompt > 0) {
    pp();  // warm-up
    std::vector<double> v;
    for (int r = 0; r < reps; ++r) v.push_back(pp());
    report("pp", n_prompt, v);
  }
  if (n_gen > 0) {
    tg(1);  // warm-up
    std::vector<double> v;
    for (int r = 0; r < reps; ++r) v.push_back(tg(n_gen));
    report("tg", n_gen, v);
  }
  if (rc != 0) fail("llama_decode failed");
  llama_free(ctx);
  llama_model_free(model);
  return rc;
}

// Whether a token's bytes could be a piece of valid UTF-8 (it may start or end mid-character). The
// grammar masks are compared on these tokens only: llama.cpp's decoder also lets through
// invalid lead bytes (C0, C1, F5-FF) and surrogate or overlong starts, which hearth refuses
// since nothing can complete them (tests/grammar holds that on its own).
bool utf8_fragment_ok(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && i < 3 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (len == 0) return false;
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= s.size()) return true;
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      if (k == 1 && ((c == 0xE0 && cc < 0xA0) || (c == 0xED && cc > 0x9F) || (c == 0xF0 && cc < 0x90) || (c == 0xF4 && cc > 0x8F)))
        return false;
    }
    i += len;
  }
  return true;
}

// llama.cpp's grammar sampler along a walk of token ids (one document per line, as `hearth grammar
// bench --write-walk` writes): at each step the sampler masks the whole vocabulary
// (llama_sampler_apply), then accepts the walk's token. Writes "allowed-count hash" per step to
// OUT (the hash is order-free: the sum of (id + 1) * 0x9E3779B97F4A7C15, over the tokens
// utf8_fragment_ok and not control) and prints the timing as JSON: the same lines `hearth grammar
// bench --write-masks` writes, so the masks can be compared step by step.
int cmd_grammar_masks(int argc, char** argv) {
  if (argc < 6) return usage();
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[2], mp);
  if (model == nullptr) return fail("cannot load the vocabulary of %s", argv[2]);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::ifstream g(argv[3]);
  const std::string gbnf((std::istreambuf_iterator<char>(g)), std::istreambuf_iterator<char>());
  std::ifstream w(argv[4]);
  FILE* out = std::fopen(argv[5], "w");
  if (out == nullptr) return fail("cannot create %s", argv[5]);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_token_data> data(static_cast<size_t>(n_vocab));
  // The tokens both sides give the same meaning to: text tokens whose bytes can be valid UTF-8
  // (llama.cpp matches control tokens by their text; hearth never lets a grammar produce one).
  std::vector<char> compared(static_cast<size_t>(n_vocab));
  for (int i = 0; i < n_vocab; ++i) {
    char piece[512];
    const int len = llama_token_to_piece(vocab, i, piece, sizeof piece, 0, true);
    const bool control = (llama_vocab_get_attr(vocab, i) & LLAMA_TOKEN_ATTR_CONTROL) != 0;
    compared[size_t(i)] = len > 0 && !control && utf8_fragment_ok(std::string(piece, size_t(len)));
    if (llama_vocab_is_eog(vocab, i)) compared[size_t(i)] = 1;
  }
  std::vector<double> us;
  size_t refused = 0;  // walk tokens llama.cpp's mask does not allow
  for (std::string line; std::getline(w, line);) {
    std::vector<llama_token> doc;
    for (const char* p = line.c_str(); *p;) {
      char* end = nullptr;
      const long v = std::strtol(p, &end, 10);
      if (end == p) break;
      doc.push_back(static_cast<llama_token>(v));
      p = end;
    }
    if (doc.empty()) continue;
    llama_sampler* s = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
    if (s == nullptr) return fail("llama.cpp refused the grammar %s", argv[3]);
    for (llama_token t : doc) {
      for (int i = 0; i < n_vocab; ++i) data[size_t(i)] = {i, 0.0f, 0.0f};
      llama_token_data_array arr{data.data(), data.size(), -1, false};
      const auto t0 = std::chrono::steady_clock::now();
      llama_sampler_apply(s, &arr);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      unsigned long long count = 0, hash = 0;
      for (size_t i = 0; i < arr.size; ++i)
        if (arr.data[i].logit != -INFINITY && compared[size_t(arr.data[i].id)]) {
          ++count;
          hash += static_cast<unsigned long long>(arr.data[i].id + 1) * 0x9E3779B97F4A7C15ull;
        }
      std::fprintf(out, "%llu %llx\n", count, hash);
      if (t < 0 || t >= n_vocab || arr.data[t].logit == -INFINITY) ++refused;
      if (llama_vocab_is_eog(vocab, t)) break;
      llama_sampler_accept(s, t);
    }
    llama_sampler_free(s);
  }
  std::fclose(out);
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double v : us) sum += v;
  const auto pct = [&](double q) {
    return sorted.empty() ? 0.0 : sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * double(sorted.size())))];
  };
  std::printf("{\"tokens\": %zu, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f, \"refused\": %zu}\n",
              us.size(), us.empty() ? 0.0 : sum / double(us.size()), pct(0.5), pct(0.99),
              sorted.empty() ? 0.0 : sorted.back(), refused);
  llama_model_free(model);
  return 0;
}

// Tokenizer throughput: the whole file tokenized by llama_tokenize (no BOS, special-token text
// not parsed) N times; prints the best run as "bytes tokens seconds MB/s".
int cmd_tokenize_bench(int argc, char** argv) {
  if (argc < 4) return usage();
  const int repeat = std::max(1, std::atoi(option(argc, argv, 4, "--repeat", "3").c_str()));
  std::ifstream in(argv[3], std::ios::binary);
  if (!in) return fail("cannot read %s", argv[3]);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  load_backends();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  mparams.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[2], mparams);
  if (model == nullptr) return fail("llama_model_load_from_file failed for %s", argv[2]);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> tokens(text.size() + 16);
  double best = 1e30;
  int32_t n_tokens = 0;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    n_tokens = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                              static_cast<int32_t>(tokens.size()), /*add_special=*/false, /*parse_special=*/false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  llama_model_free(model);
  if (n_tokens < 0) return fail("llama_tokenize failed (%d)", n_tokens);
  std::printf("%zu %d %.6f %.3f\n", text.size(), n_tokens, best, text.size() / best / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* verbose = std::getenv("HARNESS_VERBOSE");
  g_verbose = verbose != nullptr && *verbose != '\0' && std::strcmp(verbose, "0") != 0;
  llama_log_set(log_callback, nullptr);
  llama_backend_init();

  const std::string cmd = argv[1];
  int rc = 2;
  if (cmd == "quantize") {
    rc = cmd_quantize(argc, argv);
  } else if (cmd == "types") {
    rc = cmd_types(argc, argv);
  } else if (cmd == "dequant") {
    rc = cmd_dequant(argc, argv);
  } else if (cmd == "load") {
    rc = cmd_load(argc, argv);
  } else if (cmd == "kv-bytes") {
    rc = cmd_kv_bytes(argc, argv);
  } else if (cmd == "bench") {
    rc = cmd_bench(argc, argv);
  } else if (cmd == "logits") {
    rc = cmd_logits(argc, argv);
  } else if (cmd == "embed") {
    rc = cmd_embed(argc, argv);
  } else if (cmd == "perplexity") {
    rc = cmd_perplexity(argc, argv);
  } else if (cmd == "grammar-masks") {
    rc = cmd_grammar_masks(argc, argv);
  } else if (cmd == "tokenize-bench") {
    rc = cmd_tokenize_bench(argc, argv);
  } else if (cmd == "ftypes") {
    for (const FtypeName& f : kFtypes) std::printf("%s\t%d\n", f.name, static_cast<int>(f.ftype));
    rc = 0;
  } else {
    rc = usage();
  }
  llama_backend_free();
  return rc;
}
