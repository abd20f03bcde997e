"""Files a client sends (step attachments, evidence): decoded, kept as attachments Xray serves, forgotten.

Kept bytes are served by ``Dataset.attachment_bytes`` (so at ``/api/v2/attachments/{id}``) exactly as sent.
"""
from __future__ import annotations

import base64
import binascii

from .errors import ChangeError


def decode_file(ds, item, field: str) -> tuple[str, bytes]:
    """``(filename, bytes)`` of an inline file (``data`` base64), or of an existing one (``attachmentId``)."""
    if not isinstance(item, dict):
        raise ChangeError(field, f"{field} entries must be objects with filename and data.")
    if item.get("attachmentId"):
        meta = ds.attachments.get(item["attachmentId"])
        if meta is None or meta["storedInJira"]:
            raise ChangeError(field, f"The attachment '{item['attachmentId']}' does not exist.")
        return item.get("filename") or meta["filename"], ds.attachment_bytes(meta["id"])
    filename, data = item.get("filename"), item.get("data")
    if not isinstance(filename, str) or not filename or not isinstance(data, str):
        raise ChangeError(field, f"{field} entries need a filename and base64 data.")
    try:
        return filename, base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ChangeError(field, f"The data of '{filename}' is not valid base64.") from None


def store_file(ds, owner_kind: str, owner_id: str, filename: str, data: bytes, *, evidence: bool,
               stamp: str) -> dict:
    """Keep the bytes as a new attachment Xray serves; the record as a step attachment or as evidence."""
    att_id = ds._uuid()
    ds.attachments[att_id] = {"id": att_id, "filename": filename, "size": len(data), "storedInJira": False,
                              "owner": {"kind": owner_kind, "id": owner_id}}
    ds._uploads[att_id] = data
    if evidence:
        return {"id": att_id, "filename": filename, "size": len(data), "createdOn": stamp, "storedInJira": False}
    return {"id": att_id, "filename": filename, "storedInJira": False}


def drop_files(ds, owner_kinds: tuple[str, ...], owner_prefix: str, keep: set[str] = frozenset()) -> None:
    """Forget the attachments of an owner (``owner.id`` is the prefix or starts with ``prefix/``)."""
    for att_id, meta in list(ds.attachments.items()):
        owner = meta["owner"]
        if owner["kind"] in owner_kinds and owner["id"].split("/")[0] == owner_prefix and att_id not in keep:
            del ds.attachments[att_id]
            ds._uploads.pop(att_id, None)
            ds._sha256.pop(att_id, None)
