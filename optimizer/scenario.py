"""Scenario files: the strict schema, loading (YAML, TOML, JSON) and dumping.

A scenario states a fitted loss law, what each resource costs, an optional compute
coupling ``C = flops_per_param_token * N * D``, and an objective: the lowest loss
for a budget, or the lowest cost for a target loss. ``docs/scenarios.md`` is the
reference; ``optimizer schema`` prints the JSON Schema generated from this module.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from .base import RESOURCES, NonNegative, Positive, StrictModel
from .errors import ScenarioError
from .laws import AnyLaw

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # pyright: ignore[reportMissingImports]


class Resource(StrictModel):
    """What one unit of a resource costs, and the limits on how much can be bought."""

    unit_cost: NonNegative
    """Price of one unit (one parameter, one token, one FLOP) in budget units; may be 0."""
    min: Positive | None = None
    """Smallest amount allowed (a lower bound), if any."""
    max: Positive | None = None
    """Largest amount allowed (an upper bound), if any."""
    fixed: Positive | None = None
    """Hold the resource at exactly this amount (excludes min and max)."""

    @model_validator(mode="after")
    def _consistent_bounds(self) -> Resource:
        if self.fixed is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either fixed or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g}); "
                             "swap them or widen the range")
        return self

    @property
    def lower(self) -> float:
        """Lower bound (0 when there is none)."""
        return self.fixed if self.fixed is not None else (self.min or 0.0)

    @property
    def upper(self) -> float:
        """Upper bound (inf when there is none)."""
        if self.fixed is not None:
            return self.fixed
        return self.max if self.max is not None else math.inf


FREE = Resource(unit_cost=0.0)
"""A resource the scenario does not list: it costs nothing and is unbounded."""


class Resources(StrictModel):
    """The three resources a plan buys. One left out costs nothing and has no bounds."""

    N: Resource = FREE
    """Model parameters."""
    D: Resource = FREE
    """Training tokens."""
    C: Resource = FREE
    """Training compute in FLOPs."""

    def __getitem__(self, name: str) -> Resource:
        return getattr(self, name)


class Compute(StrictModel):
    """Couples the resources: training compute C = flops_per_param_token * N * D."""

    flops_per_param_token: Positive = 6.0
    """FLOPs per parameter per training token (6: forward + backward, Kaplan et al. 2020)."""


class MinimizeLoss(StrictModel):
    """Find the lowest loss whose total cost is within the budget."""

    minimize: Literal["loss"]
    """Minimise the predicted loss."""
    budget: Positive
    """Upper bound on the total cost sum(unit_cost * amount)."""


class MinimizeCost(StrictModel):
    """Find the cheapest plan whose predicted loss is at most the target."""

    minimize: Literal["cost"]
    """Minimise the total cost."""
    target_loss: Positive
    """The loss the plan must reach; must exceed the law's irreducible loss."""


Objective = Annotated[MinimizeLoss | MinimizeCost, Field(discriminator="minimize")]


class Scenario(StrictModel):
    """A planning problem: a loss law, resource prices and limits, and an objective."""

    name: str
    """A short title shown in reports."""
    source: str = ""
    """Where the law's coefficients came from (free text: paper, equation, fit)."""
    description: str = ""
    """Anything else worth saying about the scenario."""
    law: AnyLaw
    """The fitted loss law, chosen by its ``form``."""
    resources: Resources = Resources()
    """Unit cost and bounds of N, D and C."""
    compute: Compute | None = None
    """Optional coupling C = flops_per_param_token * N * D; without it N, D, C are
    independent levers."""
    objective: Objective
    """Minimise loss within a budget, or minimise cost to reach a target loss."""

    @model_validator(mode="after")
    def _meaningful(self) -> Scenario:
        problems = []
        if isinstance(self.objective, MinimizeCost) and self.objective.target_loss <= (
                floor := self.law.floor()):
            problems.append(
                f"objective.target_loss: {self.objective.target_loss:g} is at or below the "
                f"law's irreducible loss {floor:g}, which no plan can reach; "
                f"choose a target above {floor:g}")
        if all(self.resources[r].unit_cost == 0 for r in RESOURCES):
            problems.append(
                "resources: every unit_cost is 0, so nothing limits the plan; "
                "give at least one resource a positive unit_cost")
        if self.compute is not None and self.resources.N.fixed and self.resources.D.fixed \
                and self.resources.C.fixed:
            problems.append("resources: N, D and C are all fixed while compute couples them; "
                            "leave one of them free")
        if problems:
            raise ValueError("\n".join(problems))
        return self


# --------------------------------------------------------------------------- loading

class _Loader(yaml.SafeLoader):
    """YAML 1.1 loader that also reads ``5.76e23`` (YAML 1.2 style) as a float."""


_FLOAT = r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
|\.[0-9_]+(?:[eE][-+]?[0-9]+)?
|[-+]?\.(?:inf|Inf|INF)
|\.(?:nan|NaN|NAN))$"""
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_FLOAT, re.X),
                              list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate key {', '.join(duplicates)}", node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_PARSERS = {
    ".yaml": lambda text: yaml.load(text, Loader=_Loader),  # noqa: S506 - safe loader
    ".yml": lambda text: yaml.load(text, Loader=_Loader),  # noqa: S506
    ".toml": tomllib.loads,
    ".json": json.loads,
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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file does not exist", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file ({exc})", str(path)) from None
    if not text.strip():
        raise ScenarioError("file is empty; a scenario needs name, law and objective",
                            str(path))
    try:
        data = parse(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = path.suffix.lstrip(".").upper().replace("YML", "YAML")
        raise ScenarioError(f"not valid {kind}: {' '.join(str(exc).split())}",
                            str(path)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"the top level must be a mapping of keys, not {type(data).__name__}",
                            str(path))
    return data


def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Validate a mapping as a :class:`Scenario`, reporting every problem at once."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc), source) from None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file (``.yaml``/``.yml``, ``.toml`` or ``.json``)."""
    return parse_scenario(read_mapping(path), str(path))


def scenario_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data, without unset optional keys."""
    return scenario.model_dump(mode="json", exclude_none=True)


def dump_scenario(scenario: Scenario, path: str | os.PathLike[str]) -> None:
    """Write a scenario to ``path`` atomically, in the format its extension names."""
    path = Path(path)
    data = scenario_dict(scenario)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False)
    elif suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(data)
    elif suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        raise ScenarioError(f"unknown file type {suffix!r}; use .yaml, .toml or .json", str(path))
    write_atomic(path, text)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    An interrupted write never leaves a half-written file, and an existing file of
    the same name stays intact until the new one is complete.
    """
    if not path.parent.is_dir():
        raise ScenarioError(f"directory {path.parent} does not exist", str(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ScenarioError(f"cannot write here ({exc.strerror})", str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------ error messages

def _describe(exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into one actionable line each."""
    lines = []
    for error in exc.errors(include_url=False):
        path, model = _walk(error["loc"])
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
            lines.extend(f"{where}: {line}" if path else line for line in message.split("\n"))
        elif kind == "union_tag_invalid":
            ctx = error.get("ctx", {})
            key = ctx.get("discriminator", "").strip("'")
            lines.append(f"{where}.{key}: {ctx.get('tag')!r} is not one of "
                         f"{ctx.get('expected_tags')}")
        elif kind == "union_tag_not_found":
            tag = error.get("ctx", {}).get("discriminator", "")
            lines.append(f"{where}: missing {tag.strip(chr(39))}; add it")
        else:
            shown = f"{value!r}" if not isinstance(value, dict) else "a mapping"
            msg = error["msg"].replace("Input should be", "must be")
            if kind == "finite_number":
                msg = "must be a finite number"
            elif kind == "less_than_equal" and "exponents" in path and isinstance(
                    value, int | float):
                msg += (f"; exponents are signed as printed in papers of the form "
                        f"L = k*N^a_N*..., so write {-abs(value)!r}")
            lines.append(f"{where}: got {shown}; {msg}")
    return lines


def _field_doc(model: type[BaseModel], name: str) -> str:
    field = model.model_fields.get(name)
    return (field.description or "").split(";")[0].strip() if field else ""


def _walk(loc: tuple[Any, ...]) -> tuple[list[str], type[BaseModel] | None]:
    """Clean an error location of union tags; return it and the parent model class."""
    path: list[str] = []
    model: type[BaseModel] | None = Scenario
    current: Any = Scenario
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
