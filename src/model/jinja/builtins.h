// The filters, tests and global functions a chat template may use: names are checked when the
// template is parsed, so an unsupported one is an error naming it and its line before rendering.
#pragma once
#include <string>

#include "model/jinja/value.h"

namespace lingua::jinja {

bool is_supported_filter(const std::string& name);
bool is_supported_test(const std::string& name);

// value | name(args): throws TemplateError on bad arguments.
Value apply_filter(const std::string& name, const Value& value, CallArgs& args, Interpreter& interp);
// value is name(args)
bool apply_test(const std::string& name, const Value& value, CallArgs& args, Interpreter& interp);
// value.name(args) for str and dict methods; throws naming an unsupported method.
Value call_method(const Value& object, const std::string& name, CallArgs& args);
// range, namespace, dict, raise_exception, strftime_now.
Dict make_globals();

// Python's json.dumps as transformers' tojson filter calls it (ensure_ascii=False, key order kept).
std::string to_json(const Value& value, int indent, bool ensure_ascii, bool sort_keys,
                    const std::string& item_sep, const std::string& key_sep, int line);

}  // namespace lingua::jinja
