"""Stream a stored snapshot as a zip, decrypting on the fly: nothing whole in memory, nothing on disk."""
from __future__ import annotations

import time
import zipfile
from itertools import chain
from typing import Iterator

# Already compressed (or opaque) content is stored as is; JSON and the like is deflated.
_STORED_SUFFIXES = (".gz", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".pdf", ".docx", ".xlsx")
_FLUSH_AT = 256 * 1024


class _Sink:
    """The write end zipfile writes to: unseekable, so zipfile emits data descriptors; drained after writes."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._size = 0
        self._offset = 0

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._size += len(data)
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def pending(self) -> int:
        return self._size

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return data


def _compression(path: str) -> int:
    if path.startswith("attachments/") or path.lower().endswith(_STORED_SUFFIXES):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def zip_stream(store, snapshot_key: str, data_key: bytes, root_name: str | None = None) -> Iterator[bytes]:
    """Yield a zip of the snapshot's files at the zip root (interface.md); `root_name` becomes the zip comment.

    Storage and decryption errors surface from the generator (before the first byte when the snapshot cannot
    be opened at all, mid-stream when a file fails authentication, so a tampered file never completes a zip).
    """
    sink = _Sink()
    files = store.iter_files(snapshot_key, data_key)
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(sink, mode="w", allowZip64=True) as archive:
        if root_name:
            archive.comment = root_name.encode("utf-8")[:65535]
        for path, chunks in files:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = _compression(path)
            info.external_attr = 0o644 << 16
            # Sizes are unknown up front in a stream, so every entry may need ZIP64 fields.
            with archive.open(info, mode="w", force_zip64=True) as entry:
                for chunk in chunks:
                    entry.write(chunk)
                    if sink.pending() >= _FLUSH_AT:
                        yield sink.drain()
            if sink.pending():
                yield sink.drain()
    if sink.pending():
        yield sink.drain()


def snapshot_zip(store, snapshot_key: str, data_key: bytes, root_name: str | None = None) -> Iterator[bytes]:
    """The one way both download routes stream a snapshot: its zip, started before the caller answers.

    The first chunk is produced here, so a snapshot that cannot be opened (storage down, data key shredded)
    raises StorageError before any response is sent; later failures end the stream (a zip never completes).
    """
    chunks = iter(zip_stream(store, snapshot_key, data_key, root_name))
    first = next(chunks, b"")
    return chain([first], chunks)
