// Python syntax colouring for code cells: tokens become spans whose text is set as text, so
// nothing in a cell is ever parsed as HTML. Other languages show plain.

const KEYWORDS = "False|None|True|and|as|assert|async|await|break|case|class|continue|def|del|elif|else|" +
  "except|finally|for|from|global|if|import|in|is|lambda|match|nonlocal|not|or|pass|raise|return|try|" +
  "while|with|yield";
const BUILTINS = "abs|all|any|bool|bytes|dict|enumerate|filter|float|input|int|isinstance|len|list|map|" +
  "max|min|object|open|print|range|repr|round|self|set|sorted|str|sum|super|tuple|type|zip";
const TOKEN = new RegExp([
  /(#[^\n]*)/.source,
  /((?:\b[rRbBfFuU]{1,2})?(?:"""[\s\S]*?(?:"""|(?![\s\S]))|'''[\s\S]*?(?:'''|(?![\s\S]))|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))/.source,
  /(\b(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?j?)\b)/.source,
  /(^[ \t]*@[\w.]+)/.source,
  `\\b(${KEYWORDS})\\b`,
  `\\b(${BUILTINS})\\b`,
].join("|"), "gm");
const CLASSES = [null, "tok-comment", "tok-string", "tok-number", "tok-decorator", "tok-keyword", "tok-builtin"];

/** Fill ``target`` with the coloured tokens of Python ``source``. */
export function highlightPython(source, target) {
  const nodes = [];
  let last = 0;
  for (const match of source.matchAll(TOKEN)) {
    if (match.index > last) nodes.push(document.createTextNode(source.slice(last, match.index)));
    const group = match.findIndex((value, index) => index > 0 && value !== undefined);
    const span = document.createElement("span");
    span.className = CLASSES[group];
    span.textContent = match[0];
    nodes.push(span);
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(source.slice(last) + (source.endsWith("\n") || !source ? " " : "")));
  target.replaceChildren(...nodes);
}
