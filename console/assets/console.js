// Strata console: live application tree (server-sent events) and opening a linked decision.
"use strict";
(function () {
  var tree = document.getElementById("tree");
  if (tree && window.EventSource) {
    var pending = null;
    var refresh = function () {
      pending = null;
      fetch(tree.dataset.tree, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { tree.innerHTML = html; tree.dataset.updated = String(Date.now()); })
        .catch(function () {});
    };
    var es = new EventSource(tree.dataset.live);
    es.addEventListener("topology", function () {
      if (!pending) { pending = setTimeout(refresh, 150); }
    });
    // After a reconnect, catch up on what the stream missed.
    es.addEventListener("open", function () { if (!pending) { pending = setTimeout(refresh, 150); } });
  }
  var openLinked = function () {
    if (!location.hash) { return; }
    var d = document.getElementById(location.hash.slice(1));
    if (d && d.tagName === "DETAILS") { d.open = true; d.scrollIntoView(); }
  };
  window.addEventListener("hashchange", openLinked);
  openLinked();
})();
