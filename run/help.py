"""`python train.py --help`: every config key with its default and its one-line docstring, read from the dataclasses."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from functools import cache

from run.load import available
from run.schema import RunConfig


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) of a dataclass, as litgpt writes them."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for stmt, nxt in zip(body, body[1:]):
        is_field = isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        is_doc = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)
        if is_field and is_doc:
            docs[stmt.target.id] = nxt.value.value.strip()
    return docs


def _rows(cls: type, prefix: str = ""):
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            yield from _rows(type(default), f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", default, docs.get(f.name, "")


def help_text() -> str:
    lines = [
        "usage: python train.py [recipe=NAME] [size=NAME] [data=NAME] [key=value ...]",
        f"recipes: {', '.join(available())}",
        f"sizes:   {', '.join(available('size'))}    data presets: {', '.join(available('data'))}",
        "",
        "config keys (defaults before the size preset and recipe are applied):",
    ]
    for key, default, doc in _rows(RunConfig):
        lines.append(f"  {key:<32} {default!s:<14} {doc}")
    return "\n".join(lines)
