"""Read a state machine definition from a JSON or YAML file, or from JSON text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError

_YAML_SUFFIXES = (".yaml", ".yml")


class RepeatedKeys(dict):  # type: ignore[type-arg]
    """An object of a definition's JSON text that gives a key more than once.

    JSON parsers keep the last value, silently; the service refuses such a definition, so the
    object remembers the keys it repeated and validation reports each one.
    """

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]], repeated: list[str]) -> None:
        super().__init__(pairs)
        self.repeated = repeated


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return RepeatedKeys(pairs, repeated)


def loads(text: str) -> Any:
    """Parse a definition's JSON text as `json.loads` does, keeping track of repeated keys."""
    return json.loads(text, object_pairs_hook=_object)


def load(source: str | Path) -> dict[str, Any]:
    """The definition as a dict.

    `source` is a path to a `.json`, `.yaml` or `.yml` file, or the JSON text itself (a string
    starting with `{` or `[`). Raises UsageError naming the file, line and column of a syntax error, or
    saying why the file cannot be read or is not a JSON object.
    """
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        return _as_object(_parse_json(source, "<definition text>"), "<definition text>")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such definition file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a definition file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the definition ({exc.strerror or exc})") from None
    if path.suffix.lower() in _YAML_SUFFIXES:
        return _as_object(_parse_yaml(text, str(path)), str(path))
    return _as_object(_parse_json(text, str(path)), str(path))


def _parse_json(text: str, name: str) -> Any:
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise UsageError(f"{name}: the definition nests too deeply ([limits] definition_nesting)") from None


def _parse_yaml(text: str, name: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    try:
        return yaml.load(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise UsageError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{name}: invalid YAML: {exc}") from None
    except RecursionError:
        raise UsageError(f"{name}: the definition nests too deeply ([limits] definition_nesting)") from None


_LOADER: Any = None


def _loader() -> Any:
    """A safe YAML loader that keeps timestamps as strings, as JSON would (ASL compares them as text)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class Loader(yaml.SafeLoader):  # type: ignore[misc]
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                _refuse_repeated_keys(self, node)
                return super().construct_mapping(node, deep=deep)

        Loader.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        _LOADER = Loader
    return _LOADER


def _refuse_repeated_keys(loader: Any, node: Any) -> None:
    """Raise a YAML error at the second of two equal keys of one mapping (merge keys `<<` aside:
    YAML lets a mapping override what it merges in)."""
    import yaml

    first: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = first.setdefault(key, key_node)
        except TypeError:  # an unhashable key: the loader refuses it itself
            continue
        if seen is not key_node:
            raise yaml.constructor.ConstructorError(
                f"while reading the mapping at line {node.start_mark.line + 1}",
                node.start_mark,
                f"the key {key!r} is given twice in this mapping (keys must be unique; "
                f"first at line {seen.start_mark.line + 1})",
                key_node.start_mark,
            )


def _as_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
        raise UsageError(f"{name}: a state machine definition must be a JSON object, not {kind}")
    return value
