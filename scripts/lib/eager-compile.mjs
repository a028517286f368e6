// Marks a module's top-level functions for V8 to compile while the script loads, not on their
// first call (issue #14: a new isolate's first request was mostly V8 compiling, one function at a
// time, the code that request runs).
//
// V8 compiles a function lazily, on its first call, unless the function literal is wrapped in
// parentheses: its parser takes `(function` for an immediately invoked function and compiles it
// with the script (the "PIFE" heuristic, https://v8.dev/blog/preparser#pife). esbuild keeps such
// parentheses through bundling and minifying for that reason. So
//
//     export function f(a: string): number { … }
//
// becomes, moved to the top of its module (below),
//
//     export var f = (function (a: string): number { … });
//
// Measured in workerd (docs/performance.md, "What moved the first request"): a lazily compiled
// function costs ~40–50 µs on its first call on this machine; compiled with the script, the same
// code adds little to start-up. The gateway's first request on a new isolate: 14.0 → ~11 ms.
//
// A declaration is hoisted and a `var` is not: each function so rewritten is moved to the top of
// its module, after the imports, so that it is defined before any of the module's own code runs,
// as it was. Overloaded functions and default exports are left alone. Only what the TypeScript
// parser calls a top-level FunctionDeclaration with a body is touched; class methods and arrow
// functions stay lazy (turning those into function expressions would change `this`).

import MagicString from "magic-string";
import ts from "typescript";

/**
 * @param {string} source  a TypeScript module
 * @param {string} fileName  for the source map (the path the map names as its source)
 * @returns {{ code: string, map: import("magic-string").SourceMap, eager: string[] }}
 */
export function eagerlyCompiled(source, fileName) {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out = new MagicString(source);
  const declarations = file.statements.filter(ts.isFunctionDeclaration);
  const overloaded = new Set(declarations.filter((d) => !d.body && d.name).map((d) => d.name.text));
  const eager = [];
  // Where the functions go: after the imports, before anything the module evaluates.
  const imports = file.statements.filter(ts.isImportDeclaration);
  const top = imports.length ? imports[imports.length - 1].end : 0;
  for (const fn of declarations) {
    if (!fn.body || !fn.name || overloaded.has(fn.name.text)) continue;
    const modifiers = ts.getModifiers(fn) ?? [];
    if (modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword || m.kind === ts.SyntaxKind.DeclareKeyword)) continue;
    const name = fn.name.text;
    const start = fn.getStart(file);
    const exported = modifiers.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (exported) {
      // The literal starts at `async` or `function`, after `export`.
      out.overwrite(start, skipSpace(source, exported.end), `export var ${name} = (`);
    } else {
      out.prependRight(start, `var ${name} = (`);
    }
    // The literal goes nameless: the variable names it (ES2015 function name inference, so
    // `f.name`, stack traces and profiles still say f), and a bundler does not rename a second f.
    out.remove(fn.name.getStart(file), fn.name.end);
    out.appendLeft(fn.end, ");");
    // A declaration is hoisted and a `var` assignment is not: moved to the top of the module, the
    // function is defined before any of the module's own code runs, as a declaration would be.
    if (start > top) {
      out.prependRight(start, "\n");
      out.move(start, fn.end, top);
    }
    eager.push(name);
  }
  return { code: out.toString(), map: out.generateMap({ source: fileName, includeContent: true, hires: "boundary" }), eager };
}

function skipSpace(text, at) {
  while (at < text.length && /\s/.test(text[at])) at++;
  return at;
}
