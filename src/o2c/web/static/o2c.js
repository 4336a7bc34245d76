// o2c pages: small behaviours htmx does not cover. No framework, no network.
(function () {
  "use strict";

  // A double-clicked submit sends the form once: the second click is ignored while the first is on its
  // way. (The server also makes it safe: order forms carry an idempotency key.)
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var ask = ev.submitter && ev.submitter.getAttribute("data-confirm");
    if (ask && !window.confirm(ask)) { ev.preventDefault(); return; }
    if (form.dataset.sending === "1") { ev.preventDefault(); return; }
    if (!form.hasAttribute("hx-post")) {
      form.dataset.sending = "1";
      setTimeout(function () { form.dataset.sending = ""; }, 8000);
    }
  }, true);

  // Scan feedback: the server answers a scan with an HX-Trigger {"o2c-scan": {"ok": true|false}}; a short
  // high tone means accepted, a low buzz refused. Screen readers get the message from the live region.
  var audio = null;
  function tone(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = ok ? "sine" : "square";
      o.frequency.value = ok ? 1320 : 220;
      g.gain.value = 0.08;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + (ok ? 0.12 : 0.35));
    } catch (e) { /* no audio device: the coloured message is the feedback */ }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("o2c-scan", function (ev) {
      var ok = !!(ev.detail && ev.detail.ok);
      document.body.dataset.lastScan = ok ? "ok" : "refused";
      tone(ok);
    });
    // A form sent back refused: the cursor goes to the first field in error, whose message is beside it
    // (and read out with it, through aria-describedby).
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); }
  });

  // Behaviours the pages ask for by data attribute, since the content security policy allows no inline
  // script: a select that submits its form when changed (the company switch), a print button, and a
  // "Back" link that goes back in history (its href is the fallback without JavaScript).
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) { el.form.submit(); }
  });
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-print], [data-back]") : null;
    if (!el) { return; }
    if (el.hasAttribute("data-print")) { window.print(); }
    else if (window.history.length > 1) { ev.preventDefault(); window.history.back(); }
  });

  // After htmx swaps in a new piece of page, put the cursor back in the scanner field so the next scan
  // (a keyboard-wedge scanner types the code and Enter) lands there.
  document.addEventListener("htmx:afterSettle", function () {
    var scan = document.querySelector("[data-scan-input]");
    if (scan) { scan.value = ""; scan.focus(); }
    document.querySelectorAll("form[data-sending]").forEach(function (f) { f.dataset.sending = ""; });
  });
})();
