// What the demo pages (plain, React, Vue) share: who is logged in (from the query string, as the
// example server authenticates) and the demo's names for ids.
export const params = new URLSearchParams(location.search);
export const me = params.get("user") ?? "alice";
export const tenantName = params.get("tenant") ?? "acme";
export const roles = params.get("roles") ?? "admin";
/** The demo's chat room. */
export const CHAT = "00000000-0000-4000-8000-000000000042";

const otherServer = params.get("ws");
/**
 * The WebSocket endpoint: the example server's for this user (it trusts the query string; a real
 * app sends a token), or another server's given as `?ws=ws://host/ws&token=<jwt>`, such as a
 * `tidings serve` (docs/serve.md), with the JWT in the query.
 */
export const wsUrl =
  otherServer !== null
    ? `${otherServer}?token=${encodeURIComponent(params.get("token") ?? "")}`
    : `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?user=${encodeURIComponent(me)}&tenant=${encodeURIComponent(tenantName)}&roles=${encodeURIComponent(roles)}`;

/** The demo's ids for names (the server derives ids from names the same way). */
export function demoId(name: string): string {
  let h = 0x6c62272e07bb014262b821756295c58dn;
  const prime = 0x0000000001000000000000000000013bn;
  for (const b of new TextEncoder().encode(name)) {
    h ^= BigInt(b);
    h = (h * prime) & ((1n << 128n) - 1n);
  }
  const hex = h.toString(16).padStart(32, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
const names = new Map<string, string>(["alice", "bob", "carol", "dave", me].map((n) => [demoId(n), n]));
/** A demo name for an id. */
export const nameOf = (id: string): string => names.get(id) ?? id.slice(0, 8);

export const STYLE = `
  :root { font: 15px/1.4 system-ui, sans-serif; color: #1d2430; background: #f4f6f9; }
  body { margin: 0; padding: 20px; }
  header { display: flex; align-items: baseline; gap: 12px; margin-bottom: 16px; }
  h1 { font-size: 20px; margin: 0; }
  .muted { color: #8a93a3; font-size: 13px; }
  .state { padding: 2px 10px; border-radius: 12px; background: #e4e7ee; font-size: 13px; }
  .state[data-state="open"] { background: #d7f5df; color: #17603a; }
  .state[data-state="reconnecting"], .state[data-state="connecting"] { background: #fff1c9; color: #7a5300; }
  main { display: grid; grid-template-columns: repeat(3, minmax(240px, 1fr)); gap: 16px; }
  section { background: white; border-radius: 10px; padding: 14px 16px; box-shadow: 0 1px 3px #0001; }
  h2 { font-size: 15px; margin: 0 0 10px; }
  form { display: flex; gap: 6px; margin-bottom: 10px; }
  input { flex: 1; min-width: 80px; padding: 5px 8px; border: 1px solid #cfd5df; border-radius: 6px; }
  button { padding: 5px 12px; border: 0; border-radius: 6px; background: #3a6df0; color: white; cursor: pointer; }
  ul { list-style: none; margin: 0; padding: 0; }
  li { padding: 6px 0; border-top: 1px solid #eef0f4; }
  .toast { display: flex; gap: 8px; align-items: center; }
  .toast progress { flex: 1; }
  .error { color: #b42318; }
`;
