"""Request and response bodies of the HTTP API (pydantic), with strict input validation.

Every text field refuses control characters (other than newline and tab in free text) and
unpaired surrogates, and has a length cap; numbers refuse NaN and infinities; unknown keys
are errors. Invalid input is HTTP 422 naming the field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "MAX_CHECK_POINTS",
    "CheckBatchIn",
    "CheckPoint",
    "DecisionIn",
    "ErrorOut",
    "PolicyIn",
    "PolicyRef",
    "RequestIn",
    "UserIn",
    "WhatIfIn",
    "clean_text",
]

MAX_CHECK_POINTS = 10_000
"""Most points one ``POST /api/check`` may carry (more is HTTP 413)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: str, multiline: bool = False) -> str:
    """``value`` when it is valid Unicode without control characters, else `ValueError`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text holds an unpaired surrogate (invalid Unicode)") from None
    if (_CONTROL if multiline else _CONTROL_STRICT).search(value):
        raise ValueError("text holds control characters")
    return value


def _line(v: str) -> str:
    return clean_text(v, multiline=False)


def _multi(v: str) -> str:
    return clean_text(v, multiline=True)


def _nonblank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank")
    return v


Line = Annotated[str, StringConstraints(max_length=200), AfterValidator(_line)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_line),
                 AfterValidator(_nonblank)]
Why = Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_multi),
                AfterValidator(_nonblank)]
Ref = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_line)]
TimeText = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_line)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False,
                             description="WGS-84 latitude, deg")]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False,
                             description="WGS-84 longitude, deg")]
Speed = Annotated[float, Field(ge=0.0, le=1e5, allow_inf_nan=False,
                               description="terminal speed, km/h")]
CellHex = Annotated[str, StringConstraints(min_length=1, max_length=20), AfterValidator(_line)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error: a one-line message (``detail`` lists validation errors)."""

    error: str
    detail: list[dict[str, Any]] | None = None


class CheckPoint(_In):
    """One terminal location."""

    lat: Lat
    lon: Lon
    terminal_id: Line | None = None
    speed_kmh: Speed | None = None
    registered: bool | None = Field(None, description="whether the terminal is registered "
                                    "(whitelisted); unknown counts as not registered")


class CheckBatchIn(_In):
    """Up to `MAX_CHECK_POINTS` points checked at one time against one policy version."""

    points: list[CheckPoint]
    at: TimeText | None = Field(None, description="UTC time (ISO 8601); default now")
    policy: Name = "default"
    version: int | None = Field(None, ge=1, le=2**31)


class PolicyIn(_In):
    """A policy to store as a new version: a JSON object (``policy``) or TOML text (``toml``)."""

    policy: dict[str, Any] | None = None
    toml: Annotated[str, StringConstraints(max_length=2_000_000)] | None = None
    comment: Ref = ""


class RequestIn(_In):
    """An activation request over a region (a catalogue name or a region of the policy) or an
    explicit list of H3 cells (resolution <= 5)."""

    region: Name | None = None
    cells: list[CellHex] | None = Field(None, min_length=1, max_length=10_000)
    action: Literal["on", "off"]
    start: TimeText | None = Field(None, description="window start, UTC ISO 8601")
    end: TimeText | None = Field(None, description="window end (exclusive), UTC ISO 8601")
    why: Why
    reference: Ref = ""
    policy: Name = "default"


class DecisionIn(_In):
    """A decision; ``approved`` adds a policy version holding a rule for the request."""

    outcome: Literal["approved", "refused", "deferred"]
    reason: Why
    reference: Ref = ""


class UserIn(_In):
    """A new user (admin only); the answer carries its token, shown once."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    role: Literal["viewer", "requester", "approver", "admin"]


class PolicyRef(_In):
    """A stored version (``name`` + ``version``, default the latest) or an inline policy."""

    name: Name = "default"
    version: int | None = Field(None, ge=1, le=2**31)
    policy: dict[str, Any] | None = None


class Window(_In):
    """Override of the server scenario's time window."""

    start: TimeText | None = None
    duration: Annotated[str, StringConstraints(min_length=1, max_length=32),
                        AfterValidator(_line)] | None = None
    step: Annotated[str, StringConstraints(min_length=1, max_length=32),
                    AfterValidator(_line)] | None = None


class WhatIfPolicies(_In):
    """Compare two policies over the server's scenario."""

    kind: Literal["policies"]
    a: PolicyRef
    b: PolicyRef
    at: TimeText | None = None
    window: Window | None = None


class WhatIfChange(_In):
    """A policy change: switch a region (or cells) on / off on top of a base policy."""

    kind: Literal["change"]
    base: PolicyRef = PolicyRef.model_validate({})
    region: Name | None = None
    cells: list[CellHex] | None = Field(None, min_length=1, max_length=10_000)
    action: Literal["on", "off"]
    start: TimeText | None = None
    end: TimeText | None = None
    at: TimeText | None = None
    window: Window | None = None


class WhatIfOutage(_In):
    """Gateways or PoPs unavailable: ``NAME`` or ``NAME@START/END`` (UTC ISO 8601)."""

    kind: Literal["outage"]
    down: list[Name] = Field(min_length=1, max_length=50)
    policy: PolicyRef = PolicyRef.model_validate({})
    window: Window | None = None


WhatIfIn = Annotated[WhatIfPolicies | WhatIfChange | WhatIfOutage, Field(discriminator="kind")]


class MapWhatIfIn(_In):
    """Switch a region on / off on top of the current policy and see the map change."""

    region: Name
    action: Literal["on", "off"]
    policy: Name = "default"
