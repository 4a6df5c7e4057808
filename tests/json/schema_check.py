"""A small JSON Schema checker for the keywords particle-py's output schema uses ($ref, oneOf,
not, type, const, minimum, required, properties, additionalProperties, items): jsonschema is
not a test dependency, and the schema is kept to what this checks."""
from __future__ import annotations

import json
from importlib import resources

TYPES = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}


def schema() -> dict:
    return json.loads(resources.files("particle_py").joinpath("data/schema/particle-py-output.schema.json")
                      .read_text(encoding="utf-8"))


def _is_type(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def errors(value, node: dict, root: dict, where: str = "$") -> list[str]:
    """What is wrong with ``value`` against ``node`` (empty: it validates)."""
    if "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return errors(value, target, root, where)
    found = []
    if "oneOf" in node:
        fits = [not errors(value, sub, root, where) for sub in node["oneOf"]]
        if sum(fits) != 1:
            found.append(f"{where}: matches {sum(fits)} of oneOf")
    if "not" in node and not errors(value, node["not"], root, where):
        found.append(f"{where}: matches what it must not")
    if "type" in node:
        names = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_is_type(value, n) for n in names):
            return found + [f"{where}: {type(value).__name__} is not {names}"]
    if "const" in node and value != node["const"]:
        found.append(f"{where}: {value!r} is not {node['const']!r}")
    if "minimum" in node and isinstance(value, (int, float)) and value < node["minimum"]:
        found.append(f"{where}: {value} < {node['minimum']}")
    if isinstance(value, dict):
        for key in node.get("required", ()):
            if key not in value:
                found.append(f"{where}: no {key!r}")
        props = node.get("properties", {})
        for key, item in value.items():
            if key in props:
                found += errors(item, props[key], root, f"{where}.{key}")
            elif node.get("additionalProperties", True) is False:
                found.append(f"{where}: unexpected {key!r}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            found += errors(item, node["items"], root, f"{where}[{i}]")
    return found


def check(value) -> None:
    root = schema()
    problems = errors(value, root, root)
    assert not problems, problems
