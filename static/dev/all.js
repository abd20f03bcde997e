/*
 * A local stand-in for Atlassian's all.js, for the dev host and the browser tests only (never loaded in
 * production: the pages load all.js from Atlassian's CDN unless CONNECT_ALL_JS_URL points here).
 *
 * It provides what our pages use: AP.context.getToken(callback) (also returns a promise), AP.resize(),
 * AP.sizeToParent(). Inside a frame it asks the parent window (the dev host's Jira-like admin page) over
 * postMessage; opened on its own it fetches a token from TOKEN_URL, which the browser tests answer.
 * Calls are counted in window.__apStandin so tests can check that pages resize after DOM changes.
 */
(function () {
  "use strict";

  var TOKEN_URL = "https://connect-cdn.atl-paas.net/__standin/context-token";
  var framed = window.parent && window.parent !== window;
  var pending = {};
  var nextId = 1;
  var calls = window.__apStandin = { getToken: 0, resize: 0, sizeToParent: 0, lastHeight: null };

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
