// What the model-file fuzz targets do with a file that opened: read its hyperparameters, check
// its tensor table against the architecture's slots, and size the KV cache's layers, as loading
// would, so every later layer's sizes come from checked values.
#pragma once

#include <cstddef>

#include "model/arch.h"
#include "model/model_file.h"
#include "model/transformer.h"

namespace hearth::fuzz {

inline void check_model(const ModelFile& model) {
  auto hp = read_hparams(model);
  if (!hp.ok()) return;
  const ArchSpec* arch = find_arch(model.architecture());
  if (arch == nullptr) return;
  if (!validate_tensors(model, *arch, *hp).ok()) return;
  volatile size_t sink = kv_layer_shapes(*hp).size();
  (void)sink;
}

}  // namespace hearth::fuzz
