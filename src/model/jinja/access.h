// Python's object protocol on template values as jinja2 applies it: obj.name and obj[key] (a
// missing one is Undefined carrying jinja2's message), what `for` walks, `in`, and len().
#pragma once
#include <cstdint>
#include <string>

#include "model/jinja/value.h"

namespace lingua::jinja {

Value get_attribute(const Value& object, const std::string& name, int line);
Value get_item(const Value& object, const Value& key, int line);
ValueList iterate(const Value& value, int line);  // what `for x in value` walks
bool contains(const Value& container, const Value& item, int line);
int64_t length_of(const Value& value, int line);
// Using an undefined value (its attribute, item, arithmetic): jinja2's UndefinedError.
[[noreturn]] void fail_undefined(const Value& undefined, int line);

}  // namespace lingua::jinja
