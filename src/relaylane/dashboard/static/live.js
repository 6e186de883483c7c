// Live parts of a dashboard page, without reloading it: every element with a
// `data-live` URL is fetched again every `data-every` milliseconds and its content
// replaced with the server-rendered HTML. A refresh waits while the tab is hidden or
// while the user is typing in a field of that part. A lost session goes to /login.
(function () {
  "use strict";

  function busy(el) {
    var active = document.activeElement;
    return active && active !== document.body && el.contains(active) &&
      (active.tagName === "INPUT" || active.tagName === "TEXTAREA" || active.tagName === "SELECT");
  }

  function refresh(el) {
    if (document.hidden || busy(el)) {
      return Promise.resolve();
    }
    return fetch(el.dataset.live, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (new URL(response.url).pathname === "/login") {
          window.location.assign("/login");
          return;
        }
        if (!response.ok) {
          el.classList.add("stale");
          return;
        }
        return response.text().then(function (html) {
          el.innerHTML = html;
          el.classList.remove("stale");
          el.dataset.refreshes = String(Number(el.dataset.refreshes || "0") + 1);
        });
      })
      .catch(function () {
        el.classList.add("stale");  // the server is away: keep what is shown, try again
      });
  }

  function start() {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var every = Number(el.dataset.every || "3000");
      var tick = function () {
        refresh(el).then(function () { window.setTimeout(tick, every); });
      };
      window.setTimeout(tick, every);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
