"""The `xray-backup/1` format's names: the manifest, the entity files, the attachments folder. Pure."""
from __future__ import annotations

import hashlib
from urllib.parse import quote

from ...catalogue import RECORD_ENTITIES

FORMAT = "xray-backup/1"
MANIFEST = "manifest.json"
ENTITY_NAMES = RECORD_ENTITIES
ATTACHMENTS_DIR = "attachments"
ATTACHMENTS_INDEX = "attachments.jsonl.gz"
CHUNK = 256 * 1024
# File systems allow 255 bytes per name, and the stores add their own suffixes: longer escaped ids are hashed.
MAX_ATTACHMENT_NAME = 150


def entity_file(name: str) -> str:
    return f"{name}.jsonl.gz"


def attachment_path(attachment_id: str) -> str:
    """The file name an attachment id is stored under (ids are UUIDs; anything else is escaped, never a path).

    An id whose escaped form is too long for a file name is stored as its first characters, '+' and the sha256
    of the id ('+' never appears in an escaped id, so the two forms cannot collide); the index keeps the id.
    """
    attachment_id = str(attachment_id)
    name = quote(attachment_id, safe="-_.")
    if name in {"", ".", ".."}:
        name = quote(name, safe="") + "_"
    if len(name) > MAX_ATTACHMENT_NAME:
        name = f"{name[:64]}+{hashlib.sha256(attachment_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return f"{ATTACHMENTS_DIR}/{name}"
