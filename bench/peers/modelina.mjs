// Times AsyncAPI Modelina generating TypeScript models from an AsyncAPI document: the peer of
// `tidings generate --ts` in BENCHMARKS.md ("Code generation").
//
//   node modelina.mjs ASYNCAPI.json RUNS
//
// One untimed warm-up run (unless RUNS is 1: a single run of a large document is long enough for
// the JIT), then RUNS timed runs in this process, each from the document's JSON text to the
// rendered TypeScript of every model (parse, validate, model, render). Prints one
// JSON line: {"runs", "median_ms", "min_ms", "max_ms", "models", "bytes"}.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TypeScriptGenerator } from '@asyncapi/modelina';

const [file, runsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node modelina.mjs ASYNCAPI.json RUNS');
  process.exit(2);
}
const runs = Math.max(1, Number(runsArg ?? 3));
const text = readFileSync(file, 'utf8');

async function once() {
  const generator = new TypeScriptGenerator({ modelType: 'interface' });
  const models = await generator.generate(JSON.parse(text));
  let bytes = 0;
  for (const m of models) bytes += m.result.length;
  return { models: models.length, bytes };
}

let out = runs > 1 ? await once() : null;
const times = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  out = await once();
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({
  runs,
  median_ms: times[Math.floor(times.length / 2)],
  min_ms: times[0],
  max_ms: times[times.length - 1],
  models: out.models,
  bytes: out.bytes,
}));
