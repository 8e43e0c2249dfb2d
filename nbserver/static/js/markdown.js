// A small, safe markdown renderer: every character of the source is escaped first, so raw HTML
// in a cell shows as text; links keep only http(s), mailto and relative targets. Math stays source.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

function safeUrl(raw, resolve) {
  const target = raw.trim().replace(/^<|>$/g, "");
  if (target.startsWith("attachment:")) return resolve ? resolve(target) : null;
  if (/^(https?:|mailto:|#)/i.test(target)) return target;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) return null; // javascript:, data:...
  return resolve ? resolve(target) : target;
}

/** Inline markup of one escaped line group: code, math, images, links, emphasis. */
function inline(text, options) {
  const stash = [];
  const keep = (html) => `\u0000${stash.push(html) - 1}\u0000`;
  let out = text
    .replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, __, code) => keep(`<code>${escapeHtml(code.trim())}</code>`))
    .replace(/\$\$([\s\S]+?)\$\$|\$([^$\n]+?)\$/g, (match) => keep(`<span class="math">${escapeHtml(match)}</span>`));
  out = escapeHtml(out);
  out = out
    .replace(/!\[([^\]]*)\]\(([^)\s]+)(?:\s+&quot;[^)]*&quot;)?\)/g, (match, alt, src) => {
      const target = safeUrl(unescape(src), options.resolveImage);
      return target ? keep(`<img src="${escapeHtml(target)}" alt="${alt}">`) : match;
    })
    .replace(/\[([^\]]+)\]\(([^)\s]+)(?:\s+&quot;[^)]*&quot;)?\)/g, (match, label, href) => {
      const target = safeUrl(unescape(href), options.resolveLink);
      return target ? keep(`<a href="${escapeHtml(target)}" target="_blank" rel="noopener noreferrer">`) + label + keep("</a>") : match;
    })
    .replace(/&lt;(https?:\/\/[^\s&]+)&gt;/g, (_, href) => keep(`<a href="${href}" target="_blank" rel="noopener noreferrer">${href}</a>`))
    .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, "<strong>$2</strong>")
    .replace(/(^|[^\w*])\*(?=\S)([^*]*?\S)\*(?!\w)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w_])_(?=\S)([^_]*?\S)_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>")
    .replace(/ {2,}\n/g, "<br>\n");
  return out.replace(/\u0000(\d+)\u0000/g, (_, index) => stash[Number(index)]);
}

function unescape(text) {
  return text.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
}

function tableRow(line) {
  return line.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim());
}

/** Render markdown source to an HTML string that is safe to assign to innerHTML. */
export function renderMarkdown(source, options = {}) {
  const lines = source.replace(/\u0000/g, "").replace(/\r\n?/g, "\n").split("\n");
  const html = [];
  let index = 0;
  const isBlank = (line) => /^\s*$/.test(line);
  const startsBlock = (line) => /^(#{1,6}\s|```|~~~|>|\s*([-*+]|\d+[.)])\s|\s*(\*\s*){3,}$|\s*(-\s*){3,}$|\$\$)/.test(line);

  while (index < lines.length) {
    const line = lines[index];
    if (isBlank(line)) { index += 1; continue; }
    let match;
    if ((match = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/))) {
      const level = match[1].length;
      html.push(`<h${level}>${inline(match[2], options)}</h${level}>`);
      index += 1;
    } else if ((match = line.match(/^(```|~~~)\s*([\w+-]*)/))) {
      const fence = match[1];
      const body = [];
      index += 1;
      while (index < lines.length && !lines[index].startsWith(fence)) body.push(lines[index++]);
      index += 1;
      html.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
    } else if (line.startsWith("$$")) {
      const body = [line];
      if (!(line.length > 2 && line.trimEnd().endsWith("$$"))) {
        index += 1;
        while (index < lines.length && !lines[index].includes("$$")) body.push(lines[index++]);
        if (index < lines.length) body.push(lines[index]);
      }
      index += 1;
      html.push(`<p><span class="math">${escapeHtml(body.join("\n"))}</span></p>`);
    } else if (/^\s*((\*\s*){3,}|(-\s*){3,}|(_\s*){3,})$/.test(line)) {
      html.push("<hr>");
      index += 1;
    } else if (line.startsWith(">")) {
      const body = [];
      while (index < lines.length && lines[index].startsWith(">")) body.push(lines[index++].replace(/^>\s?/, ""));
      html.push(`<blockquote>${renderMarkdown(body.join("\n"), options)}</blockquote>`);
    } else if ((match = line.match(/^\s*([-*+]|\d+[.)])\s+/))) {
      const ordered = /\d/.test(match[1]);
      const items = [];
      while (index < lines.length) {
        const item = lines[index].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/);
        if (item) {
          items.push([item[2]]);
        } else if (!isBlank(lines[index]) && /^\s+/.test(lines[index]) && items.length) {
          items[items.length - 1].push(lines[index].trim());
        } else {
          break;
        }
        index += 1;
      }
      const tag = ordered ? "ol" : "ul";
      html.push(`<${tag}>${items.map((item) => `<li>${inline(item.join("\n"), options)}</li>`).join("")}</${tag}>`);
    } else if (line.includes("|") && index + 1 < lines.length && /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(lines[index + 1])) {
      const head = tableRow(line);
      index += 2;
      const body = [];
      while (index < lines.length && lines[index].includes("|") && !isBlank(lines[index])) body.push(tableRow(lines[index++]));
      html.push("<table><thead><tr>" + head.map((cell) => `<th>${inline(cell, options)}</th>`).join("") + "</tr></thead><tbody>" +
        body.map((row) => "<tr>" + row.map((cell) => `<td>${inline(cell, options)}</td>`).join("") + "</tr>").join("") + "</tbody></table>");
    } else {
      const body = [line];
      index += 1;
      while (index < lines.length && !isBlank(lines[index]) && !startsBlock(lines[index])) body.push(lines[index++]);
      html.push(`<p>${inline(body.join("\n"), options)}</p>`);
    }
  }
  return html.join("\n");
}
