// The demo page in headless Chromium: two users on the page; events triggered through the page
// reach the other user's page, which shows them.
import { test, after, before } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { type Browser, type Page } from "playwright-core";

import { launchChromium, repo, startServer, type RunningServer } from "./server.js";

let server: RunningServer;
let browser: Browser;
const consoleErrors: string[] = [];

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(query: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${query}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${query}: ${e.message}`));
  await page.goto(`http://${server.addr}/?${query}`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
  return page;
}

test("the demo page receives typed events triggered from another page", async () => {
  const alice = await open("user=alice&tenant=acme&roles=admin");
  const bob = await open("user=bob&tenant=acme&roles=");

  // Bob opens a ticket for alice: ticket:created reaches alice (assignee, and an admin).
  await bob.fill("#ticket-title", "Printer on fire");
  await bob.fill("#ticket-assignee", "alice");
  await bob.click("#open-ticket");
  await alice.waitForSelector('#tickets li:has-text("Printer on fire")', { timeout: 5_000 });
  const row = await alice.textContent("#tickets li");
  assert.match(row ?? "", /Printer on fire\s*open — by bob, for alice/);

  // Alice starts an operation: progress reaches her page, then completion.
  await alice.click("#start-operation");
  await alice.waitForFunction(() => (document.getElementById("progress") as HTMLProgressElement).value === 100, undefined, { timeout: 10_000 });
  await alice.waitForSelector('#operation-stage:has-text("complete")');

  // Chat: bob types and posts; alice's page shows the typing indicator and the message.
  await bob.fill("#chat-text", "coming over");
  await alice.waitForSelector('#typing:has-text("bob is typing")', { timeout: 5_000 });
  await bob.click("#send");
  await alice.waitForSelector('#messages li:has-text("bob: coming over")', { timeout: 5_000 });

  // An announcement to the tenant.
  await bob.fill("#announce-title", "Lunch at noon");
  await bob.click("#announce");
  await alice.waitForSelector('#log li:has-text("Lunch at noon")', { timeout: 5_000 });

  await alice.screenshot({ path: path.join(repo, "docs/demo.png") });
  assert.deepEqual(consoleErrors, [], "no console errors");
});
