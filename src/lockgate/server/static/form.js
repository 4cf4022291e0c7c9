/* lockgate web UI: the trigger form's JSON boxes say at once when what they hold is not JSON
   (the server checks again; this only spares a round trip). */
(function () {
  "use strict";

  function check(box) {
    var text = box.value.trim();
    var problem = "";
    if (text !== "") {
      try {
        var value = JSON.parse(text);
        if (box.dataset.json === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) {
          problem = "expected a JSON object ({...})";
        }
      } catch (e) {
        problem = "not JSON: " + e.message;
      }
    }
    box.setCustomValidity(problem);
  }

  function watch(root) {
    root.querySelectorAll("textarea[data-json]").forEach(function (box) {
      if (box.dataset.watched) { return; }
      box.dataset.watched = "1";
      box.addEventListener("input", function () { check(box); });
      check(box);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { watch(document); });
  document.addEventListener("htmx:afterSwap", function (event) { watch(event.target.parentNode || document); });
}());
