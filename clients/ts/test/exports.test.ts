// The exports against real external tools: the AsyncAPI document through the official
// @asyncapi/parser (zero errors, zero warnings), and the HTML event catalog in headless Chromium
// (renders every event, no console errors; screenshot in docs/catalog.png).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Parser } from "@asyncapi/parser";

import { launchChromium, repo } from "./server.js";

const tidings = path.join(repo, "target/debug/tidings");
const out = mkdtempSync(path.join(tmpdir(), "tidings-exports-"));

function run(args: string[]): void {
  execFileSync(tidings, args, { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
}

test("the AsyncAPI export of every shipped schema parses with zero errors and zero warnings", async () => {
  for (const [name, paths] of [
    ["shipped", ["schemas"]],
    ["shipped and demo", ["schemas", "examples/schemas"]],
  ] as const) {
    const file = path.join(out, `${name.replace(/ /g, "-")}.json`);
    run(["export", "asyncapi", "--out", file, ...paths]);
    const parser = new Parser();
    const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
    const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`);
    assert.deepEqual(problems, [], `${name}: errors and warnings`);
    assert.ok(document !== undefined, `${name}: a document`);
    const messages = document.allMessages().length;
    assert.ok(messages >= 21, `${name}: ${messages} messages`);
    assert.equal(document.version(), "3.0.0");
  }
});

test("the HTML catalog renders every event without console errors", async () => {
  const dir = path.join(out, "catalog");
  run(["docs", "--out", dir, "schemas"]);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`file://${path.join(dir, "catalog.html")}`);
    const events = await page.locator("section.event h3 code").allTextContents();
    assert.ok(events.includes("ticket:statusChanged"), events.join(", "));
    assert.ok(events.length >= 21 + 17, `${events.length} events and types`);
    const who = await page.locator("#ticket-created .who").textContent();
    assert.match(who ?? "", /never the user who opened it/);
    await page.locator("#ticket-created").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(repo, "docs/catalog.png") });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
