"""The `xray-backup/1` format's names: the manifest, the entity files, the attachments folder. Pure."""
from __future__ import annotations

from urllib.parse import quote

from ...catalogue import RECORD_ENTITIES

FORMAT = "xray-backup/1"
MANIFEST = "manifest.json"
ENTITY_NAMES = RECORD_ENTITIES
ATTACHMENTS_DIR = "attachments"
ATTACHMENTS_INDEX = "attachments.jsonl.gz"
CHUNK = 256 * 1024


def entity_file(name: str) -> str:
    return f"{name}.jsonl.gz"


def attachment_path(attachment_id: str) -> str:
    """The file name an attachment id is stored under (ids are UUIDs; anything else is escaped, never a path)."""
    name = quote(str(attachment_id), safe="-_.")
    if name in {"", ".", ".."}:
        name = quote(name, safe="") + "_"
    return f"{ATTACHMENTS_DIR}/{name}"
