// The dashboard's only script: the hub section's auto-refresh and the
// instance list's select-all box. Pages work without it.
"use strict";

(function () {
  function wireSelectAll() {
    var all = document.getElementById("select-all");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  function wireRefresh() {
    var hub = document.getElementById("hub");
    if (!hub) return;
    var seconds = parseInt(hub.getAttribute("data-refresh"), 10);
    if (!(seconds > 0)) return;
    var enabled = true;
    function bind() {
      var box = document.getElementById("autorefresh");
      if (box) {
        box.checked = enabled;
        box.addEventListener("change", function () { enabled = box.checked; });
      }
    }
    bind();
    setInterval(function () {
      if (!enabled || document.hidden) return;
      fetch("/dashboard/hub", { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          // The fragment is rendered and escaped by the server's templates.
          var doc = new DOMParser().parseFromString(html, "text/html");
          hub.replaceChildren.apply(hub, Array.prototype.slice.call(doc.body.childNodes));
          hub.setAttribute("data-refreshed", String(Date.now()));
          bind();
        })
        .catch(function () { /* keep the last snapshot */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireSelectAll();
    wireRefresh();
  });
})();
