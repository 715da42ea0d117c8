// The fake client an app tests with (#21): typed pushes checked by the guards, state changes
// seen by listeners and modules, answered and pending requests, and the operations helper on it.
import { test } from "node:test";
import * as assert from "node:assert/strict";

import { chat, createFakeClient, Module, onOperation, ticket, type OperationUpdate } from "../generated/index.js";
import { TICKET } from "./fixtures.js";


test("pushed events reach the handlers, checked by the guards like real ones", () => {
  const fake = createFakeClient();
  const titles: string[] = [];
  const errors: string[] = [];
  fake.on(ticket.TICKET_CREATED, (d, meta) => titles.push(`${d.ticket.title} ${meta.type}`));
  fake.onError((e) => errors.push(e.code));
  fake.push(ticket.TICKET_CREATED, { ...TICKET, ticket: { ...TICKET.ticket, status: "open" } });
  // A payload the schema refuses (a cast past the types, as a broken server would send).
  fake.push(ticket.TICKET_CREATED, { ...TICKET, ticket: { ...TICKET.ticket, title: 7 } } as never);
  assert.deepEqual(titles, ["Broken chair ticket:created"]);
  assert.deepEqual(errors, ["invalid_frame"]);
});

test("state changes reach listeners and modules; requests are answered, or stay pending", async () => {
  const fake = createFakeClient({ session: { user: "alice" } });
  const states: string[] = [];
  fake.onState((s) => states.push(s));
  let connects = 0;
  class Counter extends Module {
    readonly name = "counter";
    protected override onConnect(): void {
      connects++;
    }
  }
  fake.use(new Counter());
  fake.setState("open");
  assert.equal(fake.session?.user, "alice");
  assert.equal(fake.caughtUp, true);
  fake.setState("reconnecting");
  assert.equal(fake.reconnectAttempt, 1);
  fake.setState("open");
  assert.deepEqual(states, ["open", "reconnecting", "open"]);
  assert.equal(connects, 2);

  fake.answer(chat.CHAT_SEND_MESSAGE, (d) => ({
    id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    chat_id: d.chat_id,
    tenant_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    sender_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
    body: d.body,
    sent_at: "2026-12-01T00:00:00Z",
  }));
  const stored = await fake.request(chat.CHAT_SEND_MESSAGE, { chat_id: "c1", body: { type: "text", text: "hi" } });
  assert.equal(stored.chat_id, "c1");
  const typing = fake.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: true });
  assert.deepEqual(fake.pendingRequests.map((p) => p.event), [chat.CHAT_SET_TYPING], "no answer given: pending");
  assert.deepEqual(fake.sent.map((s) => s.event), [chat.CHAT_SEND_MESSAGE, chat.CHAT_SET_TYPING]);
  await fake.join("chat:c1");
  assert.deepEqual([...fake.rooms], ["chat:c1"]);
  fake.close();
  await assert.rejects(typing, { code: "closed" }, "a close rejects what is pending, as a real client's does");
  assert.deepEqual(fake.pendingRequests, []);
  assert.throws(() => fake.send(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: false }), { code: "closed" });
});

test("unanswered requests time out, and a drop rejects those sent on the connection, as on a real client", async () => {
  const fake = createFakeClient({ requestTimeoutMs: 20 });
  const offline = fake.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: true });
  await assert.rejects(offline, { code: "timeout" });
  const own = fake.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: true }, { timeoutMs: 5 });
  await assert.rejects(own, { code: "timeout" }, "a request's own timeout");
  const waits = createFakeClient();
  waits.setState("open");
  const sent = waits.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: true });
  waits.setState("reconnecting");
  await assert.rejects(sent, { code: "disconnected" });
  // Asked while reconnecting: queued, as in a real client's offline queue, and sent when the
  // connection opens — so a drop after that rejects it.
  const queued = waits.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: false });
  assert.deepEqual(waits.pendingRequests.map((p) => p.sent), [false]);
  waits.setState("open");
  assert.deepEqual(waits.pendingRequests.map((p) => p.sent), [true]);
  waits.setState("reconnecting");
  await assert.rejects(queued, { code: "disconnected" });
  const last = waits.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: false });
  waits.close();
  await assert.rejects(last, { code: "closed" });
  // On a closed client a request is a rejected promise (not a throw), and a join is refused.
  await assert.rejects(waits.request(chat.CHAT_SET_TYPING, { chat_id: "c1", is_typing: false }), { code: "closed" });
  await assert.rejects(waits.join("chat:1"), { code: "closed" });
  assert.equal(waits.reconnectAttempt, 0, "a close resets the attempt, as on a real client");
});

test("the operations helper runs on the fake: running operations, pushed progress and completion", async () => {
  const fake = createFakeClient();
  fake.setOperations([
    { operation_id: "old", operation_type: "export_csv", state: "running", percentage: 30, seq: 1, ts: "t" },
  ]);
  const seen: OperationUpdate[] = [];
  onOperation(fake, (u) => seen.push(u));
  fake.setState("open");
  await Promise.resolve();
  await Promise.resolve();
  fake.push("operation:complete", {
    operation_id: "old",
    operation_type: "export_csv",
    user_id: "u1",
    result: null,
    refresh_tables: ["exports"],
  });
  assert.deepEqual(
    seen.map((u) => `${u.operation_id} ${u.phase} ${u.percentage}`),
    ["old started 30", "old complete 100"],
  );
  assert.deepEqual(seen[1]?.refresh_tables, ["exports"]);
});

test("room builders generated from the schemas' room templates", async () => {
  assert.equal(chat.rooms.chat({ chat_id: "c1" }), "chat:c1");
  const fake = createFakeClient();
  fake.setState("open");
  await fake.join(chat.rooms.chat({ chat_id: "42" }));
  assert.deepEqual([...fake.rooms], ["chat:42"]);
  // A parameter has its placeholder field's type: `chat_id` is a uuid, a string.
  // @ts-expect-error a number is not a chat id
  assert.equal(chat.rooms.chat({ chat_id: 42 }), "chat:42");
});
