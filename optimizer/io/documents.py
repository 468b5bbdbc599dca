"""Reading and writing scenario documents: YAML 1.2, TOML and JSON, safely.

A document is read into a plain mapping (:func:`read_mapping`), which
:mod:`optimizer.model.scenario` validates; :func:`document_text` is the reverse. The
readers refuse what a scenario never needs and an attacker would send: files that are
not regular files or are too large (:func:`optimizer.io.files.read_bytes`), duplicate
keys, alias bombs, and numbers YAML 1.1 and 1.2 read differently.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from optimizer.errors import ScenarioError
from optimizer.io.files import SCENARIO_BYTES, read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # pyright: ignore[reportMissingImports]

_CORE = [
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", list("~nN") + [""]),
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    ("tag:yaml.org,2002:int", r"[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+",
     list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", list("-+0123456789.")),
    # YAML 1.1 only: sexagesimal, leading-zero octal, underscores, binary, yes/no/on/off.
    ("tag:optimizer,2026:ambiguous",
     r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[-+]?0[0-9_]+|[-+]?0b[01_]+"
     r"|[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
     r"|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF",
     list("-+0123456789yYnNoO")),
]
_AMBIGUOUS = "tag:optimizer,2026:ambiguous"


class Ambiguous(str):
    """A YAML scalar whose value YAML 1.1 and 1.2 disagree on (``24:00``, ``0100``, ``yes``)."""

    __slots__ = ()

    def explain(self) -> str:
        """What the two versions make of it, and what to write instead."""
        text = str(self)
        if text.lower() in ("yes", "no", "on", "off"):
            return "YAML 1.1 reads it as a boolean, YAML 1.2 as text; write true or false"
        if ":" in text:
            return ("YAML 1.1 reads it as base-60 (24:00 is 1440), YAML 1.2 as text; "
                    "write the number itself, e.g. 24")
        if text.lstrip("+-").startswith("0b"):
            return "binary is YAML 1.1 only; write the number in decimal"
        if "_" in text:
            return "YAML 1.2 does not allow _ in numbers; write it without, e.g. 1000"
        return ("YAML 1.1 reads a leading 0 as octal (0100 is 64), YAML 1.2 as decimal "
                "(100); write it without the leading 0")


MAX_NODES = 100_000
"""Most YAML nodes a scenario may expand to, counting every use of an alias: a few
hundred bytes of nested aliases (a "billion laughs") would otherwise expand without end."""


class _Loader(yaml.SafeLoader):
    """A safe YAML loader with YAML 1.2 scalars, refusing duplicate keys and alias bombs.

    PyYAML resolves plain scalars by YAML 1.1, where ``24:00`` is the sexagesimal
    1440, ``0100`` the octal 64, ``1_000`` is 1000 and ``yes`` is true, so a scenario
    could plan silently for numbers nobody wrote. Here only the YAML 1.2 core-schema
    forms are numbers or booleans; anything else is a string, which a numeric field
    refuses by name. Forms the two versions read differently are tagged
    :data:`_AMBIGUOUS`, so the refusal explains.
    """

    def construct_ambiguous(self, node: yaml.ScalarNode) -> Ambiguous:
        return Ambiguous(node.value)

    def construct_unique_mapping(self, node: yaml.MappingNode) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; construct_mapping refuses it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)[:60]}", key_node.start_mark)
        return self.construct_mapping(node)


_Loader.yaml_implicit_resolvers = {}
for _kind, _pattern, _first in [_CORE[-1], *_CORE[:-1]]:  # the first match wins
    _Loader.add_implicit_resolver(_kind, re.compile(f"^(?:{_pattern})$"), _first)
_Loader.add_constructor(_AMBIGUOUS, _Loader.construct_ambiguous)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                        _Loader.construct_unique_mapping)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (without expanding)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack = [root]
    while stack:  # depth-first, children before parents in ``order`` reversed
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = 0
        order.append(node)
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    for node in reversed(order):
        children = (node.value if isinstance(node, yaml.SequenceNode) else
                    [n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode) else [])
        sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), 10 * MAX_NODES)
    return sizes[id(root)]


def _load_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise ValueError(f"it has more than {MAX_NODES:,} values, counting every use "
                             "of an alias; a scenario needs a few dozen")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _load_json(text: str) -> Any:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key[:60]}")
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=unique)


_PARSERS = {
    ".yaml": _load_yaml,
    ".yml": _load_yaml,
    ".toml": tomllib.loads,
    ".json": _load_json,
}


def read_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML, TOML or JSON file (chosen by extension) into a mapping.

    Raises
    ------
    ScenarioError
        When the file is missing, empty, unparsable or not a mapping.
    """
    path = Path(path)
    parse = _PARSERS.get(path.suffix.lower())
    if parse is None:
        raise ScenarioError(f"unknown file type {path.suffix or '(none)'!r}; "
                            f"use one of {', '.join(sorted(_PARSERS))}", str(path))
    raw = read_bytes(path, SCENARIO_BYTES, "scenario file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                            str(path)) from None
    if not text.strip():
        raise ScenarioError("file is empty; a scenario needs name, law and objective",
                            str(path))
    kind = path.suffix.lstrip(".").upper().replace("YML", "YAML")
    try:
        data = parse(text)
    except RecursionError:
        raise ScenarioError(f"not valid {kind}: nested too deeply", str(path)) from None
    except (yaml.YAMLError, ValueError) as exc:  # TOML's and JSON's errors are ValueErrors
        message = " ".join(str(exc).split())
        if "integer string conversion" in message:
            message = "a number has more than 4300 digits"
        if len(message) > 300:
            message = message[:300] + " ..."
        raise ScenarioError(f"not valid {kind}: {message}", str(path)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"the top level must be a mapping of keys, not {type(data).__name__}",
                            str(path))
    return data


def document_text(data: dict[str, Any], path: Path) -> str:
    """``data`` as the text of a file named ``path`` (.yaml/.yml, .toml or .json)."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return yaml.safe_dump(data, sort_keys=False)
    if suffix == ".toml":
        import tomli_w

        return tomli_w.dumps(data)
    if suffix == ".json":
        return json.dumps(data, indent=2) + "\n"
    raise ScenarioError(f"unknown file type {suffix!r}; use .yaml, .toml or .json", str(path))
