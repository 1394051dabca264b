"""CelesTrak fetch through a cache, against a local HTTP server on 127.0.0.1, never the internet."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sgp4.exporter import export_omm

from conftest import TLE_2023
from skyfence.errors import InputError, OfflineError
from skyfence.orbits.celestrak import (
    CACHE_ENV_VAR,
    default_cache_dir,
    fetch_group,
)
from skyfence.orbits.elements import load_elements, parse_tle_text

TIMEOUT_S = 5.0


class _Server:
    """A GP endpoint stand-in: ``/gp.php?GROUP=...&FORMAT=...``; records each query."""

    def __init__(self, tle_text: str) -> None:
        self.tle = tle_text.encode()
        omm = [export_omm(s, n) for s, n in zip(*_sats(tle_text), strict=True)]
        self.json = json.dumps(omm).encode()
        self.queries: list[dict[str, str]] = []
        self.refuse = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                owner.queries.append(query)
                group, fmt = query.get("GROUP"), query.get("FORMAT")
                if owner.refuse:
                    status, body = 403, (b"GP data has not updated since your last successful\n"
                                         b"download of GROUP=starlink at 2026-03-27 08:11:36 UTC.")
                elif group == "starlink" and fmt in ("tle", "json"):
                    status, body = 200, owner.tle if fmt == "tle" else owner.json
                elif group == "nosuchgroup":
                    status, body = 200, b"No GP data found"  # what CelesTrak answers
                else:
                    status, body = 404, b"not found"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gp.php"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=TIMEOUT_S)


def _sats(tle_text: str):
    const = parse_tle_text(tle_text)
    return const.satrecs, const.names


@pytest.fixture(scope="module")
def tle_text(shared_data) -> str:
    return "\n".join(TLE_2023.read_text().splitlines()[:30]) + "\n"


@pytest.fixture()
def server(tle_text) -> Iterator[_Server]:
    with _Server(tle_text) as srv:
        yield srv


@pytest.fixture()
def dead_url() -> str:
    """A 127.0.0.1 URL with nothing listening (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gp.php"


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_download_then_fresh_cache(server, tmp_path, tle_text) -> None:
    first = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, timeout_s=TIMEOUT_S)
    assert first.origin == "network" and not first.stale and first.warning is None
    assert first.path == tmp_path / "starlink.tle"
    assert first.path.read_text() == tle_text
    assert server.queries == [{"GROUP": "starlink", "FORMAT": "tle"}]
    second = fetch_group("STARLINK ", cache_dir=tmp_path, base_url=server.url,
                         timeout_s=TIMEOUT_S)
    assert second.origin == "cache" and second.age_s < 60
    assert len(server.queries) == 1  # no second request
    assert len(load_elements(second)) == 10  # usable as a path (os.PathLike)


def test_stale_cache_is_refreshed_when_online(server, tmp_path) -> None:
    path = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url).path
    _age(path, 3 * 3600)
    again = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, max_age_s=7200)
    assert again.origin == "network" and len(server.queries) == 2
    always = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, max_age_s=0)
    assert always.origin == "network" and len(server.queries) == 3


def test_stale_cache_is_used_offline_with_a_warning(server, tmp_path, dead_url) -> None:
    path = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url).path
    _age(path, 3 * 86400)
    result = fetch_group("starlink", cache_dir=tmp_path, base_url=dead_url, timeout_s=TIMEOUT_S)
    assert result.origin == "stale-cache" and result.stale and result.path == path
    assert 3 * 86400 - 60 < result.age_s < 3 * 86400 + 600
    assert "download from CelesTrak failed" in result.warning
    assert "using the cached copy of group 'starlink' from 3.0 days ago" in result.warning


def test_offline_without_cache_raises_offline_error(tmp_path, dead_url) -> None:
    with pytest.raises(OfflineError) as info:
        fetch_group("starlink", cache_dir=tmp_path, base_url=dead_url, timeout_s=TIMEOUT_S)
    message = str(info.value)
    assert "cannot download CelesTrak group 'starlink'" in message
    assert f"no cached copy in {tmp_path}" in message
    assert "Pass a local element file instead" in message
    assert not list(tmp_path.iterdir())


def test_http_error_without_cache_is_offline_error(server, tmp_path) -> None:
    with pytest.raises(OfflineError, match="HTTP 404 Not Found: not found"):
        fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, fmt="csv")


def test_http_403_too_soon_falls_back_to_the_cache(server, tmp_path) -> None:
    # CelesTrak answers a repeated download within 2 hours with 403 and this sentence.
    path = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url).path
    _age(path, 1800)
    server.refuse = True
    result = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, max_age_s=600)
    assert result.origin == "stale-cache" and result.path == path
    assert "HTTP 403 Forbidden: GP data has not updated since your last successful" in (
        result.warning)
    assert "from 30 min ago" in result.warning


def test_unknown_group_reply_is_an_input_error(server, tmp_path) -> None:
    message = "CelesTrak returned no element sets for group 'nosuchgroup' (reply: 'No GP data"
    with pytest.raises(InputError, match=re.escape(message)):
        fetch_group("nosuchgroup", cache_dir=tmp_path, base_url=server.url)
    assert not (tmp_path / "nosuchgroup.tle").exists()


@pytest.mark.parametrize("group", ["star link", "../etc/passwd", "", "-x", "a" * 41, "grp&x=1"])
def test_bad_group_names(tmp_path, group) -> None:
    with pytest.raises(InputError, match="is not a CelesTrak group name") as info:
        fetch_group(group, cache_dir=tmp_path, base_url="http://127.0.0.1:9/")
    assert "such as starlink" in info.value.message and info.value.where == "group"


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(InputError, match="format 'xml' is not one of tle, json, csv"):
        fetch_group("starlink", cache_dir=tmp_path, fmt="xml")
    with pytest.raises(InputError, match="timeout_s must be > 0"):
        fetch_group("starlink", cache_dir=tmp_path, timeout_s=0)
    with pytest.raises(InputError, match="max_age_s must be >= 0"):
        fetch_group("starlink", cache_dir=tmp_path, max_age_s=-1)


def test_json_format(server, tmp_path) -> None:
    result = fetch_group("starlink", cache_dir=tmp_path, base_url=server.url, fmt="json")
    assert result.path.name == "starlink.json"
    assert server.queries[-1] == {"GROUP": "starlink", "FORMAT": "json"}
    assert len(load_elements(result.path)) == 10


def test_cache_dir_from_environment(monkeypatch, tmp_path, server) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "root"))
    assert default_cache_dir() == tmp_path / "root" / "celestrak"
    result = fetch_group("starlink", base_url=server.url)
    assert result.path == tmp_path / "root" / "celestrak" / "starlink.tle"
    monkeypatch.delenv(CACHE_ENV_VAR)
    assert default_cache_dir() == Path.home() / ".cache" / "skyfence" / "celestrak"
