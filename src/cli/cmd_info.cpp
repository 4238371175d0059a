// `lingua info`: what a GGUF file holds (metadata, tensors, types, sizes), without loading weights.
#include <cstdio>
#include <algorithm>
#include <map>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/json_out.h"
#include "model/gguf.h"

namespace lingua::cli {
namespace {

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s;
  for (uint64_t d : dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

// Metadata as JSON values; long arrays (vocabularies) are summarized unless everything is asked for.
nlohmann::json to_json(const gguf::Value& v, bool all) {
  using gguf::ValueType;
  switch (v.type) {
    case ValueType::STRING: return v.as_string().value();
    case ValueType::BOOL: return v.as_bool().value();
    case ValueType::FLOAT32:
    case ValueType::FLOAT64: return v.as_f64().value();
    case ValueType::INT8:
    case ValueType::INT16:
    case ValueType::INT32:
    case ValueType::INT64: return v.as_i64().value();
    case ValueType::ARRAY: {
      const gguf::Array* a = v.as_array();
      nlohmann::json items = nlohmann::json::array();
      const size_t shown = all ? a->items.size() : std::min<size_t>(a->items.size(), 16);
      for (size_t i = 0; i < shown; ++i) items.push_back(to_json(a->items[i], all));
      if (shown == a->items.size()) return items;
      return {{"array_of", gguf::value_type_name(a->element_type)}, {"count", a->items.size()}, {"first", items}};
    }
    default: return v.as_u64().value();
  }
}

class InfoCommand : public Command {
 public:
  const char* name() const override { return "info"; }
  const char* summary() const override { return "show a model file's metadata and tensors"; }

  void setup(CLI::App& app) override {
    app.add_option("-m,--model", model_, "GGUF file")->required();
    app.add_flag("--json", json_, "print one JSON document");
    app.add_flag("--all", all_, "show long metadata arrays and every tensor");
  }

  int run() override {
    auto file = gguf::File::open(model_);
    if (!file) return fail(name(), file.error());
    const gguf::File& f = *file;
    uint64_t params = 0, bytes = 0;
    std::map<std::string, uint64_t> by_type;
    for (const auto& t : f.tensors()) {
      params += t.elements();
      bytes += t.bytes;
      by_type[dtype_name(t.type)] += t.bytes;
    }
    if (json_) {
      nlohmann::json meta = nlohmann::json::object();
      for (const auto& [k, v] : f.metadata()) meta[k] = to_json(v, all_);
      nlohmann::json tensors = nlohmann::json::array();
      for (const auto& t : f.tensors())
        tensors.push_back({{"name", t.name}, {"type", dtype_name(t.type)}, {"dims", t.dims}, {"bytes", t.bytes},
                           {"offset", t.offset}});
      print_json({{"path", model_}, {"version", f.version()}, {"alignment", f.alignment()},
                  {"file_bytes", f.file_size()}, {"parameters", params}, {"tensor_bytes", bytes},
                  {"metadata", meta}, {"tensors", tensors}});
      return 0;
    }
    std::printf("%s: GGUF v%u, %s, %zu metadata keys, %zu tensors, %llu parameters\n", model_.c_str(), f.version(),
                human_bytes(f.file_size()).c_str(), f.metadata().size(), f.tensors().size(),
                static_cast<unsigned long long>(params));
    std::printf("\nmetadata:\n");
    for (const auto& [k, v] : f.metadata()) std::printf("  %-44s %s\n", k.c_str(), v.to_display(all_ ? SIZE_MAX : 8).c_str());
    std::printf("\ntensor bytes by type:");
    for (const auto& [t, b] : by_type) std::printf("  %s %s", t.c_str(), human_bytes(b).c_str());
    std::printf("\n\ntensors:\n");
    size_t shown = 0;
    for (const auto& t : f.tensors()) {
      if (!all_ && shown == 24) {
        std::printf("  ... %zu more (--all shows every tensor)\n", f.tensors().size() - shown);
        break;
      }
      std::printf("  %-36s %-6s %-20s %s\n", t.name.c_str(), dtype_name(t.type), dims_text(t.dims).c_str(),
                  human_bytes(t.bytes).c_str());
      ++shown;
    }
    return 0;
  }

 private:
  std::string model_;
  bool json_ = false, all_ = false;
};

}  // namespace

std::unique_ptr<Command> make_info_command() { return std::make_unique<InfoCommand>(); }

}  // namespace lingua::cli
