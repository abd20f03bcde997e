"""The REST resources of the fake Jira, in Jira Cloud's shapes, over the site's settable state.

Each resource takes the site, the parsed query (`{name: [values]}`), the body and the path's arguments,
and returns `(status, json)`. The caller has already checked the app's JWT.
"""
from __future__ import annotations

import json
import re


def _error(status: int, message: str):
    return status, {"errorMessages": [message], "errors": {}}


def _int_param(params: dict, name: str, default: int) -> int:
    value = int(params.get(name, [str(default)])[0])
    if value < 0:
        raise ValueError(name)
    return value


# ---------------------------------------------------------------- resources


def permissions_check(site, _params, body: bytes):
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return _error(400, "body is not JSON")
    account = request.get("accountId")
    wanted = request.get("globalPermissions") or []
    granted = [p for p in wanted if p == "ADMINISTER" and account in site.admins]
    return 200, {"globalPermissions": granted, "projectPermissions": []}


def project_search(site, params, _body):
    try:
        start = _int_param(params, "startAt", 0)
        size = min(_int_param(params, "maxResults", 50), 100)
    except ValueError:
        return _error(400, "startAt and maxResults must be numbers")
    projects = site.projects
    values = projects[start:start + size]
    return 200, {
        "self": f"{site.url}/rest/api/3/project/search",
        "startAt": start,
        "maxResults": size,
        "total": len(projects),
        "isLast": start + len(values) >= len(projects),
        "values": [{"id": p["id"], "key": p["key"], "name": p["name"]} for p in values],
    }


ROUTES = [
    ("POST", re.compile(r"/rest/api/3/permissions/check"), permissions_check),
    ("GET", re.compile(r"/rest/api/3/project/search"), project_search),
]


def answer(site, method: str, path: str, params: dict, body: bytes):
    """Route one verified request to its resource; `(status, json)`."""
    for route_method, pattern, resource in ROUTES:
        match = pattern.fullmatch(path)
        if match and method == route_method:
            return resource(site, params, body, **match.groupdict())
    return _error(404, "not found")
