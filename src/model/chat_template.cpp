// The public face of the Jinja interpreter: parse once, render per conversation, errors as
// Status values naming the template line.
#include "model/chat_template.h"

#include <nlohmann/json.hpp>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"
#include "model/jinja/interpreter.h"
#include "model/jinja/parser.h"

namespace lingua {

struct ChatTemplate::Parsed {
  jinja::NodeList body;
};

Expected<ChatTemplate> ChatTemplate::parse(const std::string& source) {
  try {
    auto parsed = std::make_shared<Parsed>();
    parsed->body = jinja::parse_template(source);
    ChatTemplate t;
    t.parsed_ = std::move(parsed);
    return t;
  } catch (const jinja::TemplateError& e) {
    return Status::error("line " + std::to_string(e.line()) + ": " + e.what());
  }
}

Expected<std::string> ChatTemplate::render(const ChatTemplateInput& input) const {
  jinja::Dict globals = jinja::make_globals();
  globals.set("messages", input.messages);
  globals.set("add_generation_prompt", jinja::Value::boolean(input.add_generation_prompt));
  globals.set("bos_token", jinja::Value::string(input.bos_token));
  globals.set("eos_token", jinja::Value::string(input.eos_token));
  globals.set("tools", jinja::Value::none());
  globals.set("documents", jinja::Value::none());
  for (const auto& [k, v] : input.extra) globals.set(k, v);
  try {
    jinja::Interpreter interp(std::move(globals));
    return interp.render(parsed_->body);
  } catch (const jinja::RaisedError& e) {
    return Status::error("line " + std::to_string(e.line()) + ": template raised: " + e.what());
  } catch (const jinja::TemplateError& e) {
    return Status::error("line " + std::to_string(e.line()) + ": " + e.what());
  }
}

namespace {
jinja::Value from_json(const nlohmann::ordered_json& j) {
  using jinja::Value;
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      jinja::ValueList items;
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      jinja::Dict d;
      for (const auto& [k, v] : j.items()) d.set(k, from_json(v));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}
}  // namespace

Expected<jinja::Value> json_to_template_value(const std::string& json_text) {
  try {
    return from_json(nlohmann::ordered_json::parse(json_text));
  } catch (const nlohmann::json::exception& e) {
    return Status::error(std::string("invalid JSON: ") + e.what());
  }
}

Status check_messages(const jinja::Value& messages) {
  if (!messages.is_list()) return Status::error("messages must be a JSON array of {\"role\": ..., \"content\": ...}");
  size_t i = 0;
  for (const jinja::Value& m : messages.items()) {
    if (!m.is_dict()) return Status::error("message " + std::to_string(i) + " is not a JSON object");
    const jinja::Value* role = m.entries().find("role");
    if (!role || !role->is_string()) return Status::error("message " + std::to_string(i) + " has no string \"role\"");
    ++i;
  }
  return Status::ok();
}

}  // namespace lingua
