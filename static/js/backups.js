/*
 * The Backups page: health summary, run history (filter, pager, live progress, row actions), schedule form,
 * alert settings and the size/duration chart. Uses window.XB (static/js/api.js); every API path is relative to the
 * app's base path (XB.apiUrl). Everything from the server goes into the DOM with textContent: nothing is parsed
 * as HTML. The wording mirrors app/presentation.py (Wording), which renders the first HTML; keep both alike.
 */
(function () {
  "use strict";

  var XB = window.XB;
  var POLL_MS = 2000;
  var SLOW_POLL_MS = 5000;
  var ACTIVE = { queued: true, running: true };
  var SVG_NS = "http://www.w3.org/2000/svg";

  var state = XB.state("backups-state") || {};
  var labels = state.labels || { status: {}, entities: {}, frequency: {}, days: [], health: {} };
  var pageSize = state.pageSize || 10;
  var view = { offset: 0, total: state.totalRuns || 0, runs: state.runs || [], hasMore: !!state.hasMore,
               filter: "" };
  var polls = {};

  function $(id) { return document.getElementById(id); }
  var el = XB.el, clear = XB.clear, group = XB.group;
  function api(path) { return XB.apiUrl(path); }

  /* ------------------------------------------------------------------ wording (twin of app/presentation.py) */

  function parse(iso) { return iso ? new Date(iso) : null; }

  function formatTime(iso) { return iso ? XB.formatTime(iso) : "\u2014"; }

  function amount(seconds) {
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var n = Math.floor(seconds / units[i][0]);
        return n + " " + units[i][1] + (n === 1 ? "" : "s");
      }
    }
    return "";
  }

  function relative(iso) {
    var when = parse(iso);
    if (!when) return "";
    var seconds = (when - new Date()) / 1000;
    var text = amount(Math.abs(seconds));
    if (!text) return "just now";
    return seconds > 0 ? "in " + text : text + " ago";
  }

  function durationText(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function elapsed(run) {
    var start = parse(run.startedAt);
    if (!start) return "\u2014";
    var end = ACTIVE[run.status] ? new Date() : parse(run.finishedAt);
    return end ? durationText((end - start) / 1000) : "\u2014";
  }

  function size(bytes) {
    if (bytes === null || bytes === undefined) return "\u2014";
    var units = ["bytes", "KB", "MB", "GB", "TB"], value = bytes, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i === 0 ? group(bytes) + " bytes" : value.toFixed(1) + " " + units[i];
  }

  function entityLabel(name) { return labels.entities[name] || String(name).replace(/_/g, " "); }

  function counts(map) {
    if (!map) return [];
    var known = (labels.entityOrder || Object.keys(labels.entities)).filter(function (k) { return k in map; });
    var other = Object.keys(map).filter(function (k) { return !(k in labels.entities); }).sort();
    return known.concat(other).map(function (name) { return group(map[name]) + " " + entityLabel(name); });
  }

  function changedText(changed) {
    var totals = { added: 0, modified: 0, removed: 0 };
    Object.keys(changed || {}).forEach(function (entity) {
      Object.keys(totals).forEach(function (what) { totals[what] += (changed[entity] || {})[what] || 0; });
    });
    var parts = Object.keys(totals).filter(function (w) { return totals[w]; })
      .map(function (w) { return group(totals[w]) + " " + w; });
    return parts.length ? parts.join(" \u00b7 ") : "No changes since the previous snapshot";
  }

  function warningText(item) {
    if (typeof item === "string") return item;
    if (item && typeof item === "object") return String(item.message || item.text || JSON.stringify(item));
    return String(item);
  }

  /* The warning's text with the run's issue keys as links to <site>/browse/KEY. */
  function warningNodes(item, run) {
    var text = warningText(item);
    var keys = (run.projects || []).map(function (p) { return p.key; }).filter(Boolean)
      .sort(function (a, b) { return b.length - a.length; });
    if (!keys.length) return [text];
    var escaped = keys.map(function (k) { return k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); });
    var pattern = new RegExp("\\b((?:" + escaped.join("|") + ")-\\d+)\\b", "g");
    var nodes = [], at = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > at) nodes.push(text.slice(at, match.index));
      nodes.push(el("a", { href: state.siteUrl + "/browse/" + match[1], target: "_top", text: match[1] }));
      at = match.index + match[0].length;
    }
    if (at < text.length) nodes.push(text.slice(at));
    return nodes;
  }

  function progressText(run) {
    if (run.status === "queued" && run.retrying) return "Attempt " + run.attempts + " failed; trying again shortly\u2026";
    if (run.status === "queued") return "Waiting for a worker\u2026";
    var p = run.progress || {};
    var parts = [p.stage ? "Backing up " + p.stage : "Backing up\u2026"];
    if (p.project) parts[0] += " in " + p.project;
    if ((run.attempts || 0) > 1) parts.unshift("Attempt " + run.attempts);
    var done = 0;
    Object.keys(p.counts || {}).forEach(function (k) { if (typeof p.counts[k] === "number") done += p.counts[k]; });
    if (done) parts.push(group(done) + " items so far");
    if (p.rateLimitWaits) parts.push("pacing for Xray\u2019s rate limit");
    return parts.join(" \u00b7 ");
  }

  function lozengeOf(run) {
    var status = run.status;
    if (status === "queued" && run.retrying) status = "retrying";
    else if (status === "succeeded" && run.warnings && run.warnings.length) status = "warnings";
    return labels.status[status] || [status.charAt(0).toUpperCase() + status.slice(1), "default"];
  }

  function attemptsText(run) { return (run.attempts || 0) > 1 ? run.attempts + " attempts" : ""; }

  /* ------------------------------------------------------------------ messages: one per event */

  function flag(type, title, body) {
    clearError();
    XB.flag({ type: type, title: title, body: body });
  }

  function showError(title, text) {
    $("page-error-title").textContent = title;
    $("page-error-text").textContent = text;
    $("page-error").hidden = false;
    XB.resize();
  }

  function clearError() { $("page-error").hidden = true; }

  /* ------------------------------------------------------------------ run rows (twin of run_row in page.html) */

  function runActions(run) {
    var cell = el("td", { "data-label": "Actions", className: "xb-run-actions" });
    if (run.status === "succeeded" && run.downloadable !== false) {
      cell.appendChild(el("button", {  // opens static/js/explorer.js
        type: "button", className: "xb-button xb-button-compact", "data-explore": run.id,
        "aria-label": "Explore and restore the snapshot of " + formatTime(run.startedAt), text: "Explore"
      }));
      cell.appendChild(el("button", {
        type: "button", className: "xb-button xb-button-compact", "data-download": run.id,
        "aria-label": "Download the snapshot of " + formatTime(run.startedAt), text: "Download"
      }));
      cell.appendChild(el("button", {  // opens static/js/changes.js
        type: "button", className: "xb-button xb-button-compact", "data-changes": run.id,
        "data-since": run.parentId || null,
        "aria-label": "What changed up to the snapshot of " + formatTime(run.startedAt), text: "What changed"
      }));
    } else if (run.status === "succeeded") {
      cell.appendChild(el("span", { className: "xb-muted", text: "Removed by retention" }));
    } else if (run.status === "failed" || run.status === "skipped") {
      var box = el("div", { className: "xb-row-actions" });
      var credentialsLink = function (text) {
        return el("a", { className: "xb-button xb-button-compact", href: state.credentialsHref, target: "_top",
                         "data-credentials-link": true, text: text });
      };
      var testButton = el("button", { type: "button", className: "xb-button xb-button-compact",
                                      "data-test-connection": true, text: "Test connection" });
      if (run.reason === "credentials_missing") {
        box.appendChild(credentialsLink("Add credentials"));
      } else if (run.reason === "credentials_rejected") {
        box.appendChild(testButton);
        box.appendChild(credentialsLink("Update credentials"));
      } else {
        box.appendChild(el("button", { type: "button", className: "xb-button xb-button-compact",
                                       "data-retry": run.id, text: "Retry" }));
        box.appendChild(testButton);
      }
      cell.appendChild(box);
    }
    return cell;
  }

  function runRow(run) {
    var when = run.startedAt || run.queuedAt;
    var active = !!ACTIVE[run.status];
    var detail = el("td", { "data-label": "Details", className: "xb-run-details" });
    var list = counts(run.counts);
    if (list.length) detail.appendChild(el("ul", { className: "xb-counts" }, list.map(function (t) {
      return el("li", { text: t });
    })));
    if (run.changed) detail.appendChild(el("p", { className: "xb-muted xb-run-changed", text: changedText(run.changed) }));
    if (active) {
      detail.appendChild(el("div", { className: "xb-progress", "data-progress-for": run.id }, [
        el("span", { className: "xb-spinner", "aria-hidden": "true" }),
        el("span", { className: "xb-progress-text", text: progressText(run) })
      ]));
    }
    if (run.message) {
      var tone = run.status === "failed" ? " xb-run-error"
        : (run.status === "skipped" || run.retrying ? " xb-run-warning" : "");
      detail.appendChild(el("p", { className: "xb-run-message" + tone, text: run.message }));
    }
    if (run.detail) {
      detail.appendChild(el("details", { className: "xb-disclosure xb-run-detail" }, [
        el("summary", { text: "Technical details" }),
        el("p", {}, [el("code", { text: run.detail })])
      ]));
    }
    var warnings = run.warnings || [];
    if (warnings.length) {
      detail.appendChild(el("details", { className: "xb-disclosure xb-warnings" }, [
        el("summary", { text: warnings.length + " warning" + (warnings.length === 1 ? "" : "s") }),
        el("ul", {}, warnings.map(function (w) { return el("li", {}, warningNodes(w, run)); }))
      ]));
    }
    if (!list.length && !run.message && !active && !warnings.length) {
      detail.appendChild(el("span", { className: "xb-muted", text: "\u2014" }));
    }
    var started = el("td", { "data-label": "Started", className: "xb-run-started" }, [
      el("time", { datetime: when, title: relative(when), text: formatTime(when) })
    ]);
    if (!run.startedAt) started.appendChild(el("span", { className: "xb-muted", text: " (queued)" }));
    var trigger = el("td", { "data-label": "Trigger", className: "xb-run-trigger" }, [
      run.trigger === "scheduled" ? "Scheduled" : (run.trigger === "imported" ? "Imported" : "Manual")
    ]);
    if (run.kind) {
      trigger.appendChild(document.createTextNode(" "));
      trigger.appendChild(el("span", { className: "xb-muted xb-run-kind",
                                       text: run.kind === "incremental" ? "Incremental" : "Full" }));
    }
    var duration = el("td", { "data-label": "Duration", className: "xb-run-duration" }, [elapsed(run)]);
    if (attemptsText(run)) {
      duration.appendChild(document.createTextNode(" "));
      duration.appendChild(el("span", { className: "xb-muted xb-run-attempts", text: attemptsText(run) }));
    }
    var loz = lozengeOf(run);
    return el("tr", { className: "xb-run", "data-run-id": run.id, "data-status": run.status,
                      "data-retrying": run.retrying ? "true" : null }, [
      el("td", { "data-label": "Status", className: "xb-run-status" }, [
        el("span", { className: "xb-lozenge xb-lozenge-" + loz[1], "data-status": run.status, text: loz[0] })
      ]),
      started,
      trigger,
      duration,
      detail,
      el("td", { "data-label": "Size", className: "xb-run-size",
                 text: run.status === "succeeded" ? size(run.bytes) : "\u2014" }),
      runActions(run)
    ]);
  }

  function setDisabled(button, disabled) { XB.setDisabled(button, disabled); }

  function renderRuns() {
    var body = $("runs-body");
    clear(body);
    view.runs.forEach(function (run) { body.appendChild(runRow(run)); });
    var empty = view.runs.length === 0 && view.offset === 0;
    $("runs-empty").hidden = !empty;
    $("runs-wrap").hidden = view.runs.length === 0;
    if (empty) renderEmpty();
    var last = view.offset + view.runs.length;
    $("runs-range").textContent = "Runs " + (view.runs.length ? view.offset + 1 : 0) + "\u2013" + last +
      " of " + Math.max(view.total, last);
    $("runs-pager").hidden = view.offset === 0 && !view.hasMore;
    setDisabled($("runs-newer"), view.offset === 0);
    setDisabled($("runs-older"), !view.hasMore);
    view.runs.forEach(function (run) { if (ACTIVE[run.status]) watch(run.id); });
    syncRunButtons();
    XB.resize();
  }

  function renderEmpty() {
    var waiting = state.health && state.health.state === "waiting_for_credentials";
    var filtered = !!view.filter;
    $("runs-empty-title").textContent = filtered ? "No runs match this filter" : "No backups yet";
    $("runs-empty-text").textContent = filtered ? "Choose \u201cAll runs\u201d to see every backup."
      : (waiting ? "Backups start once Xray credentials are saved."
        : "The first backup runs at the next scheduled time, or start one now.");
    $("runs-empty-action").hidden = filtered || waiting;
    $("runs-empty-credentials").hidden = filtered || !waiting;
    $("runs-empty-all").hidden = !filtered;
  }

  function replaceRun(run) {
    for (var i = 0; i < view.runs.length; i++) {
      if (view.runs[i].id === run.id) {
        view.runs[i] = run;
        var old = document.querySelector('tr[data-run-id="' + cssId(run.id) + '"]');
        if (old) {
          // Keep focus where it was: a row re-rendered under the keyboard must not drop it to <body>.
          var focused = old.contains(document.activeElement) ? document.activeElement : null;
          var fresh = runRow(run);
          old.parentNode.replaceChild(fresh, old);
          if (focused) refocus(fresh, focused);
        }
        XB.resize();
        return;
      }
    }
  }

  function refocus(row, previous) {
    var selector = ["data-download", "data-retry", "data-test-connection"].filter(function (a) {
      return previous.hasAttribute(a);
    }).map(function (a) { return "[" + a + "]"; })[0];
    var target = (selector && row.querySelector(selector)) || row.querySelector("button, a, summary");
    if (target) target.focus(); else $("history-title").focus();
  }

  function cssId(id) { return String(id).replace(/[^A-Za-z0-9_-]/g, ""); }

  function loadPage(offset) {
    // Ask for one more than a page to know whether older runs exist.
    var path = "api/backups?limit=" + (pageSize + 1) + "&offset=" + offset +
      (view.filter ? "&status=" + encodeURIComponent(view.filter) : "");
    return XB.api.get(api(path)).then(function (data) {
      var runs = (data && data.runs) || [];
      if (typeof data.total === "number") view.total = data.total;
      view.offset = offset;
      view.hasMore = runs.length > pageSize;
      view.runs = runs.slice(0, pageSize);
      renderRuns();
    });
  }

  function history() {
    function page(button, offset, what) {
      button.addEventListener("click", function () {
        if (XB.isDisabled(button)) return;
        XB.setBusy(button, true);
        loadPage(offset()).catch(function (err) { showError("Could not load " + what + " runs", err.message); })
          .then(function () { XB.setBusy(button, false); });
      });
    }
    page($("runs-older"), function () { return view.offset + pageSize; }, "older");
    page($("runs-newer"), function () { return Math.max(0, view.offset - pageSize); }, "newer");
    $("history-filter").addEventListener("change", function () {
      view.filter = $("history-filter").value;
      loadPage(0).catch(function (err) { showError("Could not load the run history", err.message); });
    });
    $("runs-empty-all").addEventListener("click", function () {
      $("history-filter").value = "";
      view.filter = "";
      loadPage(0).then(function () { $("history-filter").focus(); },
        function (err) { showError("Could not load the run history", err.message); });
    });
  }

  /* ------------------------------------------------------------------ health */

  function activeRun() {
    var last = state.health && state.health.lastRun;
    if (last && ACTIVE[last.status]) return last;
    for (var i = 0; i < view.runs.length; i++) if (ACTIVE[view.runs[i].status]) return view.runs[i];
    return null;
  }

  /* Back up now and Retry are unavailable while a backup is active: said next to the button, focus kept. */
  function syncRunButtons() {
    var active = !!activeRun();
    var button = $("backup-now");
    setDisabled(button, active);
    $("backup-now-reason").hidden = !active;
    Array.prototype.forEach.call(document.querySelectorAll("[data-retry]"), function (retry) {
      setDisabled(retry, active);
      if (active) retry.setAttribute("aria-describedby", "backup-now-reason");
      else retry.removeAttribute("aria-describedby");
    });
  }

  function setTime(node, iso, empty) {
    clear(node);
    if (!iso) { node.textContent = empty; return; }
    node.appendChild(el("time", { datetime: iso, text: formatTime(iso) }));
    node.appendChild(document.createTextNode(" "));
    node.appendChild(el("span", { className: "xb-muted", text: relative(iso) }));
  }

  function renderHealth(health) {
    state.health = health;
    var words = labels.health[health.state] || [health.state, "default", "info", health.state];
    $("health").setAttribute("data-state", health.state);
    $("health-lozenge").className = "xb-lozenge xb-lozenge-" + words[1];
    $("health-lozenge").textContent = words[0];
    $("health-message").className = "xb-message xb-message-" + words[2];
    $("health-message-title").textContent = words[3];
    $("health-message-text").textContent = health.message;
    $("health-credentials").hidden = health.state !== "waiting_for_credentials";
    setTime($("health-last-success"), health.lastSuccessAt, "None yet");
    setTime($("health-next"), health.nextRunAt, "Scheduled backups are off");
    var projects = $("health-projects");
    clear(projects);
    if (health.projects && health.projects.length) {
      projects.appendChild(document.createTextNode(health.projects.length + ": "));
      health.projects.forEach(function (p, i) {
        if (i) projects.appendChild(document.createTextNode(", "));
        projects.appendChild(el("abbr", { title: p.name, text: p.key }));
      });
    } else {
      projects.textContent = "Known after the first backup";
    }
    $("health-storage").textContent = size(health.storedBytes);
    syncRunButtons();
    XB.resize();
  }

  function refreshHealth() {
    return XB.api.get(api("api/backup-health")).then(renderHealth, function () { /* the next event refreshes it */ });
  }

  /* ------------------------------------------------------------------ live progress */

  function watch(id) {
    if (polls[id]) return;
    var started = Date.now();
    polls[id] = true;
    function tick() {
      XB.api.get(api("api/backups/" + encodeURIComponent(id))).then(function (run) {
        replaceRun(run);
        if (ACTIVE[run.status]) {
          polls[id] = setTimeout(tick, Date.now() - started > 60000 ? SLOW_POLL_MS : POLL_MS);
          return;
        }
        delete polls[id];
        finished(run);
      }, function () {
        polls[id] = setTimeout(tick, SLOW_POLL_MS);  // transient trouble: keep watching, slower
      });
    }
    polls[id] = setTimeout(tick, POLL_MS);
  }

  function finished(run) {
    var loz = lozengeOf(run);
    var type = run.status === "succeeded" ? (run.warnings && run.warnings.length ? "warning" : "success")
      : (run.status === "failed" ? "error" : "warning");
    flag(type, "Backup " + String(loz[0]).toLowerCase(), run.message || "");
    if (run.status === "succeeded" && run.startedAt && run.finishedAt) {
      state.chart = (state.chart || []).concat([{
        at: run.startedAt, bytes: run.bytes || 0,
        seconds: Math.round((parse(run.finishedAt) - parse(run.startedAt)) / 1000)
      }]).slice(-30);
      drawChart();
    }
    refreshHealth();
  }

  /* A scheduled backup may start while the page is open: look for a newer run now and then. */
  var NEWEST_CHECK_MS = window.__xbNewRunCheckMs || 30000;  // tests shorten it
  function watchForNewRuns() {
    setTimeout(function check() {
      if (view.offset !== 0 || view.filter || document.hidden) { setTimeout(check, NEWEST_CHECK_MS); return; }
      XB.api.get(api("api/backups?limit=1")).then(function (data) {
        var newest = data && data.runs && data.runs[0];
        var known = view.runs.some(function (r) { return newest && r.id === newest.id; });
        return newest && !known && view.offset === 0 ? loadPage(0).then(refreshHealth) : null;
      }).then(null, function () { /* try again later */ }).then(function () {
        setTimeout(check, NEWEST_CHECK_MS);
      });
    }, NEWEST_CHECK_MS);
  }

  /* ------------------------------------------------------------------ Back up now, Retry */

  function startBackup(button) {
    if (XB.isDisabled(button)) return;
    clearError();
    XB.setBusy(button, true);
    XB.api.post(api("api/backups")).then(function (created) {
      flag("info", created.status === "running" ? "Backup started" : "Backup queued",
           "Follow its progress in the run history.");
      return XB.api.get(api("api/backups/" + encodeURIComponent(created.id))).then(null, function () {
        return { id: created.id, status: created.status, trigger: "manual", queuedAt: new Date().toISOString() };
      }).then(function (run) {
        view.total += 1;
        if (view.offset === 0 && (!view.filter || view.filter.indexOf(run.status) >= 0)) {
          view.runs = [run].concat(view.runs.filter(function (r) { return r.id !== run.id; }));
          if (view.runs.length > pageSize) { view.runs = view.runs.slice(0, pageSize); view.hasMore = true; }
        }
        state.health = Object.assign({}, state.health, { lastRun: run });
        renderRuns();
        watch(run.id);
      });
    }, function (err) {
      if (err.status === 409) {
        flag("warning", "A backup is already in progress", "It is shown in the run history.");
        if (view.offset === 0) loadPage(0).then(refreshHealth, function () {});
      } else {
        showError("The backup could not be started", err.message);
      }
    }).then(function () {
      XB.setBusy(button, false);
      syncRunButtons();
      if (!document.body.contains(button)) $("backup-now").focus();  // the row it was on was re-rendered
    });
  }

  function backupButtons() {
    $("backup-now").addEventListener("click", function () { startBackup($("backup-now")); });
    $("runs-empty-action").addEventListener("click", function () { startBackup($("runs-empty-action")); });
    $("runs-body").addEventListener("click", function (event) {
      var retry = event.target.closest ? event.target.closest("[data-retry]") : null;
      if (retry) startBackup(retry);
    });
    $("edit-schedule").addEventListener("click", function () {
      $("schedule").scrollIntoView({ block: "start" });
      $("enabled").focus();
    });
  }

  /* ------------------------------------------------------------------ row actions: download, test connection */

  function rowActions() {
    $("runs-body").addEventListener("click", function (event) {
      var target = event.target.closest ? event.target : null;
      if (!target) return;
      var download = target.closest("[data-download]");
      if (download) return downloadSnapshot(download);
      var test = target.closest("[data-test-connection]");
      if (test) return testConnection(test);
    });
  }

  function downloadSnapshot(button) {
    if (XB.isDisabled(button)) return;
    var id = button.getAttribute("data-download");
    clearError();
    XB.setBusy(button, true);
    XB.api.post(api("api/backups/" + encodeURIComponent(id) + "/download-link")).then(function (link) {
      // The link is single-use and expires within a minute: follow it at once. The response is an
      // attachment, so the browser saves the zip and this page stays where it is.
      var a = el("a", { href: link.url, rel: "noopener", className: "xb-bk-hidden-link" });
      document.body.appendChild(a);
      a.click();
      document.body.removeChild(a);
      flag("success", "Download started", "The link worked once and has now been used up.");
    }, function (err) {
      showError("The snapshot could not be downloaded", err.message);
    }).then(function () { XB.setBusy(button, false); });
  }

  function testConnection(button) {
    if (XB.isDisabled(button)) return;
    clearError();
    XB.setBusy(button, true);
    XB.api.post(api("api/xray-credentials/verify")).then(function (result) {
      flag(result.ok ? "success" : "error", result.ok ? "Connection works" : "Connection failed", result.message);
    }, function (err) {
      flag("error", "Connection test failed", err.message);
    }).then(function () { XB.setBusy(button, false); });
  }

  function credentialsLinks() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("[data-credentials-link]") : null;
      var AP = window.AP;
      if (link && AP && AP.navigator && typeof AP.navigator.go === "function") {
        // Inside Jira our page is an iframe: ask Jira to open the other admin page of this app.
        event.preventDefault();
        AP.navigator.go("addonmodule", { moduleKey: "xray-credentials" });
      }
    });
  }

  /* ------------------------------------------------------------------ schedule form */

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* The schedule is stored in UTC; the admin picks a time (and day) in their own time zone. */
  function utcToLocal(timeOfDay, dayOfWeek) {
    var hm = /^(\d\d):(\d\d)$/.exec(timeOfDay || "");
    if (!hm) return null;
    var d = new Date();
    d.setUTCHours(+hm[1], +hm[2], 0, 0);
    if (dayOfWeek !== null && dayOfWeek !== undefined) {
      d.setUTCDate(d.getUTCDate() + ((dayOfWeek + 1) % 7 - d.getUTCDay() + 7) % 7);  // API Monday=0, JS Sunday=0
    }
    return { time: pad(d.getHours()) + ":" + pad(d.getMinutes()), day: (d.getDay() + 6) % 7 };
  }

  function localToUtc(localTime, localDay) {
    var hm = /^(\d\d):(\d\d)$/.exec(localTime || "");
    if (!hm) return null;
    var d = new Date();
    d.setHours(+hm[1], +hm[2], 0, 0);
    if (localDay !== null && localDay !== undefined) {
      d.setDate(d.getDate() + ((localDay + 1) % 7 - d.getDay() + 7) % 7);
    }
    return { time: pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()), day: (d.getUTCDay() + 6) % 7 };
  }

  function timeZoneName() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  var isUtc = new Date().getTimezoneOffset() === 0 && /^(UTC|Etc\/UTC|Etc\/GMT|GMT)?$/.test(timeZoneName());

  function showLocalSchedule(settings) {
    var weekly = settings.frequency === "weekly";
    var local = utcToLocal(settings.timeOfDay, weekly ? settings.dayOfWeek : null);
    if (!local) return;
    $("timeOfDay").value = isUtc ? settings.timeOfDay : local.time;
    if (weekly && !isUtc) $("dayOfWeek").value = String(local.day);
    $("timezone-name").textContent = isUtc ? "(UTC)" : "(" + (timeZoneName() || "your time") + ")";
    timeHelp();
  }

  function timeHelp() {
    var help = $("timeOfDay-help");
    var hourly = "For 6- and 12-hourly backups, the first run of the day.";
    if (isUtc) { help.textContent = "In UTC. " + hourly; return; }
    var weekly = $("frequency").value === "weekly";
    var utc = localToUtc($("timeOfDay").value, weekly ? parseInt($("dayOfWeek").value, 10) : null);
    help.textContent = (utc ? "That is " + (weekly ? labels.days[utc.day] + " " : "") + utc.time + " UTC. " : "") +
      "Your time zone: " + (timeZoneName() || "this browser's") + ". " + hourly;
  }

  function numberOrRaw(value) {
    var text = value.trim();
    if (text === "") return null;
    return /^\d{1,9}$/.test(text) ? parseInt(text, 10) : text;  // the server explains anything else
  }

  function syncSchedule() {
    $("schedule-fields").disabled = !$("enabled").checked;
    $("day-field").hidden = $("frequency").value !== "weekly";
    $("retention-custom").hidden = $("retentionPreset").value !== "custom";
    timeHelp();
    XB.resize();
  }

  function settingsBody() {
    var weekly = $("frequency").value === "weekly";
    var localDay = weekly ? parseInt($("dayOfWeek").value, 10) : null;
    var raw = $("timeOfDay").value.trim();
    var utc = isUtc ? { time: raw, day: localDay } : localToUtc(raw, localDay);
    var preset = $("retentionPreset").value;
    return {
      enabled: $("enabled").checked,
      frequency: $("frequency").value,
      dayOfWeek: weekly ? (utc ? utc.day : localDay) : null,
      timeOfDay: utc ? utc.time : raw,
      retentionDays: preset === "custom" ? numberOrRaw($("retentionDays").value) : parseInt(preset, 10),
      retentionCount: preset === "custom" ? numberOrRaw($("retentionCount").value) : null,
      fullEveryDays: numberOrRaw($("fullEveryDays").value)
    };
  }

  function settingsForm() {
    var form = $("settings-form");
    ["enabled", "frequency", "dayOfWeek", "retentionPreset"].forEach(function (id) {
      $(id).addEventListener("change", syncSchedule);
    });
    $("timeOfDay").addEventListener("input", timeHelp);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = $("settings-save");
      if (XB.isDisabled(button)) return;
      XB.clearFieldErrors(form);
      $("settings-error").hidden = true;
      XB.setBusy(button, true);
      XB.api.put(api("api/backup-settings"), settingsBody()).then(function (saved) {
        state.settings = saved;
        showLocalSchedule(saved);
        flag("success", "Schedule saved", saved.enabled && saved.nextRunAt
          ? "Next backup: " + formatTime(saved.nextRunAt) + "." : "Scheduled backups are off.");
        refreshHealth();
      }, function (err) {
        var fields = {};
        Object.keys(err.fields || {}).forEach(function (name) {
          // The API speaks JSON ("or null"); on the form that is an empty box.
          fields[name] = String(err.fields[name]).replace(/,? or null\.$/, ", or leave the box empty.")
            .replace("Set retention days, retention count, or both.", "Fill in at least one of the two boxes.");
        });
        if ((fields.retentionDays || fields.retentionCount) && $("retentionPreset").value !== "custom") {
          $("retentionPreset").value = "custom";
          syncSchedule();
        }
        var first = XB.showFieldErrors(form, fields);
        $("settings-error-text").textContent = err.message || "The schedule could not be saved.";
        $("settings-error").hidden = false;
        (first || $("settings-error")).focus();
        XB.resize();
      }).then(function () { XB.setBusy(button, false); });
    });
  }

  /* ------------------------------------------------------------------ alert settings */

  function alertsBody(includeWebhook) {
    var body = {
      emails: $("emails").value.split(/[\s,;]+/).map(function (s) { return s.trim(); }).filter(Boolean),
      notifyOn: Array.prototype.filter.call(document.querySelectorAll('input[name="notifyOn"]'), function (box) {
        return box.checked;
      }).map(function (box) { return box.value; })
    };
    if (includeWebhook && $("webhookUrl").value.trim()) body.webhookUrl = $("webhookUrl").value.trim();
    return body;
  }

  function renderAlerts(settings) {
    state.alerts = settings;
    $("emails").value = (settings.emails || []).join(", ");
    $("webhookUrl").value = "";
    $("webhook-set").hidden = !settings.webhookConfigured;
    var text = $("webhook-set-text");
    clear(text);
    text.appendChild(document.createTextNode("A webhook to "));
    text.appendChild(el("strong", { text: settings.webhookHost || "" }));
    text.appendChild(document.createTextNode(" is set up."));
    $("webhookUrl-help").textContent = (settings.webhookConfigured ? "Enter a new URL to replace it. " : "") +
      "An incoming-webhook URL (https). It is stored encrypted and never shown again.";
    XB.resize();
  }

  function saveAlerts(button, body, done) {
    var form = $("alerts-form");
    XB.clearFieldErrors(form);
    $("alerts-error").hidden = true;
    XB.setBusy(button, true);
    return XB.api.put(api("api/alert-settings"), body).then(function (saved) {
      renderAlerts(saved);
      flag("success", done, saved.emails.length || saved.webhookConfigured
        ? "Alerts go to " + describeChannels(saved) + "." : "No alert channel is set up.");
      return true;
    }, function (err) {
      var first = XB.showFieldErrors(form, err.fields || {});
      $("alerts-error-text").textContent = err.message || "The alert settings could not be saved.";
      $("alerts-error").hidden = false;
      (first || $("alerts-error")).focus();
      return false;
    }).then(function (ok) { XB.setBusy(button, false); return ok; });
  }

  function describeChannels(settings) {
    var parts = [];
    if (settings.emails.length) parts.push(settings.emails.length + " e-mail address" + (settings.emails.length === 1 ? "" : "es"));
    if (settings.webhookConfigured) parts.push("the webhook");
    return parts.join(" and ");
  }

  function alertsForm() {
    $("alerts-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (XB.isDisabled($("alerts-save"))) return;
      saveAlerts($("alerts-save"), alertsBody(true), "Alert settings saved");
    });
    $("webhook-remove").addEventListener("click", function () {
      if (XB.isDisabled($("webhook-remove"))) return;
      saveAlerts($("webhook-remove"), { webhookUrl: null }, "Webhook removed").then(function () {
        $("webhookUrl").focus();  // the button is gone with the webhook
      });
    });
    $("alerts-test").addEventListener("click", function () {
      var button = $("alerts-test");
      if (XB.isDisabled(button)) return;
      clearError();
      XB.setBusy(button, true);
      XB.api.post(api("api/alert-settings/test")).then(function (result) {
        var sent = [result.email, result.webhook].filter(function (r) { return r === "sent"; }).length;
        var failed = [result.email, result.webhook].filter(function (r) { return r === "failed"; }).length;
        flag(failed ? "error" : (sent ? "success" : "warning"),
             failed ? "The test alert was not delivered everywhere" : (sent ? "Test alert sent" : "Nothing to test yet"),
             result.message);
      }, function (err) {
        flag("error", "The test alert could not be sent", err.message);
      }).then(function () { XB.setBusy(button, false); });
    });
  }

  /* ------------------------------------------------------------------ chart (inline SVG, no library) */

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function seconds(s) { return s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h"; }

  function barChart(points, title, value, format, kind) {
    var width = Math.max(240, Math.min(($("chart").clientWidth || 320), 720));
    var height = 120, left = 56, right = 8, top = 8, bottom = 22;
    var max = Math.max.apply(null, points.map(value).concat([1]));
    var plotW = width - left - right, plotH = height - top - bottom;
    var step = plotW / points.length, barW = Math.max(2, Math.min(24, step * 0.7));
    var id = "xb-chart-" + kind;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height,
                            role: "img", "aria-labelledby": id + "-title " + id + "-desc", "class": "xb-chart-svg" });
    var values = points.map(value);
    root.appendChild(svg("title", { id: id + "-title" }, title));
    root.appendChild(svg("desc", { id: id + "-desc" }, points.length + " snapshots; smallest " +
      format(Math.min.apply(null, values)) + ", largest " + format(Math.max.apply(null, values)) +
      ", latest " + format(values[values.length - 1]) + "."));
    root.appendChild(svg("line", { x1: left, y1: top + plotH, x2: width - right, y2: top + plotH, "class": "xb-chart-axis" }));
    root.appendChild(svg("text", { x: left - 6, y: top + 10, "text-anchor": "end", "class": "xb-chart-label" }, format(max)));
    root.appendChild(svg("text", { x: left - 6, y: top + plotH, "text-anchor": "end", "class": "xb-chart-label" }, format(0)));
    root.appendChild(svg("line", { x1: left, y1: top, x2: width - right, y2: top, "class": "xb-chart-grid" }));
    points.forEach(function (p, i) {
      var h = Math.max(1, (value(p) / max) * plotH);
      var bar = svg("rect", { x: left + i * step + (step - barW) / 2, y: top + plotH - h, width: barW, height: h,
                              "class": "xb-chart-bar xb-chart-bar-" + kind });
      bar.appendChild(svg("title", {}, formatTime(p.at) + ": " + format(value(p))));
      root.appendChild(bar);
    });
    var first = points[0].at, last = points[points.length - 1].at;
    root.appendChild(svg("text", { x: left, y: height - 6, "class": "xb-chart-label" }, shortDate(first)));
    if (points.length > 1) {
      root.appendChild(svg("text", { x: width - right, y: height - 6, "text-anchor": "end", "class": "xb-chart-label" },
        shortDate(last)));
    }
    return el("figure", { className: "xb-chart-figure" }, [el("figcaption", { text: title }), root]);
  }

  function shortDate(iso) { return formatTime(iso).replace(/ \d{4},.*$/, ""); }

  function drawChart() {
    var points = state.chart || [];
    var box = $("chart");
    clear(box);
    $("chart-empty").hidden = points.length > 0;
    box.hidden = points.length === 0;
    $("chart-details").hidden = points.length === 0;
    if (points.length) {
      box.appendChild(barChart(points, "Snapshot size", function (p) { return p.bytes; }, size, "size"));
      box.appendChild(barChart(points, "Duration", function (p) { return p.seconds; }, seconds, "duration"));
      var body = $("chart-table-body");
      clear(body);
      points.forEach(function (p) {
        body.appendChild(el("tr", {}, [el("td", { text: formatTime(p.at) }), el("td", { text: size(p.bytes) }),
                                       el("td", { text: p.seconds + " s" })]));
      });
    }
    XB.resize();
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 150);
  });

  /* ------------------------------------------------------------------ start */

  // static/js/explorer.js says so when a restore or an upload added or changed runs.
  document.addEventListener("xb:runs-changed", function () { if (view.offset === 0) loadPage(0).catch(function () {}); });
  settingsForm();
  alertsForm();
  backupButtons();
  rowActions();
  history();
  credentialsLinks();
  watchForNewRuns();
  drawChart();
  if (state.settings) showLocalSchedule(state.settings);
  syncSchedule();
  view.runs.forEach(function (run) { if (ACTIVE[run.status]) watch(run.id); });
  syncRunButtons();
  document.documentElement.setAttribute("data-backups-ready", "true");
  XB.resize();
})();
