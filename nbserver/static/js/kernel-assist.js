// What the kernel adds to the cell editor: Tab completion (complete_request) and the Shift+Tab
// tooltip (inspect_request), as the Jupyter messaging protocol describes them (cursor positions
// count Unicode code points, protocol 5.2). The editor is CodeMirror (static/dist/editor.js).

import { showInfo, startCompletion } from "../dist/editor.js";
import { ansiToHtml } from "../dist/render.js";
import { el } from "./ui.js";

const REPLY_SECONDS = 10;

/** A JavaScript string offset (UTF-16 units) as the protocol's cursor position (code points). */
export function codePointOffset(text, offset) {
  return [...text.slice(0, offset)].length;
}

/** The protocol's code-point position as a JavaScript string offset. */
export function stringOffset(text, codePoints) {
  let offset = 0;
  for (let seen = 0; seen < codePoints && offset < text.length; seen += 1) {
    offset += text.codePointAt(offset) > 0xffff ? 2 : 1;
  }
  return offset;
}

/** The kernel's reply to a shell request, or null when none comes in time. */
async function ask(kernel, type, content) {
  if (!kernel || !kernel.kernelId) return null;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), REPLY_SECONDS * 1000));
  const reply = await Promise.race([kernel.request("shell", type, content), timeout]);
  return reply && reply.content && reply.content.status === "ok" ? reply.content : null;
}

/**
 * Ask the kernel to complete the code at the cursor: one match is inserted, several open the list
 * (which completionSource then hands to CodeMirror). Nothing happens when the text changed meanwhile.
 */
export async function completeAtCursor(view, kernel) {
  const code = view.state.doc.toString();
  const head = view.state.selection.main.head;
  const reply = await ask(kernel, "complete_request", { code, cursor_pos: codePointOffset(code, head) });
  if (!reply || !reply.matches || !reply.matches.length || view.state.doc.toString() !== code) return;
  const from = stringOffset(code, reply.cursor_start);
  const to = stringOffset(code, reply.cursor_end);
  if (reply.matches.length === 1) {
    const insert = reply.matches[0];
    view.dispatch({ changes: { from, to, insert }, selection: { anchor: from + insert.length }, userEvent: "input.complete" });
    return;
  }
  const types = new Map(((reply.metadata || {})._jupyter_types_experimental || []).map((item) => [item.text, item.type]));
  view.kernelCompletions = { from, to, options: reply.matches.map((label) => ({ label, type: types.get(label) })) };
  startCompletion(view);
}

/** The CodeMirror completion source: the matches completeAtCursor received, once. */
export function completionSource(context) {
  const result = context.view && context.view.kernelCompletions;
  if (!result) return null;
  context.view.kernelCompletions = null;
  return result;
}

/** Ask the kernel about the name at the cursor and show its answer in a tooltip. */
export async function inspectAtCursor(view, kernel) {
  const code = view.state.doc.toString();
  const head = view.state.selection.main.head;
  const reply = await ask(kernel, "inspect_request", { code, cursor_pos: codePointOffset(code, head), detail_level: 0 });
  if (!reply || view.state.doc.toString() !== code || view.state.selection.main.head !== head) return;
  const text = reply.found && reply.data && reply.data["text/plain"];
  const pre = el("pre", { class: "inspect-text" });
  if (text) pre.innerHTML = ansiToHtml(text);
  else pre.textContent = "No information from the kernel.";
  showInfo(view, head, el("div", { class: "inspect-tooltip" }, pre));
}
