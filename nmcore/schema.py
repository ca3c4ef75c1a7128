"""The one converter for manifests: Kubernetes field names, strict keys, lenient numbers, located errors.

Every attrs class that describes part of a manifest (the core's and the plugins') is structured here, so
they all get the same rules: a field's manifest key is the camelCase of its name unless the field says
otherwise (``requireTLS``, ``from``); unknown keys are errors unless the class is marked open; numbers
written as strings (``port: "25"``) are accepted, as the KubeSphere examples write them; null for an optional
field means "not set", as Kubernetes takes it.
"""

import collections.abc
import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, is_sequence, list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from nmcore.errors import FieldProblem, SchemaError

__all__ = ["KEY", "FieldProblem", "SchemaError", "converter", "is_open", "manifest_key", "name_field", "open_schema",
           "structure"]

KEY = "nmcore.key"
"""Field metadata naming the manifest key, where it is not the camelCase of the field name."""

T = TypeVar("T", bound=type)

_open: set[type] = set()
_named: dict[tuple[type, str], str] = {}


def open_schema(cls: T) -> T:
    """Class decorator: unknown keys are ignored, not errors (Kubernetes `metadata` carries many we do not read)."""
    _open.add(cls)
    return cls


def is_open(cls: type) -> bool:
    return cls in _open


def name_field(cls: type, field: str, key: str) -> None:
    """Give `cls.field` the manifest key `key`, decided by code outside the class (the channel spec derives a
    receiver's `config_selector` key from its config kind). Call before the class is first structured."""
    _named[(cls, field)] = key

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def manifest_key(cls: type, attribute: attrs.Attribute) -> str:
    explicit = _named.get((cls, attribute.name)) or attribute.metadata.get(KEY)
    if explicit:
        return explicit
    head, *rest = attribute.name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _describe(value: Any) -> str:
    """Name a value's type the way a YAML author thinks of it, never echoing the value (it may be secret)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    if isinstance(value, str):
        raise ValueError(f"expected an integer, got the string {value!r}")
    raise ValueError(f"expected an integer, got {_describe(value)}")


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {_describe(value)}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {_describe(value)}")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"expected a number, got {_describe(value)}")


class _NotAChoice(ValueError):
    """A value outside a Literal's choices; the walker names the field and the choices."""

    def __init__(self, value: Any, choices: tuple[Any, ...]):
        super().__init__(f"expected one of {choices!r}")
        self.value = value
        self.choices = choices

    def describe(self, path: str) -> str:
        """`status must be 'firing' or 'resolved', got 'burning'`, with a "did you mean" for a near choice."""
        field = _FIELD.search(path)
        quoted = [repr(c) for c in self.choices]
        either = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        hint = ""
        if isinstance(self.value, str) and len(self.value) <= 64:  # an enumerated field, never a secret
            got = f"got {self.value!r}"
            words = {str(c).lower(): str(c) for c in self.choices}
            near = difflib.get_close_matches(self.value.lower(), list(words), n=1, cutoff=0.6)
            hint = f" (did you mean {words[near[0]]!r}?)" if near else ""
        else:
            got = f"got {_describe(self.value)}"
        return f"{field.group(1) + ' ' if field else ''}must be {either}, {got}{hint} @ {path}"


_FIELD = re.compile(r"(?:\.|\[')([^.\['\]]+)'?\]?$")
"""The last key of a located path: `$.alerts[0].status` → status, `$.labels['x']` → x."""


def _is_literal(cls: Any) -> bool:
    return get_origin(cls) is Literal


class _AtKey(ValueError):
    """A problem under one key of a mapping, so the error path can name the key."""

    def __init__(self, key: Any, problem: BaseException):
        super().__init__(str(problem))
        self.key = key
        self.problem = problem


def _is_mapping(cls: Any) -> bool:
    return get_origin(cls) in (dict, Mapping, collections.abc.Mapping)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(float, _structure_float)

    def structure_factory(cls: type) -> Any:
        renames = {a.name: override(rename=manifest_key(cls, a)) for a in attrs.fields(cls)}
        inner: Any = make_dict_structure_fn(  # type: ignore[misc]
            cls, conv, _cattrs_forbid_extra_keys=not is_open(cls), **renames  # type: ignore[arg-type]
        )
        optional = {manifest_key(cls, a) for a in attrs.fields(cls) if a.default is not attrs.NOTHING}

        def structure_object(value: Any, _: type) -> Any:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected an object, got {_describe(value)}")
            if optional and None in value.values():
                # null is "not set", as the API server and kubectl take it (`labels:` with nothing after it)
                value = {k: v for k, v in value.items() if v is not None or k not in optional}
            return inner(value, cls)

        return structure_object

    def unstructure_factory(cls: type) -> Any:
        renames = {a.name: override(rename=manifest_key(cls, a), omit_if_default=True) for a in attrs.fields(cls)}
        return make_dict_unstructure_fn(cls, conv, **renames)  # type: ignore[arg-type]

    def mapping_factory(cls: Any) -> Any:
        key_type, value_type = get_args(cls) or (Any, Any)

        def structure_mapping(value: Any, _: type) -> dict:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected an object, got {_describe(value)}")
            result = {}
            for key, item in value.items():
                try:
                    result[conv.structure(key, key_type)] = conv.structure(item, value_type)
                except Exception as exc:  # located by _located
                    raise _AtKey(key, exc) from None
            return result

        return structure_mapping

    def sequence_factory(cls: Any) -> Any:
        """A list is wanted: a string is not a list of its characters (`to: a@b.c` must not become 5 addresses)."""
        inner = (homogenous_tuple_structure_factory if get_origin(cls) is tuple else list_structure_factory)(cls, conv)

        def structure_sequence(value: Any, _: type) -> Any:
            if not isinstance(value, list | tuple):
                raise ValueError(f"expected a list, got {_describe(value)}")
            return inner(value, cls)

        return structure_sequence

    def is_homogenous_sequence(cls: Any) -> bool:
        args = get_args(cls)
        return is_sequence(cls) and (get_origin(cls) is not tuple or (len(args) == 2 and args[1] is Ellipsis))

    conv.register_structure_hook_factory(is_homogenous_sequence, sequence_factory)

    def literal_factory(cls: Any) -> Any:
        choices = get_args(cls)

        def structure_literal(value: Any, _: type) -> Any:
            # `True == 1`: compare types too, so `true` is not taken for the choice 1
            if any(value == c and type(value) is type(c) for c in choices):
                return value
            raise _NotAChoice(value, choices)

        return structure_literal

    conv.register_structure_hook_factory(_is_literal, literal_factory)
    conv.register_structure_hook_factory(_is_mapping, mapping_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter = _make_converter()


def structure(value: Any, cls: type, path: str = "$") -> Any:
    """Structure `value` as `cls`, raising SchemaError with every problem located under `path`."""
    try:
        return converter.structure(value, cls)
    except Exception as exc:  # every failure becomes a located message
        raise SchemaError(_located(exc, path)) from None


def _located(exc: BaseException, path: str) -> list[str]:
    if isinstance(exc, ClassValidationError):
        fields = attrs.fields_dict(exc.cl) if attrs.has(exc.cl) else {}
        with_notes, without = exc.group_exceptions()
        lines: list[str] = []
        for sub, field_note in with_notes:
            attribute = fields.get(field_note.name)
            lines += _located(sub, f"{path}.{manifest_key(exc.cl, attribute) if attribute else field_note.name}")
        for sub in without:
            lines += _located(sub, path)
        return lines
    if isinstance(exc, IterableValidationError):
        indexed, without = exc.group_exceptions()
        lines = []
        for sub, note in indexed:
            index = repr(note.index) if isinstance(note.index, str) else note.index
            lines += _located(sub, f"{path}[{index}]")
        for sub in without:
            lines += _located(sub, path)
        return lines
    if isinstance(exc, ForbiddenExtraKeysError):
        known = [manifest_key(exc.cl, a) for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        lines = []
        for extra in sorted(exc.extra_fields):
            near = difflib.get_close_matches(extra, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known fields: {', '.join(known)})"
            lines.append(f"unknown field {extra!r}{hint} @ {path}")
        return lines
    if isinstance(exc, FieldProblem):
        return [f"{exc} @ {path}.{exc.field}"]
    if isinstance(exc, _AtKey):
        return _located(exc.problem, f"{path}[{exc.key!r}]")
    if isinstance(exc, _NotAChoice):
        return [exc.describe(path)]
    if isinstance(exc, KeyError):
        return [f"required field missing @ {path}"]
    return [f"{exc} @ {path}"]
