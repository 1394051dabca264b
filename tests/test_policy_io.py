"""Policy files: TOML writer against tomllib, round trips, errors naming file, line, field."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyfence.errors import PolicyError
from skyfence.policy.io import (
    canonical_json,
    default_policy_path,
    dump_policy,
    load_default_policy,
    load_policy_file,
    loads_policy,
    to_toml,
)

_keys = st.text(min_size=1, max_size=8)
_scalars = (st.text(max_size=20) | st.integers(-(2**63), 2**63 - 1) | st.booleans()
            | st.floats(allow_nan=False))
_values = st.recursive(
    _scalars | st.lists(_scalars, max_size=4),
    lambda inner: st.dictionaries(_keys, inner, max_size=4)
    | st.lists(st.dictionaries(_keys, inner, min_size=1, max_size=3), min_size=1, max_size=3),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
def test_toml_writer_round_trips_through_tomllib(data):
    # tomllib is the independent reference: what we write must read back identical
    assert tomllib.loads(to_toml(data)) == data


def test_toml_writer_escapes_control_characters_and_quotes_keys():
    data = {"a b": "line\nbreak \"q\" \\ \x7f \x01 é", "t": [{"x": 1}, {"x": 2}], "e": []}
    text = to_toml(data)
    assert '"a b" = ' in text and "[[t]]" in text
    assert tomllib.loads(text) == data


def test_default_policy_file_loads_and_round_trips(tmp_path):
    pf = load_default_policy()
    assert default_policy_path().name == "default_policy.toml"
    names = [r.name for r in pf.rules]
    assert names == ["ukraine-not-offered", "ukraine-on", "crimea-off", "russia-off",
                     "belarus-off", "taiwan-off"]
    assert pf.moving_rules[0].max_speed_kmh == 75.0
    assert [r.key for r in pf.requests] == ["ua-2022-02-26-activation", "ua-2022-09-crimea",
                                            "cn-2022-10-no-starlink-china"]
    assert [d.outcome for d in pf.requests[1].decisions] == ["refused"]
    # every rule cites a source and gives a reason
    assert all(r.reason and r.reference for r in pf.rules + pf.moving_rules)
    for fmt in ("toml", "json"):
        out = tmp_path / f"p.{fmt}"
        out.write_text(dump_policy(pf, fmt))
        again = load_policy_file(out)
        assert again == pf
        assert canonical_json(again.policy().content()) == canonical_json(pf.policy().content())


def test_policy_without_history_has_no_requests_key():
    doc = load_default_policy().policy()
    text = dump_policy(doc, "toml")
    assert "[[requests]]" not in text and "ukraine-on" in text
    assert "requests" not in doc.content()


@pytest.mark.parametrize(("name", "text", "where", "message"), [
    ("bad.toml", 'name = "x"\n\n[[rules]\n', "bad.toml:3", "not valid TOML"),
    ("bad.json", '{"name": "x",\n "rules": [\n}', "bad.json:3", "not valid JSON"),
    ("list.json", "[1, 2]", "list.json", "a policy is a table / object"),
    ("typo.toml", 'nmae = "x"\n', "typo.toml: nmae", "unknown field 'nmae' (did you mean "
                                                    "'name'?)"),
    ("kind.toml", '[[regions]]\nname = "z"\nkind = "planet"\ncells = []\n',
     "kind.toml: regions[0].kind", "'area', 'country' or 'cells'"),
    ("src.toml", '[[regions]]\nname = "z"\n', "src.toml: regions[0]",
     "give exactly one of cells, geojson, wkt, expression, file"),
    ("speed.toml", '[[moving_rules]]\nname = "m"\nregion = "Ukraine"\nmax_speed_kmh = -5\n',
     "speed.toml: moving_rules[0].max_speed_kmh", "greater than 0"),
    ("time.toml", '[[rules]]\nname = "a"\nregion = "U"\naction = "on"\nstart = "yesterday"\n',
     "time.toml: rules[0].start", "cannot read time 'yesterday'"),
    ("hist.toml", '[[requests]]\nkey = "k"\nby = "b"\nregion = "U"\naction = "on"\nwhy = "w"\n'
     'at = 2022-01-01\n[[requests.decisions]]\nby = "x"\noutcome = "yes"\nreason = "r"\n'
     'at = 2022-01-02\n', "hist.toml: requests[0].decisions[0].outcome",
     "'approved', 'refused' or 'deferred'"),
], ids=lambda v: v if isinstance(v, str) and v.endswith((".toml", ".json")) else None)
def test_malformed_files_name_file_line_and_field(tmp_path, name, text, where, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError) as e:
        load_policy_file(path)
    assert e.value.where == f"{tmp_path / name}{where[len(name):]}"
    assert message in e.value.message


def test_file_level_errors(tmp_path):
    with pytest.raises(PolicyError, match=r"file type '\.yaml'; use \.toml or \.json"):
        load_policy_file(tmp_path / "p.yaml")
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy_file(tmp_path / "none.toml")
    p = tmp_path / "r.toml"
    p.write_text('[[regions]]\nname = "z"\nfile = "missing.geojson"\n')
    with pytest.raises(PolicyError) as e:
        load_policy_file(p)
    assert e.value.where == f"{p}: regions[0].file" and "missing.geojson" in e.value.message
    p.write_text('[[regions]]\nname = "z"\nfile = "zone.kml"\n')
    (tmp_path / "zone.kml").write_text("<kml/>")
    with pytest.raises(PolicyError, match=r"unknown region file type '\.kml'"):
        load_policy_file(p)


def test_region_file_is_embedded(tmp_path):
    geom = {"type": "Polygon", "coordinates": [[[30, 50], [31, 50], [31, 51], [30, 50]]]}
    (tmp_path / "zone.geojson").write_text(json.dumps(geom))
    (tmp_path / "zone.wkt").write_text("POLYGON ((30 50, 31 50, 31 51, 30 50))\n")
    p = tmp_path / "p.toml"
    p.write_text('[[regions]]\nname = "a"\nfile = "zone.geojson"\n'
                 '[[regions]]\nname = "b"\nfile = "zone.wkt"\n')
    pf = load_policy_file(p)
    assert pf.regions[0].geojson == geom and pf.regions[0].file is None
    assert pf.regions[1].wkt == "POLYGON ((30 50, 31 50, 31 51, 30 50))"
    # the stored content no longer depends on the files beside the policy
    moved = loads_policy(dump_policy(pf, "json"), "json")
    assert moved == pf


def test_times_are_utc(tmp_path):
    pf = loads_policy('[[rules]]\nname = "a"\nregion = "U"\naction = "on"\n'
                      'start = 2022-02-26T02:00:00+02:00\nend = "2022-03-01"\n')
    r = pf.rules[0]
    assert r.model_dump(mode="json")["start"] == "2022-02-26T00:00:00Z"
    assert r.model_dump(mode="json")["end"] == "2022-03-01T00:00:00Z"


def test_unknown_format():
    with pytest.raises(PolicyError, match="unknown policy format 'yaml'"):
        loads_policy("", "yaml")
    with pytest.raises(PolicyError, match="unknown format 'xml'"):
        dump_policy(load_default_policy(), "xml")


def test_default_policy_path_is_package_data():
    assert Path(default_policy_path()).is_file()
