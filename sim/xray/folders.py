"""A project's test repository tree (the nodes ``getFolder`` returns): find, create, delete, recount.

A node is ``{"name", "path", "testsCount", "preconditionsCount", "issuesCount", "folders": [nodes]}``; the
root is ``{"name": "", "path": "/"}``. Counts are computed from the records' ``folder`` paths, never edited.
"""
from __future__ import annotations


class FolderError(ValueError):
    """A folder path that does not fit the tree (missing, already there, or malformed)."""


def normalize(path: str) -> str:
    """``/a/b`` for ``a/b/`` and the like; ``/`` for the root."""
    if not isinstance(path, str):
        raise FolderError("The folder path must be a string.")
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts)


def find(root: dict, path: str) -> dict | None:
    """The node at ``path``, or None."""
    node = root
    for part in [p for p in normalize(path).split("/") if p]:
        node = next((c for c in node["folders"] if c["name"] == part), None)
        if node is None:
            return None
    return node


def record(path: str) -> dict:
    """The ``folder`` value of a test or precondition placed at ``path``."""
    path = normalize(path)
    return {"name": path.rsplit("/", 1)[-1], "path": path}


def _node(name: str, path: str) -> dict:
    return {"name": name, "path": path, "testsCount": 0, "preconditionsCount": 0, "issuesCount": 0,
            "folders": []}


def create(root: dict, path: str, *, parents: bool = False) -> dict:
    """Add the folder at ``path``; its parent must exist unless ``parents`` (then missing ones are made too)."""
    path = normalize(path)
    if path == "/":
        raise FolderError("The root folder already exists.")
    parent_path, name = path.rsplit("/", 1)
    parent = find(root, parent_path or "/")
    if parent is None:
        if not parents:
            raise FolderError(f"The parent folder '{parent_path}' does not exist.")
        parent = create(root, parent_path, parents=True)
    if any(c["name"] == name for c in parent["folders"]):
        if parents:
            return next(c for c in parent["folders"] if c["name"] == name)
        raise FolderError(f"A folder with the name '{name}' already exists in '{parent_path or '/'}'.")
    node = _node(name, path)
    parent["folders"].append(node)
    return node


def remove(root: dict, path: str) -> list[str]:
    """Drop the folder at ``path`` and its descendants; return every path removed."""
    path = normalize(path)
    if path == "/":
        raise FolderError("The root folder cannot be deleted.")
    parent_path, name = path.rsplit("/", 1)
    parent = find(root, parent_path or "/")
    node = next((c for c in (parent or {"folders": []})["folders"] if c["name"] == name), None)
    if node is None:
        raise FolderError(f"The folder '{path}' does not exist.")
    parent["folders"].remove(node)
    return list(paths(node))


def paths(node: dict):
    """Every path in the subtree of ``node``, the node's own first."""
    yield node["path"]
    for child in node["folders"]:
        yield from paths(child)


def recount(root: dict, pid: str, tests: list[dict], preconditions: list[dict]) -> None:
    """Set every node's counts from the records of project ``pid`` (Xray counts direct members only)."""
    def counter(records):
        out: dict[str, int] = {}
        for r in records:
            if r["projectId"] == pid and r.get("folder"):
                out[r["folder"]["path"]] = out.get(r["folder"]["path"], 0) + 1
        return out

    test_counts, pre_counts = counter(tests), counter(preconditions)

    def walk(node):
        node["testsCount"] = test_counts.get(node["path"], 0)
        node["preconditionsCount"] = pre_counts.get(node["path"], 0)
        node["issuesCount"] = node["testsCount"] + node["preconditionsCount"]
        for child in node["folders"]:
            walk(child)

    walk(root)
