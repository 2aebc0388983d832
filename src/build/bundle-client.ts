/**
 * Joins the browser client's ES modules (compiled by tsconfig.client.json into
 * dist/client/) into the classic scripts the server serves (/push.js,
 * /page.js, /socket.io/socket.io.js): each module once, dependencies first, in
 * one function scope. A bundler of a few lines rather than a dependency: the
 * client's modules keep to a form it can join — relative named imports
 * (`import { a, b } from './x.js'`), `export` only on declarations, and no
 * top-level name used by two modules (checked here).
 *
 *     node dist/build/bundle-client.js <from dir> <to dir> entry.js[=out.js] ...
 *
 * An entry ending in .mjs (an ES module) or with no import nor export (a
 * classic script already) is copied as it is.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const IMPORT = /^import\s+(?:\{([^}]*)\}\s+from\s+)?['"]([^'"]+)['"];?[ \t]*$/gm;
const DECLARED = /^(?:export\s+)?(?:async\s+)?(?:function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;

interface Module {
  file: string;
  code: string;
}

/** The modules `entry` needs, dependencies before dependents. */
function collect(entry: string): Module[] {
  const out: Module[] = [];
  const seen = new Set<string>();
  const visit = (file: string, from: string[]): void => {
    if (seen.has(file)) {
      if (from.includes(file)) throw new Error(`import circle: ${[...from, file].join(' → ')}`);
      return;
    }
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    let code = source.replace(IMPORT, (_line, names: string | undefined, spec: string) => {
      if (!spec.startsWith('.')) throw new Error(`${file}: only relative imports can be joined, not '${spec}'`);
      if (names && /\bas\b/.test(names)) throw new Error(`${file}: renamed imports cannot be joined (${names.trim()})`);
      visit(resolve(dirname(file), spec), [...from, file]);
      return '';
    });
    // tsc marks a module whose imports were all types with an empty export.
    code = code.replace(/^export \{\};?[ \t]*$/gm, '');
    if (/^\s*import\b/m.test(code) || /^export\s*(\{|\*|default)/m.test(code)) {
      throw new Error(`${file}: an import or export the bundler cannot join (see src/build/bundle-client.ts)`);
    }
    out.push({ file, code: code.replace(/^export\s+/gm, '').replace(/^\/\/# sourceMappingURL=.*$/gm, '') });
  };
  visit(resolve(entry), []);
  return out;
}

/** One classic script: the modules in one function scope. Fails on a name declared by two modules. */
export function bundle(entry: string, root: string): string {
  const modules = collect(entry);
  const owner = new Map<string, string>();
  let banner = '';
  let body = '';
  for (const m of modules) {
    for (const [, name] of m.code.matchAll(DECLARED)) {
      const other = owner.get(name!);
      if (other && other !== m.file) throw new Error(`'${name}' is declared by both ${relative(root, other)} and ${relative(root, m.file)}`);
      owner.set(name!, m.file);
    }
    let code = m.code;
    // A `/*! … */` licence banner leads the script, as it led its entry file.
    const lead = /^\s*(\/\*![\s\S]*?\*\/)\s*/.exec(code);
    if (lead) {
      if (m === modules[modules.length - 1]) banner = lead[1] + '\n';
      code = code.slice(lead[0].length);
    }
    body += code.trim() + '\n';
  }
  return `${banner}(() => {\n${compact(body)}})();\n`;
}

/**
 * Drops the indentation and the line breaks (together a fifth of a script's
 * gzipped size). Safe for tsc's output, which ends every statement with a
 * semicolon: a space is kept between two words, a line break before a line
 * that opens with `/` (a regular expression or a division), and every line
 * that starts inside a template literal as it is. Backticks are counted
 * naively, which holds for this client (none in a string or a regular
 * expression). Browsers' devtools pretty-print the result.
 */
function compact(code: string): string {
  let inTemplate = false;
  let out = '';
  for (const line of code.split('\n')) {
    if (inTemplate) out += '\n' + line;
    else {
      const text = line.trim();
      if (text === '') continue;
      const sep = out === '' ? '' : /^\//.test(text) ? '\n' : /[\w$]$/.test(out) && /^[\w$]/.test(text) ? ' ' : '';
      out += sep + text;
    }
    if ((line.split('`').length - 1) % 2 === 1) inTemplate = !inTemplate;
  }
  return out + '\n';
}
function main(args: string[]): void {
  const [from, to, ...entries] = args;
  if (!from || !to || entries.length === 0) {
    process.stderr.write('usage: bundle-client <from dir> <to dir> entry.js[=out.js] ... (an .mjs entry is copied as it is)\n');
    process.exit(2);
  }
  for (const spec of entries) {
    const [entry, out = entry] = spec.split('=') as [string, string?];
    const source = join(from, entry);
    if (entry.endsWith('.mjs') || !/^(import|export)\b/m.test(readFileSync(source, 'utf8'))) copyFileSync(source, join(to, out));
    else writeFileSync(join(to, out), bundle(source, from));
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) main(process.argv.slice(2));
