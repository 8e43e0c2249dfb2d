// Build nbserver's browser bundles from the locked npm packages: `node build.mjs [--out DIR]`
// (DIR defaults to ../nbserver/static/dist). Run through `bash scripts/build-frontend`, which first
// installs exactly package-lock.json with `npm ci`. The output depends only on the lock file and src/,
// so re-running it gives the same bytes (tests/test_frontend_bundle.py checks the committed copy).

import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf("--out");
const out = resolve(outFlag > 0 ? process.argv[outFlag + 1] : join(here, "..", "nbserver", "static", "dist"));
const modules = join(here, "node_modules");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "katex", "fonts"), { recursive: true });

// KaTeX is loaded on demand (render.js's import("katex"), a chunk of its own, its ES build). The
// markdown plugin's own require("katex") is never used (render.js passes it KaTeX), so it gets a
// stub rather than pulling KaTeX into render.js.
const lazyKatex = {
  name: "lazy-katex",
  setup(build) {
    build.onResolve({ filter: /^katex$/ }, (args) => ({
      path: /markdown-it-katex/.test(args.importer) ? join(here, "src", "katex-unused.js")
        : join(modules, "katex", "dist", "katex.mjs"),
    }));
  },
};

// The two page modules: ES modules the pages import; minified, licences collected below instead.
const result = await build({
  absWorkingDir: here,
  entryPoints: { editor: "src/editor.js", render: "src/render.js" },
  outdir: out,
  bundle: true,
  format: "esm",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "utf8",
  metafile: true,
  plugins: [lazyKatex],
  logLevel: "warning",
});

// KaTeX's stylesheet and its woff2 fonts (every browser that runs these modules reads woff2, so the
// stylesheet's woff/ttf alternatives are never fetched and are not shipped).
copyFileSync(join(modules, "katex", "dist", "katex.min.css"), join(out, "katex", "katex.min.css"));
for (const font of readdirSync(join(modules, "katex", "dist", "fonts")).sort()) {
  if (font.endsWith(".woff2")) copyFileSync(join(modules, "katex", "dist", "fonts", font), join(out, "katex", "fonts", font));
}

// plotly.js (the basic partial bundle: scatter, bar, pie), loaded by the page only when a Plotly output appears.
copyFileSync(join(modules, "plotly.js-basic-dist-min", "plotly-basic.min.js"), join(out, "plotly-basic.min.js"));

// One licence file for everything shipped: each package bundled or copied, with its licence text.
function packageOf(input) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  return match ? match[1] : null;
}
const packages = new Set(["katex", "plotly.js-basic-dist-min"]);
for (const input of Object.keys(result.metafile.inputs)) {
  const name = packageOf(input);
  if (name) packages.add(name);
}
const sections = [...packages].sort().map((name) => {
  const root = join(modules, name);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const licenceFile = readdirSync(root).sort().find((file) => /^(licen[cs]e|copying)/i.test(file));
  const text = licenceFile ? readFileSync(join(root, licenceFile), "utf8").trim() : `License: ${meta.license}`;
  return `${name}@${meta.version} (${meta.license})\n${"-".repeat(60)}\n${text}\n`;
});
writeFileSync(join(out, "LICENSES.txt"),
  "Third-party code in nbserver/static/dist/, built by frontend/build.mjs from frontend/package-lock.json.\n\n" +
  sections.join("\n"));
