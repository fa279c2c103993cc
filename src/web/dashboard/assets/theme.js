// secret-sync dashboard: the colour theme, set on <html data-theme> before
// the first paint (this script is loaded without defer, in <head>, so a
// dark page never flashes light). The choice (light, dark or system) is
// kept in localStorage; "system" follows prefers-color-scheme, live.
// dashboard.js wires the picker; this file only applies the choice.
(function () {
  "use strict";
  var KEY = "secret-sync.theme";
  var root = document.documentElement;
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  var unsaved = null; // the choice when localStorage refuses (private mode)

  function choice() {
    var c = unsaved;
    try { c = localStorage.getItem(KEY) || unsaved; } catch (e) { c = unsaved; }
    return c === "light" || c === "dark" ? c : "system";
  }

  function apply() {
    var c = choice();
    var dark = c === "dark" || (c === "system" && query !== null && query.matches);
    root.setAttribute("data-theme", dark ? "dark" : "light");
    root.setAttribute("data-theme-choice", c);
  }

  window.secretSyncTheme = {
    choice: choice,
    set: function (c) {
      unsaved = c;
      try {
        if (c === "light" || c === "dark") localStorage.setItem(KEY, c);
        else localStorage.removeItem(KEY);
      } catch (e) { /* kept for this page only */ }
      apply();
    }
  };

  if (query) {
    if (query.addEventListener) query.addEventListener("change", apply);
    else if (query.addListener) query.addListener(apply);
  }
  // Another tab changed the choice.
  window.addEventListener("storage", function (ev) { if (ev.key === KEY) apply(); });
  apply();
})();
