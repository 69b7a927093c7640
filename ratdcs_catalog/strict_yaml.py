"""YAML for configuration files, without the parts a configuration never needs and an attacker uses.

``yaml.safe_load`` builds no objects, but it still expands aliases: 383 bytes nine aliases deep
(a "billion laughs") took over a minute and 5.5 GB, and 5,000 levels of nesting ended in a
RecursionError. A ratdcs configuration is a small tree of scalars and lists, so this loader
refuses aliases, nesting deeper than ``MAX_DEPTH``, files over ``MAX_BYTES`` and a key given
twice in one mapping (YAML's "last one wins" silently dropped the first setting). Each refusal
is a ``ConfigError`` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "load_config_yaml", "shorten"]

MAX_BYTES = 1_000_000
MAX_DEPTH = 16


def shorten(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote what a user wrote."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 15]}... ({len(text):,} characters)"


def load_config_yaml(path: Path) -> Any:
    """The document in ``path``, or ConfigError (unreadable, too large, invalid, or refused)."""
    import yaml

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{path}: a configuration file of more than {MAX_BYTES:,} bytes",
                              hint="a ratdcs configuration is a few dozen lines; check you named the right file")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    try:
        return yaml.load(text, Loader=_loader_class())  # noqa: S506 - our SafeLoader subclass, below
    except _Refused as refused:
        raise ConfigError(f"{path}, line {refused.line}: {refused.reason}", hint=refused.hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem or exc.context}",
                          hint="fix the YAML syntax at that line (indentation, quotes, colons)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {shorten(str(exc), 200)}") from None


class _Refused(Exception):
    def __init__(self, line: int, reason: str, hint: str):
        super().__init__(reason)
        self.line, self.reason, self.hint = line, reason, hint


_LOADER = None


def _loader_class():
    """A SafeLoader that refuses aliases, deep nesting and duplicate keys (built once, on first use)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise _Refused(event.start_mark.line + 1, f"the alias *{event.anchor} is not taken",
                               "write the value out; ratdcs configurations use no anchors or aliases")
            self._depth = getattr(self, "_depth", 0) + 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _Refused(mark.line + 1, f"nested deeper than {MAX_DEPTH} levels",
                                   "a ratdcs configuration is at most a few levels deep")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node, deep=False):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Refused(line, f"the key {shorten(key, 60)} is given twice (first on line {seen[key]})",
                                   "keep one of them: YAML would silently use the last")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _LOADER = StrictLoader
    return _LOADER
