// The dashboard's one script of its own (no inline script: the CSP allows 'self' only).
// htmx requests carry the session's CSRF token; times show in the viewer's zone too.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
    }
  });
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when)) {
        var local = node.parentNode.querySelector(".local");
        if (local) {
          local.textContent = when.toLocaleString() + " (your time)";
        }
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });
})();
