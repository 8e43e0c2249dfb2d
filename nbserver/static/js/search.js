// The dashboard's search box: /api/search results under the path bar, each opening its file at the match.
// User text (names, paths, snippets) only ever goes into text nodes; matches are <mark> elements around
// the [start, end) ranges the server computed on plain text.

import { request, url } from "./api.js";
import { el } from "./ui.js";

const PAGE_SIZE = 20;
const TYPING_DELAY_MS = 300;

const form = document.getElementById("search-form");
const input = document.getElementById("search-input");
const panel = document.getElementById("search-results");

/** Where a result opens: a notebook at its matching cell, a text file in the editor. */
export function resultUrl(result) {
  if (result.type !== "notebook") return url("edit", result.path);
  const cell = result.matches.find((match) => Number.isInteger(match.cell_index));
  return url("notebooks", result.path) + (cell ? `#cell=${cell.cell_index}` : "");
}

/** ``text`` as text nodes, with each [start, end) of ``ranges`` wrapped in <mark>. The server counts
 * characters (code points), so the text is sliced by code points, not UTF-16 units. */
export function highlighted(text, ranges) {
  const chars = Array.from(text);
  const slice = (start, end) => chars.slice(start, end).join("");
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start < at || end > chars.length || end <= start) continue;
    if (start > at) parts.push(document.createTextNode(slice(at, start)));
    parts.push(el("mark", { text: slice(start, end) }));
    at = end;
  }
  if (at < chars.length) parts.push(document.createTextNode(slice(at)));
  return parts;
}

function resultItem(result) {
  const snippet = result.matches.find((match) => match.field !== "name") || null;
  const nameMatch = result.matches.find((match) => match.field === "name");
  return el("li", { class: "search-result", dataset: { path: result.path } },
    el("a", { class: "search-link", href: resultUrl(result) },
      el("span", { class: "search-name" }, nameMatch ? highlighted(result.name, nameMatch.ranges) : result.name),
      el("span", { class: "search-path", text: result.path })),
    snippet ? el("div", { class: "search-snippet" },
      Number.isInteger(snippet.cell_index) ? el("span", { class: "search-cell", text: `cell ${snippet.cell_index + 1}` }) : null,
      highlighted(snippet.text, snippet.ranges)) : null);
}

let generation = 0;

async function runSearch(query, cursor = null) {
  const mine = ++generation;
  const params = new URLSearchParams({ q: query, limit: String(PAGE_SIZE) });
  const folder = document.body.dataset.path || "";
  if (folder) params.set("path", folder);
  if (cursor) params.set("cursor", cursor);
  let page;
  try {
    page = await request("GET", url("api/search") + "?" + params.toString());
  } catch (error) {
    if (mine === generation) showMessage(error.message);
    return;
  }
  if (mine !== generation) return; // a newer query is on its way
  let list = panel.querySelector("ul.search-list");
  if (!cursor || !list) {
    list = el("ul", { class: "search-list" });
    panel.replaceChildren(el("div", { class: "search-heading" },
      el("span", { text: folder ? `Results in ${folder}` : "Results" }),
      el("button", { type: "button", class: "button small", text: "Close", onclick: closeResults })), list);
  }
  panel.querySelector(".search-more")?.remove();
  list.append(...page.results.map(resultItem));
  if (!list.children.length) list.append(el("li", { class: "empty", text: "Nothing found." }));
  if (page.index && page.index.status === "building" && !cursor) {
    list.before(el("div", { class: "search-message", text: `Still indexing (${page.index.pending} files to go): results may be incomplete.` }));
  }
  if (page.next_cursor) {
    panel.append(el("button", { type: "button", class: "button small search-more", text: "More results",
      onclick: () => runSearch(query, page.next_cursor) }));
  }
  panel.hidden = false;
}

function showMessage(text) {
  panel.replaceChildren(el("div", { class: "search-message", text }));
  panel.hidden = false;
}

function closeResults() {
  generation++;
  panel.hidden = true;
  panel.replaceChildren();
}

function wire() {
  if (!form || !input || !panel) return;
  let timer = null;
  const go = () => {
    clearTimeout(timer);
    const query = input.value.trim();
    if (query) runSearch(query);
    else closeResults();
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); go(); });
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(go, TYPING_DELAY_MS); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { input.value = ""; closeResults(); }
  });
}

wire();
