#!/usr/bin/python3
# Reference renderer for the chat-template parity test: Debian's python3-jinja2 set up the way
# Hugging Face transformers sets it up for chat templates (immutable sandbox, trim_blocks,
# lstrip_blocks, loop controls, a {% generation %} tag, its own tojson, raise_exception and
# strftime_now). Reads a JSON array of jobs on stdin, writes a JSON array of results.
#   job:    {"template": str, "messages": [...], "add_generation_prompt": bool,
#            "bos_token": str, "eos_token": str, "tools": [...] or absent (None),
#            "vars": {more template variables} or absent}
#   result: {"ok": true, "text": str} or {"ok": false, "error": str, "kind": exception class}
import json
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("jinja2 is not installed", file=sys.stderr)
    sys.exit(3)


class GenerationTag(Extension):
    # transformers marks assistant output with {% generation %}; rendering just emits the body.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = make_env()
    compiled = {}
    results = []
    for job in json.load(sys.stdin):
        try:
            source = job["template"]
            if source not in compiled:
                compiled[source] = env.from_string(source)
            text = compiled[source].render(
                messages=job["messages"], tools=job.get("tools"), documents=None,
                add_generation_prompt=job["add_generation_prompt"],
                bos_token=job["bos_token"], eos_token=job["eos_token"], **job.get("vars", {}))
            results.append({"ok": True, "text": text})
        except Exception as e:  # every failure is a result to compare, never a crash
            results.append({"ok": False, "error": str(e), "kind": type(e).__name__})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
