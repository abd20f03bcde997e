"""Splitting a multi-member gzip file into its members, and merging byte ranges. Pure: no storage, no keys.

The snapshot writer puts one record in each gzip member, so a member is the unit storage can share between
snapshots. Splitting inflates every member to find where it ends (gzip has no length field), with a bounded
output buffer so a highly compressed member is never held decompressed.
"""
from __future__ import annotations

import zlib
from typing import Iterable, Iterator

_OUTPUT = 1024 * 1024  # inflated bytes looked at per step, then dropped


class NotGzip(ValueError):
    """The bytes are not a complete sequence of gzip members (then the file is stored whole)."""


def iter_members(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield the bytes of each gzip member of a stream given as chunks; NotGzip when it is not (wholly) gzip."""
    inflater = zlib.decompressobj(31)
    member = bytearray()  # compressed bytes of the member being read
    pending = b""
    chunks = iter(chunks)
    while True:
        if not pending:
            pending = next(chunks, b"")
            if not pending:
                pending = _drain(inflater)  # input ended: let zlib finish what it holds
                if inflater.eof:
                    continue
                if member:
                    raise NotGzip("the file ends inside a gzip member")
                return
        try:
            inflater.decompress(pending, _OUTPUT)
        except zlib.error as exc:
            raise NotGzip(f"not a gzip stream ({exc})") from None
        if inflater.eof:
            used = len(pending) - len(inflater.unused_data)
            member += pending[:used]
            yield bytes(member)
            member = bytearray()
            pending = inflater.unused_data
            inflater = zlib.decompressobj(31)
        else:
            used = len(pending) - len(inflater.unconsumed_tail)
            member += pending[:used]
            pending = inflater.unconsumed_tail


def _drain(inflater) -> bytes:
    """Inflate what zlib still holds after the last input (output bounded); return the unused input (none)."""
    try:
        while not inflater.eof:
            if not inflater.decompress(inflater.unconsumed_tail, _OUTPUT):
                break
    except zlib.error as exc:
        raise NotGzip(f"not a gzip stream ({exc})") from None
    return b""


def merge_ranges(ranges: Iterable[tuple[str, int, int]]) -> list[list]:
    """Join ranges (pack, offset, length) that follow each other in the same pack: fewer, longer reads."""
    merged: list[list] = []
    for pack, offset, length in ranges:
        if merged and merged[-1][0] == pack and merged[-1][1] + merged[-1][2] == offset:
            merged[-1][2] += length
        else:
            merged.append([pack, offset, length])
    return merged
