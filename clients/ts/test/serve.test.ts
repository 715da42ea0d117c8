// `tidings serve` (target/debug/tidings-serve, built by cargo before the tests) on the shipped
// schemas: two nodes on one Redis, TypeScript clients with JWTs, and a backend publishing over
// HTTP — each event reaches, on either node, whom its declared rules name (never another
// tenant); a malformed publish is refused with the field's path and delivers nothing.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import * as path from "node:path";
import WebSocket from "ws";

import { chat, createClient, ticket, TidingsError, type Client, type WebSocketCtor } from "../generated/index.js";
import { createPublisher, PublishError } from "../generated/publisher.js";
import { eventually, launchChromium, repo, startRedis } from "./server.js";

const SECRET = "a secret of at least thirty-two bytes, for tests";
const API_KEY = "serve-test-api-key-0123456789";
const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";
const ALICE = "a0000000-0000-4000-8000-00000000000a";
const BOB = "b0000000-0000-4000-8000-00000000000b";
const CAROL = "c0000000-0000-4000-8000-00000000000c";
const ADMIN2 = "e0000000-0000-4000-8000-00000000000e";

interface Node {
  addr: string;
  stop(): Promise<void>;
}

const APP_SECRET = "the-app-secret-0123456789";
const CHAT = "c4a70000-0000-4000-8000-000000000001";

let redisStop: () => void;
let app: Server;
let appUrl: string;
/** The calls the app got: the `Authorization` header, and the body. */
const appCalls: Array<[string | undefined, { event: string; data: unknown; principal: unknown }]> = [];
const nodes: Node[] = [];
const clients: Client[] = [];

/** An HS256 JWT (RFC 7519) for `sub`, valid for ten minutes. */
function jwt(sub: string, tenant: string, roles: string[] = []): string {
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, tenant, roles, exp: Math.floor(Date.now() / 1000) + 600 })}`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

async function startNode(redisUrl: string): Promise<Node> {
  const dir = mkdtempSync(path.join(tmpdir(), "tidings-serve-"));
  const config = path.join(dir, "tidings-serve.toml");
  writeFileSync(
    config,
    `listen = "127.0.0.1:0"\nschemas = [${JSON.stringify(path.join(repo, "schemas"))}]\nredis = ${JSON.stringify(redisUrl)}\n` +
      `[auth.jwt]\nhs256_secret_env = "TIDINGS_TEST_JWT_SECRET"\n` +
      `[handlers]\nurl = ${JSON.stringify(appUrl)}\nsecret_env = "TIDINGS_TEST_APP_SECRET"\n`,
  );
  const bin = process.env["TIDINGS_SERVE"] ?? path.join(repo, "target/debug/tidings-serve");
  const child = spawn(bin, ["--config", config], {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      TIDINGS_API_KEYS: API_KEY,
      TIDINGS_TEST_JWT_SECRET: SECRET,
      TIDINGS_TEST_APP_SECRET: APP_SECRET,
      RUST_LOG: "error",
    },
  });
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} did not start within 10 s`)), 10_000);
    child.once("error", (e) => reject(new Error(`cannot start ${bin}: ${e.message} (build it with cargo build -p tidings-serve)`)));
    child.once("exit", (code) => reject(new Error(`${bin} exited with ${code}`)));
    const stdout = child.stdout;
    if (stdout === null) return reject(new Error("no stdout"));
    createInterface({ input: stdout }).on("line", (line) => {
      const m = /listening on http:\/\/(\S+)/.exec(line);
      if (m !== null && m[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const node = {
    addr,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
  nodes.push(node);
  return node;
}

async function connect(node: Node, token: string): Promise<Client> {
  const client = createClient({
    url: `ws://${node.addr}/ws`,
    token,
    WebSocket: WebSocket as unknown as WebSocketCtor,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  clients.push(client);
  // Until the node's backplane is up, it refuses sessions with 1013 and the client retries.
  await eventually(() => client.state === "open", 10_000, "the client is open");
  return client;
}

function publisher(node: Node) {
  return createPublisher({ url: `http://${node.addr}`, apiKey: API_KEY });
}

function ticketCreated(title: string): ticket.Created {
  return {
      ticket: {
        id: "7e000000-0000-4000-8000-000000000001",
        tenant_id: T1,
        title,
        status: "open",
        created_by: ALICE,
        assignee_id: BOB,
        participant_ids: [CAROL],
        created_at: "2026-12-01T10:00:00Z",
        updated_at: "2026-12-01T10:00:00Z",
        priority: "normal",
        tags: [],
      },
      actor_id: ALICE,
  };
}

/**
 * The app's backend, in Node: it handles `chat:sendMessage` (the handler proxy POSTs each event
 * clients send here) by storing the message — or refusing an empty chat — and answering with
 * the stored message, as docs/serve.md shows.
 */
function startApp(): Promise<string> {
  app = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const call = JSON.parse(body) as {
        event: string;
        data: chat.SendMessage;
        principal: { user_id: string; tenant?: string };
      };
      appCalls.push([req.headers.authorization, call]);
      res.setHeader("content-type", "application/json");
      if (call.event !== chat.CHAT_SEND_MESSAGE) return res.end(JSON.stringify({ reply: null }));
      if (call.data.body.type === "deleted") {
        res.statusCode = 422;
        return res.end(JSON.stringify({ error: { code: "nothing_to_send", message: "a new message cannot be deleted", field: "body" } }));
      }
      const stored: chat.ChatMessage = {
        id: "4e000000-0000-4000-8000-000000000001",
        chat_id: call.data.chat_id,
        tenant_id: call.principal.tenant ?? "",
        sender_id: call.principal.user_id,
        body: call.data.body,
        sent_at: "2026-12-02T10:00:00Z",
      };
      res.end(JSON.stringify({ reply: stored }));
    });
  });
  return new Promise((resolve) =>
    app.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(app.address() as AddressInfo).port}/tidings`)),
  );
}

before(async () => {
  appUrl = await startApp();
  let url: string;
  ({ url, stop: redisStop } = await startRedis());
  await startNode(url);
  await startNode(url);
});

after(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) await n.stop();
  redisStop();
  app.close();
});

test("a publish on one node reaches whom the rules name on both nodes, never another tenant", async () => {
  const [one, two] = nodes as [Node, Node];
  const bob = await connect(one, jwt(BOB, T1));
  const carol = await connect(two, jwt(CAROL, T1));
  const admin2 = await connect(one, jwt(ADMIN2, T2, ["admin"]));
  const seen = (c: Client) => {
    const got: Array<[string, number | undefined]> = [];
    c.on(ticket.TICKET_CREATED, (data, meta) => got.push([data.ticket.title, meta.seq]));
    return got;
  };
  const [b, c, a2] = [seen(bob), seen(carol), seen(admin2)];

  // The typed publisher generated from the schema (`tidings generate --ts-publisher`).
  const published = await publisher(two).publish(ticket.TICKET_CREATED, ticketCreated("Printer on fire"));
  assert.equal(typeof published.id, "string");
  assert.equal(published.connections, null, "through the backplane: delivered after the answer");
  await eventually(() => b.length === 1 && c.length === 1, 5_000, "bob (node one) and carol (node two)");
  assert.equal(b[0]?.[0], "Printer on fire");
  assert.equal(typeof b[0]?.[1], "number", "durable: numbered in the user's stream");

  // A malformed publish: refused with the field's path, nothing delivered.
  await assert.rejects(publisher(one).publish(ticket.TICKET_CREATED, ticketCreated("x".repeat(201))), (e: unknown) => {
    assert.ok(e instanceof PublishError);
    assert.equal(e.status, 422);
    assert.equal(e.code, "constraint_violated");
    assert.equal(e.path, "ticket.title");
    return true;
  });
  // A batch, and a retry with its idempotency key, which publishes nothing more.
  const batch = await publisher(one).publishBatch([{ event: ticket.TICKET_CREATED, data: ticketCreated("Second") }], {
    idempotencyKey: "second",
  });
  const again = await publisher(one).publishBatch([{ event: ticket.TICKET_CREATED, data: ticketCreated("Second") }], {
    idempotencyKey: "second",
  });
  assert.deepEqual(again, batch, "the first answer again");
  await eventually(() => b.length === 2 && c.length === 2, 5_000, "the next event");
  assert.deepEqual(b.map((x) => x[0]), ["Printer on fire", "Second"], "the refused one never arrived");
  assert.deepEqual(a2, [], "an admin of another tenant gets nothing");
});

test("an event a client sends reaches the app's backend, and its reply comes back typed", async () => {
  const [one] = nodes as [Node, Node];
  const alice = await connect(one, jwt(ALICE, T1, ["agent"]));
  const stored: chat.ChatMessage = await alice.request(chat.CHAT_SEND_MESSAGE, {
    chat_id: CHAT,
    body: { type: "text", text: "hello" },
  });
  assert.equal(stored.sender_id, ALICE);
  assert.equal(stored.tenant_id, T1);
  assert.deepEqual(stored.body, { type: "text", text: "hello" });
  const [auth, call] = appCalls.at(-1) ?? [];
  assert.equal(auth, `Bearer ${APP_SECRET}`, "the app can tell the server's calls");
  assert.deepEqual(call?.principal, { user_id: ALICE, roles: ["agent"], tenant: T1 });

  // The app's error reaches the client with the app's code and field.
  await assert.rejects(alice.request(chat.CHAT_SEND_MESSAGE, { chat_id: CHAT, body: { type: "deleted" } }), (e: unknown) => {
    assert.ok(e instanceof TidingsError);
    assert.equal(e.code, "nothing_to_send");
    assert.equal(e.field, "body");
    return true;
  });
  // A payload the contract refuses never reaches the app.
  const calls = appCalls.length;
  await assert.rejects(alice.request(chat.CHAT_SEND_MESSAGE, { chat_id: "not a uuid", body: { type: "text", text: "x" } }), {
    code: "constraint_violated",
  });
  assert.equal(appCalls.length, calls);
});

/** Runs clients/python/publish.py against `node`, for a ticket of `tenant` assigned to `user`. */
async function publishFromPython(node: Node, tenant: string, user: string): Promise<Record<string, unknown>> {
  // On the venv ./scripts/test makes (target/py) and the package it generates (target/py/gen/events).
  const python = process.env["TIDINGS_PYTHON"] ?? path.join(repo, "target/py/bin/python");
  const pythonPath = process.env["TIDINGS_PYTHON_PATH"] ?? path.join(repo, "target/py/gen");
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      python,
      [path.join(repo, "clients/python/publish.py"), `http://${node.addr}`, API_KEY, tenant, user],
      { env: { ...process.env, PYTHONPATH: pythonPath }, timeout: 30_000 },
      (e, stdout, stderr) => (e ? reject(new Error(`${python} publish.py: ${e.message}\n${stderr}`)) : resolve(stdout)),
    ),
  );
  return JSON.parse(out) as Record<string, unknown>;
}

test("a Python backend publishes typed events (tidings generate --python); clients get them by the rules", async () => {
  const [one, two] = nodes as [Node, Node];
  const bob = await connect(two, jwt(BOB, T1));
  const admin2 = await connect(one, jwt(ADMIN2, T2, ["admin"]));
  const got: string[] = [];
  bob.on(ticket.TICKET_CREATED, (d) => got.push(`created ${d.ticket.title}`));
  bob.on(ticket.TICKET_UPDATED, (d) => got.push(`updated ${d.ticket.title}`));
  bob.on(ticket.TICKET_STATUS_CHANGED, (d) => got.push(`status ${d.ticket.status}`));
  const other: string[] = [];
  admin2.on(ticket.TICKET_CREATED, (d) => other.push(d.ticket.title));

  const seen = await publishFromPython(one, T1, BOB);
  assert.equal(typeof seen["created"], "string", "published once, the retry answered the same");
  assert.deepEqual(seen["refused"], { status: 422, code: "constraint_violated", path: "ticket.title" });
  assert.equal(seen["batch"], 1);
  assert.equal(typeof seen["async"], "string");
  assert.equal(seen["away"], "unavailable");
  await eventually(() => got.length === 3, 5_000, "bob gets the three events, on the other node");
  assert.deepEqual(got, ["created From Python", "updated From Python, renamed", "status open"]);
  assert.deepEqual(other, [], "an admin of another tenant gets nothing");
});

test("the demo page (Chromium) receives events published from Node and Python, by the rules", async () => {
  const [one, two] = nodes as [Node, Node];
  // The demo page, served as a static site of its own; it connects to a node with a JWT.
  const site = createServer((req, res) => {
    const file = req.url === "/app.js" ? "examples/web/dist/app.js" : "examples/web/index.html";
    res.setHeader("content-type", file.endsWith(".js") ? "text/javascript" : "text/html");
    res.end(readFileSync(path.join(repo, file)));
  });
  const siteUrl = await new Promise<string>((resolve) =>
    site.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(site.address() as AddressInfo).port}`)),
  );
  const browser = await launchChromium();
  try {
    const open = async (node: Node, token: string) => {
      const page = await browser.newPage();
      await page.goto(`${siteUrl}/?user=carol&ws=${encodeURIComponent(`ws://${node.addr}/ws`)}&token=${token}`);
      await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });
      return page;
    };
    const carolPage = await open(two, jwt(CAROL, T1));
    const otherTenant = await open(one, jwt(ADMIN2, T2, ["admin"]));
    const created = ticketCreated("From Node to the page");
    await publisher(one).publish(ticket.TICKET_CREATED, created);
    await carolPage.waitForSelector('#tickets li:has-text("From Node to the page")', { timeout: 5_000 });
    await publishFromPython(one, T1, CAROL);
    await carolPage.waitForSelector('#tickets li:has-text("From Python")', { timeout: 5_000 });
    // The status change from Python's asyncio publisher updates the row in place.
    await carolPage.waitForSelector('#tickets li:has-text("From Python, renamed")', { timeout: 5_000 });
    assert.equal(await otherTenant.locator("#tickets li").count(), 0, "another tenant's page gets nothing");
  } finally {
    await browser.close();
    site.close();
  }
});
