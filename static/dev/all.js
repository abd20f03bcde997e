/*
 * A local stand-in for Atlassian's all.js, for the dev host and the browser tests only (never loaded in
 * production: the pages load all.js from Atlassian's CDN unless CONNECT_ALL_JS_URL points here).
 *
 * It provides what our pages use: AP.context.getToken(callback) (also returns a promise), AP.resize(),
 * AP.sizeToParent(), AP.flag.create({title, body, type, close}) (Jira shows flags over its own page; the
 * stand-in shows them in the frame, bottom left, and tells the host page too). Inside a frame it asks the parent window (the dev host's Jira-like admin page) over
 * postMessage; opened on its own it fetches a token from TOKEN_URL, which the browser tests answer.
 * Calls are counted in window.__apStandin so tests can check that pages resize after DOM changes.
 */
(function () {
  "use strict";

  var TOKEN_URL = "https://connect-cdn.atl-paas.net/__standin/context-token";
  var framed = window.parent && window.parent !== window;
  var pending = {};
  var nextId = 1;
  var calls = window.__apStandin = { getToken: 0, resize: 0, sizeToParent: 0, lastHeight: null, flags: [] };
  var FLAG_ICONS = { success: "\u2713", info: "i", warning: "!", error: "!" };
  var FLAG_CSS = [
    ".ap-standin-flags{position:fixed;left:24px;bottom:24px;z-index:1000;display:grid;gap:8px;width:360px;",
    "max-width:calc(100vw - 48px);font:14px/20px -apple-system,'Segoe UI',Roboto,sans-serif}",
    ".ap-standin-flag{display:grid;grid-template-columns:24px 1fr 24px;gap:8px;padding:16px;border-radius:3px;",
    "background:#fff;color:#172b4d;box-shadow:0 8px 12px #091e4226,0 0 1px #091e424f}",
    ".ap-standin-flag p{margin:0}.ap-standin-flag-title{font-weight:600}",
    ".ap-standin-flag-body{color:#44546f;margin-top:4px!important}",
    ".ap-standin-flag-icon{width:20px;height:20px;border-radius:50%;color:#fff;font-weight:700;font-size:12px;",
    "line-height:20px;text-align:center;background:#0c66e4}",
    ".ap-standin-flag-success .ap-standin-flag-icon{background:#1f845a}",
    ".ap-standin-flag-warning .ap-standin-flag-icon{background:#b38600;color:#172b4d}",
    ".ap-standin-flag-error .ap-standin-flag-icon{background:#c9372c}",
    ".ap-standin-flag-close{border:0;background:transparent;color:#44546f;font-size:18px;cursor:pointer;",
    "width:24px;height:24px;padding:0;border-radius:3px}",
    ".ap-standin-flag-close:hover{background:#091e420f}",
    ".ap-standin-flag-close:focus-visible{outline:2px solid #388bff}"
  ].join("");

  function flagArea() {
    var area = document.getElementById("ap-standin-flags");
    if (!area) {
      area = document.createElement("section");
      area.id = "ap-standin-flags";
      area.className = "ap-standin-flags";
      area.setAttribute("aria-label", "Notifications");
      var style = document.createElement("style");
      style.textContent = FLAG_CSS;
      document.head.appendChild(style);
      document.body.appendChild(area);
    }
    return area;
  }

  /* Jira's flag: an icon, a title, a body, a dismiss button; "auto" ones close after 8 seconds. */
  function createFlag(options) {
    options = options || {};
    var type = FLAG_ICONS[options.type] ? options.type : "info";
    calls.flags.push({ title: options.title || "", body: options.body || "", type: type, close: options.close });
    post({ type: "xb-standin:flag", title: options.title, body: options.body, flagType: type });
    var node = document.createElement("div");
    node.className = "ap-standin-flag ap-standin-flag-" + type;
    node.setAttribute("role", type === "error" || type === "warning" ? "alert" : "status");
    var icon = document.createElement("span");
    icon.className = "ap-standin-flag-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = FLAG_ICONS[type];
    var text = document.createElement("div");
    var title = document.createElement("p");
    title.className = "ap-standin-flag-title";
    title.textContent = options.title || "";
    text.appendChild(title);
    if (options.body) {
      var body = document.createElement("p");
      body.className = "ap-standin-flag-body";
      body.textContent = options.body;
      text.appendChild(body);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "ap-standin-flag-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    node.appendChild(icon);
    node.appendChild(text);
    node.appendChild(close);
    var area = flagArea();
    area.insertBefore(node, area.firstChild);
    var handle = { close: function () { if (node.parentNode) node.parentNode.removeChild(node); } };
    close.addEventListener("click", handle.close);
    if (options.close !== "manual") setTimeout(handle.close, 8000);
    return handle;
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    var data = event.data || {};
    if (data.type !== "xb-standin:token" || !pending[data.id]) return;
    var waiter = pending[data.id];
    delete pending[data.id];
    if (data.token) waiter.resolve(data.token); else waiter.reject(new Error("no token"));
  });

  function post(message) {
    if (framed) window.parent.postMessage(message, "*");
  }

  function tokenFromParent() {
    return new Promise(function (resolve, reject) {
      var id = nextId++;
      pending[id] = { resolve: resolve, reject: reject };
      post({ type: "xb-standin:getToken", id: id });
      setTimeout(function () {
        if (pending[id]) { delete pending[id]; reject(new Error("the host page did not answer")); }
      }, 10000);
    });
  }

  function tokenFromUrl() {
    return fetch(TOKEN_URL, { cache: "no-store" }).then(function (response) {
      if (!response.ok) throw new Error("token endpoint answered " + response.status);
      return response.text();
    });
  }

  // The content's own height: scrollHeight would never shrink below the iframe's current height.
  function contentHeight() {
    return Math.ceil(document.documentElement.getBoundingClientRect().height);
  }

  window.AP = {
    context: {
      getToken: function (callback) {
        calls.getToken += 1;
        var promise = (framed ? tokenFromParent() : tokenFromUrl());
        promise.then(function (token) { if (callback) callback(token); },
          function () { if (callback) callback(null); });
        return promise;
      }
    },
    resize: function (width, height) {
      calls.resize += 1;
      calls.lastHeight = height || contentHeight();
      post({ type: "xb-standin:resize", width: width || "100%", height: calls.lastHeight });
    },
    flag: { create: createFlag },
    sizeToParent: function () {
      calls.sizeToParent += 1;
      post({ type: "xb-standin:sizeToParent" });
    },
    require: function (names, callback) {
      if (callback) callback.apply(null, [].concat(names).map(function (n) { return window.AP[n]; }));
    }
  };

  if (framed && window.ResizeObserver) {
    new window.ResizeObserver(function () { post({ type: "xb-standin:resize", height: contentHeight() }); })
      .observe(document.documentElement);
  }
})();
