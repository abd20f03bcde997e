/*
 * "What changed" on the Backups page (templates/backups/_changes.html): any [data-changes="<run id>"] button opens
 * what was added, modified and removed from an earlier succeeded snapshot to this one: by default the one an
 * incremental run was built on (data-since, its parentId), else the previous succeeded run; any earlier succeeded
 * run can be chosen. Uses window.XB (static/js/api.js); everything from the server goes into the DOM as text.
 */
(function () {
  "use strict";

  var XB = window.XB;
  var state = XB.state("backups-state") || {};
  var ORDER = ["tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs", "attachments"];
  var LABELS = {
    tests: "Tests", preconditions: "Preconditions", test_sets: "Test sets", test_plans: "Test plans",
    test_executions: "Test executions", test_runs: "Test runs", attachments: "Attachments"
  };
  var KINDS = [["added", "Added"], ["modified", "Modified"], ["removed", "Removed"]];
  // The API's part names (app/backups/changes/fingerprint.py) in an admin's words.
  var PARTS = {
    fields: "Jira fields", steps: "steps", definition: "definition", type: "type", preconditions: "preconditions",
    folder: "folder", folders: "folders", dataset: "dataset", tests: "tests", testExecutions: "test executions",
    testEnvironments: "test environments", project: "project", other: "other data"
  };

  var view = { run: null, parent: null, opener: null, request: 0 };

  function $(id) { return document.getElementById(id); }
  var el = XB.el, clear = XB.clear, group = XB.group;

  function size(bytes) {
    if (bytes === null || bytes === undefined) return "";
    var units = ["bytes", "KB", "MB", "GB"], value = bytes, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i === 0 ? group(bytes) + " bytes" : value.toFixed(1) + " " + units[i];
  }

  function status(text) { $("changes-status").textContent = text; }

  function showError(text) {
    $("changes-error-text").textContent = text;
    $("changes-error").hidden = false;
    status("");
    XB.resize();
  }

  /* ------------------------------------------------------------------ opening: this run and the earlier ones */

  function kindWord(run) { return run.kind === "incremental" ? "Incremental" : (run.kind === "full" ? "Full" : ""); }

  function optionText(run) {
    var parts = [XB.formatTime(run.startedAt)];
    if (kindWord(run)) parts.push(kindWord(run));
    if (run.id === view.parent) parts.push("the snapshot this backup was built on");
    return parts.join(" \u00b7 ");
  }

  function open(runId, since, opener) {
    view.run = runId;
    view.parent = since || null;
    view.opener = opener || null;
    var token = ++view.request;
    $("changes").hidden = false;
    $("changes-error").hidden = true;
    $("changes-result").hidden = true;
    $("changes-form").hidden = false;
    $("changes-when").textContent = "";
    clear($("changes-since"));
    status("Loading the earlier snapshots\u2026");
    $("changes").focus();
    XB.resize();
    var earlier = "api/backups?status=succeeded&limit=100&before=" + encodeURIComponent(runId);
    Promise.all([XB.api.get(XB.apiUrl("api/backups/" + encodeURIComponent(runId))),
                 XB.api.get(XB.apiUrl(earlier))]).then(function (answers) {
      if (token !== view.request) return;
      var run = answers[0];
      $("changes-when").textContent = "up to " + XB.formatTime(run.startedAt);
      var runs = (answers[1].runs || []).filter(function (r) { return r.downloadable !== false && r.id !== runId; });
      if (view.parent && !runs.some(function (r) { return r.id === view.parent; })) {
        runs.unshift({ id: view.parent, startedAt: null });  // older than the list reaches: still offered first
      }
      if (!runs.length) {
        $("changes-form").hidden = true;
        status("This is the oldest stored snapshot: there is no earlier one to compare it with.");
        XB.resize();
        return;
      }
      var select = $("changes-since");
      runs.forEach(function (r) {
        var text = r.startedAt ? optionText(r) : "The snapshot this backup was built on";
        select.appendChild(el("option", { value: r.id, text: text }));
      });
      select.value = view.parent || runs[0].id;
      return load(token);
    }).then(null, function (err) { if (token === view.request) showError(err.message); });
  }

  function close() {
    view.request++;
    $("changes").hidden = true;
    if (view.opener && document.body.contains(view.opener)) view.opener.focus();
    XB.resize();
  }

  /* ------------------------------------------------------------------ comparing */

  function load(token) {
    var since = $("changes-since").value;
    $("changes-error").hidden = true;
    $("changes-result").setAttribute("aria-busy", "true");
    status("Comparing the snapshots\u2026");
    var path = "api/backups/" + encodeURIComponent(view.run) + "/changes?since=" + encodeURIComponent(since);
    return XB.api.get(XB.apiUrl(path)).then(function (changes) {
      if (token !== view.request) return;
      render(changes);
    }, function (err) {
      if (token === view.request) showError(err.message);
    }).then(function () { $("changes-result").removeAttribute("aria-busy"); });
  }

  function total(lists) {
    var counts = (lists && lists.counts) || {};
    return (counts.added || 0) + (counts.modified || 0) + (counts.removed || 0);
  }

  function render(changes) {
    var body = clear($("changes-summary"));
    var box = clear($("changes-lists"));
    var all = 0;
    ORDER.forEach(function (entity) {
      var lists = changes[entity];
      if (!lists) return;
      var counts = lists.counts || {};
      all += total(lists);
      body.appendChild(el("tr", { "data-entity": entity }, [
        el("th", { scope: "row", text: LABELS[entity] }),
        el("td", { "data-kind": "added", text: group(counts.added || 0) }),
        el("td", { "data-kind": "modified", text: entity === "attachments" ? "\u2014" : group(counts.modified || 0) }),
        el("td", { "data-kind": "removed", text: group(counts.removed || 0) })
      ]));
      if (total(lists)) box.appendChild(entityLists(entity, lists));
    });
    $("changes-result").hidden = false;
    status(all ? group(all) + " item" + (all === 1 ? "" : "s") + " changed between these snapshots."
      : "Nothing changed between these snapshots.");
    XB.resize();
  }

  function issueLink(item, linked) {
    if (!item.key) return el("span", { text: "issue " + item.id });
    if (!linked || !state.siteUrl) return el("strong", { text: item.key });
    return el("a", { href: state.siteUrl + "/browse/" + encodeURIComponent(item.key), target: "_top", text: item.key });
  }

  function itemNode(entity, kind, item) {
    if (entity === "test_runs") {
      return el("li", { "data-id": item.id }, [
        "Run of ", el("strong", { text: item.test || "a test" }), " in ",
        el("strong", { text: item.testExecution || "an execution" })
      ]);
    }
    if (entity === "attachments") {
      return el("li", { "data-id": item.id }, [item.filename || item.id, " ",
        el("span", { className: "xb-muted", text: size(item.size) })]);
    }
    var children = [issueLink(item, kind !== "removed"), " ", el("span", { text: item.summary || "" })];
    if (item.parts && item.parts.length) {
      children.push(" ");
      children.push(el("span", { className: "xb-muted xb-changes-parts",
        text: "(" + item.parts.map(function (p) { return PARTS[p] || p; }).join(", ") + ")" }));
    }
    return el("li", { "data-id": item.id }, children);
  }

  function entityLists(entity, lists) {
    var counts = lists.counts || {};
    var words = KINDS.filter(function (k) { return counts[k[0]]; }).map(function (k) {
      return group(counts[k[0]]) + " " + k[1].toLowerCase();
    });
    var details = el("details", { className: "xb-disclosure xb-changes-entity", "data-entity": entity }, [
      el("summary", { text: LABELS[entity] + ": " + words.join(", ") })
    ]);
    KINDS.forEach(function (k) {
      var items = lists[k[0]] || [];
      if (!counts[k[0]]) return;
      details.appendChild(el("p", { className: "xb-changes-kind", text: k[1] }));
      details.appendChild(el("ul", { className: "xb-changes-items", "data-kind": k[0] },
                             items.map(function (item) { return itemNode(entity, k[0], item); })));
      if (counts[k[0]] > items.length) {
        details.appendChild(el("p", { className: "xb-muted", text: "Showing the first " + group(items.length) + " of " +
                                      group(counts[k[0]]) + "." }));
      }
    });
    return details;
  }

  /* ------------------------------------------------------------------ wiring */

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-changes]") : null;
    if (target) open(target.getAttribute("data-changes"), target.getAttribute("data-since"), target);
  });
  $("changes-since").addEventListener("change", function () { load(++view.request); });
  $("changes-form").addEventListener("submit", function (event) { event.preventDefault(); });
  $("changes-close").addEventListener("click", close);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !$("changes").hidden && $("changes").contains(document.activeElement)) close();
  });

  document.documentElement.setAttribute("data-changes-ready", "true");
})();
