// libFuzzer target: arbitrary bytes as a Hugging Face folder's text files. The input is split at
// NUL bytes into config.json, tokenizer.json and README.md (the last two optional), written into
// one folder per process beside a fixed model.safetensors of small tensors; then the folder is
// opened as a model (hf_loader.cpp: every family's config keys, the WordPiece vocabulary, the
// reranker's class tokens, the tensor names) and, if it opens, its hyperparameters and tensor
// table are checked as fuzz_model_file checks a GGUF's. Every input must be accepted or refused
// cleanly; nothing may be sized from an unchecked value (-malloc_limit_mb).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "check_model.h"
#include "model/model_file.h"
#include "safetensors/safetensors.h"

namespace {

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

// The folder, made once: tensors under the names several families use, so the name tables,
// the reranker's head rows and the expert stacking all have something to read.
const std::filesystem::path& folder() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() / ("hearth-fuzz-hf-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    static std::vector<float> zeros(64, 0.0f);
    std::vector<hearth::safetensors::TensorToWrite> tensors;
    for (const char* name : {"model.embed_tokens.weight", "lm_head.weight", "model.layers.0.self_attn.q_proj.weight",
                             "embeddings.word_embeddings.weight", "encoder.layers.0.attn.Wqkv.weight",
                             "bert.pooler.dense.weight", "classifier.weight", "model.layers.0.experts.gate_up_proj",
                             "model.layers.0.mlp.experts.0.gate_proj.weight", "model.norm.weight"}) {
      hearth::safetensors::TensorToWrite t;
      t.name = name;
      t.dtype = hearth::safetensors::Dtype::F32;
      t.shape = {8, 8};
      t.write = [](const hearth::safetensors::Emit& emit) -> hearth::Status {
        return emit({reinterpret_cast<const uint8_t*>(zeros.data()), zeros.size() * sizeof(float)});
      };
      tensors.push_back(std::move(t));
    }
    (void)hearth::safetensors::write_file((d / "model.safetensors").string(), tensors, {});
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (parts.size() < 2) {
    const size_t nul = input.find('\0', begin);
    if (nul == std::string_view::npos) break;
    parts.push_back(input.substr(begin, nul - begin));
    begin = nul + 1;
  }
  parts.push_back(input.substr(begin));
  const std::filesystem::path& dir = folder();
  const char* names[] = {"config.json", "tokenizer.json", "README.md"};
  for (size_t i = 0; i < 3; ++i) {
    std::error_code ec;
    if (i < parts.size()) write_file(dir / names[i], parts[i]);
    else std::filesystem::remove(dir / names[i], ec);
  }
  auto model = hearth::ModelFile::open(dir.string());
  if (!model.ok()) return 0;
  hearth::fuzz::check_model(*model);
  return 0;
}
