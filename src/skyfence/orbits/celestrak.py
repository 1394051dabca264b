"""Current element sets from CelesTrak by group name, with a local cache and a clear offline error.

``fetch_group("starlink")`` downloads ``https://celestrak.org/NORAD/elements/gp.php?GROUP=starlink
&FORMAT=tle`` (CelesTrak's GP interface, celestrak.org/NORAD/documentation/gp-data-formats.php)
into a cache folder and returns a `FetchResult` (usable wherever a path is expected). A cached
copy younger than ``max_age_s`` is used without asking the network: CelesTrak "does not update
any data more often than every 2 hours" and asks clients to check less often (CelesTrak's notice
of 2022-07-19, posted e.g. as github.com/shashwatak/satellite-js/issues/105), and it answers a
repeated download within that time with HTTP 403 "GP data has not updated since your last
successful download ... Data is updated once every 2 hours". When the download fails (no
network, an HTTP error such as that 403) a cached copy is still used, older or not, and the
result says how old it is; with no cached copy at all, `OfflineError` says what to do instead.

The cache folder is ``$SKYFENCE_CACHE_DIR/celestrak`` when the environment variable is set,
otherwise ``~/.cache/skyfence/celestrak``.
"""

from __future__ import annotations

import http.client
import os
import re
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import limits
from ..errors import InputError, OfflineError

__all__ = [
    "CACHE_ENV_VAR",
    "CELESTRAK_URL",
    "DEFAULT_MAX_AGE_S",
    "FETCH_FORMATS",
    "FetchResult",
    "default_cache_dir",
    "fetch_group",
]

#: CelesTrak's GP query endpoint (celestrak.org/NORAD/documentation/gp-data-formats.php).
CELESTRAK_URL = "https://celestrak.org/NORAD/elements/gp.php"
#: Environment variable naming the skyfence cache root.
CACHE_ENV_VAR = "SKYFENCE_CACHE_DIR"
#: Age (s) below which a cached copy is used without downloading: CelesTrak's update period
#: (at most every 2 hours, CelesTrak notice of 2022-07-19; see the module docstring).
DEFAULT_MAX_AGE_S = 2 * 3600.0
#: Formats that can be fetched, with the file suffix each is cached under.
FETCH_FORMATS = {"tle": "tle", "json": "json", "csv": "csv"}

_GROUP_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_GROUP_EXAMPLES = "starlink, oneweb, stations, active, gps-ops, last-30-days"
_USER_AGENT = "skyfence (python urllib)"


@dataclass(frozen=True)
class FetchResult:
    """Where fetched elements are, and how fresh.

    Attributes
    ----------
    path : Path
        The cached element file.
    group : str
    origin : {"network", "cache", "stale-cache"}
        Downloaded now; a fresh cached copy; or a cached copy older than ``max_age_s`` used
        because the download failed.
    age_s : float
        Age of the file in seconds (0 when just downloaded).
    warning : str or None
        A sentence for the user when a stale copy was used.
    """

    path: Path
    group: str
    origin: str
    age_s: float
    warning: str | None = None

    @property
    def stale(self) -> bool:
        """True when a cached copy older than ``max_age_s`` was returned."""
        return self.origin == "stale-cache"

    def __fspath__(self) -> str:
        return str(self.path)


def default_cache_dir() -> Path:
    """The cache folder: ``$SKYFENCE_CACHE_DIR/celestrak`` or ``~/.cache/skyfence/celestrak``."""
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "skyfence"
    return base / "celestrak"


def _check_group(group: str) -> str:
    name = str(group).strip().lower()
    if not _GROUP_RE.fullmatch(name):
        raise InputError(
            f"{group!r} is not a CelesTrak group name: use letters, digits and '-' (up to 40), "
            f"such as {_GROUP_EXAMPLES}",
            "group",
        )
    return name


def _looks_like_elements(data: bytes, fmt: str) -> bool:
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if fmt == "json":
        return text.startswith(b"[") and b"NORAD_CAT_ID" in text[:4096]
    if fmt == "csv":
        return b"NORAD_CAT_ID" in text.split(b"\n", 1)[0]
    return any(ln.startswith(b"1 ") for ln in text.splitlines()[:3])


def _age_s(path: Path) -> float:
    return max(0.0, time.time() - path.stat().st_mtime)


def _human_age(age_s: float) -> str:
    if age_s < 3600:
        return f"{age_s / 60:.0f} min"
    if age_s < 2 * 86400:
        return f"{age_s / 3600:.1f} h"
    return f"{age_s / 86400:.1f} days"


def fetch_group(
    group: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    base_url: str = CELESTRAK_URL,
    timeout_s: float = 30.0,
    fmt: str = "tle",
) -> FetchResult:
    """Fetch the current element sets of a CelesTrak group, through a local cache.

    Parameters
    ----------
    group : str
        CelesTrak group name, e.g. ``"starlink"`` (letters, digits and ``-``).
    cache_dir : path-like, optional
        Cache folder (default `default_cache_dir`).
    max_age_s : float
        A cached copy younger than this (s) is used without downloading; 0 always downloads.
    base_url : str
        The GP endpoint (a local server in tests).
    timeout_s : float
        Network timeout (s).
    fmt : {"tle", "json", "csv"}
        CelesTrak ``FORMAT``: 3-line TLE, OMM JSON or OMM CSV.

    Returns
    -------
    FetchResult
        ``path`` of the element file, and whether it came from the network or the cache.

    Raises
    ------
    InputError
        For a malformed group name or format, or a reply that holds no element sets (an
        unknown group).
    OfflineError
        When the download fails and no cached copy exists.
    """
    name = _check_group(group)
    fmt = str(fmt).strip().lower()
    if fmt not in FETCH_FORMATS:
        raise InputError(f"format {fmt!r} is not one of {', '.join(FETCH_FORMATS)}", "format")
    if not (max_age_s >= 0):
        raise InputError(f"max_age_s must be >= 0, got {max_age_s!r}", "max_age_s")
    if not (timeout_s > 0 and timeout_s < 1e6):
        raise InputError(f"timeout_s must be > 0 (and finite), got {timeout_s!r}", "timeout_s")
    scheme = urllib.parse.urlsplit(str(base_url)).scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"the GP endpoint must be an http(s) URL, got {str(base_url)[:80]!r}",
                         "url")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / f"{name}.{FETCH_FORMATS[fmt]}"
    if _cached(path, folder):
        age = _age_s(path)
        if age < max_age_s:
            return FetchResult(path, name, "cache", age)
    url = f"{base_url}?{urllib.parse.urlencode({'GROUP': name, 'FORMAT': fmt})}"
    try:
        data = _download(url, timeout_s, limits.file_cap("elements"))
    except _DownloadError as exc:
        if _cached(path, folder):
            age = _age_s(path)
            return FetchResult(
                path, name, "stale-cache", age,
                warning=(f"download from CelesTrak failed ({exc.reason}); using the cached copy of "
                         f"group {name!r} from {_human_age(age)} ago: {path}"),
            )
        raise OfflineError(
            f"cannot download CelesTrak group {name!r} from {url} ({exc.reason}) and there is "
            f"no cached copy in {folder}. Pass a local element file instead (TLE, 3-line TLE, "
            f"OMM JSON or CSV, e.g. `skyfence constellation info ./starlink.tle`), or fetch "
            f"again when online"
        ) from None
    if not _looks_like_elements(data, fmt):
        reply = data[:120].decode("utf-8", "replace").strip().splitlines()
        raise InputError(
            f"CelesTrak returned no element sets for group {name!r} "
            f"(reply: {reply[0] if reply else 'empty'!r}); check the group name, e.g. "
            f"{_GROUP_EXAMPLES}",
            "group",
        )
    with limits.atomic_output(path, field="cache folder") as tmp:
        tmp.write_bytes(data)
    return FetchResult(path, name, "network", 0.0)


def _cached(path: Path, folder: Path) -> bool:
    """True when a cached copy exists; an unusable cache folder is an `InputError`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise InputError(
            f"cannot use the cache folder {folder}: {exc.strerror or exc}; give another one "
            f"(--cache-dir or ${CACHE_ENV_VAR})", "cache folder") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"the cached copy {path} is not a regular file; remove it",
                         "cache folder")
    return True


class _DownloadError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _download(url: str, timeout_s: float, max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(200).decode("utf-8", "replace").strip().splitlines()
        except (OSError, http.client.HTTPException):
            detail = []
        suffix = f": {detail[0]}" if detail else ""
        raise _DownloadError(f"HTTP {exc.code} {exc.reason}{suffix}") from None
    except urllib.error.URLError as exc:
        raise _DownloadError(str(exc.reason)) from None
    except (TimeoutError, OSError, ValueError) as exc:
        # ValueError: a malformed URL; http.client errors (a broken reply) are OSError or
        # HTTPException, handled below
        raise _DownloadError(str(exc) or type(exc).__name__) from None
    except http.client.HTTPException as exc:
        raise _DownloadError(f"bad HTTP reply: {type(exc).__name__} {exc}") from None
    if len(data) > max_bytes:
        raise InputError(
            f"the reply from {url} is larger than the element-file cap of {max_bytes:,} bytes "
            "(skyfence.limits.MAX_FILE_BYTES['elements'])", "url")
    return data
