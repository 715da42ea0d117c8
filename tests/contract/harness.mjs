// The TypeScript side of the differential test (tests/tests/contract.rs): runs the generated
// guard of each document's event on `JSON.parse(text)` and prints one verdict per line, in
// order: `ok <the value after the guard, as JSON>` (the guard fills in absent fields that have a
// default), or `no <message>`.
//
// Usage: node harness.mjs <dir of compiled generated modules> <corpus.json>
// where corpus.json is [{ "module": "chat", "check": "checkMessage", "text": "{…}" }, …].

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, corpusPath] = process.argv.slice(2);
const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
const modules = new Map();
const lines = [];
for (const doc of corpus) {
  let mod = modules.get(doc.module);
  if (mod === undefined) {
    mod = await import(pathToFileURL(join(dir, `${doc.module}.js`)).href);
    modules.set(doc.module, mod);
  }
  const check = mod[doc.check];
  if (typeof check !== "function") throw new Error(`no ${doc.check} in module ${doc.module}`);
  let value;
  try {
    value = JSON.parse(doc.text);
  } catch (e) {
    lines.push(`no not JSON: ${e.message}`);
    continue;
  }
  const problem = check(value, "");
  lines.push(problem === null ? `ok ${JSON.stringify(value)}` : `no ${problem.replace(/\n/g, " ")}`);
}
process.stdout.write(lines.join("\n") + "\n");
