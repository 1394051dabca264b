"""Policy files: read TOML / JSON into validated models, write them back.

A policy file holds a `PolicyDoc` (``name``, ``default_action``, ``[[regions]]``,
``[[rules]]``, ``[[moving_rules]]``) and, optionally, the history behind it as
``[[requests]]`` with nested ``[[requests.decisions]]``: activation requests and their
decisions, which `PolicyStore.import_history` records in the store. The history is not part of
the policy's content (a policy version holds rules, not the story of how they came about).

Every problem is a `PolicyError` naming the file and the field (``rules[2].acton: unknown
field; valid fields: ...``); TOML and JSON syntax errors name the line. Text goes through the
caps of `skyfence.limits` first (``MAX_FILE_BYTES["policy"]``, nesting depth, string length),
so an oversize file, a 200 MB string or a deeply nested document is refused before parsing
or validation allocates anything; JSON ``NaN`` and duplicate keys are refused. Names in the
request history (``by``, ``region``, ``key``) are one line of printable text; free texts
(``why``, ``reason``) are capped at `skyfence.limits.MAX_TEXT_CHARS`; history times lie in
1957-2056 (see `skyfence.policy.store`). A region's ``file``
(GeoJSON or WKT, relative to the policy file) is read here and embedded as ``geojson`` /
``wkt`` so a stored policy does not depend on files beside it.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_serializer, field_validator

from .. import limits
from ..errors import InputError, PolicyError
from .model import PolicyDoc, StrictModel, WindowedSpec, format_utc, to_utc_datetime

# The store's time range (duplicated here to avoid an import cycle; see policy.store).
_EARLIEST_YEAR, _LATEST_YEAR = 1957, 2056


def _name(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the field's type check reports it
    try:
        return limits.clean_name(value, "name")
    except InputError as exc:
        raise ValueError(exc.message) from None


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return limits.clean_text(value, "text", required=False)
    except InputError as exc:
        raise ValueError(exc.message) from None


_YEARS_WHY = "the years the store accepts (those an SGP4 element set can carry)"


def _history_time(value: Any, field_name: str) -> datetime:
    """A history time: a UTC instant in the years the store accepts (1957-2056)."""
    try:
        return to_utc_datetime(value, field_name, years=(_EARLIEST_YEAR, _LATEST_YEAR),
                               why=_YEARS_WHY)
    except PolicyError as exc:
        raise ValueError(exc.message) from None

__all__ = [
    "DecisionSpec",
    "PolicyFile",
    "RequestSpec",
    "canonical_json",
    "default_policy_path",
    "dump_policy",
    "load_default_policy",
    "load_policy_file",
    "loads_policy",
    "to_toml",
]

Outcome = Literal["approved", "refused", "deferred"]


class DecisionSpec(StrictModel):
    """A decision on a request, as a history record in a policy file."""

    by: str = Field(min_length=1)
    outcome: Outcome
    reason: str = Field(min_length=1)
    at: datetime
    reference: str = ""

    @field_validator("at", mode="before")
    @classmethod
    def _utc(cls, v: Any) -> datetime:
        return _history_time(v, "at")

    @field_validator("by", mode="before")
    @classmethod
    def _clean_by(cls, v: Any) -> Any:
        return _name(v)

    @field_validator("reason", "reference", mode="before")
    @classmethod
    def _clean_text(cls, v: Any) -> Any:
        return _text(v)

    @field_serializer("at")
    def _iso(self, v: datetime) -> str:
        return format_utc(v)


class RequestSpec(WindowedSpec):
    """An activation request with its decisions, as a history record in a policy file.

    ``key`` is a stable external identifier: importing the same file twice records it once.
    ``start`` / ``end`` are the requested window (optional).
    """

    key: str = Field(min_length=1)
    by: str = Field(min_length=1)
    region: str = Field(min_length=1)
    action: Literal["on", "off"]
    why: str = Field(min_length=1)
    at: datetime
    reference: str = ""
    decisions: list[DecisionSpec] = Field(default_factory=list)

    @field_validator("at", mode="before")
    @classmethod
    def _at_utc(cls, v: Any) -> datetime:
        return _history_time(v, "at")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, v: Any, info: Any) -> datetime | None:  # the window: same years as ``at``
        return None if v is None else _history_time(v, info.field_name)

    @field_validator("by", "region", "key", mode="before")
    @classmethod
    def _clean_names(cls, v: Any) -> Any:
        return _name(v)

    @field_validator("why", "reference", mode="before")
    @classmethod
    def _clean_texts(cls, v: Any) -> Any:
        return _text(v)

    @field_serializer("at")
    def _at_iso(self, v: datetime) -> str:
        return format_utc(v)


class PolicyFile(PolicyDoc):
    """What a policy file holds: the policy plus an optional request/decision history."""

    requests: list[RequestSpec] = Field(default_factory=list)

    def policy(self) -> PolicyDoc:
        """The policy alone (without the history)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data.pop("requests", None)
        return PolicyDoc.model_validate(data)


# ---------------------------------------------------------------------------------------------
# reading


def default_policy_path() -> Path:
    """Path of the packaged default scenario policy (``skyfence/data/default_policy.toml``)."""
    return Path(str(resources.files("skyfence").joinpath("data/default_policy.toml")))


def load_default_policy() -> PolicyFile:
    """The default scenario's policy and history (the situation in the news, 2022-2026)."""
    return load_policy_file(default_policy_path())


def load_policy_file(path: str | Path) -> PolicyFile:
    """Read and validate a policy file (``.toml`` or ``.json``).

    Raises `PolicyError` naming the file and the line (syntax) or field (schema).
    """
    p = Path(path)
    if p.suffix.lower() not in (".toml", ".json"):
        raise PolicyError(
            f"unknown policy file type {p.suffix or '(none)'!r}; use .toml or .json", str(p))
    if not p.exists() and not p.is_symlink():
        raise PolicyError("policy file not found", str(p))
    text = limits.read_text_file(p, kind="policy", error=PolicyError)
    return loads_policy(text, "toml" if p.suffix.lower() == ".toml" else "json", source=str(p),
                        base_dir=p.parent)


def loads_policy(text: str, fmt: str = "toml", *, source: str = "<policy>",
                 base_dir: str | Path | None = None) -> PolicyFile:
    """Parse and validate policy text in ``fmt`` (``"toml"`` or ``"json"``).

    ``source`` names the text in error messages; ``base_dir`` anchors regions' ``file`` paths.
    The caps of `skyfence.limits` apply (size, nesting depth, string length).
    """
    if not isinstance(text, str):
        raise PolicyError(f"policy text must be str, got {type(text).__name__}", source)
    if fmt == "toml":
        data = limits.load_toml_text(text, source, kind="policy", error=PolicyError)
    elif fmt == "json":
        data = limits.load_json_text(text, source, kind="policy", error=PolicyError)
    else:
        raise PolicyError(f"unknown policy format {fmt!r}; use toml or json", source)
    if not isinstance(data, dict):
        raise PolicyError(f"a policy is a table / object, got {type(data).__name__}", source)
    data = _embed_region_files(data, source, Path(base_dir) if base_dir else None)
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise _policy_error(exc, source) from None


def _embed_region_files(data: dict[str, Any], source: str, base: Path | None) -> dict[str, Any]:
    regions = data.get("regions")
    if not isinstance(regions, list):
        return data
    out = []
    for i, reg in enumerate(regions):
        if not isinstance(reg, dict) or not isinstance(reg.get("file"), str):
            out.append(reg)
            continue
        reg = dict(reg)
        fp = Path(reg.pop("file"))
        if not fp.is_absolute() and base is not None:
            fp = base / fp
        where = f"{source}: regions[{i}].file"
        suffix = fp.suffix.lower()
        try:
            text = limits.read_text_file(fp, kind="geojson", error=PolicyError)
        except PolicyError as exc:
            raise PolicyError(f"cannot read region file {str(fp)!r}: {exc.message}",
                              where) from None
        if suffix in (".geojson", ".json"):
            try:
                obj = limits.load_json_text(text, str(fp), kind="geojson", error=PolicyError)
            except PolicyError as exc:
                raise PolicyError(f"{exc.where}: {exc.message}", where) from None
            if isinstance(obj, list) or (isinstance(obj, dict) and "cells" in obj
                                         and "type" not in obj):
                reg["cells"] = _cells_file(fp, where)  # an H3 cell list, not GeoJSON
            else:
                reg["geojson"] = obj
        elif suffix == ".csv":
            reg["cells"] = _cells_file(fp, where)
        elif suffix == ".wkt":
            reg["wkt"] = text.strip()
        else:
            raise PolicyError(
                f"unknown region file type {fp.suffix!r} ({fp}); use .geojson, .json (GeoJSON "
                "or an H3 cell list), .csv (column h3_cell) or .wkt", where)
        out.append(reg)
    return {**data, "regions": out}


def _cells_file(path: Path, where: str) -> list[str]:
    """H3 cells (hex) from a JSON list / ``{"cells": [...]}`` or a CSV ``h3_cell`` column."""
    from ..errors import RegionError
    from ..ground import cells_to_str, read_cells_file

    try:
        cells, _ = read_cells_file(path)
    except RegionError as exc:
        raise PolicyError(f"{exc.where + ': ' if exc.where else ''}{exc.message}",
                          where) from None
    return cells_to_str(cells)


def _loc_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose field the last element of ``loc`` names."""
    model: type[BaseModel] | None = PolicyFile
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        f = model.model_fields.get(str(part))
        model = _inner_model(f.annotation) if f is not None else None
    return model


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is not None:
        for arg in typing.get_args(tp):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _policy_error(exc: ValidationError, source: str) -> PolicyError:
    msgs = []
    # an unknown key (a typo) usually explains a "missing" error beside it: report it first
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            fields = sorted(model.model_fields) if model is not None else []
            close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msgs.append(f"{_loc_text(loc)}: unknown field {loc[-1]!r}{hint}; valid fields: "
                        f"{', '.join(fields) or '?'}")
        elif err["type"] == "missing":
            msgs.append(f"{_loc_text(loc)}: required field missing")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            msgs.append(f"{_loc_text(loc) or '(top level)'}: {msg}{shown}")
    first_loc = _loc_text(tuple(errors[0]["loc"])) if errors else ""
    where = f"{source}: {first_loc}" if first_loc else source
    more = f" (and {len(msgs) - 1} more: {'; '.join(msgs[1:])})" if len(msgs) > 1 else ""
    return PolicyError(msgs[0].split(": ", 1)[-1] + more, where)


# ---------------------------------------------------------------------------------------------
# writing


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text; equal data gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def dump_policy(doc: PolicyDoc, fmt: str = "toml") -> str:
    """Policy (and its history if a `PolicyFile`) as TOML or pretty JSON text."""
    data = doc.model_dump(mode="json", exclude_none=True)
    if not data.get("requests"):
        data.pop("requests", None)
    for key in ("rules", "moving_rules", "requests"):
        if key in data:
            data[key] = [_window_after_target(x) for x in data[key]]
    if fmt == "toml":
        return to_toml(data)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    raise PolicyError(f"unknown format {fmt!r}; use toml or json", "format")


def _window_after_target(entry: dict[str, Any]) -> dict[str, Any]:
    """Readable key order: the window (start, end) just before the reason / why."""
    window = {k: entry[k] for k in ("start", "end") if k in entry}
    rest = [(k, v) for k, v in entry.items() if k not in window]
    anchor = next((i for i, (k, _) in enumerate(rest) if k in ("reason", "why")), len(rest))
    return dict(rest[:anchor] + list(window.items()) + rest[anchor:])


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; TOML also wants DEL escaped
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        items = [f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise PolicyError(f"cannot write {type(v).__name__} value {v!r} as TOML", "toml")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(data: dict[str, Any]) -> str:
    """Write nested dicts / lists / scalars as TOML (None values are left out).

    Dicts become ``[tables]``, non-empty lists of dicts ``[[arrays of tables]]``, other lists
    inline arrays. ``tomllib.loads(to_toml(d))`` equals ``d`` without its None values.
    """
    lines: list[str] = []
    _emit(data, [], lines, header=None)
    return "\n".join(lines).strip("\n") + "\n"


def _emit(d: dict[str, Any], path: list[str], lines: list[str], header: str | None) -> None:
    if header is not None:
        if lines:
            lines.append("")
        lines.append(header)
    tables = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict) or _is_table_array(v):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        sub = [*path, _key(k)]
        if isinstance(v, dict):
            _emit(v, sub, lines, "[" + ".".join(sub) + "]")
        else:
            for item in v:
                _emit(item, sub, lines, "[[" + ".".join(sub) + "]]")
