/*
 * Shared by every admin page: window.XB
 *   XB.api.get/put/post/del(path, body?) -> Promise of the JSON body (null for 204); rejects with XB.ApiError
 *     Each call asks Jira for a fresh context token (AP.context.getToken) and sends `Authorization: JWT …`.
 *   XB.apiUrl("api/…"): the API path under the app's base path (APP_BASE_URL may have one: /xb/api/…), resolved
 *     against the page URL, which is always <base>/pages/<page>.
 *   XB.ApiError {status, code, message, fields}
 *   XB.showFieldErrors(form, fields) / XB.clearFieldErrors(form): `fields` keyed by input name; each input
 *     names its error element `<name>-error`; sets aria-invalid and unhides the message.
 *   XB.setBusy(button, busy): disables a button while its request is in flight.
 *   XB.resize(): tell Jira the content height changed (call after every DOM change).
 *   XB.state(id): the JSON the server rendered into <script type="application/json" id=…>.
 *   XB.ago(iso, now?) / XB.formatTime(iso): the same wording as the server renders.
 */
(function () {
  "use strict";

  var TIMEOUT_MS = 45000;

  function ApiError(status, code, message, fields) {
    this.name = "ApiError";
    this.status = status;
    this.code = code || "error";
    this.message = message || "Something went wrong.";
    this.fields = fields || {};
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  function getToken() {
    return new Promise(function (resolve, reject) {
      var AP = window.AP;
      if (!AP || !AP.context || typeof AP.context.getToken !== "function") {
        reject(new ApiError(0, "no_jira", "This page must be opened from Jira administration."));
        return;
      }
      var settled = false;
      var result = AP.context.getToken(function (token) {
        settled = true;
        if (token) resolve(token);
        else reject(new ApiError(0, "no_token", "Jira did not provide a session token. Reload the page."));
      });
      // Newer all.js versions also return a promise; use whichever answers first.
      if (result && typeof result.then === "function") {
        result.then(function (token) { if (!settled && token) { settled = true; resolve(token); } },
          function () { if (!settled) reject(new ApiError(0, "no_token", "Jira did not provide a session token. Reload the page.")); });
      }
    });
  }

  function request(method, path, body) {
    return getToken().then(function (token) {
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
      var init = {
        method: method,
        headers: { "Authorization": "JWT " + token, "Accept": "application/json" },
        credentials: "omit",
        cache: "no-store"
      };
      if (controller) init.signal = controller.signal;
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(path, init).then(function (response) {
        if (timer) clearTimeout(timer);
        if (response.status === 204) return null;
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (response.ok) return data;
          if (data && data.error) throw new ApiError(response.status, data.error, data.message, data.fields);
          throw new ApiError(response.status, "http_" + response.status,
            "The server answered " + response.status + ". Try again in a moment.");
        });
      }, function (err) {
        if (timer) clearTimeout(timer);
        if (err && err.name === "AbortError") {
          throw new ApiError(0, "timeout", "The request took too long. Try again in a moment.");
        }
        throw new ApiError(0, "network", "The app could not be reached. Check your connection and try again.");
      });
    });
  }

  function apiUrl(path) {
    var base = window.location.pathname.replace(/\/pages\/[^/]*$/, "/");
    return base + String(path).replace(/^\/+/, "");
  }

  function fieldInput(form, name) {
    return form.querySelector('[name="' + name.replace(/[^A-Za-z0-9_-]/g, "") + '"]');
  }

  function clearFieldErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (input) {
      input.removeAttribute("aria-invalid");
    });
    Array.prototype.forEach.call(form.querySelectorAll(".xb-field-error"), function (el) {
      el.textContent = "";
      el.hidden = true;
    });
  }

  /* Show each field's message; return the first invalid input (to focus) or null. */
  function showFieldErrors(form, fields) {
    var first = null;
    Object.keys(fields || {}).forEach(function (name) {
      var input = fieldInput(form, name);
      var el = document.getElementById(name.replace(/[^A-Za-z0-9_-]/g, "") + "-error");
      if (!input || !el) return;
      input.setAttribute("aria-invalid", "true");
      el.textContent = String(fields[name]);
      el.hidden = false;
      if (!first) first = input;
    });
    resize();
    return first;
  }

  function setBusy(button, busy) {
    if (!button) return;
    button.disabled = !!busy;
    if (busy) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  var resizeQueued = false;
  function resize() {
    if (resizeQueued) return;
    resizeQueued = true;
    var run = function () {
      resizeQueued = false;
      if (window.AP && typeof window.AP.resize === "function") {
        try { window.AP.resize(); } catch (e) { /* outside Jira: nothing to resize */ }
      }
    };
    if (window.requestAnimationFrame) window.requestAnimationFrame(run); else setTimeout(run, 0);
  }

  function state(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function parse(iso) { return iso ? new Date(iso) : null; }

  function ago(iso, now) {
    var when = parse(iso);
    if (!when) return "";
    var seconds = Math.max(0, Math.floor(((now || new Date()) - when) / 1000));
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var n = Math.floor(seconds / units[i][0]);
        return n + " " + units[i][1] + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function formatTime(iso) {
    var d = parse(iso);
    if (!d) return "";
    return pad(d.getUTCDate()) + " " + MONTHS[d.getUTCMonth()] + " " + d.getUTCFullYear() + ", " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
  }

  window.XB = {
    api: {
      get: function (path) { return request("GET", path); },
      put: function (path, body) { return request("PUT", path, body === undefined ? {} : body); },
      post: function (path, body) { return request("POST", path, body === undefined ? {} : body); },
      del: function (path) { return request("DELETE", path); }
    },
    ApiError: ApiError,
    apiUrl: apiUrl,
    getToken: getToken,
    showFieldErrors: showFieldErrors,
    clearFieldErrors: clearFieldErrors,
    setBusy: setBusy,
    resize: resize,
    state: state,
    ago: ago,
    formatTime: formatTime
  };

  if (window.AP && typeof window.AP.resize === "function") {
    window.addEventListener("load", resize);
    window.addEventListener("resize", resize);
  }
})();
