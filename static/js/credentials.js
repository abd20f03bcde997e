/* The Xray Credentials page: read view, edit form, test, remove (a modal), recent changes with older entries.
   Uses only the JSON API, through XB (static/js/api.js); transient confirmations are Jira flags. */
(function () {
  "use strict";

  var XB = window.XB;
  var API = "api/xray-credentials";
  var initial = XB.state("cred-state") || {};
  var state = {
    cred: initial.credentials || { configured: false },
    audit: initial.audit || [],
    auditMore: !!initial.auditMore,
    accountId: initial.accountId,
    regions: initial.regions || {}
  };

  function $(id) { return document.getElementById(id); }
  var form = $("cred-form");
  var els = {
    edit: $("edit-button"), readView: $("read-view"), notConfigured: $("not-configured"), checking: $("checking"),
    clientIdView: $("view-client-id"), secretNote: $("view-secret-note"), regionView: $("view-region"),
    status: $("view-status"), lozenge: $("view-status-lozenge"), statusText: $("view-status-text"),
    test: $("test-button"), remove: $("remove-button"), confirm: $("remove-confirm"),
    confirmRemove: $("remove-confirm-button"), confirmCancel: $("remove-cancel-button"),
    clientId: $("clientId"), secret: $("clientSecret"), secretHelp: $("clientSecret-help"), region: $("region"),
    save: $("save-button"), cancel: $("cancel-button"),
    formError: $("form-error"), formErrorTitle: $("form-error-title"), formErrorText: $("form-error-text"),
    unreachable: $("unreachable-actions"), storeUnverified: $("store-unverified-button"),
    auditList: $("audit-list"), auditEmpty: $("audit-empty"), auditOlder: $("audit-older")
  };

  function apiUrl(suffix) { return XB.apiUrl(API + (suffix || "")); }

  var busy = false;

  /* ---------------------------------------------------------------- wording (same as app/presentation.py) */

  function statusWords(cred) {
    if (cred.status === "connected") {
      var n = cred.testsVisible;
      var visible = (n === null || n === undefined) ? "" : n + " test" + (n === 1 ? "" : "s") + " visible, ";
      return { lozenge: "Connected", kind: "success", text: visible + "verified " + XB.ago(cred.verifiedAt) };
    }
    if (cred.status === "rejected") return { lozenge: "Rejected", kind: "removed", text: "Xray rejected them at the last test" };
    return { lozenge: "Not verified", kind: "moved", text: "Xray could not be reached to check them" };
  }

  /* "you", another admin's display name (from Jira), never a raw account id. */
  function person(accountId, name) {
    if (!accountId) return "an unknown user";
    if (accountId === state.accountId) return "you";
    return name || "another administrator";
  }

  function storedWords(cred) {
    var by = cred.updatedBy ? " by " + person(cred.updatedBy, cred.updatedByName) : "";
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

  function auditItem(entry) {
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
    meta.appendChild(document.createTextNode(" by " + person(entry.accountId, entry.accountName)));
    li.appendChild(action);
    li.appendChild(outcome);
    li.appendChild(meta);
    return li;
  }

  function renderAudit() {
    var list = els.auditList;
    while (list.firstChild) list.removeChild(list.firstChild);
    state.audit.forEach(function (entry) { list.appendChild(auditItem(entry)); });
    els.auditEmpty.hidden = state.audit.length > 0;
    els.auditOlder.hidden = !state.auditMore;
    XB.resize();
  }

  function refreshAudit() {
    return XB.api.get(apiUrl("/audit")).then(function (data) {
      state.audit = (data && data.entries) || [];
      state.auditMore = !!(data && data.more);
      renderAudit();
    }, function () { /* the list is informative; a failed refresh keeps the old one */ });
  }

  function olderAudit() {
    var button = els.auditOlder;
    if (XB.isDisabled(button) || !state.audit.length) return;
    XB.setBusy(button, true);
    var last = state.audit[state.audit.length - 1];
    XB.api.get(apiUrl("/audit?before=" + encodeURIComponent(last.id))).then(function (data) {
      var entries = (data && data.entries) || [];
      state.audit = state.audit.concat(entries);
      state.auditMore = !!(data && data.more);
      entries.forEach(function (entry) { els.auditList.appendChild(auditItem(entry)); });
      XB.setBusy(button, false);
      els.auditOlder.hidden = !state.auditMore;
      if (!state.auditMore) $("audit-title").focus();  // the pressed button is gone: back to the list's heading
      XB.resize();
    }, function (err) {
      XB.setBusy(button, false);
      XB.flag({ type: "error", title: "Older entries could not be loaded", body: err.message });
    });
  }

  function flag(type, title, body) { XB.flag({ type: type, title: title, body: body }); }

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
    closeConfirm();
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

  /* A check with Xray takes seconds: say so to screen readers, and keep the buttons loading, not gone. */
  function setChecking(on, button) {
    busy = on;
    XB.setBusy(button, on);
    els.cancel.disabled = false;
    XB.setDisabled(els.cancel, on);
    form.setAttribute("aria-busy", on ? "true" : "false");
    els.checking.textContent = on ? "Checking the credentials with Xray…" : "";
  }

  function save(storeUnverified) {
    if (busy) return;
    var button = storeUnverified ? els.storeUnverified : els.save;
    XB.clearFieldErrors(form);
    hideFormError();
    var body = { clientId: els.clientId.value, clientSecret: els.secret.value, region: els.region.value };
    if (storeUnverified) body.storeUnverified = true;
    setChecking(true, button);
    XB.api.put(apiUrl(), body).then(function (cred) {
      setChecking(false, button);
      state.cred = cred;
      els.secret.value = "";
      form.hidden = true;
      renderCredentials();
      var words = statusWords(cred);
      flag(cred.status === "connected" ? "success" : "warning", "Xray credentials saved",
           words.lozenge + ": " + words.text + ".");
      els.edit.focus();
      refreshAudit();
    }, function (err) {
      setChecking(false, button);
      var fields = err.fields || {};
      var rejected = fields.clientSecret && fields.clientId && fields.clientId === fields.clientSecret;
      if (rejected) {
        // One message for one event: the summary says it; the two fields are marked with short hints.
        fields = { clientId: "Check the Client ID.", clientSecret: "Check the Client secret." };
      }
      var first = XB.showFieldErrors(form, fields);
      if (err.code === "xray_unreachable") {
        showFormError("Xray could not be reached", err.message, true);
        els.formError.focus();
      } else if (err.code === "validation_failed" && first) {
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
    if (busy || XB.isDisabled(els.test)) return;
    busy = true;
    XB.setBusy(els.test, true);
    els.checking.textContent = "Testing the connection to Xray…";
    XB.api.post(apiUrl("/verify")).then(function (result) {
      if (result.credentials) state.cred = result.credentials;
      renderCredentials();
      flag(result.ok ? "success" : "error", result.ok ? "Connection works" : "Connection failed", result.message);
    }, function (err) {
      flag("error", "Connection test failed", err.message);
    }).then(function () {
      busy = false;
      els.checking.textContent = "";
      XB.setBusy(els.test, false);
      refreshAudit();
    });
  }

  function openConfirm() {
    if (typeof els.confirm.showModal === "function") els.confirm.showModal();
    else els.confirm.setAttribute("open", "");
    els.confirmCancel.focus();
    XB.resize();
  }

  function closeConfirm() {
    if (!els.confirm.open) return;
    if (typeof els.confirm.close === "function") els.confirm.close();
    else els.confirm.removeAttribute("open");
  }

  function removeCredentials() {
    if (busy) return;
    busy = true;
    XB.setBusy(els.confirmRemove, true);
    XB.api.del(apiUrl()).then(function () {
      state.cred = { configured: false };
      XB.setBusy(els.confirmRemove, false);
      closeConfirm();
      els.clientId.value = "";
      els.secret.value = "";
      els.region.value = "global";
      form.hidden = false;
      renderCredentials();
      flag("success", "Xray credentials removed", "Backups stop until new credentials are saved.");
      els.clientId.focus();
    }, function (err) {
      XB.setBusy(els.confirmRemove, false);
      closeConfirm();
      flag("error", "The credentials were not removed", err.message);
      els.remove.focus();
    }).then(function () {
      busy = false;
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
  els.cancel.addEventListener("click", function () { if (!busy) closeForm(); });
  form.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.cred.configured && !busy) closeForm();
  });
  els.test.addEventListener("click", testConnection);
  els.remove.addEventListener("click", openConfirm);
  els.confirmCancel.addEventListener("click", closeConfirm);
  els.confirmRemove.addEventListener("click", removeCredentials);
  els.confirm.addEventListener("cancel", function (event) { if (busy) event.preventDefault(); });
  els.confirm.addEventListener("close", function () {
    // Back to the button that opened it, unless the credentials are gone with it.
    if (state.cred.configured) els.remove.focus();
  });
  els.auditOlder.addEventListener("click", olderAudit);

  // Relative times age while the page is open.
  setInterval(function () { if (state.cred.configured && form.hidden) renderCredentials(); renderAudit(); }, 60000);
  renderCredentials();
})();
