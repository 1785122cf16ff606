/* Cairn web UI: copy buttons and modal dialogs. No inline handlers; loaded from 'self' under the CSP. */
(function () {
  "use strict";

  function closest(target, selector) {
    return target && target.closest ? target.closest(selector) : null;
  }

  /* A <dialog> opened by a button with data-dialog="<id>": modal, focus moved to its first
     field, Escape closes it (the browser's own cancel), focus goes back to the opener. */
  function openDialog(dialog, opener) {
    if (!dialog || dialog.open || !dialog.showModal) { return; }
    dialog.cairnOpener = opener || document.activeElement;
    dialog.showModal();
    var first = dialog.querySelector("[aria-invalid='true'], [autofocus], input:not([type=hidden]), select, textarea, button");
    if (first) { first.focus(); }
  }

  function openMarkedDialogs() {
    var marked = document.querySelectorAll("dialog[data-open]");
    for (var i = 0; i < marked.length; i++) {
      var dialog = marked[i];
      dialog.removeAttribute("data-open");
      openDialog(dialog, document.querySelector("[data-dialog='" + dialog.id + "']"));
    }
  }

  document.addEventListener("click", function (event) {
    var opener = closest(event.target, "[data-dialog]");
    if (opener) {
      event.preventDefault();
      openDialog(document.getElementById(opener.getAttribute("data-dialog")), opener);
      return;
    }
    var closer = closest(event.target, "[data-close]");
    if (closer) {
      var dialog = closest(closer, "dialog");
      if (dialog) { dialog.close(); }
      return;
    }
    var button = closest(event.target, "[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });

  /* "close" does not bubble: listen while it goes down. */
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (dialog.tagName !== "DIALOG") { return; }
    var opener = dialog.cairnOpener;
    dialog.cairnOpener = null;
    if (opener && document.contains(opener)) { opener.focus(); }
  }, true);

  /* A refused form comes back as a whole page: bring its message into view (after htmx has
     put the new page at the top), unless a dialog holding it was opened. */
  function revealProblem() {
    if (document.querySelector("dialog[open]")) { return; }
    var problem = document.querySelector("main .alert, main .field-error");
    if (problem && problem.scrollIntoView) { problem.scrollIntoView({ block: "center" }); }
  }

  function settle() {
    openMarkedDialogs();
    setTimeout(revealProblem, 0);
  }

  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", settle);
  if (document.readyState !== "loading") { settle(); }
})();
