// Render the math that pymdownx.arithmatex (generic mode) leaves in the page.
// Only \( \) and \[ \] are delimiters: a "$" in prose must never become math.
// document$ is Material's page observable, so math renders again after
// instant navigation.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
