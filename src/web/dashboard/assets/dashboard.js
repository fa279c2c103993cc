// secret-sync dashboard: live refresh of the #live region (an HTML fragment
// fetched every N seconds, pausable, remembered in localStorage, stopped
// while the tab is hidden), confirmation for destructive forms, the theme
// picker (theme.js applies the theme) and the "/" shortcut to the search.
// No framework, no build step.
(function () {
  "use strict";
  var KEY_INTERVAL = "secret-sync.live.interval";
  var KEY_PAUSED = "secret-sync.live.paused";

  var refreshNow = function () {};

  // Forms marked data-async post in the background (the page stays, the
  // live region shows the result); others submit normally.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); return; }
    if (!form.hasAttribute("data-async") || !window.fetch) return;
    ev.preventDefault();
    var flash = document.getElementById("flash");
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      body: new URLSearchParams(new FormData(form))
    }).then(function (res) {
      var params = new URL(res.url).searchParams;
      var queued = params.get("queued");
      var retried = params.get("retried");
      if (!res.ok) {
        // The server's own words (an error page), without its markup.
        return res.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var p = doc.querySelector(".card.error p");
          throw new Error("HTTP " + res.status + (p ? ": " + p.textContent : ""));
        });
      }
      if (flash) {
        flash.textContent = queued ? "Job " + queued + " queued."
          : retried !== null ? "Queued a sync job for each of the " + retried + " failed syncs (coalesced with any already queued)."
          : (form.getAttribute("data-done") || "Done.");
        flash.className = "flash";
      }
      refreshNow();
    }).catch(function (e) {
      if (flash) { flash.textContent = "The action failed (" + e.message + "); reload and try again."; flash.className = "flash error"; }
    });
  });

  // "Copy id" buttons: the id to the clipboard, and say so.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("button[data-copy]");
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var flash = document.getElementById("flash");
    function said(text) {
      if (flash) { flash.textContent = text; flash.className = "flash"; }
    }
    function fallback() {
      var area = document.createElement("textarea");
      area.value = id;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      said(ok ? "Copied " + id + "." : "Copy this id: " + id);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(id).then(function () { said("Copied " + id + "."); }, fallback);
    } else {
      fallback();
    }
  });

  // The theme pickers (top bar; footer on a phone): light, dark or the
  // system's. theme.js applies and remembers the choice.
  var pickers = document.querySelectorAll("select.theme-choice");
  if (window.secretSyncTheme) {
    Array.prototype.forEach.call(pickers, function (picker) {
      picker.value = window.secretSyncTheme.choice();
      picker.hidden = false;
      picker.addEventListener("change", function () {
        window.secretSyncTheme.set(picker.value);
        Array.prototype.forEach.call(pickers, function (p) { p.value = picker.value; });
      });
    });
  }

  // "/" focuses the search (not while typing in a field); Escape leaves it.
  // On a page without one, "/" opens the sync list with the search focused.
  var search = document.querySelector("input[aria-keyshortcuts='/']");
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    if (typing(ev.target)) return;
    if (!search && !document.querySelector("meta[name=csrf-token]")) return;
    ev.preventDefault();
    if (search) { search.focus(); search.select(); }
    else { window.location.href = "/#search"; }
  });
  if (search) {
    search.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); search.blur(); }
    });
    if (window.location.hash === "#search") search.focus();
  }

  var live = document.querySelector("[data-live]");
  var pause = document.getElementById("live-pause");
  var select = document.getElementById("live-interval");
  var state = document.getElementById("live-state");
  if (!live || !pause || !select) return;

  var seconds = parseInt(localStorage.getItem(KEY_INTERVAL) || "5", 10);
  if ([2, 5, 15].indexOf(seconds) < 0) seconds = 5;
  var paused = localStorage.getItem(KEY_PAUSED) === "1";
  var timer = null;
  var busy = false;
  select.value = String(seconds);

  function fragmentUrl() {
    var q = window.location.search;
    return window.location.pathname + (q ? q + "&" : "?") + "fragment=1";
  }

  function show(text, cls) {
    state.textContent = text;
    state.className = cls || "muted";
  }

  function refresh() {
    if (busy || paused || document.hidden) return;
    busy = true;
    fetch(fragmentUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.status === 401) { show("signed out: reload to sign in", "paused"); stop(); return null; }
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (html) {
        if (html === null) return;
        live.innerHTML = html;
        show("live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function (e) { show("refresh failed (" + e.message + "); retrying", "paused"); })
      .then(function () { busy = false; });
  }

  refreshNow = function () { busy = false; refresh(); };

  function stop() { if (timer) { clearInterval(timer); timer = null; } }
  function start() { stop(); if (!paused && !document.hidden) timer = setInterval(refresh, seconds * 1000); }

  function render() {
    pause.textContent = paused ? "Resume updates" : "Stop updates";
    if (paused) show("updates stopped", "paused"); else show("live · every " + seconds + " s");
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    localStorage.setItem(KEY_PAUSED, paused ? "1" : "0");
    render();
    if (!paused) refresh();
    start();
  });
  select.addEventListener("change", function () {
    seconds = parseInt(select.value, 10) || 5;
    localStorage.setItem(KEY_INTERVAL, String(seconds));
    render();
    start();
  });
  // A hidden tab asks nothing; shown again, it refreshes at once.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); return; }
    if (!paused) refreshNow();
    start();
  });

  render();
  start();
})();
