// Unit tests of the chat-template Jinja interpreter's pieces: expressions with Python values,
// filters, tests, whitespace control, loops, scoping, macros, namespaces, and the errors that
// name a construct and its line. Each expected output is also checked against jinja2 (set up as
// transformers sets it up) when /usr/bin/python3 has it, so the table itself is verified.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "test_paths.h"

namespace {

struct Case {
  const char* tmpl;
  const char* vars;  // JSON object of extra variables
  const char* expected;
};

const char* kMsgs = R"({"msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                                 {"role": "user", "content": "again"}],
                        "m": {"role": "user", "content": "hi"}, "d": {"x": 1, "y": 2}, "x": 1})";

const std::vector<Case>& cases() {
  static const std::vector<Case> k = {
      // expressions and Python printing
      {"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }}", "{}", "7 9 1024 64"},
      {"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}", "{}", "3 -4 1 2 3.5 2.0"},
      {"{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 123456789.125 }} {{ -0.5 }}", "{}",
       "1.0 0.30000000000000004 1e+20 1.5e-07 123456789.125 -0.5"},
      {"{{ true }} {{ none }} {{ [1, 'a', none, true, 2.0] }} {{ {'k': 'v', 'n': 1} }} {{ (1,) }} {{ ('a', 2) }}", "{}",
       "True None [1, 'a', None, True, 2.0] {'k': 'v', 'n': 1} (1,) ('a', 2)"},
      {"{{ {'a': [1, {'b': \"it's\"}], 'q': 'say \"hi\"\\n'} }}", "{}", "{'a': [1, {'b': \"it's\"}], 'q': 'say \"hi\"\\n'}"},
      {"{{ 'a' ~ 1 ~ none ~ nothing }}|{{ 'tab\\there' }}|{{ '\\u00e9\\x41\\'' }}|{{ \"dq\\\"\" }}", "{}",
       "a1None|tab\there|\xc3\xa9" "A'|dq\""},
      {"{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' == 'a' }} {{ [1, 2] == [1, 2] }} {{ 'a' != 1 }} {{ 2 > 1.5 }} {{ 'b' >= 'a' }}",
       "{}", "True True True True True True True"},
      {"{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in nothing }}", "{}",
       "True True True True False"},
      {"{{ 'x' if 0 else 'y' }}{{ 'z' if 1 }}{{ 'w' if 0 }}", "{}", "yz"},
      {"{{ 0 or 'd' }} {{ 1 and 'e' }} {{ not 0 }} {{ not x is defined }} {{ none or [] }}", kMsgs, "d e True False []"},
      {"{{ 'hello'[::-1] }} {{ [1, 2, 3, 4][1:3] }} {{ 'h\xc3\xa9llo'[1:3] }} {{ [1, 2, 3][-1] }} {{ 'abc'[-2:] }} "
       "{{ [1, 2, 3, 4, 5][::2] }} {{ [1, 2, 3][5] }}",
       "{}", "olleh [2, 3] \xc3\xa9l 3 bc [1, 3, 5] "},
      {"{{ m.role }}/{{ m['content'] }}/{{ m.missing }}/{{ m.get('x', 'dflt') }}/{{ m.get('y') }}/{{ msgs[1].content }}",
       kMsgs, "user/hi//dflt/None/yo"},
      // filters
      {"{{ '  x  '|trim }}|{{ 'aB'|upper }}|{{ 'aB'|lower }}|{{ 'hello World'|capitalize }}|{{ 'hello big-world'|title }}|"
       "{{ 'aaa'|replace('a', 'b', 2) }}|{{ '--x--'|trim('-') }}",
       "{}", "x|AB|ab|Hello world|Hello Big-World|bba|x"},
      {"{{ [3, 1]|length }} {{ 'h\xc3\xa9llo'|length }} {{ [1, 2, 3]|join(', ') }} {{ nothing|default('d') }} "
       "{{ none|default('d') }} {{ ''|default('d', true) }} {{ {'a': 1}|count }}",
       "{}", "2 5 1, 2, 3 d None d 1"},
      {"{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'ab'|list }} {{ '42'|int + 1 }} {{ '2.5'|float }} {{ 2.567|round(2) }} "
       "{{ -3|abs }} {{ ['a', 'A', 'b']|unique|list }} {{ 3|string ~ 'x' }} {{ 'x'|int }}",
       "{}", "1 3 ['a', 'b'] 43 2.5 2.57 3 ['a', 'b'] 3x 0"},
      {"{{ {'a': [1, 2.5, none, true], '\xc3\xa9': 'x\"y\\n'}|tojson }}", "{}",
       "{\"a\": [1, 2.5, null, true], \"\xc3\xa9\": \"x\\\"y\\n\"}"},
      {"{{ {'a': [1], 'b': {}, 'c': []}|tojson(indent=2) }}", "{}", "{\n  \"a\": [\n    1\n  ],\n  \"b\": {},\n  \"c\": []\n}"},
      {"{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'x'|tojson }}", "{}", "{\"a\": 2, \"b\": 1} \"x\""},
      {"{% for k, v in {'b': 1, 'a': 2}|items %}{{ k }}={{ v }};{% endfor %}"
       "{% for k, v in {'b': 1, 'a': 2}|dictsort %}{{ k }}={{ v }};{% endfor %}",
       "{}", "b=1;a=2;a=2;b=1;"},
      {"{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} "
       "{{ msgs|rejectattr('role', 'eq', 'user')|list|length }} {{ [1, 2, 3, 4]|select('even')|list }} "
       "{{ ['a', 'b']|map('upper')|list }} {{ [0, 1, '']|select|list }} {{ [1, 2]|reject('in', [2])|list }}",
       kMsgs, "hi,again 1 [2, 4] ['A', 'B'] [1] [1]"},
      {"{{ msgs|selectattr('role', 'equalto', 'user') is iterable }} {{ none|selectattr('x')|list }}", kMsgs, "True []"},
      {"[{{ 'a\nb\n\nc'|indent(2) }}] [{{ 'a\nb'|indent(2, true) }}] [{{ 'a\n\nb'|indent(1, blank=true) }}]", "{}",
       "[a\n  b\n\n  c] [  a\n  b] [a\n \n b]"},
      {"{{ '<b>'|safe + '<i>' }} {{ '<' ~ '<'|safe }}", "{}", "<b>&lt;i&gt; <<"},
      // tests
      {"{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} "
       "{{ [] is iterable }} {{ 1 is number }} {{ 1 is integer }} {{ true is integer }} {{ true is boolean }} "
       "{{ 1.0 is float }} {{ 3 is odd }} {{ 'a' is in 'abc' }} {{ 1 is equalto 1 }} {{ 1 is ne 2 }} {{ 'a' is not string }} "
       "{{ y is iterable }} {{ false is false }} {{ [1] is sequence }}",
       kMsgs, "True True True True True True True True False True True True True True True False True True True"},
      // whitespace control, trim_blocks and lstrip_blocks as transformers sets them
      {"a\n{% if true %}\nb\n{% endif %}\nc", "{}", "a\nb\nc"},
      {"x\n    {% if true %}y{% endif %}\n", "{}", "x\ny"},
      {"x\n    {% if true %}\n    y\n    {% endif %}\nz\n\n", "{}", "x\n    y\nz\n"},
      {"a  {%- if true -%}  b  {%- endif %}  c", "{}", "ab  c"},
      {"a {{- 'b' -}} c|{{ 'a' }}\n{{ 'b' }}", "{}", "abc|a\nb"},
      {"a{# note #}\nb {#- trimmed -#} c\n  {# indented #}\nd", "{}", "abc\nd"},
      {"  {%+ if true %}x{% endif %}|  {{ 'v' }}", "{}", "  x|  v"},
      {"{% if true %}a{% endif +%}\nb", "{}", "a\nb"},
      {"line1\r\nline2\r\n", "{}", "line1\nline2"},
      // loops
      {"{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
       "{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
       "{}", "10TrueFalse332|21FalseFalse321|32FalseTrue310|"},
      {"{% for x in [] %}x{% else %}empty{% endfor %}{% for x in nothing %}{% endfor %}", "{}", "empty"},
      {"{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}"
       "{% endfor %}",
       "{}", "0134"},
      {"{% for i in range(6) if i is even %}{{ i }}{{ ',' if not loop.last }}{% endfor %} {{ range(2, 8, 3)|list }}", "{}",
       "0,2,4 [2, 5]"},
      {"{% for x in msgs %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{% endfor %}", kMsgs,
       "->user>assistant>"},
      {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %} {% for k in d %}{{ k }}{% endfor %} "
       "{% for c in 'h\xc3\xa9' %}[{{ c }}]{% endfor %}",
       kMsgs, "37 xy [h][\xc3\xa9]"},
      {"{% for i in [1, 2] %}{% for j in [3, 4] %}{{ loop.index }}{{ i * j }} {% endfor %}{{ loop.index }};{% endfor %}",
       "{}", "13 24 1;16 28 2;"},
      // scoping and namespaces
      {"{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", "{}", "21"},
      {"{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}"
       "{% endfor %}{{ ns.n }} {{ ns.s }}",
       "{}", "3 012"},
      {"{% if true %}{% set y = 5 %}{% endif %}{{ y }}{% set a, b = 1, 2 %}{{ a }}{{ b }}", "{}", "512"},
      {"{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}", "{}", "0101010"},
      {"{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}", "{}", "aba"},
      {"{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, z=4) }}{{ m() }}", "{}",
       "1(2, 3){'z': 4}(){}"},
      {"{{ d.items() }} {{ d.keys() }} {{ d.values()|list }} {{ d.items()|length }}", kMsgs,
       "dict_items([('x', 1), ('y', 2)]) dict_keys(['x', 'y']) [1, 2] 2"},
      // macros, block set, filter blocks
      {"{% macro greet(name, greeting='Hi') %}{{ greeting }}, {{ name }}!{% endmacro %}"
       "{{ greet('Ann') }} {{ greet('Bo', greeting='Yo') }} {{ greet('Cy', 'Hey') }} [{{ greet() }}]",
       "{}", "Hi, Ann! Yo, Bo! Hey, Cy! [Hi, !]"},
      {"{% set top = 'T' %}{% macro m(n) %}{% for i in range(n) %}{{ top }}{% endfor %}{% endmacro %}{{ m(3) }}{{ m(1) ~ '!' }}",
       "{}", "TTTT!"},
      {"{% set s %}a{{ 1 }}b{% endset %}[{{ s }}]{% filter upper %}abc{{ 'd' }}{% endfilter %}", "{}", "[a1b]ABCD"},
      {"{% generation %}gen{% endgeneration %}", "{}", "gen"},
      // str and dict methods
      {"{{ 'a,b,,c'.split(',') }} {{ '  x '.strip() }} {{ 'xxhixx'.strip('x') }} {{ 'Hello'.startswith('He') }} "
       "{{ 'Hello'.endswith(('lo', 'x')) }} {{ 'a b  c'.split() }} {{ 'hello world'.title() }} {{ 'a-b'.replace('-', '+') }} "
       "{{ 'ab'.upper() }} {{ 'a b c'.split(' ', 1) }} {{ ' x '.lstrip() }}| {{ ' x '.rstrip() }}|",
       "{}",
       "['a', 'b', '', 'c'] x hi True True ['a', 'b', 'c'] Hello World a+b AB ['a', 'b c'] x |  x|"},
      {"{% for k in d.keys() %}{{ k }}{% endfor %}{% for v in d.values() %}{{ v }}{% endfor %}"
       "{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %} {{ d.get('x') }}",
       kMsgs, "xy12x1y2 1"},
      {"{{ '<think>a</think>b'.split('</think>')[-1].lstrip('\\n') }} {{ 'x'.join(['a', 'b']) }}", "{}", "b axb"},
  };
  return k;
}

lingua::Expected<std::string> render(const std::string& tmpl, const std::string& vars_json) {
  auto parsed = lingua::ChatTemplate::parse(tmpl);
  if (!parsed) return parsed.status();
  lingua::ChatTemplateInput input;
  auto vars = lingua::json_to_template_value(vars_json);
  if (!vars) return vars.status();
  for (const auto& [k, v] : vars->entries().entries) input.extra.emplace_back(k, v);
  return parsed->render(input);
}

TEST(Jinja, RendersAsPython) {
  for (const Case& c : cases()) {
    auto out = render(c.tmpl, c.vars);
    ASSERT_TRUE(out) << c.tmpl << "\n  error: " << out.error();
    EXPECT_EQ(*out, c.expected) << c.tmpl;
  }
}

// The table above, rendered by jinja2 itself: the expectations are jinja2's, not ours.
TEST(Jinja, TableMatchesJinja2) {
  namespace fs = std::filesystem;
  if (!fs::exists("/usr/bin/python3") || std::system("/usr/bin/python3 -c 'import jinja2' 2>/dev/null") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with jinja2 (Debian python3-jinja2, tools/setup.sh) is absent";
  nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
  for (const Case& c : cases()) {
    nlohmann::ordered_json job = {{"template", c.tmpl}, {"messages", nlohmann::json::array()},
                                  {"add_generation_prompt", false}, {"bos_token", ""}, {"eos_token", ""},
                                  {"vars", nlohmann::ordered_json::parse(c.vars)}};
    jobs.push_back(job);
  }
  const fs::path dir = fs::temp_directory_path() / ("lingua_jinja_unit_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.json") << jobs.dump();
  const std::string cmd = "/usr/bin/python3 '" + lingua::testing::source_dir() + "/tests/model/chat_template_reference.py' < '" +
                          (dir / "in.json").string() + "' > '" + (dir / "out.json").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(dir / "out.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const auto results = nlohmann::json::parse(ss.str());
  fs::remove_all(dir);
  ASSERT_EQ(results.size(), cases().size());
  for (size_t i = 0; i < cases().size(); ++i) {
    ASSERT_TRUE(results[i]["ok"].get<bool>()) << cases()[i].tmpl << "\n  jinja2: " << results[i].dump();
    EXPECT_EQ(results[i]["text"].get<std::string>(), cases()[i].expected) << cases()[i].tmpl;
  }
}

void expect_error(const std::string& tmpl, const std::string& needle, const char* vars = "{}") {
  auto out = render(tmpl, vars);
  ASSERT_FALSE(out) << tmpl << " rendered: " << *out;
  EXPECT_NE(out.error().find(needle), std::string::npos) << tmpl << "\n  error: " << out.error() << "\n  wanted: " << needle;
}

TEST(Jinja, UnsupportedConstructsNameThemselvesAndTheirLine) {
  expect_error("a\n\n{{ x|wordwrap }}", "line 3: filter 'wordwrap' is not supported");
  expect_error("{% if x is escaped %}{% endif %}", "line 1: test 'escaped' is not supported");
  expect_error("a\n{% include 'other.jinja' %}", "line 2: statement 'include' is not supported");
  expect_error("{% for x in y recursive %}{% endfor %}", "line 1: recursive for loops are not supported");
  expect_error("\n{{ 'a'.format(1) }}", "line 2: method str.format() is not supported");
  expect_error("{{ '%s' % 1 }}", "line 1: string formatting with '%' is not supported");
  expect_error("{{ [1]|map('upper') }}", "line 1: printing a generator");
  expect_error("{{ msgs|map('wordwrap')|list }}", "line 1: filter 'wordwrap' is not supported", kMsgs);
}

TEST(Jinja, SyntaxErrorsNameTheLine) {
  expect_error("{% if x %}\nok\n{% endfor %}", "line 3: unknown statement 'endfor'");
  expect_error("\n{{ 1 + }}", "line 2: expected an expression, found '}}'");
  expect_error("{% if x %}abc", "unexpected end of template");
  expect_error("a\n{{ 'unterminated }}", "line 2: unterminated string literal");
  expect_error("{# never closed", "line 1: unterminated comment");
  expect_error("{% break %}", "line 1: 'break' outside of a for loop");
  expect_error("{{ a b }}", "line 1: expected '}}', found 'b'");
}

TEST(Jinja, HostileTemplatesFailCleanly) {
  expect_error("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}", "nests deeper than");
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "{% if true %}";
  expect_error(nested, "nests deeper than");
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro 'f' recursed deeper than 200 calls");
  expect_error("{{ 'ab' * 100000000000 }}", "repetition result is too large");
  expect_error("{{ range(100000000)|length }}", "range is too long");
}

TEST(Jinja, RuntimeErrorsAsJinja2Words) {
  expect_error("\n\n{{ raise_exception('Roles must alternate') }}", "line 3: template raised: Roles must alternate");
  expect_error("{{ foo.bar }}", "line 1: 'foo' is undefined");
  expect_error("{{ m.missing.deeper }}", "'dict object' has no attribute 'missing'", kMsgs);
  expect_error("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str");
  expect_error("{{ 1 // 0 }}", "integer division or modulo by zero");
  expect_error("{{ nothing|tojson }}", "Object of type Undefined is not JSON serializable");
  expect_error("{{ [1]|map('string')|tojson }}", "Object of type generator is not JSON serializable");
  expect_error("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable");
  expect_error("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object");
  expect_error("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", "macro 'm' takes not more than 1 argument(s)");
  expect_error("{{ d.items()|tojson }}", "Object of type dict_items is not JSON serializable", kMsgs);
}

TEST(Jinja, StrftimeNowFormatsTheLocalTime) {
  auto out = render("{{ strftime_now('%Y') }}", "{}");
  ASSERT_TRUE(out) << out.error();
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  EXPECT_EQ(*out, std::to_string(local.tm_year + 1900));
}

TEST(Jinja, ChatVariablesReachTheTemplate) {
  auto t = lingua::ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ eos_token }}{{ tools is none }}");
  ASSERT_TRUE(t) << t.error();
  lingua::ChatTemplateInput input;
  input.messages = *lingua::json_to_template_value(R"([{"role": "user", "content": "héllo"}])");
  input.bos_token = "<s>";
  input.eos_token = "</s>";
  auto without = t->render(input);
  ASSERT_TRUE(without) << without.error();
  EXPECT_EQ(*without, "<s><user>héllo</s>True");
  input.add_generation_prompt = true;
  EXPECT_EQ(*t->render(input), "<s><user>héllo<assistant></s>True");
}

TEST(Jinja, MessagesAreChecked) {
  EXPECT_FALSE(lingua::check_messages(*lingua::json_to_template_value(R"({"role": "user"})")));
  EXPECT_FALSE(lingua::check_messages(*lingua::json_to_template_value(R"([{"content": "no role"}])")));
  EXPECT_FALSE(lingua::check_messages(*lingua::json_to_template_value(R"([1])")));
  EXPECT_TRUE(lingua::check_messages(*lingua::json_to_template_value(R"([{"role": "user", "content": "x"}])")));
  EXPECT_FALSE(lingua::json_to_template_value("[{"));
}

}  // namespace
