// Minifies JavaScript files in place with terser (pinned in tools/package.json), for what the
// npm package and the single-file userscript ship (`cargo xtask pkg`, `cargo xtask userscript`;
// see xtask/src/pkg.rs `minify_js`).
//
//   node tools/minify.mjs [--script] [--no-map] FILE...
//
// Default: each FILE is an ES module (`module: true`: strict, top-level names mangled; exported
// names, import specifiers and `import.meta.url` are kept). Next to FILE goes FILE.map, a source
// map with the original text inside (`sourcesContent`), and FILE ends with
// `//# sourceMappingURL=<name>.map`, so browser devtools show the readable code (listed as
// `original/<name>` next to the file; the map holds it, nothing more is fetched).
//   --script   FILE is a classic script (the userscript build): nothing is exported, only names
//              inside functions are mangled. A leading `// ==UserScript==` … `// ==/UserScript==`
//              block stays verbatim at the top, as do `/*! … */` comments (licence headers).
//   --no-map   no source map and no sourceMappingURL comment.
//
// After each module the script checks that the minified file imports the same specifiers and
// exports the same names as before, so a minifier change cannot silently break the package.
// Output: one line per file, then `minify: terser VERSION, N file(s)` (xtask reads the version
// from it). Any failure names the file and exits 1.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { minify } from 'terser';

const require = createRequire(import.meta.url);
const TERSER_VERSION = require('terser/package.json').version;

const USAGE = 'usage: node tools/minify.mjs [--script] [--no-map] FILE...';

function fail(message) {
  console.error(`minify: ${message}`);
  process.exit(1);
}

/** The specifiers a module imports (and re-exports from) and the names it exports, sorted, and
 * how often its code (not its comments) uses `import.meta.url`. */
function moduleInterface(ast, printed) {
  const imports = [];
  const exports = [];
  for (const node of ast.body) {
    if (node.TYPE === 'Import') {
      imports.push(node.module_name.value);
    } else if (node.TYPE === 'Export') {
      if (node.module_name) imports.push(node.module_name.value);
      if (node.is_default) {
        exports.push('default');
      } else if (node.exported_names) {
        for (const m of node.exported_names) exports.push((m.foreign_name || m.name).name);
      } else if (node.exported_definition) {
        const def = node.exported_definition;
        if (def.definitions) {
          for (const d of def.definitions) exports.push(d.name.name);
        } else if (def.name) {
          exports.push(def.name.name);
        } else {
          exports.push('?');
        }
      }
    }
  }
  const metaUrl = printed.split('import.meta.url').length - 1;
  return { imports: imports.sort(), exports: exports.sort(), metaUrl };
}

async function parseInterface(code, file) {
  // Parsed and printed back without comments: the code as it runs.
  const { ast, code: printed } = await minify(code, {
    module: true,
    compress: false,
    mangle: false,
    format: { ast: true, code: true, comments: false },
  });
  if (!ast || typeof printed !== 'string') throw new Error(`${file}: terser could not read it back`);
  return moduleInterface(ast, printed);
}

/** A leading `// ==UserScript==` metadata block (kept verbatim), or ''. */
function userscriptHeader(code) {
  const m = /^\/\/ ==UserScript==\n(?:\/\/.*\n)*?\/\/ ==\/UserScript==\n/.exec(code);
  return m ? m[0] : '';
}

async function minifyFile(file, { script, map }) {
  const original = fs.readFileSync(file, 'utf8');
  const name = path.basename(file);
  const header = script ? userscriptHeader(original) : '';
  const code = original.slice(header.length);
  const options = {
    module: !script,
    ecma: 2020,
    compress: { passes: 2 },
    mangle: true,
    // Class names show in wasm-bindgen's own errors (`expected instance of UChatBot`) and in
    // devtools; keeping them costs a few bytes.
    keep_classnames: true,
    format: {
      comments: 'some', // `/*! … */` and @license comments
      ...(header ? { preamble: header.trimEnd() } : {}),
    },
    sourceMap: map ? { filename: name, url: `${name}.map`, includeSources: true } : false,
  };
  let result;
  try {
    // The map names the readable text `original/NAME`, so devtools list it apart from the
    // minified NAME it maps (same folder, same name would be one URL for two texts).
    result = await minify({ [`original/${name}`]: code }, options);
  } catch (e) {
    const where = e.line ? ` line ${e.line}, column ${e.col}` : '';
    throw new Error(`${file}${where}: terser could not minify it: ${e.message || e}`);
  }
  if (typeof result.code !== 'string' || result.code.length === 0) {
    throw new Error(`${file}: terser produced no code`);
  }
  let out = result.code;
  if (!script) {
    const before = await parseInterface(code, file);
    const after = await parseInterface(out, `${file} (minified)`);
    for (const key of ['imports', 'exports']) {
      if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
        throw new Error(`${file}: minifying changed its ${key}: ${before[key].join(', ')} → ` +
          `${after[key].join(', ')}`);
      }
    }
    if (before.metaUrl > 0 && after.metaUrl === 0) {
      throw new Error(`${file}: minifying dropped import.meta.url`);
    }
  }
  if (!out.endsWith('\n')) out += '\n';
  fs.writeFileSync(file, out);
  if (map) fs.writeFileSync(`${file}.map`, result.map);
  console.log(`minified ${file}: ${Buffer.byteLength(original)} → ${Buffer.byteLength(out)} bytes` +
    (map ? ` (+ ${name}.map)` : ''));
}

const opts = { script: false, map: true };
const files = [];
for (const arg of process.argv.slice(2)) {
  if (arg === '--script') opts.script = true;
  else if (arg === '--no-map') opts.map = false;
  else if (arg.startsWith('-')) fail(`unknown option ${arg}\n${USAGE}`);
  else files.push(arg);
}
if (files.length === 0) fail(`no files given\n${USAGE}`);
for (const file of files) {
  try {
    await minifyFile(file, opts);
  } catch (e) {
    fail(e.message || String(e));
  }
}
console.log(`minify: terser ${TERSER_VERSION}, ${files.length} file(s)`);
