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
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-remove-rule]");
  if (!button) { return; }
  htmx.remove(button.closest(".rule-row"));
  htmx.trigger(document.body, "rules-changed");
});
