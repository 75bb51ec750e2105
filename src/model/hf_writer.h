// ModelFile -> Hugging Face folder (config.json + model.safetensors + tokenizer files): the
// inverse of hf_loader.cpp, so open_hf_folder(write_hf_folder(m)) gives back m's tensors.
#pragma once

#include <string>

#include "base/result.h"
#include "model/model_file.h"

namespace hearth {

// Writes `out_dir` (created if missing):
//  - config.json: the inverse of the loader's mapping (architectures, model_type, sizes, rope
//    scaling, tie_word_embeddings, bos/eos ids, torch_dtype);
//  - model.safetensors: every tensor under its HF name, F32/F16/BF16 bytes unchanged, llama's
//    Q/K rows un-permuted back to HF's layout, streamed tensor by tensor from the source mapping.
//    A synthesized rope_freqs.weight is not written (config.json's llama3 rope_scaling carries
//    it). Quantized tensors are refused: this writer never changes numbers.
//  - tokenizer.json, tokenizer_config.json, generation_config.json, special_tokens_map.json,
//    tokenizer.model, vocab.json, merges.txt, added_tokens.json, chat_template.jinja, copied from
//    `tokenizer_src_dir` when it has them (it may be empty). If no tokenizer_config.json was
//    copied but the model has tokenizer.chat_template, a minimal tokenizer_config.json holding
//    it is written.
Status write_hf_folder(const ModelFile& model, const std::string& out_dir,
                       const std::string& tokenizer_src_dir);

}  // namespace hearth
