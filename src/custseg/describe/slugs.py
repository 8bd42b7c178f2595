"""Segment slugs: the file-name form of a segment's name (``segments/<slug>.csv``).

A slug is lower-case ASCII letters and digits joined by single hyphens, at most
:data:`MAX_SLUG_CHARS` long, and the slugs of one run are distinct (:func:`distinct_slugs`), so
no name, however long or in whatever script, makes a file name too long or two segments share
a file. A model file's slugs are checked against the same rule (:func:`is_slug`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

#: Longest slug (a segment's file name is ``<slug>.<format>``, well within any file system's 255).
MAX_SLUG_CHARS = 80
SLUG_PATTERN = re.compile(r"[0-9a-z]+(-[0-9a-z]+)*")


def slugify(text: str) -> str:
    """Lower-case, hyphenated, file-name-safe form of ``text``, at most :data:`MAX_SLUG_CHARS` long.

    A longer text is cut and ends with a short hash of the whole, so two long names that begin
    alike keep distinct slugs.

    Examples
    --------
    >>> slugify("High income · Low spending")
    'high-income-low-spending'
    >>> len(slugify("x" * 500)), slugify("x" * 500) != slugify("x" * 499)
    (80, True)
    """
    slug = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-") or "segment"
    if len(slug) > MAX_SLUG_CHARS:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug[:MAX_SLUG_CHARS - 9].rstrip('-')}-{digest}"
    return slug


def is_slug(text: object) -> bool:
    """Whether ``text`` is a slug custseg could have made (safe as a file name).

    Examples
    --------
    >>> is_slug("vips-2"), is_slug("../etc/passwd"), is_slug("")
    (True, False, False)
    """
    return (isinstance(text, str) and len(text) <= MAX_SLUG_CHARS
            and SLUG_PATTERN.fullmatch(text) is not None)


def distinct_slugs(names: Sequence[str]) -> list[str]:
    """A slug per name, distinct: a slug already taken gets ``-2`` (``-3``, ...) appended.

    Names that differ only in what a file name cannot hold ("VIP!" and "VIP?", or two names in
    a script without ASCII letters) still get distinct segment files.

    Examples
    --------
    >>> distinct_slugs(["VIP!", "VIP?", "客户一", "客户二"])
    ['vip', 'vip-2', 'segment', 'segment-2']
    """
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        base = slugify(name)
        slug, suffix = base, 2
        while slug in taken:
            tail = f"-{suffix}"
            slug = f"{base[:MAX_SLUG_CHARS - len(tail)].rstrip('-')}{tail}"
            suffix += 1
        taken.add(slug)
        out.append(slug)
    return out
