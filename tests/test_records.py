"""Typed results to JSON and back (``records``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from neuraltunes_live.records import Record


@dataclass(frozen=True)
class Inner(Record):
    name: str
    weight: float


@dataclass(frozen=True)
class Outer(Record):
    count: int
    inners: tuple[Inner, ...]
    by_name: dict[str, Inner]
    pair: tuple[int, str]
    values: list[float]
    maybe: Inner | None = None
    flag: bool = False
    anything: dict[str, Any] = field(default_factory=dict)


EXAMPLE = Outer(
    count=2,
    inners=(Inner("a", 1.5), Inner("b", 2.0)),
    by_name={"a": Inner("a", 1.5)},
    pair=(3, "x"),
    values=[0.25, 1.0],
    maybe=Inner("c", 0.5),
    flag=True,
    anything={"free": [1, {"x": None}]},
)


def test_a_record_reads_back_equal_from_its_json():
    data = EXAMPLE.to_json()
    assert data["inners"] == [{"name": "a", "weight": 1.5}, {"name": "b", "weight": 2.0}]
    assert data["pair"] == [3, "x"]
    assert Outer.from_json(data) == EXAMPLE


def test_fields_with_defaults_may_be_missing_and_unknown_keys_are_left_out():
    data = EXAMPLE.to_json()
    for key in ("maybe", "flag", "anything"):
        del data[key]
    data["later"] = "a field of a later version"
    back = Outer.from_json(data)
    assert (back.maybe, back.flag, back.anything) == (None, False, {})


def test_a_whole_number_is_read_as_a_float_but_not_the_other_way():
    assert Inner.from_json({"name": "a", "weight": 2}).weight == 2.0
    with pytest.raises(ValueError, match=r"Outer.count: expected a whole number, got 2.5"):
        Outer.from_json({**EXAMPLE.to_json(), "count": 2.5})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"count": True}, r"Outer.count: expected a whole number, got True"),
        ({"inners": [{"name": "a"}]}, r"Outer.inners\[0\]: weight is missing"),
        ({"by_name": {"a": {"name": 1, "weight": 1.0}}}, r"Outer.by_name.a.name: expected text, got 1"),
        ({"pair": [1]}, r"Outer.pair: expected 2 values, got 1"),
        ({"values": "x"}, r"Outer.values: expected a list, got 'x'"),
        ({"maybe": 3}, r"Outer.maybe: expected an object, got 3"),
    ],
)
def test_a_wrong_field_is_named_with_its_path(change, message):
    with pytest.raises(ValueError, match=message):
        Outer.from_json({**EXAMPLE.to_json(), **change})


def test_the_place_read_is_named_when_given():
    with pytest.raises(ValueError, match=r"^manifest.json: count is missing"):
        Outer.from_json({}, "manifest.json")
