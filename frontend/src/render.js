// Rendering for the notebook page: markdown (markdown-it, CommonMark + GFM tables and strikethrough)
// with math (KaTeX), sanitised by DOMPurify; text/latex outputs; ANSI colours (ansi_up).
// Built into nbserver/static/dist/render.js (see frontend/build.mjs).

import markdownItKatexModule from "@vscode/markdown-it-katex";
import { AnsiUp } from "ansi_up";
import DOMPurify from "dompurify";
import katex from "katex";
import MarkdownIt from "markdown-it";

// A CommonJS package: imported as Node does, its exports object, whose default is the plugin.
const markdownItKatex = markdownItKatexModule.default || markdownItKatexModule;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// KaTeX for the plugin, with Jupyter's fallback: math KaTeX cannot parse shows as its source text.
const katexWithFallback = {
  renderToString(latex, options) {
    try {
      return katex.renderToString(latex, { ...options, throwOnError: true });
    } catch (error) {
      const source = options && options.displayMode ? `$$${latex}$$` : `$${latex}$`;
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
  try {
    katex.render(math, box, { displayMode: true, throwOnError: true });
  } catch (error) {
    const pre = document.createElement("pre");
    pre.className = "math-source";
    pre.title = String(error.message || error);
    pre.textContent = source;
    box.replaceChildren(pre);
  }
  return box;
}

/** Terminal text with ANSI SGR colours as HTML (text escaped; colours as ansi-*-fg/bg classes). */
export function ansiToHtml(text) {
  const converter = new AnsiUp();
  converter.use_classes = true;
  return converter.ansi_to_html(text);
}
