// What @vscode/markdown-it-katex gets for its require("katex"): render.js always hands the plugin
// its own KaTeX (loaded on demand), so this one must never be called.
export default {
  renderToString() {
    throw new Error("KaTeX is loaded on demand by render.js; the plugin must be given it");
  },
};
