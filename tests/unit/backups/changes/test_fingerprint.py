"""The content digest: what is not content is ignored wherever it is nested, and text inside values never is."""
from __future__ import annotations

from app.backups.changes.fingerprint import PART_ORDER, canonical, changed_parts, digest, parts_vector


def test_lastmodified_downloadlinks_and_paging_are_not_content():
    record = {"id": "1", "lastModified": "t1", "evidence": [{"id": "e", "downloadLink": "http://a/e", "filename": "f"}],
              "preconditions": {"total": 1, "start": 0, "limit": 10, "results": [{"issueId": "9"}]}}
    other = {"preconditions": {"limit": 100, "start": 5, "results": [{"issueId": "9"}], "total": 1},
             "evidence": [{"filename": "f", "downloadLink": None, "id": "e"}], "id": "1", "lastModified": "t2"}
    assert digest(record) == digest(other)
    assert "lastModified" not in canonical(record) and "downloadLink" not in canonical(record)
    assert digest(record) != digest({**record, "preconditions": {**record["preconditions"], "total": 2}})


def test_the_same_words_inside_a_value_are_content():
    sneaky = ',"lastModified":"x","start":1,"total":'
    base = {"id": "1", "comment": "plain"}
    assert digest({**base, "comment": "plain" + sneaky}) != digest(base)
    assert digest({**base, "comment": '{"limit":1,"results":[]}'}) != digest({**base, "comment": '{"results":[]}'})
    assert digest({**base, "start": 1, "total": 2}) != digest({**base, "total": 2})  # not a connection: kept


def test_parts_vectors_name_what_differs():
    old = {"issueId": "1", "jira": {"summary": "a"}, "steps": [], "folder": {"path": "/"}}
    new = {"issueId": "1", "jira": {"summary": "a"}, "steps": [{"action": "x"}], "lastModified": "now"}
    assert changed_parts(parts_vector(old), parts_vector(new)) == ["steps", "folder"]
    assert changed_parts(parts_vector(old), parts_vector(dict(old))) == []
    assert len(parts_vector(old)) == 8 * len(PART_ORDER)
