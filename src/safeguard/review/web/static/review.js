// Keyboard shortcuts of the review pages: a key presses the button that carries it in data-key
// (a approve, r remove, e escalate, s skip, n next). Keys typed into a field are left alone.
(function () {
  "use strict";
  var sent = false;
  document.addEventListener("keydown", function (event) {
    if (sent || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
      return;
    }
    var key = (event.key || "").toLowerCase();
    if (key.length !== 1) {
      return;
    }
    var button = document.querySelector('button[data-key="' + key + '"]');
    if (!button || button.disabled) {
      return;
    }
    event.preventDefault();
    sent = true;
    button.click();
  });
  window.addEventListener("pageshow", function () {
    sent = false;
  });
})();
