// The demo written with the React adapter (/react) and with the Vue adapter (/vue), rendered in
// headless Chromium against the real example server: connection state with the reconnect
// attempt, events arriving, a typed request's pending → result, a room, an operation's progress
// to completion refreshing a table, a class component (React), the module registry (Vue), and
// logout closing the socket. Screenshots go to docs/react.png and docs/vue.png.
import { test, after, before } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { type Browser, type Page, type WebSocket as PageSocket } from "playwright-core";

import WebSocket from "ws";

import { createClient, demo, type WebSocketCtor } from "../generated/index.js";
import { launchChromium, repo, startServer, type RunningServer } from "./server.js";

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

interface Opened {
  page: Page;
  sockets: PageSocket[];
  errors: string[];
}

/** Opens a framework's page as a user; records its WebSockets, console errors and what `#request` showed. */
async function open(framework: string, query: string): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 560 } });
  const sockets: PageSocket[] = [];
  const errors: string[] = [];
  page.on("websocket", (ws) => sockets.push(ws));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { requestTexts: string[] }).requestTexts = seen;
    new MutationObserver(() => {
      const text = document.getElementById("request")?.textContent ?? null;
      if (text !== null && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`http://${server.addr}/${framework}?${query}`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
  return { page, sockets, errors };
}

for (const framework of ["react", "vue"]) {
  test(`the ${framework} adapter, rendered against the example server`, async () => {
    const alice = await open(framework, "user=alice&tenant=acme&roles=admin");
    const bob = await open(framework, "user=bob&tenant=acme&roles=");

    // useRoom: joined once the server agreed.
    await alice.page.waitForSelector('#room[data-status="joined"]', { timeout: 5_000 });
    await bob.page.waitForSelector('#room[data-status="joined"]', { timeout: 5_000 });

    // useTidingsRequest: pending, then the typed reply; useTidingsEvent: the event reaches alice (an admin).
    await bob.page.fill("#ticket-title", "Printer on fire");
    await bob.page.click("#open-ticket");
    await bob.page.waitForSelector('#request:has-text("opened #")', { timeout: 5_000 });
    const texts = await bob.page.evaluate(() => (window as unknown as { requestTexts: string[] }).requestTexts);
    assert.deepEqual(
      texts.map((t) => (t.startsWith("opened #") ? "opened" : t)),
      ["no request yet", "pending…", "opened"],
      "the request went from pending to its result",
    );
    await alice.page.waitForSelector('#tickets li:has-text("Printer on fire")', { timeout: 5_000 });
    assert.match((await alice.page.textContent("#tickets li")) ?? "", /Printer on fire\s*by bob/);

    // A refused request lands in `error` with the server's code (an empty title breaks min_length).
    await bob.page.fill("#ticket-title", "");
    await bob.page.click("#open-ticket");
    await bob.page.waitForSelector("#request.error", { timeout: 5_000 });
    assert.match((await bob.page.textContent("#request")) ?? "", /^(invalid_payload|constraint_violated): /);

    // useTidingsEvents in a room: bob's message and typing reach alice.
    await bob.page.fill("#chat-text", "coming over");
    await bob.page.click("#send");
    await alice.page.waitForSelector('#messages li:has-text("bob: coming over")', { timeout: 5_000 });

    // useOperations and useTableRefresh: progress to completion, then the table reloads once.
    assert.equal(await alice.page.textContent("#tickets-reloaded"), "table reloaded 0 times");
    await alice.page.click("#start-operation");
    await alice.page.waitForSelector('#operations li[data-phase="progress"], #operations li[data-phase="started"]', { timeout: 5_000 });
    await alice.page.waitForSelector('#operations li[data-phase="complete"]', { timeout: 10_000 });
    assert.match((await alice.page.textContent("#operations li")) ?? "", /export_csv\s*100% done/);
    await alice.page.waitForSelector('#tickets-reloaded:has-text("table reloaded 1 time")', { timeout: 5_000 });
    assert.equal(await bob.page.textContent("#tickets-reloaded"), "table reloaded 0 times", "only the user's operations refresh");

    if (framework === "react") {
      // withTidings: a class component with the client and connection as props.
      assert.match((await alice.page.textContent("#legacy")) ?? "", /alice · open · 0 announcements/);
    } else {
      // The module registry: one module attached, the one that failed to load skipped and reported.
      await alice.page.waitForSelector('#modules:has-text("modules: announcements; skipped: reports (chunk reports.js failed to load)")');
    }
    // An announcement to the tenant (sent from Node as carol) reaches the class component's
    // subscription (React) / the module's (Vue).
    const carol = createClient({ url: `${server.ws}?user=carol&tenant=acme&roles=`, WebSocket: WebSocket as unknown as WebSocketCtor });
    await carol.request(demo.DEMO_ANNOUNCE, { title: "Lunch at noon", body: "" });
    carol.close();
    if (framework === "react") await alice.page.waitForSelector('#legacy:has-text("alice · open · 1 announcements")', { timeout: 5_000 });
    else await alice.page.waitForSelector('#announcements:has-text("Lunch at noon")', { timeout: 5_000 });
    await alice.page.screenshot({ path: path.join(repo, `docs/${framework}.png`) });

    // The dismiss button of an ended operation.
    await alice.page.click("#operations li .dismiss");
    await alice.page.waitForFunction(() => document.querySelectorAll("#operations li").length === 0);

    // useConnectionState: the server goes away — reconnecting, with the attempt counting up.
    const addr = server.addr;
    await server.stop();
    await alice.page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 10_000 });
    await alice.page.waitForFunction(() => Number(document.getElementById("state")?.dataset["attempt"]) >= 2, undefined, { timeout: 15_000 });
    assert.match((await alice.page.textContent("#state")) ?? "", /^reconnecting \(attempt \d+\)/);
    server = await startServer(addr);
    await alice.page.waitForSelector('#state[data-state="open"]', { timeout: 15_000 });
    await alice.page.waitForSelector('#room[data-status="joined"]');

    // Logout closes the socket and opens none; login connects again.
    const before = alice.sockets.length;
    await alice.page.click("#logout");
    await alice.page.waitForSelector('#state[data-state="closed"]', { timeout: 5_000 });
    await alice.page.waitForFunction(() => document.getElementById("tickets") === null);
    const deadline = Date.now() + 5_000;
    while (!alice.sockets.every((s) => s.isClosed())) {
      assert.ok(Date.now() < deadline, "every socket of the page is closed after logout");
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(alice.sockets.length, before, "no socket opened while logged out");
    await alice.page.click("#login");
    await alice.page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
    assert.equal(alice.sockets.length, before + 1, "one new socket after login");
    await alice.page.waitForSelector('#room[data-status="joined"]');

    assert.deepEqual([...alice.errors, ...bob.errors].filter((e) => !/WebSocket connection to .* failed/.test(e)), [], "no console errors");
    await alice.page.close();
    await bob.page.close();
  });
}
