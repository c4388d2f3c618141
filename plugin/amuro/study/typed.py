"""Typed dataclasses from YAML mappings: every key known, every value of its field's type, or one line that says
which key and what was wrong (`train must be a list of strings, got str 'mnli'`)."""

from __future__ import annotations

import dataclasses
import types
import typing

from amuro.errors import AmuroError, did_you_mean


def build(cls, data, where: str):
    """`cls(**data)`, every value checked against the field's type (`_typed`); one-line errors name the key."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise AmuroError(f"{where} must be a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - {"path"}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise AmuroError(f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], names)}; "
                         f"known: {', '.join(sorted(names))}")
    return cls(**{k: _typed(v, hints[k], f"{where}: {k}") for k, v in data.items()})


def _typed(value, hint, where: str):
    """`value` as the type `hint` says (lists become tuples), or a one-line error. Knows the hints of this module:
    str, int, float, bool, dict, tuple[X, ...], X | None, int | str, and the nested dataclasses."""
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else build(hint, value, where)
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if typing.get_origin(option) is tuple:
            (item,) = {a for a in typing.get_args(option) if a is not Ellipsis}
            if isinstance(value, (list, tuple)):
                return tuple(_typed(v, item, f"{where}[{i}]") for i, v in enumerate(value))
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif option in (str, int, bool, dict) and isinstance(value, option) and \
                not (option is int and isinstance(value, bool)):  # `true` is not a number
            return value
    wanted = " or ".join(_type_name(o) for o in options)
    raise AmuroError(f"{where} must be {wanted}, got {_shown(value)}")


def _type_name(hint) -> str:
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "strings", int: "integers"}.get(item, _type_name(item))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a mapping",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


def _shown(value) -> str:
    return f"{type(value).__name__} {value!r:.60}"
