/*
 * Shared by every admin page: window.XB
 *   XB.api.get/put/post/del(path, body?) -> Promise of the JSON body (null for 204); rejects with XB.ApiError
 *     Each call asks Jira for a fresh context token (AP.context.getToken) and sends `Authorization: JWT …`.
 *   XB.apiUrl("api/…"): the API path under the app's base path (APP_BASE_URL may have one: /xb/api/…), resolved
 *     against the page URL, which is always <base>/pages/<page>.
 *   XB.ApiError {status, code, message, fields}
 *   XB.showFieldErrors(form, fields) / XB.clearFieldErrors(form): `fields` keyed by input name; each input
 *     names its error element `<name>-error`; sets aria-invalid and unhides the message.
 *   XB.setBusy(button, busy): a loading button while its request is in flight: a spinner inside, aria-disabled
 *     (it keeps focus, unlike `disabled`); XB.isBusy(button) / XB.isDisabled(button) for click handlers;
 *     XB.setDisabled(button, on): disabled for a reason, the same way (kept through a busy spell).
 *   XB.flag({type, title, body}): a transient confirmation through Jira's AP.flag, or the page's #flags region.
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

  /* Show each field's message; return the first invalid input on screen (document order, to focus) or null. */
  function showFieldErrors(form, fields) {
    var shown = [];
    Object.keys(fields || {}).forEach(function (name) {
      var input = fieldInput(form, name);
      var el = document.getElementById(name.replace(/[^A-Za-z0-9_-]/g, "") + "-error");
      if (!input || !el) return;
      input.setAttribute("aria-invalid", "true");
      el.textContent = String(fields[name]);
      el.hidden = false;
      shown.push(input);
    });
    shown.sort(function (a, b) {
      return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    resize();
    return shown[0] || null;
  }

  /* A loading button: aria-disabled rather than disabled, so focus stays on it while it works. */
  function setBusy(button, busy) {
    if (!button) return;
    var spinner = button.querySelector(".xb-button-spinner");
    if (busy) {
      button.setAttribute("aria-disabled", "true");
      button.setAttribute("aria-busy", "true");
      button.classList.add("xb-button-loading");
      if (!spinner) {
        spinner = document.createElement("span");
        spinner.className = "xb-button-spinner";
        spinner.setAttribute("aria-hidden", "true");
        button.insertBefore(spinner, button.firstChild);
      }
    } else {
      button.removeAttribute("aria-busy");
      button.classList.remove("xb-button-loading");
      if (!button.hasAttribute("data-disabled")) button.removeAttribute("aria-disabled");
      if (spinner) spinner.parentNode.removeChild(spinner);
    }
  }

  /* Disabled for a reason (not just busy): aria-disabled, kept through a busy spell, focus never lost. */
  function setDisabled(button, disabled) {
    if (!button) return;
    if (disabled) {
      button.setAttribute("data-disabled", "");
      button.setAttribute("aria-disabled", "true");
    } else {
      button.removeAttribute("data-disabled");
      if (!isBusy(button)) button.removeAttribute("aria-disabled");
    }
  }

  function isBusy(button) { return !!button && button.getAttribute("aria-busy") === "true"; }
  function isDisabled(button) {
    return !!button && (button.disabled || button.getAttribute("aria-disabled") === "true");
  }

  /* One transient message per event: Jira's flag when the page is in Jira, else the page's own region. */
  var FLAG_TYPES = { success: "success", info: "info", warning: "warning", error: "error" };
  function flag(options) {
    var type = FLAG_TYPES[options.type] || "info";
    var AP = window.AP;
    if (AP && AP.flag && typeof AP.flag.create === "function") {
      try {
        return AP.flag.create({ title: options.title, body: options.body || "", type: type,
                                close: type === "error" || type === "warning" ? "manual" : "auto" });
      } catch (e) { /* fall back to the page's region */ }
    }
    var region = document.getElementById("flags");
    if (!region) return null;
    region.textContent = "";
    var box = document.createElement("div");
    box.className = "xb-message xb-message-" + (type === "info" ? "info" : type);
    var title = document.createElement("p");
    title.className = "xb-message-title";
    title.textContent = options.title;
    box.appendChild(title);
    if (options.body) {
      var body = document.createElement("p");
      body.textContent = options.body;
      box.appendChild(body);
    }
    region.appendChild(box);
    resize();
    return null;
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

  /* DOM building for every page's script: attributes set as given (true → present, null/false → absent). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) {
        node.setAttribute(name, attrs[name] === true ? "" : attrs[name]);
      }
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

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
    isBusy: isBusy,
    setDisabled: setDisabled,
    isDisabled: isDisabled,
    flag: flag,
    resize: resize,
    state: state,
    ago: ago,
    formatTime: formatTime,
    el: el,
    clear: clear,
    group: group
  };

  if (window.AP && typeof window.AP.resize === "function") {
    window.addEventListener("load", resize);
    window.addEventListener("resize", resize);
  }
})();
