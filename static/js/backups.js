/*
 * The Backups page: schedule form, "Back up now" with live progress, paged run history,
 * single-use snapshot downloads and the size/duration chart. Uses window.XB (static/js/api.js).
 * Everything from the server is put into the DOM with textContent: nothing is parsed as HTML.
 * The wording mirrors app/views/backups_page.py (Formatters), which renders the first HTML.
 */
(function () {
  "use strict";

  var XB = window.XB;
  var POLL_MS = 2000;
  var SLOW_POLL_MS = 5000;
  var ACTIVE = { queued: true, running: true };
  var SVG_NS = "http://www.w3.org/2000/svg";

  var state = XB.state("backups-state") || {};
  var labels = state.labels || { status: {}, entities: {}, frequency: {}, days: [] };
  var pageSize = state.pageSize || 10;
  var view = { offset: 0, total: state.totalRuns || 0, runs: state.runs || [], hasMore: !!state.hasMore };
  var polls = {};

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  /* ------------------------------------------------------------------ wording (twin of Formatters) */

  function parse(iso) { return iso ? new Date(iso) : null; }

  function formatTime(iso) { return iso ? XB.formatTime(iso) : "\u2014"; }

  function amount(seconds) {
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var n = Math.round(seconds / units[i][0]);
        return n + " " + units[i][1] + (n === 1 ? "" : "s");
      }
    }
    var s = Math.round(seconds);
    return s + " second" + (s === 1 ? "" : "s");
  }

  function relative(iso) {
    var when = parse(iso);
    if (!when) return "";
    var seconds = (when - new Date()) / 1000;
    if (Math.abs(seconds) < 45) return "now";
    return seconds > 0 ? "in " + amount(seconds) : amount(-seconds) + " ago";
  }

  function duration(startIso, endIso) {
    var start = parse(startIso), end = parse(endIso);
    if (!start || !end) return "\u2014";
    var s = Math.max(0, Math.round((end - start) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

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

  function warningText(item) {
    if (typeof item === "string") return item;
    if (item && typeof item === "object") return String(item.message || item.text || JSON.stringify(item));
    return String(item);
  }

  function progressText(run) {
    if (run.status === "queued") return "Waiting for a worker\u2026";
    var p = run.progress || {};
    var parts = [p.stage ? "Backing up " + p.stage : "Backing up\u2026"];
    if (p.project) parts[0] += " in " + p.project;
    var done = 0;
    Object.keys(p.counts || {}).forEach(function (k) { done += Number(p.counts[k]) || 0; });
    if (done) parts.push(group(done) + " items so far");
    if (p.rateLimitWaits) parts.push("pacing for Xray\u2019s rate limit");
    return parts.join(" \u00b7 ");
  }

  /* ------------------------------------------------------------------ notices */

  function announce(text) { $("notice").textContent = text; XB.resize(); }

  function showError(title, text) {
    $("page-error-title").textContent = title;
    $("page-error-text").textContent = text;
    $("page-error").hidden = false;
    $("page-error").focus();
    XB.resize();
  }

  function clearError() { $("page-error").hidden = true; }

  /* ------------------------------------------------------------------ run rows */

  function lozenge(status) {
    var entry = labels.status[status] || [status, "default"];
    return el("span", { className: "xb-lozenge xb-lozenge-" + entry[1], "data-status": status, text: entry[0] });
  }

  function runRow(run) {
    var when = run.startedAt || run.queuedAt;
    var active = !!ACTIVE[run.status];
    var detail = el("td", { "data-label": "Details", className: "xb-run-details" });
    var list = counts(run.counts);
    if (list.length) detail.appendChild(el("ul", { className: "xb-counts" }, list.map(function (t) {
      return el("li", { text: t });
    })));
    if (active) {
      detail.appendChild(el("div", { className: "xb-progress", "data-progress-for": run.id }, [
        el("span", { className: "xb-spinner", "aria-hidden": "true" }),
        el("span", { className: "xb-progress-text", text: progressText(run) })
      ]));
    }
    if (run.message) {
      detail.appendChild(el("p", {
        className: "xb-run-message" + (run.status === "failed" ? " xb-run-error" : ""), text: run.message
      }));
    }
    var warnings = run.warnings || [];
    if (warnings.length) {
      detail.appendChild(el("details", { className: "xb-warnings" }, [
        el("summary", { text: warnings.length + " warning" + (warnings.length === 1 ? "" : "s") }),
        el("ul", {}, warnings.map(function (w) { return el("li", { text: warningText(w) }); }))
      ]));
    }
    if (!list.length && !run.message && !active && !warnings.length) {
      detail.appendChild(el("span", { className: "xb-muted", text: "\u2014" }));
    }
    var actions = el("td", { "data-label": "Snapshot", className: "xb-run-actions" });
    if (run.status === "succeeded" && run.downloadable !== false) {
      actions.appendChild(el("button", {
        type: "button", className: "xb-button xb-button-compact", "data-download": run.id,
        "aria-label": "Download the snapshot of " + formatTime(run.startedAt), text: "Download"
      }));
    } else if (run.status === "succeeded") {
      actions.appendChild(el("span", { className: "xb-muted", text: "Removed by retention" }));
    }
    var started = el("td", { "data-label": "Started", className: "xb-run-started" }, [
      el("time", { datetime: when, title: relative(when), text: formatTime(when) })
    ]);
    if (!run.startedAt) started.appendChild(el("span", { className: "xb-muted", text: " (queued)" }));
    return el("tr", { className: "xb-run", "data-run-id": run.id, "data-status": run.status }, [
      el("td", { "data-label": "Status", className: "xb-run-status" }, [lozenge(run.status)]),
      started,
      el("td", { "data-label": "Trigger", className: "xb-run-trigger",
                 text: run.trigger === "scheduled" ? "Scheduled" : "Manual" }),
      el("td", { "data-label": "Duration", className: "xb-run-duration",
                 text: active && run.startedAt ? duration(run.startedAt, new Date().toISOString())
                   : duration(run.startedAt, run.finishedAt) }),
      detail,
      el("td", { "data-label": "Size", className: "xb-run-size",
                 text: run.status === "succeeded" ? size(run.bytes) : "\u2014" }),
      actions
    ]);
  }

  function renderRuns() {
    var body = $("runs-body");
    while (body.firstChild) body.removeChild(body.firstChild);
    view.runs.forEach(function (run) { body.appendChild(runRow(run)); });
    $("runs-empty").hidden = view.runs.length > 0 || view.offset > 0;
    $("runs-wrap").hidden = view.runs.length === 0;
    var last = view.offset + view.runs.length;
    $("runs-range").textContent = "Runs " + (view.runs.length ? view.offset + 1 : 0) + "\u2013" + last +
      " of " + Math.max(view.total, last);
    $("runs-pager").hidden = view.offset === 0 && !view.hasMore;
    $("runs-newer").disabled = view.offset === 0;
    $("runs-older").disabled = !view.hasMore;
    view.runs.forEach(function (run) { if (ACTIVE[run.status]) watch(run.id); });
    XB.resize();
  }

  function replaceRun(run) {
    for (var i = 0; i < view.runs.length; i++) {
      if (view.runs[i].id === run.id) {
        view.runs[i] = run;
        var old = document.querySelector('tr[data-run-id="' + cssId(run.id) + '"]');
        if (old) old.parentNode.replaceChild(runRow(run), old);
        XB.resize();
        return;
      }
    }
  }

  function cssId(id) { return String(id).replace(/[^A-Za-z0-9_-]/g, ""); }

  function loadPage(offset) {
    // Ask for one more than a page to know whether older runs exist; if the API ignores
    // limit/offset and returns everything, page the full list here instead.
    var path = XB.apiUrl("api/backups?limit=" + (pageSize + 1) + "&offset=" + offset);
    return XB.api.get(path).then(function (data) {
      var runs = (data && data.runs) || [];
      if (runs.length > pageSize + 1) {
        view.total = runs.length;
        runs = runs.slice(offset, offset + pageSize + 1);
      } else if (typeof data.total === "number") {
        view.total = data.total;
      }
      view.offset = offset;
      view.hasMore = runs.length > pageSize;
      view.runs = runs.slice(0, pageSize);
      renderRuns();
    });
  }

  function pager() {
    $("runs-older").addEventListener("click", function () {
      loadPage(view.offset + pageSize).catch(function (err) { showError("Could not load older runs", err.message); });
    });
    $("runs-newer").addEventListener("click", function () {
      loadPage(Math.max(0, view.offset - pageSize))
        .catch(function (err) { showError("Could not load newer runs", err.message); });
    });
  }

  /* ------------------------------------------------------------------ live progress */

  function watch(id) {
    if (polls[id]) return;
    var started = Date.now();
    polls[id] = true;
    function tick() {
      XB.api.get(XB.apiUrl("api/backups/" + encodeURIComponent(id))).then(function (run) {
        run = run && run.run ? run.run : run;
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
    var entry = labels.status[run.status] || [run.status];
    announce("Backup " + String(entry[0]).toLowerCase() + (run.message ? ": " + run.message : "."));
    if (run.status === "succeeded" && run.startedAt && run.finishedAt) {
      state.chart = (state.chart || []).concat([{
        at: run.startedAt, bytes: run.bytes || 0,
        seconds: Math.round((parse(run.finishedAt) - parse(run.startedAt)) / 1000)
      }]).slice(-30);
      drawChart();
    }
  }

  /* A scheduled backup may start while the page is open: look for a newer run now and then. */
  var NEWEST_CHECK_MS = window.__xbNewRunCheckMs || 30000;  // tests shorten it
  function watchForNewRuns() {
    setTimeout(function check() {
      if (view.offset !== 0 || document.hidden) { setTimeout(check, NEWEST_CHECK_MS); return; }
      XB.api.get(XB.apiUrl("api/backups?limit=1")).then(function (data) {
        var newest = data && data.runs && data.runs[0];
        var known = view.runs.some(function (r) { return newest && r.id === newest.id; });
        return newest && !known && view.offset === 0 ? loadPage(0) : null;
      }).then(null, function () { /* try again later */ }).then(function () {
        setTimeout(check, NEWEST_CHECK_MS);
      });
    }, NEWEST_CHECK_MS);
  }

  /* ------------------------------------------------------------------ Back up now */

  function backupNow() {
    var button = $("backup-now");
    button.addEventListener("click", function () {
      clearError();
      XB.setBusy(button, true);
      XB.api.post(XB.apiUrl("api/backups")).then(function (created) {
        announce("Backup " + (created.status === "running" ? "started." : "queued."));
        return XB.api.get(XB.apiUrl("api/backups/" + encodeURIComponent(created.id))).then(null, function () {
          return { id: created.id, status: created.status, trigger: "manual", queuedAt: new Date().toISOString() };
        }).then(function (run) {
          run = run && run.run ? run.run : run;
          view.total += 1;
          if (view.offset === 0) {
            view.runs = [run].concat(view.runs.filter(function (r) { return r.id !== run.id; }));
            if (view.runs.length > pageSize) { view.runs = view.runs.slice(0, pageSize); view.hasMore = true; }
            renderRuns();
          }
          watch(run.id);
        });
      }, function (err) {
        if (err.status === 409) {
          showError("A backup is already in progress",
            (err.message || "A backup is already queued or running.") +
            " It is shown in the run history; start another one when it has finished.");
          if (view.offset === 0) loadPage(0).catch(function () {});
        } else {
          showError("The backup could not be started", err.message);
        }
      }).then(function () { XB.setBusy(button, false); });
    });
  }

  /* ------------------------------------------------------------------ downloads */

  function downloads() {
    $("runs-body").addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-download]") : null;
      if (!button) return;
      var id = button.getAttribute("data-download");
      clearError();
      XB.setBusy(button, true);
      XB.api.post(XB.apiUrl("api/backups/") + encodeURIComponent(id) + "/download-link").then(function (link) {
        // The link is single-use and expires within a minute: follow it at once. The response is an
        // attachment, so the browser saves the zip and this page stays where it is.
        var a = el("a", { href: link.url, rel: "noopener", className: "xb-bk-hidden-link" });
        document.body.appendChild(a);
        a.click();
        document.body.removeChild(a);
        announce("Download started. The link worked once and has now been used up.");
      }, function (err) {
        showError("The snapshot could not be downloaded", err.message);
      }).then(function () { XB.setBusy(button, false); });
    });
  }

  /* ------------------------------------------------------------------ schedule form */

  function numberOrRaw(value) {
    var text = value.trim();
    if (text === "") return null;
    return /^\d{1,9}$/.test(text) ? parseInt(text, 10) : text;  // the server explains anything else
  }

  function nextRunText(settings) {
    var node = $("next-run");
    while (node.firstChild) node.removeChild(node.firstChild);
    if (settings.enabled && settings.nextRunAt) {
      node.appendChild(document.createTextNode("Next backup: "));
      node.appendChild(el("strong", {}, [el("time", { datetime: settings.nextRunAt, text: formatTime(settings.nextRunAt) })]));
      node.appendChild(document.createTextNode(" "));
      node.appendChild(el("span", { className: "xb-muted", text: "(" + relative(settings.nextRunAt) + ")" }));
    } else {
      node.appendChild(document.createTextNode("Scheduled backups are off. Use "));
      node.appendChild(el("strong", { text: "Back up now" }));
      node.appendChild(document.createTextNode(" for a manual backup."));
    }
  }

  function settingsForm() {
    var form = $("settings-form");
    var frequency = $("frequency");
    function syncDay() { $("day-field").hidden = frequency.value !== "weekly"; XB.resize(); }
    frequency.addEventListener("change", syncDay);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = $("settings-save");
      if (button.disabled) return;
      XB.clearFieldErrors(form);
      $("settings-error").hidden = true;
      $("settings-saved").textContent = "";
      var weekly = frequency.value === "weekly";
      var body = {
        enabled: $("enabled").checked,
        frequency: frequency.value,
        dayOfWeek: weekly ? parseInt($("dayOfWeek").value, 10) : null,
        timeOfDay: $("timeOfDay").value.trim(),
        retentionDays: numberOrRaw($("retentionDays").value),
        retentionCount: numberOrRaw($("retentionCount").value)
      };
      XB.setBusy(button, true);
      $("settings-spinner").hidden = false;
      XB.api.put(XB.apiUrl("api/backup-settings"), body).then(function (saved) {
        state.settings = saved;
        nextRunText(saved);
        $("settings-saved").textContent = saved.enabled && saved.nextRunAt
          ? "Schedule saved. Next backup: " + formatTime(saved.nextRunAt) + "."
          : "Schedule saved. Scheduled backups are off.";
        XB.resize();
      }, function (err) {
        var fields = {};
        Object.keys(err.fields || {}).forEach(function (name) {
          // The API speaks JSON ("or null"); on the form that is an empty box.
          fields[name] = String(err.fields[name]).replace(/,? or null\.$/, ", or leave the box empty.");
        });
        var first = err.fields ? XB.showFieldErrors(form, fields) : null;
        $("settings-error-text").textContent = err.message || "The schedule could not be saved.";
        $("settings-error").hidden = false;
        (first || $("settings-error")).focus();
        XB.resize();
      }).then(function () {
        XB.setBusy(button, false);
        $("settings-spinner").hidden = true;
      });
    });
  }

  /* ------------------------------------------------------------------ credentials banner */

  function credentialsLink() {
    var link = $("credentials-link");
    if (!link) return;
    link.addEventListener("click", function (event) {
      var AP = window.AP;
      if (AP && AP.navigator && typeof AP.navigator.go === "function") {
        // Inside Jira our page is an iframe: ask Jira to open the other admin page of this app.
        event.preventDefault();
        AP.navigator.go("addonmodule", { moduleKey: "xray-credentials" });
      }
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
    while (box.firstChild) box.removeChild(box.firstChild);
    $("chart-empty").hidden = points.length > 0;
    box.hidden = points.length === 0;
    $("chart-details").hidden = points.length === 0;
    if (points.length) {
      box.appendChild(barChart(points, "Snapshot size", function (p) { return p.bytes; }, size, "size"));
      box.appendChild(barChart(points, "Duration", function (p) { return p.seconds; }, seconds, "duration"));
      var body = $("chart-table-body");
      while (body.firstChild) body.removeChild(body.firstChild);
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

  settingsForm();
  backupNow();
  downloads();
  pager();
  credentialsLink();
  watchForNewRuns();
  drawChart();
  view.runs.forEach(function (run) { if (ACTIVE[run.status]) watch(run.id); });
  document.documentElement.setAttribute("data-backups-ready", "true");
  XB.resize();
})();
