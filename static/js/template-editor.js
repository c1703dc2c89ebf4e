// The email template editor: a live preview that follows every edit, the sandboxed preview iframe,
// desktop/mobile widths, HTML/text tabs, and variable chips that insert {{ name }} at the cursor.
(function () {
  "use strict";
  var PREVIEW_DELAY_MS = 300;
  var timer = null;
  var frameIndex = 0;
  var lastField = null;

  function byId(id) { return document.getElementById(id); }
  function inEditor(element) { return element && element.form && element.form.id === "template-form"; }

  // Subject, warnings, errors and the text part come from an HTMX request (#preview-trigger);
  // when the template renders, the iframe follows.
  function requestPreview() {
    var trigger = byId("preview-trigger");
    if (trigger && window.htmx) { window.htmx.trigger(trigger, "refresh-preview"); }
  }
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(requestPreview, PREVIEW_DELAY_MS);
  }

  // The editor's unsaved content is posted into a new sandboxed iframe, which replaces the shown one
  // once it has loaded: no flicker, and no entry in the page's history (a fresh frame's first
  // navigation replaces its about:blank).
  function refreshFrame() {
    var form = byId("template-form"), frameForm = byId("frame-form"), stage = byId("preview-html-panel");
    if (!form || !frameForm || !stage) { return; }
    var index = ++frameIndex;
    var frame = document.createElement("iframe");
    frame.name = "preview-frame-" + index;
    frame.title = "Email preview";
    frame.className = "preview-frame loading";
    frame.dataset.index = String(index);
    frame.setAttribute("sandbox", "");
    frame.setAttribute("referrerpolicy", "no-referrer");
    stage.appendChild(frame);

    frameForm.replaceChildren();
    new FormData(form).forEach(function (value, name) { addHidden(frameForm, name, value); });
    var lead = byId("preview-lead");
    if (lead) { addHidden(frameForm, "lead_id", lead.value); }
    frameForm.target = frame.name;
    frameForm.submit();
    frame.addEventListener("load", function () { showFrame(stage, index); });
  }
  function addHidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  function showFrame(stage, index) {
    var frames = stage.querySelectorAll("iframe.preview-frame");
    var shown = stage.querySelector("iframe.preview-frame:not(.loading)");
    if (shown && Number(shown.dataset.index) > index) { removeFrame(stage, index); return; }  // a newer one is shown
    frames.forEach(function (frame) {
      var own = Number(frame.dataset.index);
      if (own < index) { frame.remove(); }
      if (own === index) { frame.classList.remove("loading"); }
    });
  }
  function removeFrame(stage, index) {
    var frame = stage.querySelector('iframe[data-index="' + index + '"]');
    if (frame) { frame.remove(); }
  }

  function choose(card, attribute, value, selector, stateAttribute) {
    card.dataset[attribute] = value;
    card.querySelectorAll(selector).forEach(function (button) {
      var on = button.dataset[attribute] === value;
      button.setAttribute(stateAttribute, on ? "true" : "false");
      if (stateAttribute === "aria-selected") { button.tabIndex = on ? 0 : -1; }
    });
  }

  function insertVariable(name) {
    var field = lastField && document.contains(lastField) ? lastField : byId("body_html");
    if (!field) { return; }
    var text = "{{ " + name + " }}";
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    field.focus();
    field.setRangeText(text, start, end, "end");
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("input", function (event) {
    if (inEditor(event.target)) { schedulePreview(); }
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "preview-lead") { requestPreview(); }
  });
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (inEditor(target) && (target.tagName === "TEXTAREA" || target.type === "text")) { lastField = target; }
  });
  document.addEventListener("click", function (event) {
    var card = byId("preview");
    var width = event.target.closest("#preview button[data-width]");
    if (card && width) { choose(card, "width", width.dataset.width, "button[data-width]", "aria-pressed"); return; }
    var tab = event.target.closest("#preview [role=tab]");
    if (card && tab) { choose(card, "tab", tab.dataset.tab, "[role=tab]", "aria-selected"); return; }
    var chip = event.target.closest("[data-variable]");
    if (chip) { insertVariable(chip.dataset.variable); }
  });
  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest("#preview [role=tab]");
    if (!tab || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) { return; }
    var other = tab.parentElement.querySelector("[role=tab]:not(#" + tab.id + ")");
    choose(byId("preview"), "tab", other.dataset.tab, "[role=tab]", "aria-selected");
    other.focus();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target.id === "preview-meta" && target.querySelector("[data-render-ok]")) { refreshFrame(); }
    if (target.id === "editor") { requestPreview(); }  // saved or restored: show what is stored now
  });
})();
