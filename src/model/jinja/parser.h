// Turns template tokens into the node tree: jinja2's statement set as chat templates use it
// and its expression grammar with jinja2's precedence (filters bind tighter than operators).
#pragma once
#include <string>

#include "model/jinja/ast.h"

namespace lingua::jinja {

// Throws TemplateError naming the line of a syntax error or an unsupported construct.
NodeList parse_template(const std::string& source);

}  // namespace lingua::jinja
