"""A small evaluator for the Data Factory expression language subset infra/ uses.

Enough to check that the pipeline's expressions produce what the Functions app accepts:
`@fn(args).prop[index]`, string literals ('it''s'), numbers, true/false/null, and the
functions concat, if, equals, not, and, or, empty, json, string, item, pipeline, activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[().,\[\]]))"
)


@dataclass
class Scope:
    parameters: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)  # activity name -> output
    item: Any = None
    trigger_time: str = "2026-01-01T00:00:00.1234567Z"  # pipeline().TriggerTime, ADF's form


def evaluate(expression: str, scope: Scope) -> Any:
    """The value of an ADF expression (`@...`); plain strings are returned unchanged."""
    if not expression.startswith("@") or expression.startswith("@@"):
        return expression
    parser = _Parser(_tokens(expression[1:]), scope)
    value = parser.expr()
    if parser.pos != len(parser.tokens):
        raise ValueError(f"unexpected {parser.tokens[parser.pos]!r} in {expression!r}")
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot read expression at {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], scope: Scope) -> None:
        self.tokens, self.pos, self.scope = tokens, 0, scope

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ValueError(f"expected {value!r}, found {token!r}")
        self.pos += 1
        return token

    def expr(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        elif kind == "name" and text in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[text]
        elif kind == "name":
            self.take("(")
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.expr())
                if self.peek() == ("op", ","):
                    self.take(",")
            self.take(")")
            value = self.call(text, args)
        else:
            raise ValueError(f"unexpected {text!r}")
        return self.accessors(value)

    def accessors(self, value: Any) -> Any:
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                value = value[self.take()[1]]
            else:
                index = self.expr()
                self.take("]")
                value = value[index]
        return value

    def call(self, name: str, args: list[Any]) -> Any:
        scope = self.scope
        functions = {
            "concat": lambda *a: "".join(str(x) for x in a),
            "if": lambda c, a, b: a if c else b,
            "equals": lambda a, b: a == b,
            "not": lambda a: not a,
            "and": lambda *a: all(a),
            "or": lambda *a: any(a),
            "empty": lambda a: a is None or len(a) == 0,
            "json": lambda a: json.loads(a) if isinstance(a, str) else a,
            "string": lambda a: a if isinstance(a, str) else json.dumps(a),
            "item": lambda: scope.item,
            "pipeline": lambda: {"parameters": scope.parameters, "TriggerTime": scope.trigger_time},
            "activity": lambda n: {"output": scope.outputs[n]},
        }
        if name not in functions:
            raise ValueError(f"function {name}() is not supported by this checker")
        return functions[name](*args)
