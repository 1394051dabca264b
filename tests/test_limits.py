"""Input caps and safe loaders (skyfence.limits): sizes, nesting, strings, files, names."""

from __future__ import annotations

import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyfence import limits
from skyfence.errors import InputError, PolicyError
from skyfence.limits import (
    check_tree,
    clean_name,
    clean_text,
    load_json_text,
    load_toml_text,
    read_text_file,
)


def _depth(v) -> int:
    """Reference nesting depth (top-level container = 1, a scalar = 0)."""
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


# strings full of the characters that could fool a bracket scanner
_tricky = st.text(alphabet='[]{}"\\ab\n\u00e9\U0001f600', max_size=12)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | _tricky,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_tricky, kids, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(value=_json_values, cap=st.integers(1, 8), chunk=st.sampled_from([3, 7, 64, 2**20]))
def test_json_depth_scan_agrees_with_the_parsed_depth(value, cap, chunk):
    # small scan chunks exercise the state carried across chunk borders (string, escapes)
    old = limits._SCAN_CHUNK
    limits._SCAN_CHUNK = chunk
    try:
        text = json.dumps(value, ensure_ascii=False)
        if _depth(value) <= cap:
            assert load_json_text(text, "v.json", max_depth=cap) == value
        else:
            with pytest.raises(InputError, match="nested deeper than"):
                load_json_text(text, "v.json", max_depth=cap)
    finally:
        limits._SCAN_CHUNK = old


@settings(max_examples=150, derandomize=True, deadline=None)
@given(strings=st.lists(_tricky, min_size=1, max_size=5), cap=st.integers(0, 30),
       chunk=st.sampled_from([2, 5, 2**20]))
def test_json_string_cap_measures_utf8_bytes_of_each_string(strings, cap, chunk):
    old = limits._SCAN_CHUNK
    limits._SCAN_CHUNK = chunk
    try:
        text = json.dumps(strings, ensure_ascii=False)
        # the scanner measures the encoded form between the quotes (escapes included)
        longest = max(len(json.dumps(s, ensure_ascii=False).encode()) - 2 for s in strings)
        if longest <= cap:
            assert load_json_text(text, "s.json", max_string_bytes=cap) == strings
        else:
            with pytest.raises(InputError, match=r"exceeds the cap|longer than the cap"):
                load_json_text(text, "s.json", max_string_bytes=cap)
    finally:
        limits._SCAN_CHUNK = old


@pytest.mark.parametrize(("text", "message", "where"), [
    ("[" * 100_000, "nested deeper than 64", "deep.json:1"),
    ("{}\n" + '{"a":' * 70 + "1" + "}" * 70, "nested deeper than 64", "deep.json:2"),
    ('{"a": NaN}', "NaN is not a JSON number", "deep.json"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number", "deep.json"),
    ('{"a": 1,\n "a": 2}', "duplicate key 'a'", "deep.json"),
    ("[" + "9" * 5000 + "]", "more than 4300 digits", "deep.json"),
    ('{"a": 1,,}', "not valid JSON", "deep.json:1"),
    ('["' + "x" * (4 * 2**20 + 1) + '"]', "exceeds the cap of 4.0 MiB", "deep.json:1"),
])
def test_json_refusals_name_the_file_and_line(text, message, where):
    with pytest.raises(InputError, match=message) as info:
        load_json_text(text, "deep.json")
    assert info.value.where == where


def test_json_caps_are_keywords_and_error_class_is_the_callers():
    assert load_json_text('[[[1]]]', "x", max_depth=3) == [[[1]]]
    with pytest.raises(PolicyError):
        load_json_text('[[[1]]]', "x", max_depth=2, error=PolicyError)
    with pytest.raises(InputError, match="size cap"):
        load_json_text("[1, 2, 3]", "x", max_bytes=4)
    assert load_json_text('{"a": NaN}', "x", allow_nan=True)["a"] != 0
    assert load_json_text('{"a": 1, "a": 2}', "x", allow_duplicate_keys=True) == {"a": 2}


def test_recursion_limit_is_never_reached_by_deep_documents():
    depth = sys.getrecursionlimit() * 20
    for text, loader in (("[" * depth + "]" * depth, load_json_text),
                         ("a = " + "[" * depth + "]" * depth, load_toml_text),
                         ("a = " + "{b = " * depth + "1" + "}" * depth, load_toml_text)):
        with pytest.raises(InputError, match="nested deeper than"):
            loader(text, "deep")


@pytest.mark.parametrize(("text", "message", "where"), [
    ("a = 1\nb = \n", "not valid TOML", "t.toml:2"),
    ("a = " + "[" * 70 + "]" * 70, "nested deeper than 64", "t.toml: a[0][0]"),
    (".".join(["k"] * 70) + " = 1", "nested deeper than 64", "t.toml: k.k.k"),
    ("a = " + "9" * 5000, "more than 4300 digits", "t.toml"),
    ('a = "' + "x" * (4 * 2**20 + 1) + '"', "exceeds the cap", "t.toml: a"),
])
def test_toml_refusals(text, message, where):
    with pytest.raises(InputError, match=message) as info:
        load_toml_text(text, "t.toml", kind="policy")
    assert str(info.value.where).startswith(where)


def test_toml_nan_refused_on_request():
    assert load_toml_text("a = 1.5", "t") == {"a": 1.5}
    with pytest.raises(InputError, match="not a finite number") as info:
        load_toml_text("[x]\na = [1.0, inf]", "t.toml", allow_nan=False)
    assert info.value.where == "t.toml: x.a[1]"


def test_check_tree_is_iterative():
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    with pytest.raises(InputError, match="nested deeper than 64"):
        check_tree(deep, "obj")
    check_tree(deep, "obj", max_depth=200_000)


def test_read_text_file_refuses_what_cannot_be_read_safely(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"a = 1\n" * 1000)
    with pytest.raises(InputError, match=r"exceeds the toml size cap of 1\.0 KiB"):
        read_text_file(big, kind="toml", max_bytes=1024)
    assert read_text_file(big, kind="toml").startswith("a = 1")
    with pytest.raises(InputError, match="is a directory"):
        read_text_file(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_text_file(tmp_path / "missing.toml")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_text_file(fifo)  # would block forever if opened
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"a = 1\nb = 2\n\x00\x01\x02")
    with pytest.raises(InputError, match="binary content") as info:
        read_text_file(binary)
    assert info.value.where == f"{binary}:3"
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"a = 1\nname = '\xe9'\n")
    with pytest.raises(InputError, match="byte 0xe9") as info:
        read_text_file(latin)
    assert info.value.where == f"{latin}:2"
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert limits.load_json_file(bom) == {"a": 1}


@pytest.mark.parametrize(("value", "message"), [
    ("", "must not be blank"),
    (" \t ", "only whitespace"),
    ("ali\x00ce", "U\\+0000 at position 4"),
    ("alice\nbob", "U\\+000A"),
    ("alice\u202e", "U\\+202E"),  # right-to-left override
    ("al\u200bice", "U\\+200B"),  # zero-width space
    ("x" * 201, "201 characters long; at most 200"),
    (42, "must be a text, got int"),
])
def test_clean_name_refusals(value, message):
    with pytest.raises(InputError, match=message) as info:
        clean_name(value, "by")
    assert info.value.where == "by"


def test_clean_name_and_text_accept_real_names():
    assert clean_name("  Mykhailo Fedorov ", "by") == "Mykhailo Fedorov"
    assert clean_name("Zürich–Genève 東京", "region") == "Zürich–Genève 東京"
    assert clean_text("line one\nline two\twith tab", "why") == "line one\nline two\twith tab"
    with pytest.raises(InputError, match="U\\+0007"):
        clean_text("ring \x07", "why")
    with pytest.raises(InputError, match="at most 10,000"):
        clean_text("x" * 10_001, "why")
    assert clean_text("  ", "comment", required=False) == ""


# ------------------------------------------------------------------------------------------
# safe writes


def test_atomic_output_all_or_nothing(tmp_path):
    target = tmp_path / "sub" / "out.csv"
    with limits.atomic_output(target) as tmp:
        tmp.write_text("a,b\n")
    assert target.read_text() == "a,b\n"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    target.chmod(0o640)
    with pytest.raises(RuntimeError), limits.atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "a,b\n"  # the old file is untouched
    with limits.atomic_output(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["out.csv"]  # no temp files left


def test_atomic_output_refuses_devices_fifos_and_directories(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for bad, message in ((fifo, "not a regular file"), (tmp_path, "is a directory")):
        with pytest.raises(InputError, match=message) as info, limits.atomic_output(bad):
            pass
        assert info.value.where == "--out"
    assert not fifo.is_file() and fifo.exists()
    link = tmp_path / "link.csv"
    link.symlink_to(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        limits.check_output_path(link)
    # a link to a regular file is written through, the link kept
    real = tmp_path / "real.csv"
    real.write_text("old")
    link2 = tmp_path / "link2.csv"
    link2.symlink_to(real)
    with limits.atomic_output(link2) as tmp:
        tmp.write_text("new")
    assert link2.is_symlink() and real.read_text() == "new"
    with pytest.raises(InputError, match=r"must end in \.parquet"):
        limits.check_output_path(tmp_path / "x.txt", suffixes=(".parquet",))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_atomic_output_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write in"), \
                limits.atomic_output(folder / "x.csv"):
            pass
    finally:
        folder.chmod(0o700)


def test_atomic_output_full_disk_is_one_error(tmp_path, monkeypatch):
    import errno as errno_mod

    def full(*args, **kwargs):
        raise OSError(errno_mod.ENOSPC, "No space left on device")

    target = tmp_path / "x.csv"
    with pytest.raises(InputError, match="the disk is full; nothing written"), \
            limits.atomic_output(target) as tmp:
        tmp.write_text("x")
        monkeypatch.setattr(os, "replace", full)
    assert not target.exists() and list(tmp_path.iterdir()) == []
