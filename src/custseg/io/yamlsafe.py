"""Small option files (``--names``, an action table) read as plain data, never as a bomb.

YAML anchors and aliases (``&a`` ... ``*a``) let a few hundred bytes stand for billions of values
(the "billion laughs" document); nothing custseg reads needs them, so the loader refuses the
first anchor or alias it meets, before anything is expanded. Files are read up to
:data:`MAX_OPTION_FILE_BYTES`, and nesting deep enough to exhaust recursion is refused too.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from custseg.exceptions import ConfigError

#: Option files are a few kilobytes; anything larger is refused unread.
MAX_OPTION_FILE_BYTES = 1 * 2**20


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors and aliases as it composes the document."""

    def compose_node(self, parent: object, index: object) -> object:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            kinds = "aliases" if isinstance(event, yaml.AliasEvent) else "anchors"
            raise yaml.composer.ComposerError(
                None, None, f"YAML {kinds} (&name, *name) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def read_option_text(path: Path, what: str, option: str) -> str:
    """The text of a small option file, refusing one larger than :data:`MAX_OPTION_FILE_BYTES`.

    Raises
    ------
    ConfigError
        The file cannot be read, is too large, or is not UTF-8 text.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPTION_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}. Check the {option} "
                          "path.") from None
    if len(data) > MAX_OPTION_FILE_BYTES:
        raise ConfigError(f"{what.capitalize()} {path} is larger than "
                          f"{MAX_OPTION_FILE_BYTES // 2**20} MiB; it should be a few lines.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what.capitalize()} {path} is not UTF-8 text (byte {exc.start}).") from None


def parse_data(text: str, path: Path, what: str, as_json: bool = False) -> object:
    """Parse ``text`` as JSON or as YAML without anchors and aliases.

    Raises
    ------
    ConfigError
        Invalid JSON or YAML, an anchor or alias, or nesting too deep to read.

    Examples
    --------
    >>> parse_data("a: [1, 2]", Path("n.yaml"), "names file")
    {'a': [1, 2]}
    >>> try:
    ...     parse_data("a: &x 1\\nb: *x", Path("n.yaml"), "names file")
    ... except ConfigError as error:
    ...     print(str(error).split(": ", 1)[1])
    YAML anchors (&name, *name) are not allowed (line 1, column 4).
    """
    kind = "JSON" if as_json else "YAML"
    try:
        return json.loads(text) if as_json else yaml.load(text, Loader=NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{what.capitalize()} {path} is not valid {kind}: "
                          f"{exc.problem or exc.context}{where}.") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), kind)
        raise ConfigError(f"{what.capitalize()} {path} is not valid {kind}: {first}.") from None
    except RecursionError:
        raise ConfigError(f"{what.capitalize()} {path} is not valid {kind}: it is nested too "
                          "deeply.") from None
