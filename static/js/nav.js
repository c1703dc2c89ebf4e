// The navigation's disclosure buttons: the Menu button on small screens, "More", "Admin" and the
// account menu. A button[data-disclosure] shows or hides the element its aria-controls names.
(function () {
  function target(button) { return document.getElementById(button.getAttribute("aria-controls")); }

  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var panel = target(button);
    if (panel) { panel.classList.toggle("open", open); }
  }

  function openButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-disclosure][aria-expanded=true]"));
  }

  // Close every open disclosure that does not contain ``keep`` (an element or null).
  function closeOthers(keep) {
    openButtons().forEach(function (button) {
      var panel = target(button);
      if (!keep || !panel || !panel.contains(keep)) { if (button !== keep) { setOpen(button, false); } }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-disclosure]");
    if (button) {
      var open = button.getAttribute("aria-expanded") !== "true";
      closeOthers(button);
      setOpen(button, open);
      return;
    }
    // A click outside closes the drop-down menus (and the small-screen panel).
    var inside = openButtons().some(function (b) { var panel = target(b); return panel && panel.contains(event.target); });
    if (!inside) { closeOthers(null); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var open = openButtons();
    if (!open.length) { return; }
    // Escape closes the innermost open menu and returns focus to its button.
    var innermost = open[open.length - 1];
    open.forEach(function (b) { var panel = target(b); if (panel && panel.contains(document.activeElement)) { innermost = b; } });
    setOpen(innermost, false);
    innermost.focus();
  });

  // Tabbing out of a drop-down closes it.
  document.addEventListener("focusin", function (event) {
    openButtons().forEach(function (button) {
      var panel = target(button);
      if (panel && !panel.contains(event.target) && button !== event.target && !button.classList.contains("nav-toggle")) {
        setOpen(button, false);
      }
    });
  });
})();
