"""The REST resources of the fake Jira, in Jira Cloud's shapes, over the site's settable state.

Each resource takes the site, the parsed query (`{name: [values]}`), the body and the path's arguments,
and returns `(status, json)`. The caller has already checked the app's JWT.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

USER_PAGE_DEFAULT = 10
USER_PAGE_MAX = 100


def _error(status: int, message: str):
    return status, {"errorMessages": [message], "errors": {}}


def _int_param(params: dict, name: str, default: int) -> int:
    value = int(params.get(name, [str(default)])[0])
    if value < 0:
        raise ValueError(name)
    return value


def _avatar_urls(kind: str, ident: str) -> dict:
    return {size: f"https://avatars.example.test/{kind}/{quote(ident, safe='')}/{size}"
            for size in ("48x48", "24x24", "16x16", "32x32")}


def user_json(site, account_id: str) -> dict:
    """A user as Jira returns it (no e-mail address: the app does not ask for it)."""
    info = site.users.get(account_id, {})
    user = {
        "self": f"{site.url}/rest/api/3/user?accountId={quote(account_id, safe='')}",
        "accountId": account_id,
        "accountType": "atlassian",
        "avatarUrls": _avatar_urls("user", account_id),
        "displayName": account_id,
        "active": True,
        "timeZone": "Etc/UTC",
        "locale": "en_US",
    }
    user.update(info)
    return user


def find_project(site, id_or_key: str) -> dict | None:
    """A project by id, or by key in any case (as Jira resolves `{projectIdOrKey}`)."""
    for project in site.projects:
        if project["id"] == id_or_key or project["key"].upper() == id_or_key.upper():
            return project
    return None


def _project_id(project: dict):
    return int(project["id"]) if str(project["id"]).isdigit() else project["id"]


def _per_project(table: dict, project: dict) -> list[dict]:
    return list(table.get(project["key"], table.get(project["id"], [])))


def _component_json(site, project: dict, component: dict) -> dict:
    answer = {
        "self": f"{site.url}/rest/api/3/component/{component['id']}",
        "assigneeType": "PROJECT_DEFAULT",
        "realAssigneeType": "PROJECT_DEFAULT",
        "isAssigneeTypeValid": False,
        "project": project["key"],
        "projectId": _project_id(project),
    }
    answer.update(component)
    if component.get("leadAccountId"):
        answer["lead"] = user_json(site, component["leadAccountId"])
    return answer


def _version_json(site, project: dict, version: dict) -> dict:
    answer = {
        "self": f"{site.url}/rest/api/3/version/{version['id']}",
        "archived": False,
        "released": False,
        "projectId": _project_id(project),
    }
    answer.update(version)
    return answer


def _project_not_found(id_or_key: str):
    what = "id" if id_or_key.isdigit() else "key"
    return _error(404, f"No project could be found with {what} '{id_or_key}'.")


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


def users_bulk(site, params, _body):
    """`GET /rest/api/3/user/bulk?accountId=…&accountId=…`: unknown accounts are left out, as in Jira."""
    wanted = list(dict.fromkeys(params.get("accountId", [])))
    if not wanted:
        return _error(400, "At least one accountId is required.")
    try:
        start = _int_param(params, "startAt", 0)
        size = min(_int_param(params, "maxResults", USER_PAGE_DEFAULT), USER_PAGE_MAX)
    except ValueError:
        return _error(400, "startAt and maxResults must be numbers")
    found = [account for account in wanted if account in site.users]
    page = found[start:start + size]
    query = [("accountId", a) for a in wanted]
    answer = {
        "self": f"{site.url}/rest/api/3/user/bulk?" + urlencode(
            [("startAt", start), ("maxResults", size)] + query),
        "maxResults": size,
        "startAt": start,
        "total": len(found),
        "isLast": start + len(page) >= len(found),
        "values": [user_json(site, account) for account in page],
    }
    if not answer["isLast"]:
        answer["nextPage"] = f"{site.url}/rest/api/3/user/bulk?" + urlencode(
            [("startAt", start + size), ("maxResults", size)] + query)
    return 200, answer


def project(site, _params, _body, id_or_key: str):
    found = find_project(site, id_or_key)
    if found is None:
        return _project_not_found(id_or_key)
    answer = {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": f"{site.url}/rest/api/3/project/{found['id']}",
        "id": found["id"],
        "key": found["key"],
        "name": found["name"],
        "description": "",
        "components": [_component_json(site, found, c) for c in _per_project(site.components, found)],
        "issueTypes": [],
        "assigneeType": "UNASSIGNED",
        "versions": [_version_json(site, found, v) for v in _per_project(site.versions, found)],
        "roles": {},
        "avatarUrls": _avatar_urls("project", found["id"]),
        "projectTypeKey": "software",
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }
    lead = found.get("leadAccountId") or min(site.admins, default=None)
    if lead:
        answer["lead"] = user_json(site, lead)
    answer.update({k: v for k, v in found.items() if k not in ("id", "key", "name", "leadAccountId")})
    return 200, answer


def project_components(site, _params, _body, id_or_key: str):
    found = find_project(site, id_or_key)
    if found is None:
        return _project_not_found(id_or_key)
    return 200, [_component_json(site, found, c) for c in _per_project(site.components, found)]


def project_versions(site, _params, _body, id_or_key: str):
    found = find_project(site, id_or_key)
    if found is None:
        return _project_not_found(id_or_key)
    return 200, [_version_json(site, found, v) for v in _per_project(site.versions, found)]


ROUTES = [  # first match wins: /project/search before /project/{projectIdOrKey}
    ("POST", re.compile(r"/rest/api/3/permissions/check"), permissions_check),
    ("GET", re.compile(r"/rest/api/3/project/search"), project_search),
    ("GET", re.compile(r"/rest/api/3/user/bulk"), users_bulk),
    ("GET", re.compile(r"/rest/api/3/project/(?P<id_or_key>[^/]+)"), project),
    ("GET", re.compile(r"/rest/api/3/project/(?P<id_or_key>[^/]+)/components"), project_components),
    ("GET", re.compile(r"/rest/api/3/project/(?P<id_or_key>[^/]+)/versions"), project_versions),
]


def answer(site, method: str, path: str, params: dict, body: bytes):
    """Route one verified request to its resource; `(status, json)`."""
    for route_method, pattern, resource in ROUTES:
        match = pattern.fullmatch(path)
        if match and method == route_method:
            return resource(site, params, body, **match.groupdict())
    return _error(404, "not found")
