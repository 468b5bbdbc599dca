"""Validation errors as messages a planner can act on: one line each, naming the field.

pydantic reports a location such as ``('law', 'chinchilla', 'alpha')`` and a message
in its own words; :func:`describe` turns each into ``law.alpha: got -0.3; must be ...``,
with the field's documentation for a missing key, the closest valid key for a typo, and
how YAML 1.1 and 1.2 read an ambiguous value.
"""

from __future__ import annotations

import difflib
import reprlib
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from optimizer.io.documents import Ambiguous


def describe(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """Turn pydantic's errors in validating ``root`` into one actionable line each."""
    lines = []
    for error in exc.errors(include_url=False):
        path, model = _walk(error["loc"], root)
        where = ".".join(path) or "(top level)"
        kind, value = error["type"], error.get("input")
        if kind == "extra_forbidden":
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(path[-1], known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else (
                f"valid keys here: {', '.join(known)}" if known else "remove it")
            lines.append(f"{where}: unknown key; {hint}")
        elif kind == "missing":
            about = _field_doc(model, path[-1]) if model else ""
            lines.append(f"{where}: missing; add it" + (f" ({about})" if about else ""))
        elif kind == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
            lines.extend(_located(path, model, line) for line in message.split("\n"))
        elif kind == "union_tag_invalid":
            ctx = error.get("ctx", {})
            key = ctx.get("discriminator", "").strip("'")
            lines.append(f"{where}.{key}: {ctx.get('tag')!r} is not one of "
                         f"{ctx.get('expected_tags')}")
        elif kind == "union_tag_not_found":
            tag = error.get("ctx", {}).get("discriminator", "")
            lines.append(f"{where}: missing {tag.strip(chr(39))}; add it")
        else:
            shown = _short(value) if not isinstance(value, dict) else "a mapping"
            msg = error["msg"].replace("Input should be", "must be")
            if isinstance(value, Ambiguous):
                msg += f" ({value.explain()})"
            if kind == "finite_number":
                msg = "must be a finite number"
            elif kind == "less_than_equal" and "exponents" in path and isinstance(
                    value, int | float):
                msg += (f"; exponents are signed as printed in papers of the form "
                        f"L = k*N^a_N*..., so write {-abs(value)!r}")
            lines.append(f"{where}: got {shown}; {msg}")
    return lines


def _located(path: list[str], model: type[BaseModel] | None, line: str) -> str:
    """Prefix a validator's message with its path.

    A line "key: ..." about a field of the model at ``path`` becomes "path.key: ...".
    """
    if not path:
        return line
    key, sep, rest = line.partition(": ")
    field = model.model_fields.get(path[-1]) if model is not None else None
    inner = _models_in(field.annotation) if field is not None else []
    if sep and len(inner) == 1 and key in inner[0].model_fields:
        return f"{'.'.join(path)}.{key}: {rest}"
    return f"{'.'.join(path)}: {line}"


def _field_doc(model: type[BaseModel], name: str) -> str:
    field = model.model_fields.get(name)
    return (field.description or "").split(";")[0].strip() if field else ""


def _walk(loc: tuple[Any, ...], root: type[BaseModel]
          ) -> tuple[list[str], type[BaseModel] | None]:
    """Clean an error location of union tags; return it and the parent model class."""
    path: list[str] = []
    model: type[BaseModel] | None = root
    current: Any = root
    for part in loc:
        options = _models_in(current)
        tagged = [m for m in options if _tag(m) == part]
        if tagged:  # the discriminator value pydantic puts in the location
            current = tagged[0]
            continue
        path.append(str(part))
        model = options[0] if len(options) == 1 else model
        field = model.model_fields.get(str(part)) if model else None
        current = field.annotation if field else None
    return path, model


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Annotated:
        return _models_in(get_args(annotation)[0])
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> Any:
    for key in ("form", "minimize"):
        field = model.model_fields.get(key)
        if field is not None and get_origin(field.annotation) is Literal:
            return get_args(field.annotation)[0]
    return None


def _short(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to about ``width`` characters, never expanding a huge value."""
    shorter = reprlib.Repr()
    shorter.maxstring = shorter.maxother = width
    shorter.maxlist = shorter.maxdict = shorter.maxtuple = 4
    shorter.maxlevel = 2
    return shorter.repr(value)
