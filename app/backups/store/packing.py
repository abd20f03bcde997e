"""Turning a local gzip JSON-lines file into a recipe of pack ranges: records already stored are referenced where
they are, new ones go into this publish's pack. No storage, no keys: the repository uploads what this plans.

A recipe is a list of `[pack ref, offset, length]` (plaintext bytes of the pack); the file is those bytes in order.
Records are recognised by the SHA-256 of their gzip member, which the snapshot writer makes reproducible.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .members import iter_members, merge_ranges

READ = 1024 * 1024

Location = tuple[str, int, int]  # (pack ref, offset, length)


def member_key(member: bytes) -> bytes:
    return hashlib.sha256(member).digest()


@dataclass
class PackPlan:
    """The new pack of one publish: which slices of which local files it holds, in order."""

    ref: str
    pieces: list[list] = field(default_factory=list)  # [path, file offset, length], adjacent slices merged
    size: int = 0

    def add(self, path: Path, offset: int, length: int) -> int:
        """Append a slice of a local file; return its offset in the pack."""
        at = self.size
        last = self.pieces[-1] if self.pieces else None
        if last is not None and last[0] == path and last[1] + last[2] == offset:
            last[2] += length
        else:
            self.pieces.append([path, offset, length])
        self.size += length
        return at

    def open(self) -> "_PiecesReader":
        return _PiecesReader(self.pieces)


@dataclass(frozen=True)
class Recipe:
    ranges: list[list]
    size: int
    sha256: str


def plan_recipe(path: Path, known: dict[bytes, Location], pack: PackPlan) -> Recipe:
    """Split a local file into gzip members; reuse known ones, add the others to the pack (NotGzip: nothing added).

    `known` grows with the members this call adds, so a record repeated within one publish is stored once.
    """
    decisions: list[tuple[bytes, int, int, Location | None]] = []
    digest, offset = hashlib.sha256(), 0
    with path.open("rb") as fh:
        for member in iter_members(iter(lambda: fh.read(READ), b"")):
            digest.update(member)
            key = member_key(member)
            decisions.append((key, offset, len(member), known.get(key)))
            offset += len(member)
    ranges = []
    for key, at, length, where in decisions:
        if where is None:
            where = known.get(key)  # repeated earlier in this same file
        if where is None:
            where = (pack.ref, pack.add(path, at, length), length)
            known[key] = where
        ranges.append(where)
    return Recipe(merge_ranges(ranges), offset, digest.hexdigest())


def index_members(ranges: list[list], chunks: Iterable[bytes], known: dict[bytes, Location]) -> None:
    """Learn where each member of a stored recipe file lies in its packs (its chunks: the file's plaintext)."""
    spans = _spans(ranges)
    span = next(spans, None)
    offset = 0
    for member in iter_members(chunks):
        end = offset + len(member)
        while span is not None and span[1] <= offset:
            span = next(spans, None)
        # A member always lies within one range (ranges join whole members); one that does not is not reused.
        if span is not None and span[0] <= offset and end <= span[1]:
            pack, pack_offset = span[2], span[3] + (offset - span[0])
            known.setdefault(member_key(member), (pack, pack_offset, len(member)))
        offset = end


def limit_packs(known: dict[bytes, Location], keep: int) -> dict[bytes, Location]:
    """Only the members of the `keep` packs holding the most of them (by bytes): the others are written anew, so the
    packs one snapshot reads from stay few however long the chain of incremental snapshots grows."""
    weight: dict[str, int] = {}
    for pack, _, length in known.values():
        weight[pack] = weight.get(pack, 0) + length
    if len(weight) <= keep:
        return known
    kept = set(sorted(weight, key=lambda pack: (-weight[pack], pack))[:keep])
    return {key: where for key, where in known.items() if where[0] in kept}


def _spans(ranges: list[list]) -> Iterator[tuple[int, int, str, int]]:
    """(file start, file end, pack, pack offset) of each range."""
    start = 0
    for pack, offset, length in ranges:
        yield start, start + length, pack, offset
        start += length


class _PiecesReader(io.RawIOBase):
    """A read-only stream over slices of local files, opened one at a time."""

    def __init__(self, pieces: list[list]):
        self._pieces = iter(pieces)
        self._fh = None
        self._left = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._left:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            path, offset, self._left = piece
            self._fh = open(path, "rb")
            self._fh.seek(offset)
        data = self._fh.read(min(len(target), self._left))
        if not data:
            raise OSError("a local snapshot file shrank while it was being stored")
        target[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        super().close()
