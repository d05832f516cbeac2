"""Typed results as JSON: frozen dataclasses that write themselves out and read themselves back.

A result that crosses a module boundary or a file (training's outcome, the
model folder's description, the data manifest, an evaluation) is a
``Record``: its fields are typed, ``to_json`` gives plain JSON values and
``from_json`` reads them back, checking each field's type, so a misspelled
or missing key is a ValueError naming the field at the one place a file is
read, not a KeyError somewhere downstream.

Field types understood: bool, int, float (an int is taken), str, None, a
nested Record, ``list[T]``, ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]``, ``T |
None``, and ``Any`` (kept as it is). A field with a default may be missing
from the JSON (a file written before the field existed).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """Mixin for a dataclass whose instances are written to and read from JSON."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls: type[R], data: Any, where: str = "") -> R:
        """An instance from ``to_json``'s output; ValueError names the field that is wrong."""
        return _from_json(cls, data, where or cls.__name__)


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _from_json(kind: Any, data: Any, where: str) -> Any:
    if kind is Any:
        return data
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _from_json(option, data, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{where}: must not be null")
    if origin is list:
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {_name(data)}")
        return [_from_json(args[0], v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is tuple:
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {_name(data)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if len(data) != len(args):
            raise ValueError(f"{where}: expected {len(args)} values, got {len(data)}")
        return tuple(_from_json(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data)))
    if origin is dict:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {_name(data)}")
        return {str(k): _from_json(args[1], v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(kind, type) and issubclass(kind, Record):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {_name(data)}")
        hints = typing.get_type_hints(kind)
        values = {}
        for f in dataclasses.fields(kind):  # type: ignore[arg-type]
            if f.name in data:
                values[f.name] = _from_json(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: {f.name} is missing")
        return kind(**values)
    if kind is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif kind is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif kind in (bool, str):
        if isinstance(data, kind):
            return data
    elif kind is type(None):
        if data is None:
            return None
    else:
        raise TypeError(f"{where}: a record field of type {kind!r} cannot be read")
    raise ValueError(f"{where}: expected {_kind(kind)}, got {_name(data)}")


def _kind(kind: type) -> str:
    return {float: "a number", int: "a whole number", bool: "true or false", str: "text"}.get(kind, "null")


def _name(data: Any) -> str:
    return "null" if data is None else repr(data) if isinstance(data, (int, float, str, bool)) else type(data).__name__
