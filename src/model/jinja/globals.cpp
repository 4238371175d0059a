// The global functions templates call: jinja2's range, namespace and dict, and the two that
// transformers adds, raise_exception(message) and strftime_now(format).
#include <ctime>

#include "model/jinja/builtins.h"
#include "model/jinja/error.h"

namespace lingua::jinja {

Dict make_globals() {
  Dict g;
  g.set("range", Value::callable("range", [](CallArgs& args, Interpreter&) {
          if (args.positional.empty() || args.positional.size() > 3)
            throw TemplateError(args.line, "range expects 1 to 3 integer arguments");
          for (const Value& v : args.positional)
            if (!v.is_int() && !v.is_bool()) throw TemplateError(args.line, "range expects integers");
          int64_t start = 0, stop = 0, step = 1;
          if (args.positional.size() == 1) {
            stop = args.positional[0].as_int();
          } else {
            start = args.positional[0].as_int();
            stop = args.positional[1].as_int();
            if (args.positional.size() == 3) step = args.positional[2].as_int();
          }
          if (step == 0) throw TemplateError(args.line, "range() arg 3 must not be zero");
          ValueList out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() > 1000000) throw TemplateError(args.line, "range is too long");
            out.push_back(Value::integer(i));
          }
          return Value::list(out);
        }));
  auto from_args = [](CallArgs& args, const char* what) {
    Dict d;
    for (const Value& p : args.positional) {
      if (!p.is_dict()) throw TemplateError(args.line, std::string(what) + "() takes a mapping or keyword arguments");
      for (const auto& [k, v] : p.entries().entries) d.set(k, v);
    }
    for (const auto& [k, v] : args.keyword) d.set(k, v);
    return d;
  };
  g.set("namespace", Value::callable("namespace", [from_args](CallArgs& args, Interpreter&) {
          return Value::namespace_object(from_args(args, "namespace"));
        }));
  g.set("dict", Value::callable("dict", [from_args](CallArgs& args, Interpreter&) {
          return Value::dict(from_args(args, "dict"));
        }));
  g.set("raise_exception", Value::callable("raise_exception", [](CallArgs& args, Interpreter&) -> Value {
          throw RaisedError(args.line, args.positional.empty() ? "" : args.positional[0].str());
        }));
  g.set("strftime_now", Value::callable("strftime_now", [](CallArgs& args, Interpreter&) {
          if (args.positional.empty() || !args.positional[0].is_string())
            throw TemplateError(args.line, "strftime_now needs a format string");
          const std::time_t now = std::time(nullptr);
          std::tm local{};
          localtime_r(&now, &local);
          char buf[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
          // The format comes from the template, as Python's strftime takes it.
          const size_t n = std::strftime(buf, sizeof buf, args.positional[0].as_string().c_str(), &local);
#pragma GCC diagnostic pop
          return Value::string(std::string(buf, n));
        }));
  return g;
}

}  // namespace lingua::jinja
