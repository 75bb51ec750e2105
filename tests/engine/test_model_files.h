// Random-weight model files for the engine tests, made once per test binary run under
// HEARTH_TEST_TMP (mkmodel, deterministic by seed) and opened.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "model/mkmodel.h"
#include "model/model_file.h"

namespace hearth::test {

inline ModelFile open_test_model(const std::string& dir, const std::string& preset, const std::string& type,
                                 uint64_t seed) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + preset + "-" + type + ".gguf";
  if (!std::filesystem::exists(path)) {
    MkModelOptions o;
    o.preset = preset;
    o.type = type;
    o.output = path;
    o.seed = seed;
    o.vocab_dir = std::string(HEARTH_SHARED_DIR) + "/testdata/vocab";
    o.chat_template_dir = "";
    auto r = make_random_model(o);
    EXPECT_TRUE(r.ok()) << r.error().message;
  }
  auto m = ModelFile::open(path);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return std::move(*m);
}

}  // namespace hearth::test
