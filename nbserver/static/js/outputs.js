// Rendering of cell outputs: text with ANSI colours, errors, images, JSON, markdown, and HTML
// inside a sandboxed frame (scripts may run there, but never with this server's origin, and
// only for trusted outputs: Jupyter's notebook trust, see contents/notary.py).

import { renderMarkdown } from "./markdown.js";
import { el } from "./ui.js";

const ANSI_COLOURS = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

/** Text with ANSI SGR escapes as DOM nodes (spans with classes); text stays text. */
export function ansiToNodes(text) {
  const nodes = [];
  let fg = null;
  let bg = null;
  let bold = false;
  const pattern = /\x1b\[([\d;]*)m/g;
  let last = 0;
  const push = (chunk) => {
    if (!chunk) return;
    const classes = [];
    if (fg !== null) classes.push(`ansi-${ANSI_COLOURS[fg]}-fg`);
    if (bg !== null) classes.push(`ansi-${ANSI_COLOURS[bg]}-bg`);
    if (bold) classes.push("ansi-bold");
    nodes.push(classes.length ? el("span", { class: classes.join(" "), text: chunk }) : document.createTextNode(chunk));
  };
  let match;
  while ((match = pattern.exec(text))) {
    push(text.slice(last, match.index));
    last = pattern.lastIndex;
    const codes = match[1] ? match[1].split(";").map(Number) : [0];
    for (let i = 0; i < codes.length; i += 1) {
      const code = codes[i];
      if (code === 0) { fg = null; bg = null; bold = false; }
      else if (code === 1) bold = true;
      else if (code === 22) bold = false;
      else if (code >= 30 && code <= 37) fg = code - 30;
      else if (code >= 90 && code <= 97) fg = code - 90;
      else if (code === 39) fg = null;
      else if (code >= 40 && code <= 47) bg = code - 40;
      else if (code >= 100 && code <= 107) bg = code - 100;
      else if (code === 49) bg = null;
      else if (code === 38 || code === 48) i += codes[i + 1] === 5 ? 2 : 4; // 256/true colour: skipped
    }
  }
  push(text.slice(last));
  // Other escapes (cursor moves...) have no meaning here.
  for (const node of nodes) node.textContent = node.textContent.replace(/\x1b\[[\d;?]*[A-Za-z]/g, "");
  return nodes;
}

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

/** The DOM of one mime bundle: the richest type we show safely. */
function renderBundle(data, metadata, options) {
  if (data["text/html"] !== undefined) return htmlFrame(joined(data["text/html"]), options.trusted === true);
  if (data["image/svg+xml"] !== undefined) {
    // As an <img>, an SVG never runs script.
    return el("img", { src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(joined(data["image/svg+xml"])), alt: "SVG output" });
  }
  for (const type of ["image/png", "image/jpeg", "image/gif"]) {
    if (data[type] !== undefined) {
      const size = (metadata && metadata[type]) || {};
      return el("img", { src: `data:${type};base64,${joined(data[type]).replace(/\s/g, "")}`, alt: "Image output",
        width: size.width, height: size.height });
    }
  }
  if (data["text/markdown"] !== undefined) {
    const box = el("div", { class: "markdown-rendered" });
    box.innerHTML = renderMarkdown(joined(data["text/markdown"]), options);
    return box;
  }
  if (data["application/json"] !== undefined) {
    return el("pre", { class: "json", text: JSON.stringify(data["application/json"], null, 2) });
  }
  if (data["text/latex"] !== undefined) return el("pre", { class: "math", text: joined(data["text/latex"]) });
  if (data["text/plain"] !== undefined) return el("pre", {}, ansiToNodes(joined(data["text/plain"])));
  const types = Object.keys(data);
  return el("pre", { class: "unsupported", text: `[output of type ${types.join(", ")} not shown]` });
}

/** One nbformat output as a DOM element; ``options.trusted`` lets its HTML run script. */
export function renderOutput(output, options = {}) {
  switch (output.output_type) {
    case "stream":
      return el("div", { class: `output stream ${output.name}` }, el("pre", {}, ansiToNodes(fixConsoleText(joined(output.text)))));
    case "error":
      return el("div", { class: "output error" },
        el("pre", {}, ansiToNodes((output.traceback && output.traceback.length ? output.traceback.join("\n") : `${output.ename}: ${output.evalue}`))));
    case "execute_result":
    case "display_data":
      return el("div", { class: `output ${output.output_type}` }, renderBundle(output.data || {}, output.metadata, options));
    default:
      return el("div", { class: "output" }, el("pre", { text: `[unknown output ${output.output_type}]` }));
  }
}
