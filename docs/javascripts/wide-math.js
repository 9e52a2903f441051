// An inline formula wider than its paragraph (a long list of numbers, say)
// cannot wrap: KaTeX breaks lines only at relations and operators. On a phone
// it would widen the whole page. Such a formula gets the class md-math-wide,
// which makes it scroll sideways on its own (docs/stylesheets/extra.css).
// Runs after katex-init.js has rendered the page (listed after it in
// mkdocs.yml), and again when the window is resized.
(function () {
  "use strict";
  function mark(body) {
    body.querySelectorAll(".arithmatex").forEach(function (el) {
      if (el.closest(".katex-display") || el.tagName === "DIV") return;
      el.classList.remove("md-math-wide");
      var box = el.parentElement;
      if (box && el.getBoundingClientRect().width > box.clientWidth + 1) {
        el.classList.add("md-math-wide");
      }
    });
  }
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { mark(document.body); }, 150);
  });
  document$.subscribe(function (page) { mark(page.body); });
})();
