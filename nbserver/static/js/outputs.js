// Rendering of cell outputs and markdown: the richest mime type of each bundle in Jupyter's order,
// HTML and JavaScript inside sandboxed frames (scripts run there only for trusted outputs, never
// with this server's origin: Jupyter's notebook trust, see contents/notary.py), markdown and math
// through markdown-it, DOMPurify and KaTeX, ANSI colours through ansi_up, Plotly figures through
// plotly.js, loaded the first time one is shown.

import { ansiToHtml, renderLatex, renderMarkdown } from "../dist/render.js";
import { el } from "./ui.js";

/**
 * The mime types shown, richest first: the classic notebook's display order, with the types that
 * JupyterLab's extensions rank before HTML (Plotly, JSON) in front, and GIF next to the other images.
 */
export const DISPLAY_ORDER = [
  "application/vnd.plotly.v1+json",
  "application/json",
  "application/javascript",
  "text/html",
  "text/markdown",
  "text/latex",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "application/pdf",
  "text/plain",
];

/** Apply carriage returns and backspaces as a terminal would, line by line. */
export function fixConsoleText(text) {
  let out = text.replace(/\r\n/g, "\n");
  while (/[^\n]\x08/.test(out)) out = out.replace(/[^\n]\x08/g, "");
  return out.split("\n").map((line) => {
    const parts = line.split("\r");
    return parts.length > 1 ? parts.filter((part) => part !== "").pop() ?? "" : line;
  }).join("\n");
}

function joined(value) {
  return Array.isArray(value) ? value.join("") : String(value ?? "");
}

/** A <pre> of terminal text with its ANSI colours (ansi_up escapes the text). Text without an escape
 *  character, most output, is set as text: the same result without building and parsing HTML. */
function ansiPre(text) {
  const pre = el("pre", { class: "ansi" });
  if (text.includes("\x1b")) pre.innerHTML = ansiToHtml(text);
  else pre.textContent = text;
  return pre;
}

// -- markdown -----------------------------------------------------------------------------------

/** Whether a link or image address is relative to the notebook's folder. */
function isRelative(address) {
  return Boolean(address) && !/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(address);
}

/**
 * Markdown as a ``div.markdown-rendered``. ``options``: resolveImage(target) and resolveLink(target)
 * give the URLs of relative addresses; attachmentUrl(target) the data: URL of an ``attachment:``
 * image (null for other targets).
 */
export function markdownNode(source, options = {}) {
  const resolve = (address, tag, attribute) => {
    if (tag === "img" && attribute === "src") {
      const attached = options.attachmentUrl ? options.attachmentUrl(address) : null;
      if (attached !== null && attached !== undefined) return attached;
      if (isRelative(address) && options.resolveImage) return options.resolveImage(address);
    } else if (tag === "a" && attribute === "href" && isRelative(address) && options.resolveLink) {
      return options.resolveLink(address);
    }
    return undefined;
  };
  const box = el("div", { class: "markdown-rendered" });
  box.append(renderMarkdown(source, resolve));
  return box;
}

// -- sandboxed frames ---------------------------------------------------------------------------

// The body's own box (display: flow-root keeps its children's margins in), not the viewport's.
const resizeScript = "<script>(function(){function s(){parent.postMessage({nbserverFrameHeight:" +
  "Math.ceil(document.body.getBoundingClientRect().bottom)},'*')}addEventListener('load',s);" +
  "new ResizeObserver(s).observe(document.body);setTimeout(s,50)})();<\/script>";

/** HTML output in an iframe sandboxed without allow-same-origin: it cannot touch the page or the API.
 *  Untrusted output (a notebook this user did not save or trust) gets no allow-scripts: its
 *  scripts never run, and as it cannot report its height the frame starts taller and resizable. */
function htmlFrame(html, trusted) {
  const frame = el("iframe", { sandbox: trusted ? "allow-scripts allow-popups" : "allow-popups",
    class: trusted ? "html-output" : "html-output untrusted", title: trusted ? "HTML output" : "HTML output (untrusted: scripts off)",
    loading: "lazy" });
  frame.srcdoc = "<!doctype html><html><head><meta charset='utf-8'><base target='_blank'><style>" +
    "body{margin:0;display:flow-root;font:14px/1.5 system-ui,sans-serif;color:#1f2933}table{border-collapse:collapse}" +
    "td,th{border:1px solid #e1e5ea;padding:3px 8px;text-align:right}th{background:#f5f7f9}" +
    "</style></head><body>" + html + (trusted ? resizeScript : "") + "</body></html>";
  frame.style.height = trusted ? "24px" : "160px";
  return frame;
}

window.addEventListener("message", (event) => {
  const height = event.data && event.data.nbserverFrameHeight;
  if (typeof height !== "number") return;
  for (const frame of document.querySelectorAll("iframe.html-output")) {
    if (frame.contentWindow === event.source) frame.style.height = `${Math.min(Math.max(height, 20), 4000) + 2}px`;
  }
});

/** application/javascript runs, as in Jupyter, with ``element`` (its output box): here inside a frame. */
function javascriptFrame(code, trusted) {
  if (!trusted) return el("pre", { class: "unsupported", text: "[JavaScript output not run: the notebook is not trusted]" });
  const script = code.replace(/<\/(script)/gi, "<\\/$1");
  return htmlFrame(`<div id="output"></div><script>(function(element){${script}\n})(document.getElementById("output"));<\/script>`, true);
}

// -- Plotly ---------------------------------------------------------------------------------------

let plotly = null;

/** plotly.js (its basic bundle: scatter, bar, pie), fetched once, the first time a figure is shown. */
function loadPlotly() {
  if (!plotly) {
    plotly = new Promise((resolve, reject) => {
      const script = el("script", { src: new URL("../dist/plotly-basic.min.js", import.meta.url).href });
      script.addEventListener("load", () => resolve(window.Plotly));
      script.addEventListener("error", () => { plotly = null; reject(new Error("plotly.js did not load")); });
      document.head.append(script);
    });
  }
  return plotly;
}

function plotlyFigure(figure) {
  const box = el("div", { class: "plotly-output" });
  loadPlotly()
    .then((Plotly) => Plotly.newPlot(box, figure.data || [], figure.layout || {},
      { responsive: true, displaylogo: false, ...(figure.config || {}) }))
    .catch((error) => box.replaceChildren(el("pre", { class: "unsupported", text: `[Plotly figure not drawn: ${error.message}]` })));
  return box;
}

// -- JSON -----------------------------------------------------------------------------------------

function countOf(number, noun) {
  return `${number} ${noun}${number === 1 ? "" : "s"}`;
}

/** application/json as a tree whose objects and arrays fold (open two levels deep). */
function jsonTree(value, key = null, depth = 0) {
  const label = key === null ? [] : [el("span", { class: "json-key", text: JSON.stringify(key) }), ": "];
  if (value === null || typeof value !== "object") {
    return el("div", { class: "json-leaf" }, label, el("span", { class: `json-${value === null ? "null" : typeof value}`,
      text: JSON.stringify(value) }));
  }
  const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  const node = el("details", { class: "json-node", open: depth < 2 },
    el("summary", {}, label, `${open}${entries.length ? "" : close}`, entries.length ? el("span", { class: "json-count", text: ` ${countOf(entries.length, Array.isArray(value) ? "item" : "key")} ${close}` }) : null),
    entries.map(([childKey, child]) => jsonTree(child, Array.isArray(value) ? null : childKey, depth + 1)));
  return node;
}

// -- bundles --------------------------------------------------------------------------------------

function base64Bytes(text) {
  const binary = atob(text.replace(/\s/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

const RENDERERS = {
  "application/vnd.plotly.v1+json": (value) => plotlyFigure(value),
  "application/json": (value) => el("div", { class: "json-tree" }, jsonTree(value)),
  "application/javascript": (value, metadata, options) => javascriptFrame(joined(value), options.trusted === true),
  "text/html": (value, metadata, options) => htmlFrame(joined(value), options.trusted === true),
  "text/markdown": (value, metadata, options) => markdownNode(joined(value), options),
  "text/latex": (value) => renderLatex(joined(value)),
  // As an <img>, an SVG never runs script.
  "image/svg+xml": (value) => el("img", { src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(joined(value)), alt: "SVG output" }),
  "image/png": (value, metadata) => imageNode("image/png", value, metadata),
  "image/jpeg": (value, metadata) => imageNode("image/jpeg", value, metadata),
  "image/gif": (value, metadata) => imageNode("image/gif", value, metadata),
  "application/pdf": (value) => el("a", { class: "pdf-output", download: "output.pdf", text: "PDF output (download)",
    href: URL.createObjectURL(new Blob([base64Bytes(joined(value))], { type: "application/pdf" })) }),
  "text/plain": (value) => ansiPre(joined(value)),
};

function imageNode(type, value, metadata) {
  const size = (metadata && metadata[type]) || {};
  return el("img", { src: `data:${type};base64,${joined(value).replace(/\s/g, "")}`, alt: "Image output",
    width: size.width, height: size.height });
}

/** The DOM of one mime bundle: its richest type in DISPLAY_ORDER. */
function renderBundle(data, metadata, options) {
  const type = DISPLAY_ORDER.find((candidate) => data[candidate] !== undefined);
  if (!type) return el("pre", { class: "unsupported", text: `[output of type ${Object.keys(data).join(", ")} not shown]` });
  const node = RENDERERS[type](data[type], metadata || {}, options);
  node.dataset.mimeType = type;
  return node;
}

/** One nbformat output as a DOM element; ``options.trusted`` lets its HTML run script. */
export function renderOutput(output, options = {}) {
  switch (output.output_type) {
    case "stream":
      return el("div", { class: `output stream ${output.name}` }, ansiPre(fixConsoleText(joined(output.text))));
    case "error":
      return el("div", { class: "output error" },
        ansiPre(output.traceback && output.traceback.length ? output.traceback.join("\n") : `${output.ename}: ${output.evalue}`));
    case "execute_result":
    case "display_data":
      return el("div", { class: `output ${output.output_type}` }, renderBundle(output.data || {}, output.metadata, options));
    default:
      return el("div", { class: "output" }, el("pre", { text: `[unknown output ${output.output_type}]` }));
  }
}
