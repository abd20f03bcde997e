/*
 * The snapshot explorer and restore flow of the Backups page (templates/backups/_explorer.html).
 * Any [data-explore="<run id>"] button opens a snapshot: browse its projects and items (search by key or summary),
 * view one item, tick items or whole projects, choose target projects, Preview (a dry run, in words), Restore
 * (live progress and pacing), then the report with links to the new issues and a CSV download.
 * Also: upload a snapshot zip, and the list of recent restores. Uses window.XB (static/js/api.js); everything from
 * the server goes into the DOM as text.
 */
(function () {
  "use strict";

  var XB = window.XB;
  var POLL_MS = window.__xbRestorePollMs || 1200;
  var PAGE = 25;
  var LABELS = {
    tests: ["test", "tests"], preconditions: ["precondition", "preconditions"], test_sets: ["test set", "test sets"],
    test_plans: ["test plan", "test plans"], test_executions: ["test execution", "test executions"],
    test_runs: ["test run", "test runs"], folders: ["folder", "folders"]
  };
  var ORDER = ["tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs", "folders"];
  var OUTCOMES = ["created", "linked", "existing", "skipped", "failed"];

  var view = { run: null, projects: [], siteProjects: [], offset: 0, total: 0, items: [], opener: null,
               whole: {}, picked: {}, targets: {}, previewed: null, following: null };

  function $(id) { return document.getElementById(id); }
  var el = XB.el, clear = XB.clear, group = XB.group;

  function count(n, entity) { var l = LABELS[entity] || [entity, entity]; return group(n) + " " + (n === 1 ? l[0] : l[1]); }

  function list(parts) {
    if (parts.length < 2) return parts.join("");
    return parts.slice(0, -1).join(", ") + " and " + parts[parts.length - 1];
  }

  function showError(title, text) {
    $("ex-error-title").textContent = title;
    $("ex-error-text").textContent = text;
    $("ex-error").hidden = false;
    $("ex-error").focus();
    XB.resize();
  }

  function clearError() { $("ex-error").hidden = true; }

  /* ------------------------------------------------------------------ opening and closing */

  function open(runId, opener) {
    view.run = runId;
    view.opener = opener || null;
    view.whole = {};
    view.picked = {};
    view.targets = {};
    resetRestore();
    document.body.classList.add("xb-ex-open");
    $("explorer").hidden = false;
    $("ex-detail").hidden = true;
    $("ex-browse").hidden = false;
    clearError();
    $("ex-when").textContent = "";
    clear($("ex-projects"));
    clear($("ex-items"));
    $("explorer").focus();
    Promise.all([
      XB.api.get(XB.apiUrl("api/snapshots/" + encodeURIComponent(runId))),
      XB.api.get(XB.apiUrl("api/jira-projects")).then(null, function () { return { projects: [] }; })
    ]).then(function (answers) {
      var contents = answers[0];
      view.projects = contents.projects || [];
      view.siteProjects = (answers[1] && answers[1].projects) || [];
      $("ex-when").textContent = "taken " + XB.formatTime(contents.startedAt);
      renderProjects();
      return loadItems(0);
    }).then(null, function (err) { showError("The snapshot could not be opened", err.message); });
    XB.resize();
  }

  function close() {
    $("explorer").hidden = true;
    document.body.classList.remove("xb-ex-open");
    if (view.following) { clearTimeout(view.following); view.following = null; }
    if (view.opener && document.body.contains(view.opener)) view.opener.focus();
    XB.resize();
  }

  /* ------------------------------------------------------------------ projects and items */

  function holds(counts) {
    var parts = ORDER.filter(function (e) { return counts && counts[e]; }).map(function (e) { return count(counts[e], e); });
    return parts.length ? parts.join(", ") : "no Xray data";
  }

  function renderProjects() {
    var body = clear($("ex-projects"));
    var select = $("ex-project");
    while (select.options.length > 1) select.remove(1);
    view.projects.forEach(function (p) {
      var id = "ex-whole-" + String(p.key).replace(/[^A-Za-z0-9_-]/g, "");
      var box = el("input", { type: "checkbox", id: id, "data-whole": p.key });
      box.checked = !!view.whole[p.key];
      body.appendChild(el("tr", {}, [
        el("td", {}, [box, el("label", { "for": id, className: "xb-bk-visually-hidden", text: "Restore all of " + p.key })]),
        el("td", {}, [el("strong", { text: p.key }), " ", el("span", { className: "xb-muted", text: p.name || "" })]),
        el("td", { text: holds(p.counts) })
      ]));
      select.appendChild(el("option", { value: p.key, text: p.key }));
    });
  }

  function loadItems(offset) {
    var params = ["offset=" + offset, "limit=" + PAGE];
    ["project", "entity", "q"].forEach(function (name) {
      var value = $("ex-" + name).value.trim();
      if (value) params.push(name + "=" + encodeURIComponent(value));
    });
    return XB.api.get(XB.apiUrl("api/snapshots/" + encodeURIComponent(view.run) + "/items?" + params.join("&"))).then(function (page) {
      view.offset = page.offset || 0;
      view.total = page.total || 0;
      view.items = page.items || [];
      renderItems();
    });
  }

  function renderItems() {
    var body = clear($("ex-items"));
    if (!view.items.length) {
      body.appendChild(el("tr", {}, [el("td", { colspan: "5", className: "xb-muted", text: "No item matches." })]));
    }
    view.items.forEach(function (item) {
      var id = "ex-pick-" + item.id;
      var box = el("input", { type: "checkbox", id: id, "data-pick": item.key, "data-project": item.project });
      box.checked = !!view.picked[item.key];
      box.disabled = !!view.whole[item.project];
      body.appendChild(el("tr", { "data-item": item.id }, [
        el("td", {}, [box, el("label", { "for": id, className: "xb-bk-visually-hidden", text: "Restore " + item.key })]),
        el("td", { text: item.key }),
        el("td", { text: (LABELS[item.entity] || [item.entity])[0] + (item.type ? " · " + item.type : "") }),
        el("td", { className: "xb-ex-summary", text: item.summary || "(no summary)" }),
        el("td", {}, [el("button", { type: "button", className: "xb-button xb-button-compact", "data-view": item.entity + "/" + item.id,
                                      "aria-label": "View " + item.key, text: "View" })])
      ]));
    });
    var last = view.offset + view.items.length;
    $("ex-range").textContent = view.total ? "Items " + (view.offset + 1) + "\u2013" + last + " of " + group(view.total) : "";
    $("ex-prev").disabled = view.offset === 0;
    $("ex-next").disabled = last >= view.total;
    XB.resize();
  }

  /* ------------------------------------------------------------------ one item */

  function field(label, value) {
    if (value === null || value === undefined || value === "" || (value.length === 0)) return null;
    return el("div", { className: "xb-ex-field" }, [el("dt", { text: label }),
      el("dd", { text: Array.isArray(value) ? value.join(", ") : String(value) })]);
  }

  function files(items) {
    return (items || []).map(function (f) { return f.filename + (f.inSnapshot ? "" : " (kept in Jira, not in the snapshot)"); });
  }

  function runsTable(runs) {
    var rows = runs.map(function (r) {
      var steps = (r.steps || []).map(function (s, i) { return (i + 1) + ": " + (s.status || "TODO"); });
      return el("tr", {}, [el("td", { text: r.execution || "" }), el("td", { text: r.test || "" }),
        el("td", { text: r.status || "" }), el("td", { text: r.finishedOn ? XB.formatTime(r.finishedOn) : "" }),
        el("td", { text: [r.comment || "", files(r.evidence).join(", "), steps.length ? "steps " + steps.join(", ") : ""]
          .filter(Boolean).join(" · ") })]);
    });
    return el("table", { className: "xb-table xb-ex-runs" }, [
      el("caption", { text: count(runs.length, "test_runs") }),
      el("thead", {}, [el("tr", {}, ["Execution", "Test", "Status", "Finished", "Results"].map(function (h) {
        return el("th", { scope: "col", text: h }); }))]),
      el("tbody", {}, rows)]);
  }

  function showItem(entity, id, opener) {
    XB.api.get(XB.apiUrl("api/snapshots/" + encodeURIComponent(view.run) + "/items/" + entity + "/" + encodeURIComponent(id)))
      .then(function (item) {
        $("ex-detail-title").textContent = item.key + " \u2014 " + (item.summary || "(no summary)");
        var body = clear($("ex-detail-body"));
        body.appendChild(el("dl", { className: "xb-ex-fields" }, [
          field("Kind", (LABELS[entity] || [entity])[0] + (item.type ? " (" + item.type + ")" : "")),
          field("Status", item.status), field("Priority", item.priority), field("Assignee", item.assignee),
          field("Labels", item.labels), field("Components", item.components), field("Fix versions", item.fixVersions),
          field("Folder", item.folder), field("Preconditions", item.preconditions), field("Tests", item.tests),
          field("Test executions", item.testExecutions), field("Environments", item.testEnvironments),
          field("Definition", item.definition || item.gherkin || item.unstructured)
        ].filter(Boolean)));
        if (item.description) body.appendChild(el("p", { className: "xb-ex-description", text: item.description }));
        if (item.steps && item.steps.length) {
          body.appendChild(el("table", { className: "xb-table xb-ex-steps" }, [
            el("caption", { text: item.steps.length + " step" + (item.steps.length === 1 ? "" : "s") }),
            el("thead", {}, [el("tr", {}, ["#", "Action", "Data", "Expected result", "Attachments"].map(function (h) {
              return el("th", { scope: "col", text: h }); }))]),
            el("tbody", {}, item.steps.map(function (s, i) {
              return el("tr", {}, [el("td", { text: String(i + 1) }), el("td", { text: s.action || "" }),
                el("td", { text: s.data || "" }), el("td", { text: s.result || "" }),
                el("td", { text: files(s.attachments).join(", ") })]);
            }))]));
        }
        if (item.runs) body.appendChild(runsTable(item.runs));
        view.detailOpener = opener;
        $("ex-browse").hidden = true;
        $("ex-detail").hidden = false;
        $("ex-detail").focus();
        XB.resize();
      }, function (err) { showError("The item could not be shown", err.message); });
  }

  function backToItems() {
    $("ex-detail").hidden = true;
    $("ex-browse").hidden = false;
    if (view.detailOpener && document.body.contains(view.detailOpener)) view.detailOpener.focus();
    XB.resize();
  }

  /* ------------------------------------------------------------------ what to restore, and where */

  function selection() {
    var whole = Object.keys(view.whole).filter(function (k) { return view.whole[k]; });
    if (whole.length) return { projects: whole, keys: null };
    var keys = Object.keys(view.picked);
    var projects = [];
    keys.forEach(function (k) { if (projects.indexOf(view.picked[k]) < 0) projects.push(view.picked[k]); });
    return { projects: projects, keys: keys.length ? keys : null };
  }

  function renderSelection() {
    var sel = selection();
    var text = !sel.projects.length ? "Tick items or whole projects above."
      : sel.keys ? "Selected: " + list(sel.keys.slice(0, 8)) + (sel.keys.length > 8 ? " and " + (sel.keys.length - 8) + " more" : "") + "."
      : "Selected: every item of " + list(sel.projects) + ".";
    $("ex-selection").textContent = text;
    var box = clear($("ex-targets"));
    sel.projects.forEach(function (key) {
      var id = "ex-target-" + String(key).replace(/[^A-Za-z0-9_-]/g, "");
      var select = el("select", { className: "xb-select", id: id, "data-target-for": key });
      var keys = view.siteProjects.map(function (p) { return p.key; });
      if (!view.targets[key]) view.targets[key] = keys.indexOf(key) >= 0 ? key : (keys[0] || key);
      (keys.length ? view.siteProjects : [{ key: key, name: "" }]).forEach(function (p) {
        var option = el("option", { value: p.key, text: p.key + (p.name ? " \u2014 " + p.name : "") });
        option.selected = p.key === view.targets[key];
        select.appendChild(option);
      });
      box.appendChild(el("div", { className: "xb-form-field" }, [el("label", { "for": id, text: "Restore " + key + " into" }), select]));
    });
    $("ex-preview").disabled = !sel.projects.length;
    XB.resize();
  }

  function resetRestore() {
    view.previewed = null;
    $("ex-run").disabled = true;
    $("ex-plan").hidden = true;
    $("ex-progress").hidden = true;
    $("ex-report").hidden = true;
    renderSelection();
  }

  function body(dryRun) {
    var sel = selection();
    var projects = {};
    sel.projects.forEach(function (key) { projects[key] = view.targets[key] || key; });
    var out = { runId: view.run, projects: projects, dryRun: dryRun };
    if (sel.keys) out.issueKeys = sel.keys;
    return out;
  }

  /* ------------------------------------------------------------------ preview, restore, report */

  function planWords(plan) {
    var create = ORDER.filter(function (e) { return e !== "folders" && plan.create[e]; })
      .map(function (e) { return count(plan.create[e], e); });
    var linked = ORDER.reduce(function (n, e) { return n + (plan.link[e] || 0); }, 0);
    var existing = ORDER.reduce(function (n, e) { return e === "folders" ? n : n + (plan.existing[e] || 0); }, 0);
    var parts = [];
    parts.push(create.length ? "create " + list(create) : "create nothing");
    if (plan.create.folders) parts.push("recreate " + count(plan.create.folders, "folders"));
    if (linked) parts.push("put " + group(linked) + " existing item" + (linked === 1 ? "" : "s") + " back into their sets, plans, executions or folders");
    return "The restore will " + list(parts) + ". " + group(existing) + " item" + (existing === 1 ? " is" : "s are") +
      " already in Xray and stay as they are.";
  }

  function renderPlan(restore) {
    var box = clear($("ex-plan"));
    var plan = restore.plan || { create: {}, link: {}, existing: {}, warnings: [] };
    box.appendChild(el("p", { className: "xb-ex-plan-words", text: planWords(plan) }));
    var warnings = plan.warnings || [];
    if (warnings.length) {
      box.appendChild(el("details", { className: "xb-warnings" }, [
        el("summary", { text: warnings.length + " thing" + (warnings.length === 1 ? "" : "s") + " Xray cannot take back exactly" }),
        el("ul", {}, warnings.slice(0, 200).map(function (w) { return el("li", { text: w }); }))]));
    }
    box.hidden = false;
  }

  function progressText(restore) {
    var p = restore.progress || {};
    if (restore.status === "queued") return "Waiting for a worker\u2026";
    var parts = [(p.stage ? "Restoring " + p.stage : "Starting") + (p.total ? ": " + group(p.done || 0) + " of " + group(p.total) : "")];
    if (p.requests) parts.push(group(p.requests) + " Xray requests");
    if (p.rateLimitWaits) parts.push("pacing for Xray\u2019s rate limit (shared with backups)");
    return parts.join(" \u00b7 ");
  }

  function follow(id, done) {
    function tick() {
      XB.api.get(XB.apiUrl("api/restores/" + encodeURIComponent(id))).then(function (restore) {
        if (restore.status === "queued" || restore.status === "running") {
          if (!restore.dryRun) {
            $("ex-progress").hidden = false;
            $("ex-progress-text").textContent = progressText(restore);
            var p = restore.progress || {};
            $("ex-progress-bar").value = p.total ? Math.min(1, (p.done || 0) / p.total) : 0;
          }
          view.following = setTimeout(tick, POLL_MS);
          return;
        }
        view.following = null;
        done(restore);
      }, function () { view.following = setTimeout(tick, POLL_MS * 3); });
    }
    view.following = setTimeout(tick, 200);
  }

  function start(dryRun) {
    clearError();
    var button = dryRun ? $("ex-preview") : $("ex-run");
    XB.setBusy(button, true);
    $("ex-report").hidden = true;
    if (!dryRun) { $("ex-progress").hidden = false; $("ex-progress-text").textContent = "Starting\u2026"; }
    XB.api.post(XB.apiUrl("api/restores"), body(dryRun)).then(function (created) {
      follow(created.id, function (restore) {
        XB.setBusy(button, false);
        if (dryRun) {
          if (restore.status !== "succeeded") { showError("The preview failed", restore.message || restore.status); return; }
          view.previewed = JSON.stringify(body(false));
          renderPlan(restore);
          $("ex-run").disabled = false;
          $("ex-run").focus();
        } else {
          $("ex-progress").hidden = true;
          report(restore);
        }
        loadRestores();
        XB.resize();
      });
    }, function (err) {
      XB.setBusy(button, false);
      $("ex-progress").hidden = true;
      var fields = Object.keys(err.fields || {}).map(function (k) { return err.fields[k]; });
      showError(err.status === 409 ? "Another restore is in progress" : "The restore could not start",
        err.message + (fields.length ? " " + fields.join(" ") : ""));
    });
  }

  function report(restore) {
    var box = clear($("ex-report"));
    var ok = restore.status === "succeeded";
    var summary = el("div", { className: "xb-message " + (ok ? "xb-message-success" : "xb-message-error"), tabindex: "-1" }, [
      el("h4", { className: "xb-message-title", text: ok ? "Restore finished" : "Restore " + restore.status }),
      el("p", { text: restore.message || "" })]);
    box.appendChild(summary);
    var totals = {};
    Object.keys(restore.outcomes || {}).forEach(function (e) {
      OUTCOMES.forEach(function (o) { totals[o] = (totals[o] || 0) + ((restore.outcomes[e] || {})[o] || 0); });
    });
    box.appendChild(el("p", { className: "xb-ex-outcomes", text: OUTCOMES.filter(function (o) { return totals[o]; })
      .map(function (o) { return group(totals[o]) + " " + o; }).join(" \u00b7 ") }));
    box.appendChild(el("button", { type: "button", className: "xb-button", "data-report": restore.id, text: "Download the report (CSV)" }));
    var table = el("table", { className: "xb-table xb-ex-report-items" });
    table.appendChild(el("caption", { text: "Every item and what became of it" }));
    table.appendChild(el("thead", {}, [el("tr", {}, ["Item", "Kind", "Outcome", "Now", "Why"].map(function (h) {
      return el("th", { scope: "col", text: h }); }))]));
    var rows = el("tbody");
    table.appendChild(rows);
    box.appendChild(table);
    box.hidden = false;
    fetchLines(XB.apiUrl("api/restores/" + encodeURIComponent(restore.id) + "/items")).then(function (items) {
      var shown = items.filter(function (i) { return i.outcome !== "existing"; });
      if (shown.length < items.length || shown.length > 500) {
        box.insertBefore(el("p", { className: "xb-muted", text: "The table shows what changed" +
          (shown.length > 500 ? " (the first 500)" : "") + "; the report lists every item, the " +
          group(items.length - shown.length) + " already in Xray included." }), table);
      }
      shown.slice(0, 500).forEach(function (i) {
        var now = i.targetUrl ? el("a", { href: i.targetUrl, target: "_top", text: i.targetKey })
          : el("span", { text: i.targetKey || (i.entity === "test_runs" && i.targetId ? "run " + i.targetId : "") });
        rows.appendChild(el("tr", { "data-outcome": i.outcome }, [el("td", { text: i.sourceKey || i.sourceId }),
          el("td", { text: (LABELS[i.entity] || [i.entity])[0] }), el("td", { text: i.outcome }), el("td", {}, [now]),
          el("td", { text: i.reason || "" })]));
      });
      XB.resize();
    }, function (err) { showError("The report could not be loaded", err.message); });
    summary.focus();
    XB.resize();
  }

  /* Authenticated reads that are not JSON objects: the items report (JSON lines) and the CSV download. */
  function fetchRaw(path) {
    return XB.getToken().then(function (token) {
      return fetch(path, { headers: { "Authorization": "JWT " + token }, credentials: "omit", cache: "no-store" });
    }).then(function (response) {
      if (!response.ok) throw new XB.ApiError(response.status, "http_" + response.status, "The server answered " + response.status + ".");
      return response;
    });
  }

  function fetchLines(path) {
    return fetchRaw(path).then(function (r) { return r.text(); }).then(function (text) {
      return text.split("\n").filter(Boolean).map(function (line) { return JSON.parse(line); });
    });
  }

  function download(restoreId, button) {
    XB.setBusy(button, true);
    fetchRaw(XB.apiUrl("api/restores/" + encodeURIComponent(restoreId) + "/report")).then(function (r) { return r.blob(); })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = el("a", { href: url, download: "restore-" + restoreId + "-report.csv", className: "xb-bk-hidden-link" });
        document.body.appendChild(a);
        a.click();
        document.body.removeChild(a);
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      }, function (err) { showError("The report could not be downloaded", err.message); })
      .then(function () { XB.setBusy(button, false); });
  }

  /* ------------------------------------------------------------------ recent restores and uploads */

  function loadRestores() {
    return XB.api.get(XB.apiUrl("api/restores")).then(function (data) {
      var restores = (data && data.restores) || [];
      var ul = clear($("restores-list"));
      $("restores-empty").hidden = restores.length > 0;
      restores.slice(0, 10).forEach(function (r) {
        ul.appendChild(el("li", { "data-restore": r.id, "data-status": r.status }, [
          el("strong", { text: (r.dryRun ? "Preview" : "Restore") + " \u00b7 " + r.status }), " ",
          el("span", { className: "xb-muted", text: XB.formatTime(r.queuedAt) + " \u00b7 " +
            Object.keys(r.projects || {}).map(function (k) { return k + " \u2192 " + r.projects[k]; }).join(", ") }),
          r.message ? el("p", { className: "xb-ex-restore-message", text: r.message }) : null,
          r.dryRun ? null : el("button", { type: "button", className: "xb-button xb-button-compact", "data-report": r.id,
                                           "aria-label": "Download the report of this restore", text: "Report" })
        ]));
      });
      XB.resize();
    }, function () { /* the list is a convenience: the page works without it */ });
  }

  function upload(event) {
    event.preventDefault();
    var file = $("upload-file").files[0];
    var status = $("upload-status");
    if (!file) { status.textContent = "Choose a snapshot .zip first."; return; }
    XB.setBusy($("upload-button"), true);
    $("upload-spinner").hidden = false;
    status.textContent = "Uploading and verifying " + file.name + "\u2026";
    XB.getToken().then(function (token) {
      return fetch(XB.apiUrl("api/snapshots"), { method: "POST", body: file, credentials: "omit", cache: "no-store",
        headers: { "Authorization": "JWT " + token, "Content-Type": "application/zip", "Accept": "application/json" } });
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) throw new XB.ApiError(response.status, data && data.error, (data && data.message) ||
          "The server answered " + response.status + ".");
        return data;
      });
    }).then(function (run) {
      status.textContent = "Imported: the snapshot is verified and stored. It is now in the run history.";
      $("upload-file").value = "";
      document.dispatchEvent(new CustomEvent("xb:runs-changed"));
      open(run.id, $("upload-button"));
    }, function (err) {
      status.textContent = "Not imported: " + err.message;
    }).then(function () {
      XB.setBusy($("upload-button"), false);
      $("upload-spinner").hidden = true;
      XB.resize();
    });
  }

  /* ------------------------------------------------------------------ wiring */

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) return;
    var explore = target.closest("[data-explore]");
    if (explore) { open(explore.getAttribute("data-explore"), explore); return; }
    var show = target.closest("[data-view]");
    if (show) { var parts = show.getAttribute("data-view").split("/"); showItem(parts[0], parts[1], show); return; }
    var csv = target.closest("[data-report]");
    if (csv) download(csv.getAttribute("data-report"), csv);
  });

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.hasAttribute("data-whole")) {
      view.whole[t.getAttribute("data-whole")] = t.checked;
      renderItems();
      resetRestore();
    } else if (t.hasAttribute("data-pick")) {
      if (t.checked) view.picked[t.getAttribute("data-pick")] = t.getAttribute("data-project");
      else delete view.picked[t.getAttribute("data-pick")];
      resetRestore();
    } else if (t.hasAttribute("data-target-for")) {
      view.targets[t.getAttribute("data-target-for")] = t.value;
      view.previewed = null;
      $("ex-run").disabled = true;
      $("ex-plan").hidden = true;
    }
  });

  $("ex-close").addEventListener("click", close);
  $("ex-detail-back").addEventListener("click", backToItems);
  $("ex-search").addEventListener("submit", function (event) {
    event.preventDefault();
    loadItems(0).then(null, function (err) { showError("The search failed", err.message); });
  });
  $("ex-prev").addEventListener("click", function () { loadItems(Math.max(0, view.offset - PAGE)); });
  $("ex-next").addEventListener("click", function () { loadItems(view.offset + PAGE); });
  $("ex-preview").addEventListener("click", function () { start(true); });
  $("ex-run").addEventListener("click", function () {
    if (view.previewed !== JSON.stringify(body(false))) { $("ex-run").disabled = true; return; }
    start(false);
  });
  $("upload-form").addEventListener("submit", upload);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !$("explorer").hidden) close();
  });

  loadRestores();
  document.documentElement.setAttribute("data-explorer-ready", "true");
})();
