"""Render the ruleset reference (``docs/rules-reference.md``) from the ruleset's JSON schema.

Every key of a ruleset file, with its type, whether it is required, its default and its description,
comes from :func:`safeguard.rules.schema.ruleset_json_schema` (the schema ``safeguard schema`` prints),
so the reference cannot drift from what the loader accepts. Regenerate with
``python -m safeguard.rules.reference > docs/rules-reference.md``; a test fails when the file and the
schema disagree.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from safeguard.classifiers.base import available, get_classifier_class
from safeguard.rules.schema import ruleset_json_schema

__all__ = ["render"]

_DEFS_PREFIX = "#/$defs/"
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
    "object": "mapping",
    "array": "list",
}


def render(schema: Mapping[str, Any] | None = None) -> str:
    """The Markdown reference of a ruleset file: one table for the top level, one per nested object."""
    document: Mapping[str, Any] = ruleset_json_schema() if schema is None else schema
    defs: Mapping[str, Mapping[str, Any]] = document.get("$defs", {})
    used_in = dict(_references(document, defs))
    lines = [
        "# Ruleset reference",
        "",
        "Generated from the ruleset schema by `python -m safeguard.rules.reference > docs/rules-reference.md`;",
        "do not edit by hand. The same schema is `schema/ruleset.schema.json` (`safeguard schema` prints it);",
        "point an editor at it with `# yaml-language-server: $schema=...` at the top of a rule file.",
        "",
    ]
    if "$schema" in document or "$id" in document:
        lines += [f"Schema `{document.get('$id', '')}`, JSON Schema `{document.get('$schema', '')}`.", ""]
    lines += _object_section(str(document.get("title") or "Ruleset file"), document, defs, "")
    for name, definition in defs.items():
        lines += _object_section(name, definition, defs, used_in.get(name, ""))
    lines += _classifier_options()
    return "\n".join(lines).rstrip() + "\n"


def _classifier_options() -> list[str]:
    """One table per built-in classifier that declares its options (:mod:`safeguard.options`)."""
    lines = [
        "## Classifier options",
        "",
        "The options each classifier takes under `classifiers: {NAME: {kind: KIND, ...}}`, from its options",
        "class; a name not listed is refused. Paths are relative to the ruleset file. The toxicity backends",
        "are described in the classifiers' documentation.",
        "",
    ]
    for kind in available():
        options_type = getattr(get_classifier_class(kind), "options_type", None)
        if options_type is None:
            continue
        lines += [f"### {kind}", "", "| option | type | default | description |", "| --- | --- | --- | --- |"]
        hints = typing.get_type_hints(options_type)
        for f in dataclasses.fields(options_type):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            node = TypeAdapter(hints[f.name]).json_schema()  # the field's type as the schema would say it
            lines.append(
                f"| `{f.name}` | {_cell(_type(node, node.get('$defs', {})))} | `{json.dumps(default, default=str)}` "
                f"| {_cell(_one_line(f.metadata.get('doc')))} |"
            )
        lines.append("")
    return lines


def _object_section(
    title: str, node: Mapping[str, Any], defs: Mapping[str, Mapping[str, Any]], where: str
) -> list[str]:
    lines = [f"## {title}", ""]
    description = _one_line(node.get("description"))
    if description:
        lines += [description, ""]
    facts = []
    if where:
        facts.append(f"Used for {where}.")
    if node.get("additionalProperties") is False:
        facts.append("Keys not listed here are refused.")
    if facts:
        lines += [" ".join(facts), ""]
    properties: Mapping[str, Mapping[str, Any]] = node.get("properties", {})
    required = set(node.get("required", []))
    lines += ["| key | type | required | default | description |", "| --- | --- | --- | --- | --- |"]
    for key, prop in properties.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        row = [f"`{key}`", _type(prop, defs), "yes" if key in required else "no", default, _description(prop)]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    return lines


def _references(document: Mapping[str, Any], defs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(definition name, where it is used) for every ``$ref`` among the top-level keys."""
    for key, prop in document.get("properties", {}).items():
        for name, suffix in _refs_in(prop, ""):
            if name in defs:
                yield name, _place(key, suffix)


def _place(key: str, suffix: str) -> str:
    """Where a definition is used, in words: ``each item of `rules```, ``each value of `lists```."""
    if suffix == "[]":
        return f"each item of `{key}`"
    if suffix == ".*":
        return f"each value of `{key}`"
    return f"`{key}{suffix}`"


def _refs_in(node: Any, suffix: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, Mapping):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        yield ref[len(_DEFS_PREFIX) :], suffix
    if "items" in node:
        yield from _refs_in(node["items"], suffix + "[]")
    for option in node.get("anyOf", []):
        yield from _refs_in(option, suffix)
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield from _refs_in(additional, suffix + ".*")


def _type(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """A schema node's type in words: ``string or null``, ``list of string``, ``one of `allow`, ...``."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX):
        name = ref[len(_DEFS_PREFIX) :]
        return f"[{name}](#{_anchor(name)})" if name in defs else name
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v) if not isinstance(v, str) else v}`" for v in node["enum"])
    if "anyOf" in node:
        return _alternatives([_type(option, defs) for option in node["anyOf"]])
    kind = node.get("type")
    if isinstance(kind, Sequence) and not isinstance(kind, str):
        return _alternatives([_type({**node, "type": k}, defs) for k in kind])
    if kind == "array":
        items = node.get("items")
        return "list" + (f" of {_grouped(_type(items, defs))}" if isinstance(items, Mapping) and items else "")
    if kind == "object":
        additional = node.get("additionalProperties")
        if isinstance(additional, Mapping):
            inner = _grouped(_type(additional, defs))
            if additional.get("additionalProperties") is True:
                inner += " (any keys)"
            return f"mapping of name to {inner}"
        return "mapping"
    if node.get("format") == "path":
        return "path"
    text = _JSON_TYPES.get(str(kind), str(kind)) if kind is not None else "any value"
    return text + _constraints(node)


def _grouped(words: str) -> str:
    """A type inside a list or mapping, in parentheses when it has alternatives."""
    return f"({words})" if " or " in words else words


def _constraints(node: Mapping[str, Any]) -> str:
    parts = []
    if "minimum" in node and "maximum" in node:
        parts.append(f"{node['minimum']} to {node['maximum']}")
    elif "minimum" in node:
        parts.append(f"at least {node['minimum']}")
    elif "maximum" in node:
        parts.append(f"at most {node['maximum']}")
    if "pattern" in node:
        parts.append(f"matching `{node['pattern']}`")
    if "minLength" in node:
        parts.append(f"at least {node['minLength']} characters")
    return f" ({', '.join(parts)})" if parts else ""


def _alternatives(options: list[str]) -> str:
    unique = list(dict.fromkeys(options))
    if len(unique) == 1:
        return unique[0]
    return ", ".join(unique[:-1]) + " or " + unique[-1]


def _description(node: Mapping[str, Any]) -> str:
    text = _one_line(node.get("description"))
    if not text:
        for option in node.get("anyOf", []):
            if isinstance(option, Mapping) and option.get("description"):
                return _one_line(option["description"])
    return text


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(name: str) -> str:
    return "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c in "-_")


if __name__ == "__main__":
    print(render(), end="")
