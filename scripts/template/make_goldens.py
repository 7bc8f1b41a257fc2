#!/usr/bin/env python3
"""Render the chat-template goldens with Python Jinja2, the reference implementation.

Reads the Nemotron 3 Nano chat template from ../shared/fixtures (never copied into this repo) and the
conversations in test/fixtures/template/cases.json, renders each one the way transformers'
apply_chat_template does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
a json.dumps-based tojson filter, raise_exception, strftime_now; render(messages=, tools=,
documents=None, add_generation_prompt=, **kwargs)) and writes test/fixtures/template/expected/<name>.txt.

It also writes test/fixtures/template/pyformat.json: Python's str(), repr(), json.dumps() and
str.strip() results for a list of values, so the TypeScript emulation of those is checked against
Python itself rather than against what we believe Python does.

Usage: python3 scripts/template/make_goldens.py   (from the repository root or anywhere)
"""

import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(REPO, "..", "shared", "fixtures", "nemotron3-nano-chat-template.jinja")
FIXTURES = os.path.join(REPO, "test", "fixtures", "template")


def compile_template(source):
    # Mirrors transformers.utils.chat_template_utils._cached_compile_jinja_template (minus the
    # {% generation %} tracker, which this template does not use).
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def render_case(compiled, case, tool_sets):
    tools = case.get("tools")
    if isinstance(tools, str):
        tools = tool_sets[tools]
    kwargs = dict(case.get("kwargs", {}))
    return compiled.render(
        messages=case["messages"],
        tools=tools,
        documents=None,
        add_generation_prompt=case.get("add_generation_prompt", False),
        **kwargs,
    )


PYFORMAT_VALUES = r"""[
  0, 1, -1, 123456789012, 0.0, -0.0, 1.0, -2.0, 0.5, 0.1, 1.5e-7, 1e-05, 0.0001, 0.001, 123.456,
  1e15, 1e16, 1e17, 1.5e16, 12345678901234567.0, 1e21, 1e22, 1e100, 2.5e-300, 3.14159,
  1.7976931348623157e308, 5e-324, 100.0, 1234567.0,
  true, false, null,
  "", "plain", "it's", "say \"hi\"", "both ' and \"", "back\\slash", "tab\there", "nl\nline", "cr\rx",
  "\u0000\u0001\u001f\u007f", "\u0085\u00a0\u00ad", "é東京🌧️", "\u200b\u2028\u2029\ufeff", "\ud7ff\ue000",
  [], {}, [1, "a", true, null, 2.0, [3]], {"k": "v", "n": 1, "f": 1.0, "b": false, "z": null, "l": [1.5]},
  {"b": 1, "10": 2, "a": {"2": 2, "1": 1}}, {"quote'key": "x", "dq\"": "y"}
]"""

STRIP_SAMPLES = [
    " \t\n\r\x0b\x0cabc \t\n",
    "\x1c\x1d\x1e\x1fabc\x1f",
    "\x85abc\xa0",
    "\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000abc\u3000",
    "\ufeffabc\ufeff",
    "\u200babc\u200b",
    "   ",
    "",
]


def pyformat_goldens():
    values = json.loads(PYFORMAT_VALUES)
    out = {"values_json": PYFORMAT_VALUES, "str": [], "repr": [], "dumps": [], "dumps_indent2": [], "strip": []}
    for v in values:
        out["str"].append(str(v))
        out["repr"].append(repr(v))
        out["dumps"].append(json.dumps(v, ensure_ascii=False))
        out["dumps_indent2"].append(json.dumps(v, ensure_ascii=False, indent=2))
    out["dumps_ascii"] = [json.dumps(v, ensure_ascii=True) for v in values]
    out["dumps_sorted_compact"] = [json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for v in values]
    for s in STRIP_SAMPLES:
        out["strip"].append({"input": s, "strip": s.strip(), "lstrip": s.lstrip(), "rstrip": s.rstrip()})
    return out


# Small templates exercising the Python/Jinja2 behaviours the renderer emulates. `vars` is JSON text
# so both sides parse the same input (Python json.loads, TypeScript parseJsonLossless).
SNIPPET_VARS = r"""{
  "s": "  a,b,,c  ", "u": "héllo🌧️", "n": null, "t": true, "f": 1.0, "g": 2.5, "i": 7, "big": 1e21,
  "lst": [1, "a", true, null, 1.0, [2]], "d": {"b": 1, "a": [1, 2], "items": "key-not-method", "10": "ten"},
  "people": [{"name": "ann", "on": true}, {"name": "bob", "on": false}, {"name": "cy", "on": true}],
  "obj": {"x": 1.5, "y": "é", "z": [true, null], "w": {"q": 0.0001}}, "mixed": ["b", "A", "c", "a"]
}"""

SNIPPETS = [
    ("print_scalars", "{{ t }}|{{ n }}|{{ f }}|{{ g }}|{{ i }}|{{ big }}|{{ undefined_thing }}|{{ 0.00001 }}|{{ 100.0 }}"),
    ("print_containers", "{{ lst }}|{{ d }}|{{ obj }}|{{ [1, 'it''s'] }}"),
    ("string_filter", "{{ t|string }}|{{ n|string }}|{{ f|string }}|{{ lst|string }}|{{ d|string }}"),
    ("tilde_concat", "{{ 'a' ~ n ~ t ~ f ~ g ~ i ~ lst }}"),
    ("trim_filter", "[{{ s|trim }}]|[{{ 'xxhixx'|trim('x') }}]|[{{ n|trim }}]|[{{ '\u3000 wide \u3000'|trim }}]"),
    ("str_methods", "[{{ s.strip() }}]|[{{ s.lstrip() }}]|[{{ s.rstrip(' c') }}]|{{ s.split() }}|{{ s.split(',') }}|"
                    "{{ s.split(',', 1) }}|{{ s.rsplit(',', 1) }}|{{ ' a  b c '.split(none, 1) }}|{{ ' a  b c '.rsplit(none, 1) }}"),
    ("str_methods2", "{{ '-'.join(['x', 'y']) }}|{{ s.find('b') }}|{{ u.find('o') }}|{{ s.rfind(',') }}|{{ s.count(',') }}|"
                     "{{ 'l1\nl2\r\nl3'.splitlines() }}|{{ 'prefix-x'.removeprefix('prefix-') }}|{{ 'x.txt'.removesuffix('.txt') }}|"
                     "{{ s.startswith('  a') }}|{{ 'a,b'.replace(',', ';') }}|{{ u.upper() }}|{{ 'Hello World'|lower }}"),
    ("tojson_filter", "{{ obj|tojson }}|{{ lst|tojson }}|{{ u|tojson }}|{{ obj|tojson(ensure_ascii=true) }}|"
                      "{{ d|tojson(sort_keys=true) }}|{{ obj|tojson(separators=(',', ':')) }}|{{ f|tojson }}|{{ big|tojson }}"),
    ("tojson_indent", "{{ obj|tojson(indent=2) }}\n{{ [] |tojson(indent=2) }}"),
    ("length_filter", "{{ u|length }}|{{ lst|length }}|{{ d|length }}|{{ u|count }}|{{ lst|join(', ') }}|{{ people|join(',', attribute='name') }}"),
    ("tests", "{{ d is iterable }}|{{ s is iterable }}|{{ i is iterable }}|{{ t is number }}|{{ f is number }}|{{ i is integer }}|"
              "{{ t is integer }}|{{ f is float }}|{{ i is float }}|{{ d is mapping }}|{{ s is sequence }}|{{ d is sequence }}|"
              "{{ n is none }}|{{ nope is defined }}|{{ s is string }}|{{ t is boolean }}|{{ d is not iterable }}"),
    ("dict_access", "{{ d.items is defined }}|{{ d['items'] }}|{{ d.get('b') }}|{{ d.get('zz', 'dflt') }}|{{ d.b }}|{{ d['10'] }}|"
                    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }},{% endfor %}|{{ 'b' in d }}"),
    ("loops", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}{% endif %}{{ i }}{% endfor %}|"
              "{% for p in people if p.on %}{{ loop.index }}{{ p.name }}{{ '' if loop.last else ',' }}{% endfor %}|"
              "{% for x in [] %}x{% else %}empty{% endfor %}|"
              "{% for x in lst %}{{ loop.previtem is defined }}{% endfor %}|{{ range(1, 10, 3)|list }}"),
    ("namespace_macro_set", "{% set ns = namespace(c=0) %}{% for p in people %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}|"
                            "{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=t) }}|"
                            "{% set blk %}in{{ i }}side{% endset %}{{ blk }}"),
    ("misc_filters", "{{ nope|default('dflt') }}|{{ ''|default('empty', true) }}|{{ people|map(attribute='name')|list }}|"
                     "{{ people|selectattr('on')|map(attribute='name')|join('+') }}|{{ lst|first }}|{{ mixed|sort|list }}|"
                     "{{ mixed|reverse|list }}|{{ '3'|int + 1 }}|{{ '2.5'|float }}|{{ 3.7|int }}|{{ i|string|length }}"),
    ("arith_compare", "{{ 10 // 3 }}|{{ 10 / 4 }}|{{ 10 / 5 }}|{{ 2 ** 10 }}|{{ 7 % 3 }}|{{ 1 == 1.0 }}|{{ 'a' in 'abc' }}|"
                      "{{ 2 in [1, 2] }}|{{ i > 3 and not n }}|{{ 'abcdef'[1:3] }}|{{ lst[-1] }}|{{ u[1] }}|{{ -g }}|{{ i - 10 }}"),
    ("int_round_mod_format", "{{ (0 - 3.7)|int }}|{{ '42'|int }}|{{ '3.9'|int }}|{{ 'x'|int }}|{{ 'x'|int(5) }}|{{ t|int }}|"
                             "{{ 2.5|round }}|{{ 3.5|round }}|{{ -2.5|round }}|{{ 2.567|round(2) }}|{{ 2.1|round(0, 'ceil') }}|{{ 2.9|round(method='floor') }}|"
                             "{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 7.5 % 2 }}|{{ '%s-%d' % ('a', 3.9) }}|{{ '%05.1f|%-4s|%x|%r' % (g, 'ab', 255, u) }}|"
                             "{{ '%(a)s+%(b)s' % {'a': 1, 'b': n} }}|{{ '%s'|format(lst) }}|{{ '%d%%' % 50 }}|{{ 'v=%s' % t }}"),
    ("whitespace_control", "{% if t %}\n    line1\n{% endif %}\n  {% for x in [1, 2] %}\n  item {{ x }}\n  {% endfor %}\n{#- c -#}\n  end {{- ' x ' -}} !\n"),
]

STRFTIME_FORMATS = ["%Y-%m-%d", "%d %b %Y", "%A, %B %d, %Y %H:%M:%S", "%I:%M %p", "%j %y %a %w", "%-d/%-m", "%%Y literal"]


def snippet_goldens():
    values = json.loads(SNIPPET_VARS)
    env = compile_template("").environment
    out = {"vars_json": SNIPPET_VARS, "snippets": []}
    for name, src in SNIPPETS:
        out["snippets"].append({"name": name, "template": src, "expected": env.from_string(src).render(**values)})
    fixed = datetime(2024, 1, 5, 13, 7, 9, 123000)
    out["strftime"] = {"date": [2024, 1, 5, 13, 7, 9, 123], "cases": [[f, fixed.strftime(f)] for f in STRFTIME_FORMATS]}
    return out


def main():
    if not os.path.exists(TEMPLATE):
        sys.exit(f"template not found: {TEMPLATE}")
    with open(TEMPLATE, encoding="utf-8") as f:
        source = f.read()
    compiled = compile_template(source)
    with open(os.path.join(FIXTURES, "cases.json"), encoding="utf-8") as f:
        spec = json.load(f)
    out_dir = os.path.join(FIXTURES, "expected")
    os.makedirs(out_dir, exist_ok=True)
    names = set()
    for case in spec["cases"]:
        name = case["name"]
        assert name not in names, f"duplicate case {name}"
        names.add(name)
        rendered = render_case(compiled, case, spec["tools"])
        # newline="" keeps the bytes exactly as rendered on every platform.
        with open(os.path.join(out_dir, name + ".txt"), "w", encoding="utf-8", newline="") as f:
            f.write(rendered)
    with open(os.path.join(FIXTURES, "pyformat.json"), "w", encoding="utf-8") as f:
        json.dump(pyformat_goldens(), f, ensure_ascii=True, indent=1)
        f.write("\n")
    with open(os.path.join(FIXTURES, "snippets.json"), "w", encoding="utf-8") as f:
        json.dump(snippet_goldens(), f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"jinja2 {jinja2.__version__}: wrote {len(names)} goldens to {os.path.relpath(out_dir, REPO)}")


if __name__ == "__main__":
    main()
