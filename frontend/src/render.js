// Rendering for the notebook page: markdown (markdown-it, CommonMark + GFM tables and strikethrough)
// with math (KaTeX), sanitised by DOMPurify; text/latex outputs; ANSI colours (ansi_up).
// Built into nbserver/static/dist/render.js (see frontend/build.mjs). KaTeX, most of the code, is a
// chunk of its own, loaded the first time math is rendered: until it arrives, and until the math
// nears the viewport, math waits in a ``.math-pending`` element holding its source.

import markdownItKatexModule from "@vscode/markdown-it-katex";
import { AnsiUp } from "ansi_up";
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";

// A CommonJS package: imported as Node does, its exports object, whose default is the plugin.
const markdownItKatex = markdownItKatexModule.default || markdownItKatexModule;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

let katex = null; // the KaTeX module, once loaded
let katexLoading = null;

/** KaTeX, loaded once (a failed load is tried again by the next call). */
function loadKatex() {
  if (!katexLoading) {
    katexLoading = import("katex").then((module) => { katex = module.default; }, (error) => {
      katexLoading = null;
      throw error;
    });
  }
  return katexLoading;
}

// Math waiting for KaTeX is drawn when it comes within a screen or so of the viewport, as the
// notebook page's editors are made: a long notebook does not draw all of its math before it answers.
const mathNearView = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    mathNearView.unobserve(entry.target);
    drawPending(entry.target);
  }
}, { rootMargin: "100% 0px" });

/** Load KaTeX if needed, then draw each of ``pendings`` (.math-pending elements) as it nears the viewport. */
function drawWhenNear(pendings) {
  if (!pendings.length) return;
  loadKatex().then(() => {
    for (const pending of pendings) if (pending.classList.contains("math-pending")) mathNearView.observe(pending);
  }, (error) => {
    for (const pending of pendings) pending.title = `KaTeX did not load: ${error.message}`;
  });
}

// Printing shows every cell: draw all the math still waiting first.
window.addEventListener("beforeprint", () => {
  if (katex) for (const pending of document.querySelectorAll(".math-pending")) drawPending(pending);
});

/** Replace a ``.math-pending`` element with its math drawn, or with its fallback text (``.math-source``). */
function drawPending(pending) {
  if (!pending.classList.contains("math-pending")) return;
  mathNearView.unobserve(pending);
  const box = document.createElement("span");
  try {
    katex.render(pending.textContent, box, { displayMode: pending.dataset.display === "true", throwOnError: true });
    pending.replaceWith(...box.childNodes);
  } catch (error) {
    const fallback = document.createElement(pending.dataset.fallbackTag || "span");
    fallback.className = "math-source";
    fallback.title = String(error.message || error);
    fallback.textContent = pending.dataset.fallback;
    pending.replaceWith(fallback);
  }
}

// KaTeX for the plugin, with Jupyter's fallback: math KaTeX cannot parse shows as its source text.
const katexWithFallback = {
  renderToString(latex, options) {
    const displayMode = Boolean(options && options.displayMode);
    const source = displayMode ? `$$${latex}$$` : `$${latex}$`;
    if (!katex) {
      return `<span class="math-pending" data-display="${displayMode}" data-fallback="${escapeHtml(source)}">${escapeHtml(latex)}</span>`;
    }
    try {
      return katex.renderToString(latex, { displayMode, throwOnError: true });
    } catch (error) {
      return `<span class="math-source" title="${escapeHtml(String(error.message || error))}">${escapeHtml(source)}</span>`;
    }
  },
};

// Raw HTML is allowed, as Jupyter allows it; DOMPurify then removes scripts and event handlers.
const md = new MarkdownIt({ html: true, linkify: false, typographer: false })
  .use(markdownItKatex, { katex: katexWithFallback, enableBareBlocks: true });

const purifier = DOMPurify(window);
let resolveUrl = null; // the current call's resolver: sanitising is synchronous
purifier.addHook("uponSanitizeAttribute", (node, data) => {
  if (!resolveUrl || !(data.attrName === "src" || data.attrName === "href")) return;
  const resolved = resolveUrl(data.attrValue, node.nodeName.toLowerCase(), data.attrName);
  if (resolved !== undefined) data.attrValue = resolved;
});

/** Sanitised DOM of trusted-looking HTML: no scripts, no event handlers, no javascript: URLs. */
export function sanitize(html, resolve = null) {
  resolveUrl = resolve;
  try {
    return purifier.sanitize(html, { RETURN_DOM_FRAGMENT: true, ADD_ATTR: ["target"] });
  } finally {
    resolveUrl = null;
  }
}

/** A heading's anchor name as Jupyter makes it: its text with spaces as dashes. */
function anchorName(heading) {
  return heading.textContent.trim().replace(/\s+/g, "-");
}

/**
 * Markdown as a sanitised DocumentFragment.
 * ``resolve(url, tag, attribute)`` may rewrite a link or image address (attachments, relative paths);
 * it returns the new address, or undefined to keep it. Headings get ids and an anchor link (drawn as ¶ by the page's CSS).
 */
export function renderMarkdown(source, resolve = null) {
  const fragment = sanitize(md.render(source), resolve);
  drawWhenNear([...fragment.querySelectorAll(".math-pending")]);
  for (const heading of fragment.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const name = anchorName(heading);
    if (!name) continue;
    heading.id = name;
    const link = document.createElement("a");
    link.className = "anchor-link";
    link.href = `#${encodeURIComponent(name)}`;
    link.setAttribute("aria-label", "Link to this heading"); // its ¶ is CSS content: not part of the heading's text
    heading.append(link);
  }
  return fragment;
}

/** A text/latex output as a DOM node: KaTeX display math, or its source text when KaTeX cannot parse it. */
export function renderLatex(source) {
  const box = document.createElement("div");
  box.className = "latex-output";
  const trimmed = source.trim();
  const math = trimmed.replace(/^\$\$([\s\S]*)\$\$$/, "$1").replace(/^\$([\s\S]*)\$$/, "$1")
    .replace(/^\\\[([\s\S]*)\\\]$/, "$1");
  const pending = document.createElement("span");
  pending.className = "math-pending";
  Object.assign(pending.dataset, { display: "true", fallback: source, fallbackTag: "pre" });
  pending.textContent = math;
  box.append(pending);
  if (katex) drawPending(pending);
  else drawWhenNear([pending]);
  return box;
}

/** Terminal text with ANSI SGR colours as HTML (text escaped; colours as ansi-*-fg/bg classes). */
export function ansiToHtml(text) {
  const converter = new AnsiUp();
  converter.use_classes = true;
  return converter.ansi_to_html(text);
}
