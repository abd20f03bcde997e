/* The Xray Credentials page: read view, edit form, test, remove, recent changes. Uses only the JSON API. */
(function () {
  "use strict";

  var XB = window.XB;
  var API = "api/xray-credentials";
  var initial = XB.state("cred-state") || {};
  var state = {
    cred: initial.credentials || { configured: false },
    audit: initial.audit || [],
    accountId: initial.accountId,
    regions: initial.regions || {}
  };

  function $(id) { return document.getElementById(id); }
  var form = $("cred-form");
  var els = {
    edit: $("edit-button"), readView: $("read-view"), notConfigured: $("not-configured"), notice: $("notice"),
    clientIdView: $("view-client-id"), secretNote: $("view-secret-note"), regionView: $("view-region"),
    status: $("view-status"), lozenge: $("view-status-lozenge"), statusText: $("view-status-text"),
    test: $("test-button"), remove: $("remove-button"), confirm: $("remove-confirm"),
    confirmRemove: $("remove-confirm-button"), confirmCancel: $("remove-cancel-button"),
    clientId: $("clientId"), secret: $("clientSecret"), secretHelp: $("clientSecret-help"), region: $("region"),
    save: $("save-button"), cancel: $("cancel-button"), spinner: $("save-spinner"),
    formError: $("form-error"), formErrorTitle: $("form-error-title"), formErrorText: $("form-error-text"),
    unreachable: $("unreachable-actions"), storeUnverified: $("store-unverified-button"),
    auditList: $("audit-list"), auditEmpty: $("audit-empty")
  };

  // The API lives beside /pages/ under the app's base path; resolve it against the page URL.
  function apiUrl(suffix) {
    var base = window.location.pathname.replace(/\/pages\/[^/]*$/, "/");
    return base + API + (suffix || "");
  }

  var busy = false;

  /* ---------------------------------------------------------------- wording (same as the server) */

  function statusWords(cred) {
    if (cred.status === "connected") {
      var n = cred.testsVisible;
      var visible = (n === null || n === undefined) ? "" : " — " + n + " test" + (n === 1 ? "" : "s") + " visible";
      return { lozenge: "Connected", kind: "success", text: "Connected" + visible + ", verified " + XB.ago(cred.verifiedAt) };
    }
    if (cred.status === "rejected") return { lozenge: "Rejected", kind: "removed", text: "Xray rejected these credentials" };
    return { lozenge: "Not verified", kind: "moved", text: "Not verified: Xray unreachable" };
  }

  function storedWords(cred) {
    var who = cred.updatedBy;
    var by = who ? (who === state.accountId ? " by you" : " by " + who) : "";
    return "Stored " + XB.formatTime(cred.updatedAt) + by;
  }

  /* ---------------------------------------------------------------- rendering */

  function renderCredentials() {
    var cred = state.cred;
    els.notConfigured.hidden = !!cred.configured;
    els.readView.hidden = !cred.configured || !form.hidden;
    els.edit.hidden = !cred.configured || !form.hidden;
    els.cancel.hidden = !cred.configured;
    if (cred.configured) {
      els.clientIdView.textContent = cred.clientId || "";
      els.secretNote.textContent = storedWords(cred);
      els.regionView.textContent = state.regions[cred.region] || cred.region || "";
      var words = statusWords(cred);
      els.status.setAttribute("data-status", cred.status || "");
      els.lozenge.className = "xb-lozenge xb-lozenge-" + words.kind;
      els.lozenge.textContent = words.lozenge;
      els.statusText.textContent = words.text;
      els.secret.required = false;
      els.secret.removeAttribute("aria-required");
      els.secretHelp.textContent = "A secret is stored and never shown. Leave this empty to keep it.";
    } else {
      els.secret.required = true;
      els.secret.setAttribute("aria-required", "true");
      els.secretHelp.textContent = "Shown once by Xray when the key is created.";
    }
    XB.resize();
  }

  function renderAudit() {
    var list = els.auditList;
    while (list.firstChild) list.removeChild(list.firstChild);
    state.audit.forEach(function (entry) {
      var li = document.createElement("li");
      var action = document.createElement("span");
      action.className = "xb-audit-action";
      action.textContent = entry.actionLabel || entry.action;
      var outcome = document.createElement("span");
      outcome.className = "xb-audit-outcome";
      outcome.textContent = entry.outcome;
      var meta = document.createElement("span");
      meta.className = "xb-muted";
      var time = document.createElement("time");
      time.setAttribute("datetime", entry.at);
      time.title = XB.formatTime(entry.at);
      time.textContent = XB.ago(entry.at);
      meta.appendChild(time);
      var who = entry.accountId === state.accountId ? "you" : (entry.accountId || "unknown");
      meta.appendChild(document.createTextNode(" by " + who));
      li.appendChild(action);
      li.appendChild(outcome);
      li.appendChild(meta);
      list.appendChild(li);
    });
    els.auditEmpty.hidden = state.audit.length > 0;
    XB.resize();
  }

  function refreshAudit() {
    return XB.api.get(apiUrl("/audit")).then(function (data) {
      state.audit = (data && data.entries) || [];
      renderAudit();
    }, function () { /* the list is informative; a failed refresh keeps the old one */ });
  }

  function notify(kind, title, text) {
    var box = document.createElement("div");
    box.className = "xb-message xb-message-" + kind;
    var h = document.createElement("h2");
    h.className = "xb-message-title";
    h.textContent = title;
    box.appendChild(h);
    if (text) {
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
    }
    els.notice.textContent = "";
    els.notice.appendChild(box);
    XB.resize();
  }

  function clearNotice() { els.notice.textContent = ""; }

  /* ---------------------------------------------------------------- edit form */

  function showFormError(title, text, offerUnverified) {
    els.formErrorTitle.textContent = title;
    els.formErrorText.textContent = text;
    els.unreachable.hidden = !offerUnverified;
    els.formError.hidden = false;
    XB.resize();
  }

  function hideFormError() {
    els.formError.hidden = true;
    els.unreachable.hidden = true;
  }

  function openForm() {
    clearNotice();
    hideConfirm();
    XB.clearFieldErrors(form);
    hideFormError();
    els.clientId.value = state.cred.clientId || "";
    els.secret.value = "";
    els.region.value = state.cred.region || "global";
    form.hidden = false;
    renderCredentials();
    els.clientId.focus();
  }

  function closeForm() {
    els.secret.value = "";
    XB.clearFieldErrors(form);
    hideFormError();
    form.hidden = true;
    renderCredentials();
    els.edit.focus();
  }

  function setSaving(on) {
    busy = on;
    XB.setBusy(els.save, on);
    XB.setBusy(els.storeUnverified, on);
    els.cancel.disabled = on;
    els.spinner.hidden = !on;
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  function save(storeUnverified) {
    if (busy) return;
    XB.clearFieldErrors(form);
    hideFormError();
    clearNotice();
    var body = { clientId: els.clientId.value, clientSecret: els.secret.value, region: els.region.value };
    if (storeUnverified) body.storeUnverified = true;
    setSaving(true);
    XB.api.put(apiUrl(), body).then(function (cred) {
      setSaving(false);
      state.cred = cred;
      els.secret.value = "";
      form.hidden = true;
      renderCredentials();
      var words = statusWords(cred);
      notify(cred.status === "connected" ? "success" : "warning", "Xray credentials saved", words.text + ".");
      els.edit.focus();
      refreshAudit();
    }, function (err) {
      setSaving(false);
      var first = XB.showFieldErrors(form, err.fields);
      if (err.code === "xray_unreachable") {
        showFormError("Xray could not be reached", err.message, true);
        els.formError.focus();
      } else if (err.code === "validation_failed" && first) {
        var rejected = err.fields && err.fields.clientSecret && err.fields.clientId && err.fields.clientId === err.fields.clientSecret;
        showFormError(rejected ? "Xray rejected these credentials" : "Check the highlighted fields", err.message, false);
        first.focus();
      } else {
        showFormError("The credentials were not saved", err.message, false);
        els.formError.focus();
      }
      refreshAudit();
    });
  }

  /* ---------------------------------------------------------------- test and remove */

  function testConnection() {
    if (busy) return;
    busy = true;
    clearNotice();
    XB.setBusy(els.test, true);
    els.test.textContent = "Testing…";
    XB.api.post(apiUrl("/verify")).then(function (result) {
      if (result.credentials) state.cred = result.credentials;
      renderCredentials();
      notify(result.ok ? "success" : "error", result.ok ? "Connection works" : "Connection failed", result.message);
    }, function (err) {
      notify("error", "Connection test failed", err.message);
    }).then(function () {
      busy = false;
      XB.setBusy(els.test, false);
      els.test.textContent = "Test connection";
      refreshAudit();
    });
  }

  function showConfirm() {
    clearNotice();
    els.confirm.hidden = false;
    XB.resize();
    els.confirmCancel.focus();
  }

  function hideConfirm() {
    els.confirm.hidden = true;
    XB.resize();
  }

  function removeCredentials() {
    if (busy) return;
    busy = true;
    XB.setBusy(els.confirmRemove, true);
    XB.api.del(apiUrl()).then(function () {
      state.cred = { configured: false };
      hideConfirm();
      els.clientId.value = "";
      els.secret.value = "";
      els.region.value = "global";
      form.hidden = false;
      renderCredentials();
      notify("success", "Xray credentials removed", "Backups skip Xray data until new credentials are saved.");
      els.clientId.focus();
    }, function (err) {
      notify("error", "The credentials were not removed", err.message);
    }).then(function () {
      busy = false;
      XB.setBusy(els.confirmRemove, false);
      refreshAudit();
    });
  }

  /* ---------------------------------------------------------------- wiring */

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    save(false);
  });
  els.storeUnverified.addEventListener("click", function () { save(true); });
  els.edit.addEventListener("click", openForm);
  els.cancel.addEventListener("click", closeForm);
  form.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.cred.configured && !busy) closeForm();
  });
  els.test.addEventListener("click", testConnection);
  els.remove.addEventListener("click", showConfirm);
  els.confirmCancel.addEventListener("click", function () { hideConfirm(); els.remove.focus(); });
  els.confirmRemove.addEventListener("click", removeCredentials);
  els.confirm.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { hideConfirm(); els.remove.focus(); }
  });

  // Relative times age while the page is open.
  setInterval(function () { if (state.cred.configured && form.hidden) renderCredentials(); renderAudit(); }, 60000);
  renderCredentials();
})();
