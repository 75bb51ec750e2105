// Loading the safetensors weights of a Hugging Face folder: one model.safetensors, or shards named
// by model.safetensors.index.json. The index comes from outside, so shard names are checked to be
// plain file names in the folder before anything is opened.
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "safetensors/json_strict.h"
#include "safetensors/safetensors.h"

namespace hearth::safetensors {
namespace {

constexpr size_t kMaxIndexBytes = 64ull << 20;  // real index files are ~100 KB
constexpr size_t kMaxShards = 100'000;

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// A shard name from index.json must name a file directly inside the folder.
Status check_shard_name(const std::string& index_path, const std::string& tensor,
                        const std::string& shard) {
  bool bad = shard.empty() || shard == "." || shard == ".." ||
             shard.find_first_of("/\\") != std::string::npos;
  for (char c : shard) bad = bad || static_cast<unsigned char>(c) < 0x20;
  if (bad)
    return make_error(
        "{}: weight_map['{}']: shard name '{}' must be a plain file name in the folder "
        "(no path separators, '..' or control characters)",
        index_path, tensor, shard);
  const std::string_view suffix = ".safetensors";
  if (shard.size() <= suffix.size() ||
      shard.compare(shard.size() - suffix.size(), suffix.size(), suffix) != 0)
    return make_error("{}: weight_map['{}']: shard name '{}' does not end in .safetensors",
                      index_path, tensor, shard);
  return Status::Ok();
}

}  // namespace

Result<Folder> Folder::open(const std::string& dir, const ParseLimits& limits) {
  if (!is_directory(dir)) return make_error("{}: not a directory", dir);
  Folder folder;
  folder.dir_ = dir;

  const std::string single = join(dir, "model.safetensors");
  const std::string index_path = join(dir, "model.safetensors.index.json");
  if (is_regular_file(single)) {
    HEARTH_TRY(File file, File::open(single, limits));
    folder.shards_.push_back(std::move(file));
  } else if (is_regular_file(index_path)) {
    HEARTH_TRY(std::string text, read_text_file(index_path, kMaxIndexBytes));
    HEARTH_TRY(nlohmann::ordered_json index, parse_json_strict(text, index_path, 0, 16));
    if (!index.is_object())
      return make_error("{}: must be a JSON object, got {}", index_path, index.type_name());
    auto map_it = index.find("weight_map");
    if (map_it == index.end()) return make_error("{}: missing field 'weight_map'", index_path);
    if (!map_it->is_object())
      return make_error("{}: field 'weight_map' must be an object, got {}", index_path,
                        map_it->type_name());
    if (map_it->empty()) return make_error("{}: field 'weight_map' is empty", index_path);

    std::map<std::string, std::string> tensor_to_shard;
    std::set<std::string> shard_names;
    for (const auto& [tensor, shard_value] : map_it->items()) {
      if (!shard_value.is_string())
        return make_error("{}: weight_map['{}'] must be a string, got {}", index_path, tensor,
                          shard_value.type_name());
      std::string shard = shard_value.get<std::string>();
      HEARTH_RETURN_IF_ERROR(check_shard_name(index_path, tensor, shard));
      shard_names.insert(shard);
      tensor_to_shard.emplace(tensor, std::move(shard));
    }
    if (shard_names.size() > kMaxShards)
      return make_error("{}: {} shards exceed the limit of {}", index_path, shard_names.size(),
                        kMaxShards);

    // Shards in sorted order, as llama.cpp's converter reads them.
    for (const std::string& shard : shard_names) {
      std::string path = join(dir, shard);
      if (!is_regular_file(path))
        return make_error(
            "{}: shard '{}' named in weight_map does not exist (tensor '{}')", index_path, shard,
            std::find_if(tensor_to_shard.begin(), tensor_to_shard.end(), [&](const auto& kv) {
              return kv.second == shard;
            })->first);
      HEARTH_TRY(File file, File::open(path, limits));
      folder.shards_.push_back(std::move(file));
    }
    std::map<std::string, size_t> shard_index;
    size_t i = 0;
    for (const std::string& shard : shard_names) shard_index[shard] = i++;
    for (const auto& [tensor, shard] : tensor_to_shard) {
      if (folder.shards_[shard_index[shard]].find(tensor) == nullptr)
        return make_error("{}: weight_map['{}'] names shard '{}', which has no such tensor",
                          index_path, tensor, shard);
    }
    for (const File& file : folder.shards_) {
      for (const TensorInfo& t : file.tensors()) {
        auto it = tensor_to_shard.find(t.name);
        if (it == tensor_to_shard.end() || join(dir, it->second) != file.name())
          return make_error("{}: tensor '{}' is in shard '{}' but weight_map does not map it there",
                            index_path, t.name, file.name());
      }
    }
  } else {
    return make_error("{}: no model.safetensors or model.safetensors.index.json", dir);
  }

  for (size_t s = 0; s < folder.shards_.size(); ++s) {
    const std::vector<TensorInfo>& tensors = folder.shards_[s].tensors();
    for (size_t t = 0; t < tensors.size(); ++t) {
      if (!folder.index_.emplace(tensors[t].name, folder.entries_.size()).second)
        return make_error("{}: tensor '{}' appears in more than one shard", dir, tensors[t].name);
      folder.entries_.push_back(Entry{s, t});
    }
  }
  return folder;
}

const Folder::Entry* Folder::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

}  // namespace hearth::safetensors
