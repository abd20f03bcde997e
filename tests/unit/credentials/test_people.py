"""Other admins' display names: from Jira, cached, and never an account id when Jira does not say."""
from __future__ import annotations

from types import SimpleNamespace

from app.connect.jira import JiraUnavailable
from app.credentials.people import DisplayNames
from app.presentation import Wording

TENANT = SimpleNamespace(client_key="site-1", base_url="https://acme.atlassian.net")


class CountingJira:
    def __init__(self, names=None, fail=False):
        self.names, self.fail, self.calls = names or {}, fail, []

    def display_names(self, ids):
        self.calls.append(list(ids))
        if self.fail:
            raise JiraUnavailable("GET", "/rest/api/3/user/bulk", 503)
        return {a: self.names[a] for a in ids if a in self.names}


def names_with(jira, clock):
    return DisplayNames(sealer=None, app_key="xray-backup", clock=clock, client_factory=lambda tenant: jira)


def test_names_are_cached_and_asked_for_again_once_the_cache_expires():
    now = [0.0]
    jira = CountingJira({"a": "Ada Lovelace"})
    names = names_with(jira, lambda: now[0])
    assert names.names(TENANT, ["a", "b", None]) == {"a": "Ada Lovelace"}
    assert names.names(TENANT, ["a", "b"]) == {"a": "Ada Lovelace"}
    assert jira.calls == [["a", "b"]]
    now[0] += 61  # an unknown account is asked for again sooner than a known one
    names.names(TENANT, ["a", "b"])
    assert jira.calls[-1] == ["b"]


def test_when_jira_does_not_answer_the_page_says_another_administrator():
    names = names_with(CountingJira(fail=True), lambda: 0.0)
    found = names.names(TENANT, ["a"])
    assert found == {}
    assert Wording.person("a", "me", found) == "another administrator"
    assert Wording.person("me", "me", found) == "you" and Wording.person(None, "me", found) == "an unknown user"
