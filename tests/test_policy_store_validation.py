"""Store-level validation: every bad value is refused naming its field, nothing is stored.

Names, texts, times, ids, the policy a request concerns, four eyes, sweeping policy versions
and the size caps on policy content.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.errors import AccessError, InputError, PolicyError, StoreError
from skyfence.policy.io import RequestSpec, loads_policy
from skyfence.policy.rules import MappingResolver, PolicyDoc
from skyfence.policy.store import (
    LATEST_UTC,
    MAX_REQUEST_ID,
    PolicyStore,
    same_actor,
    sweeping_change,
)

CELLS = [599513355757027327, 599514567937327103]
RESOLVER = MappingResolver({"Crimea": CELLS[:1], "Ukraine": CELLS, "Russia": [
    599525614549725183]})
BASE = PolicyDoc.model_validate({
    "name": "default", "default_action": "on",
    "regions": [{"name": "zone", "cells": ["8510d39bfffffff"]}],
    "rules": [{"name": "ua-on", "region": "Ukraine", "action": "on"},
              {"name": "ru-off", "region": "Russia", "action": "off"}],
})
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


@pytest.fixture()
def store(tmp_path):
    s = PolicyStore(tmp_path / "v.sqlite", clock=Clock(), resolver=RESOLVER)
    s.apply_policy(BASE, by="lead")
    yield s
    s.close()


def _file(store, **kw):
    args = {"by": "kyiv", "region": "Crimea", "action": "on", "why": "w", "at": "2022-09-01"}
    args.update(kw)
    return store.file_request(**args)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("by", "", "must not be blank"),
    ("by", "   \t ", "only whitespace"),
    ("by", "ky\x00iv", "control character U+0000"),
    ("by", "kyiv\nadmin", "control character U+000A"),
    ("by", "x" * 201, "at most 200"),
    ("region", " ", "blank"),
    ("region", "Cri\x1bmea", "U+001B"),
    ("why", "  ", "must not be blank"),
    ("why", "x" * 10_001, "at most 10,000"),
    ("why", "ok\x07", "U+0007"),
    ("key", " ", "blank"),
    ("policy_name", "\u202edefault", "U+202E"),
    ("at", "2100-01-01T00:00:00Z", "outside 1957-2056"),
    ("at", "1900-01-01T00:00:00Z", "outside 1957-2056"),
    ("at", "2030-01-01T00:00:00Z", "in the future"),
    ("start", "2100-01-01T00:00:00Z", "outside 1957-2056"),
    ("end", "9999-12-31T00:00:00Z", "outside 1957-2056"),
    ("policy_name", "other", "no policy named 'other'"),
])
def test_bad_request_fields_are_named_and_nothing_is_stored(store, field, value, message):
    before = (store.counts(), store.head())
    with pytest.raises(InputError, match=re.escape(message)) as info:
        _file(store, **{field: value})
    assert info.value.where == field
    assert (store.counts(), store.head()) == before
    assert store.verify().ok


def test_names_are_stored_stripped(store):
    r = _file(store, by="  Mykhailo Fedorov ", why="  drones  ")
    assert (r.requested_by, r.why) == ("Mykhailo Fedorov", "drones")


def test_request_against_a_missing_policy_even_in_an_empty_store(tmp_path):
    s = PolicyStore(tmp_path / "e.sqlite", clock=Clock(), resolver=RESOLVER)
    with pytest.raises(InputError, match="no policy is stored yet") as info:
        _file(s)
    assert info.value.where == "policy_name"
    with pytest.raises(InputError, match="no policy"):
        s.import_history([RequestSpec(key="k", by="a", region="Crimea", action="on", why="w",
                                      at="2022-09-01")])
    assert s.counts()["requests"] == 0
    s.close()


@pytest.mark.parametrize("request_id", [0, -1, MAX_REQUEST_ID + 1, 1180591620717411303424,
                                        10**400, "12abc", 1.5, True, None])
def test_request_ids_outside_sqlite_range_are_input_errors(store, request_id):
    before = store.counts()
    with pytest.raises(InputError) as info:
        store.decide(request_id, by="x", outcome="refused", reason="r")
    assert info.value.where == "request_id"
    with pytest.raises(InputError):
        store.request(request_id)
    assert store.counts() == before


def test_decision_fields(store):
    r = _file(store)
    before = store.counts()
    for kw, field in ((dict(by=" "), "by"), (dict(reason=""), "reason"),
                      (dict(reason="a\x00"), "reason"), (dict(at="2100-01-01"), "at"),
                      (dict(at="2035-01-01"), "at"), (dict(outcome="maybe"), "outcome")):
        args = {"by": "spacex", "outcome": "refused", "reason": "r", "at": "2022-09-02", **kw}
        with pytest.raises(InputError) as info:
            store.decide(r.id, **args)
        assert info.value.where == field, kw
    assert store.counts() == before


# ------------------------------------------------------------------------------------------
# four eyes


@pytest.mark.parametrize("decider", ["kyiv", "KYIV", "  kyiv ", "ｋｙｉｖ"])
def test_four_eyes_requester_cannot_decide(store, decider):
    r = _file(store, by="Kyiv")
    before = (store.counts(), store.head())
    with pytest.raises(AccessError, match="four eyes"):
        store.decide(r.id, by=decider, outcome="approved", reason="self", at="2022-09-02")
    assert (store.counts(), store.head()) == before
    d = store.decide(r.id, by="SpaceX", outcome="approved", reason="ok", at="2022-09-02")
    assert d.decided_by == "SpaceX"


def test_same_actor():
    assert same_actor("Elon Musk", " elon  MUSK ")
    assert not same_actor("Elon Musk", "Elon Musk (SpaceX)")


def test_four_eyes_holds_for_imported_history(store):
    text = """
[[rules]]
name = "ua-on"
region = "Ukraine"
action = "on"
[[requests]]
key = "self"
by = "Mallory"
region = "Crimea"
action = "on"
at = 2022-09-01T00:00:00Z
why = "please"
[[requests.decisions]]
by = "mallory"
outcome = "approved"
reason = "granted by myself"
at = 2022-09-02T00:00:00Z
"""
    before = store.counts()
    with pytest.raises(AccessError, match="four eyes"):
        store.import_history(loads_policy(text).requests)
    assert store.counts() == before


def test_cli_four_eyes_and_huge_id_exit_2_with_one_error_line(tmp_path, store):
    db = Path(store.path)
    store.close()
    with PolicyStore(db, resolver=RESOLVER) as s:
        r = _file(s, by="Alice")
    before = PolicyStore(db, create=False).counts()
    cases = [
        (["request", "decide", str(r.id), "--by", "alice", "--outcome", "approved", "--why",
          "mine", "--db", str(db)], "four eyes"),
        (["request", "decide", "1180591620717411303424", "--by", "bob", "--outcome",
          "approved", "--why", "w", "--db", str(db)], "request_id"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1 and message in errors[0], res.output
        assert "Traceback" not in res.output
    with PolicyStore(db, create=False) as s:
        assert s.counts() == before and s.verify().ok


# ------------------------------------------------------------------------------------------
# sweeping versions


@pytest.mark.parametrize(("text", "expected"), [
    ("", "removes every rule (ua-on, ru-off)"),
    ('name = "default"\ndefault_action = "on"\n', "removes every rule (ua-on, ru-off)"),
    ('default_action = "off"\n[[rules]]\nname = "ua-on"\nregion = "Ukraine"\naction = "on"\n',
     "turns the default (everywhere no rule decides) from on to off"),
])
def test_sweeping_policy_versions_need_the_flag(store, text, expected):
    doc = loads_policy(text)
    before = (store.counts(), store.head())
    with pytest.raises(PolicyError, match="changes service everywhere") as info:
        store.apply_file(doc, by="lead")
    assert expected in info.value.message and "allow_sweeping" in info.value.message
    assert (store.counts(), store.head()) == before
    preview = store.sweeping_change(doc)
    assert preview is not None and expected in preview.describe()
    if not doc.rules:
        assert preview.removed_regions == ("zone",)
    v, created, _ = store.apply_file(doc, by="lead", allow_sweeping=True)
    assert created and v.version == 2 and expected in v.comment


def test_ordinary_changes_are_not_sweeping(store):
    doc = BASE.model_copy(update={"rules": BASE.rules[:1]})
    assert sweeping_change(BASE, doc) is None
    v, created = store.apply_policy(doc, by="lead")
    assert created and v.version == 2
    assert sweeping_change(None, PolicyDoc()) is None  # a first version never is


# ------------------------------------------------------------------------------------------
# size caps on policy content


def test_policy_text_over_the_file_cap_is_refused_before_parsing():
    text = 'name = "default"\n[[rules]]\nname = "x"\nregion = "Ukraine"\naction = "on"\n' \
        'reason = "' + "x" * (33 * 2**20) + '"\n'
    with pytest.raises(PolicyError, match=r"exceeds the policy size cap of 32\.0 MiB"):
        loads_policy(text)


def test_a_huge_string_is_refused_by_file_and_api(store, tmp_path):
    big = "x" * (5 * 2**20)
    text = f'[[rules]]\nname = "x"\nregion = "Ukraine"\naction = "on"\nreason = "{big}"\n'
    with pytest.raises(PolicyError, match=r"exceeds the cap of 4\.0 MiB") as info:
        loads_policy(text, source="big.toml")
    assert info.value.where == "big.toml: rules[0].reason"
    with pytest.raises(PolicyError, match=r"the cap of 4\.0 MiB"):
        loads_policy(json.dumps({"rules": [{"name": "x", "region": "Ukraine", "action": "on",
                                            "reason": big}]}), "json", source="big.json")
    doc = PolicyDoc.model_validate({"rules": [
        {"name": "ua-on", "region": "Ukraine", "action": "on", "reason": big},
        {"name": "ru-off", "region": "Russia", "action": "off"}]})
    before = store.counts()
    with pytest.raises(PolicyError, match="exceeds the cap"):
        store.apply_policy(doc, by="lead")
    assert store.counts() == before


@pytest.mark.parametrize(("field", "value"), [("name", " "), ("name", "def\x00ault")])
def test_policy_names_are_names(store, field, value):
    doc = BASE.model_copy(update={field: value})
    with pytest.raises(PolicyError):
        store.apply_policy(doc, by="lead")


def test_deeply_nested_policy_json_is_a_policy_error():
    with pytest.raises(PolicyError, match="nested deeper"):
        loads_policy('{"rules": ' + "[" * 10_000 + "]" * 10_000 + "}", "json")
    with pytest.raises(PolicyError, match="nested deeper"):
        loads_policy("rules = " + "[" * 10_000 + "]" * 10_000, "toml")


def test_latest_utc_bound_is_documented():
    assert LATEST_UTC.year == 2057


def test_store_stays_usable_after_refusals(store):
    for bad in ({"by": ""}, {"at": "2100-01-01"}, {"policy_name": "nope"}):
        with pytest.raises(InputError):
            _file(store, **bad)
    with pytest.raises(StoreError, match="no request with id 5"):
        store.decide(5, by="x", outcome="refused", reason="r")
    assert _file(store).id == 1
