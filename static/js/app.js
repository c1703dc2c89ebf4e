// Small behaviours that HTMX does not cover.
document.addEventListener("htmx:configRequest", function (event) {
  // CSRF for every HTMX request (SPEC §13); the token is in the page's meta tag.
  var token = document.querySelector('meta[name="csrf-token"]');
  if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
});
document.addEventListener("htmx:responseError", function (event) {
  // Let 422 responses (forms with inline errors) swap in like successes.
  if (event.detail.xhr.status === 422) { event.detail.shouldSwap = true; event.detail.isError = false; }
});
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr.status === 422) { event.detail.shouldSwap = true; event.detail.isError = false; }
});
// Inline handlers are not allowed by the Content-Security-Policy: these stand in for them.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
document.addEventListener("change", function (event) {
  if (event.target.hasAttribute("data-autosubmit")) { event.target.form.submit(); }
});

// --- Keyboard focus across swaps -----------------------------------------------------------------
// htmx keeps the focus on an element whose id is in the new content, and focuses [autofocus] in what
// it adds. When neither applies, the focus would fall to <body>; instead it goes, in this order, to:
// the element named by the focused element's data-focus-after; the same control (data-focus-key) or
// the first control of the same item (data-focus-scope, by id); the item now at the same place in the
// list (or the list's data-focus-empty when it is empty); the first control of the swapped content.
(function () {
  "use strict";
  var CONTROLS = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])";

  function usable(element) {
    return element && element.isConnected && !element.disabled && !element.closest("[hidden], [inert]") &&
      element.getClientRects().length > 0;
  }
  function firstControl(container) {
    if (!container) { return null; }
    var all = container.querySelectorAll(CONTROLS);
    for (var i = 0; i < all.length; i++) { if (usable(all[i])) { return all[i]; } }
    return null;
  }
  function focusOn(element) {
    if (!element) { return false; }
    element.focus();
    return document.activeElement === element;
  }
  function focusLost() {
    return !document.activeElement || document.activeElement === document.body;
  }

  function describe(element) {
    if (!element || element === document.body) { return null; }
    var scope = element.closest("[data-focus-scope][id]");
    var list = scope && scope.parentElement;
    return {
      after: element.getAttribute("data-focus-after"),
      key: element.getAttribute("data-focus-key"),
      scopeId: scope && scope.id,
      listId: list && list.id,
      index: list ? Array.prototype.indexOf.call(list.querySelectorAll(":scope > [data-focus-scope]"), scope) : -1,
    };
  }

  function restore(memo, target) {
    if (memo.after && focusOn(firstUsable(document.querySelector(memo.after)))) { return; }
    var scope = memo.scopeId && document.getElementById(memo.scopeId);
    if (scope) {
      var same = memo.key && scope.querySelector('[data-focus-key="' + memo.key + '"]');
      if (focusOn(usable(same) ? same : firstControl(scope))) { return; }
    }
    var list = memo.listId && document.getElementById(memo.listId);
    if (list) {
      var items = list.querySelectorAll(":scope > [data-focus-scope]");
      if (items.length && focusOn(firstControl(items[Math.min(memo.index, items.length - 1)]))) { return; }
      var empty = list.getAttribute("data-focus-empty");
      if (empty && focusOn(firstUsable(document.querySelector(empty)))) { return; }
    }
    if (target && !target.isConnected && target.id) { target = document.getElementById(target.id); }  // swapped outerHTML
    if (target && target.isConnected) {
      if (focusOn(firstControl(target))) { return; }
      if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
      if (focusOn(target)) { return; }
    }
    var main = document.getElementById("main");
    if (main) { main.setAttribute("tabindex", "-1"); main.focus(); }
  }
  function firstUsable(element) {
    if (!element) { return null; }
    return usable(element) && element.matches(CONTROLS) ? element : firstControl(element);
  }

  // A form that appears (a step's form) takes the focus on its first control, or its first invalid one.
  function focusNewForm(target) {
    var form = target && target.isConnected && (target.matches("[data-focus-first]") ? target : target.querySelector("[data-focus-first]"));
    if (!form) { return false; }
    var invalid = form.querySelector("[aria-invalid=true]");
    return focusOn(usable(invalid) ? invalid : firstControl(form));
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr) { event.detail.xhr.leadflowFocus = describe(document.activeElement); }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var memo = event.detail.xhr && event.detail.xhr.leadflowFocus;
    if (focusNewForm(event.detail.target)) { return; }
    if (memo && focusLost()) { restore(memo, event.detail.target); }
  });

  // In-page links that jump to a control (the editor's "Jump to") move the keyboard focus there too.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-focus-link]");
    if (!link) { return; }
    var target = firstUsable(document.querySelector(link.getAttribute("href")));
    if (target) { event.preventDefault(); target.focus(); target.scrollIntoView({ block: "center" }); }
  });

  // Removing a rule row (no request) hands the focus to the neighbour's remove button, or "+ Add rule".
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-rule]");
    if (!button) { return; }
    var row = button.closest(".rule-row");
    var neighbour = row.nextElementSibling || row.previousElementSibling;
    var builder = row.closest(".rule-builder");
    var hadFocus = row.contains(document.activeElement);
    htmx.remove(row);
    htmx.trigger(document.body, "rules-changed");
    if (hadFocus) {
      focusOn(neighbour ? neighbour.querySelector("[data-remove-rule]") : builder && builder.querySelector(".add-rule"));
    }
  });
})();

// --- The lead combobox (templates/_macros/lead_combobox.html) --------------------------------------
// ARIA 1.2 combobox with list autocomplete: htmx fetches the options into the listbox as the person
// types; the first one is highlighted, the arrow keys move, Enter chooses, Escape closes (or clears).
(function () {
  "use strict";

  function parts(element) {
    var box = element && element.closest && element.closest("[data-combobox]");
    if (!box) { return null; }
    return {
      box: box,
      input: box.querySelector("[role=combobox]"),
      list: box.querySelector("[role=listbox]"),
      value: box.querySelector("[data-combobox-value]"),
      status: box.querySelector("[data-combobox-status]"),
    };
  }
  function options(p) { return Array.prototype.slice.call(p.list.querySelectorAll("[role=option]")); }
  function highlighted(p) {
    var id = p.input.getAttribute("aria-activedescendant");
    return id ? document.getElementById(id) : null;
  }
  function highlight(p, option) {
    options(p).forEach(function (each) { each.setAttribute("aria-selected", each === option ? "true" : "false"); });
    if (option) {
      p.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      p.input.removeAttribute("aria-activedescendant");
    }
  }
  function setOpen(p, open) {
    p.list.hidden = !open;
    p.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) { highlight(p, null); }
  }
  function isOpen(p) { return p.input.getAttribute("aria-expanded") === "true"; }
  function setValue(p, value) {
    if (p.value.value === value) { return; }
    p.value.value = value;
    p.value.dispatchEvent(new Event("change", { bubbles: true }));
  }
  function choose(p, option) {
    p.input.value = option.getAttribute("data-label");
    setOpen(p, false);
    p.status.textContent = option.getAttribute("data-label") + " chosen.";
    setValue(p, option.getAttribute("data-value"));
    if (p.box.hasAttribute("data-submit-on-choose") && p.input.form) { p.input.form.requestSubmit(); }
  }
  function move(p, step) {
    var all = options(p);
    if (!all.length) { htmx.trigger(p.input, "lead-search"); return; }
    if (!isOpen(p)) { setOpen(p, true); }
    var index = all.indexOf(highlighted(p));
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : (index + step + all.length) % all.length;
    highlight(p, all[index]);
  }

  document.addEventListener("keydown", function (event) {
    if (event.target.getAttribute("role") !== "combobox") { return; }
    var p = parts(event.target);
    if (!p) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      move(p, event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" && isOpen(p)) {
      event.preventDefault();  // choosing is not submitting
      var option = highlighted(p);
      if (option) { choose(p, option); } else { setOpen(p, false); }
    } else if (event.key === "Escape") {
      if (isOpen(p)) { setOpen(p, false); } else { p.input.value = ""; setValue(p, ""); }
      event.preventDefault();
    } else if (event.key === "Tab" && isOpen(p)) {
      setOpen(p, false);
    }
  });
  document.addEventListener("input", function (event) {
    var p = event.target.getAttribute("role") === "combobox" && parts(event.target);
    if (!p) { return; }
    // The text no longer names the chosen lead: nothing is chosen until an option is.
    if (p.input.value.trim() === "") { setValue(p, ""); setOpen(p, false); } else { p.value.value = ""; }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    var p = list.getAttribute("role") === "listbox" && parts(list);
    if (!p) { return; }
    var all = options(p);
    var note = p.list.querySelector(".combobox-note");
    p.status.textContent = all.length ? all.length + " lead" + (all.length === 1 ? "" : "s") + " found; use the arrow keys and Enter." : (note ? note.textContent : "");
    var typing = document.activeElement === p.input && p.input.value.trim() !== "";
    setOpen(p, typing && (all.length > 0 || !!note));
    highlight(p, typing && all.length ? all[0] : null);
  });
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest("[data-combobox] [role=listbox]")) { event.preventDefault(); }  // keep the focus in the input
  });
  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-combobox] [role=option]");
    if (option) { choose(parts(option), option); }
  });
  document.addEventListener("focusout", function (event) {
    var p = event.target.getAttribute && event.target.getAttribute("role") === "combobox" && parts(event.target);
    if (p && !p.box.contains(event.relatedTarget)) { setOpen(p, false); }
  });
})();

// "Show path" in the run history redraws the steps with the run's path: bring the tree into view
// (the focus stays on the button, so the person can go on down the history).
document.addEventListener("htmx:afterSettle", function (event) {
  var source = event.detail.requestConfig && event.detail.requestConfig.elt;
  var banner = document.getElementById("path-banner");
  if (source && source.hasAttribute && source.hasAttribute("data-show-path") && banner) {
    banner.scrollIntoView({ block: "start", behavior: "smooth" });
  }
});
