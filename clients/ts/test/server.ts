// Starts the Rust example server (target/debug/example_server, built by cargo before the tests)
// on a free loopback port, and stops it.
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (tests run from clients/ts/dist/test). */
export const repo = path.resolve(here, "../../../..");

export interface RunningServer {
  /** `127.0.0.1:PORT` */
  addr: string;
  /** `ws://127.0.0.1:PORT/ws` */
  ws: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the example server; `listen` defaults to a free port; `extra` are more arguments. */
export async function startServer(listen = "127.0.0.1:0", extra: string[] = []): Promise<RunningServer> {
  const bin = process.env["TIDINGS_EXAMPLE_SERVER"] ?? path.join(repo, "target/debug/example_server");
  const child = spawn(bin, ["--listen", listen, "--web", path.join(repo, "examples/web"), ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${bin} did not start within 10 s`)), 10_000);
    child.once("error", (e) => reject(new Error(`cannot start ${bin}: ${e.message} (build it with cargo build -p tidings-examples)`)));
    child.once("exit", (code) => reject(new Error(`${bin} exited with ${code}`)));
    const stdout = child.stdout;
    if (stdout === null) return reject(new Error("no stdout"));
    createInterface({ input: stdout }).on("line", (line) => {
      const m = /^listening on http:\/\/(.+)$/.exec(line);
      if (m !== null && m[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    addr,
    ws: `ws://${addr}/ws`,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Resolves when `check` holds, polling; rejects after `ms`. */
export async function eventually(check: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The Chromium of the browser tests: `CHROMIUM` or /usr/bin/chromium (scripts/test installs it). */
export async function launchChromium(): Promise<import("playwright-core").Browser> {
  const { chromium } = await import("playwright-core");
  const { existsSync } = await import("node:fs");
  const executablePath = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: apt-get install chromium (scripts/test does)`);
  return chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The `process_id` that `INFO server` names on the loopback port, or null while nothing answers
 * there as Redis does.
 */
async function servedBy(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => done(null));
    socket.once("connect", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString("latin1");
      const m = /\r\nprocess_id:(\d+)\r\n/.exec(reply);
      if (m !== null && m[1] !== undefined) done(Number(m[1]));
      else if (reply.length > 65_536) done(null);
    });
    socket.once("error", () => done(null));
    socket.once("close", () => done(null));
  });
}

/**
 * A redis-server of its own on a free loopback port, without persistence: its URL, and how to stop
 * it. A free port found by letting one go may be taken before redis-server binds it, and a bare
 * connect may even reach itself (TCP simultaneous open), so it counts as started only once `INFO
 * server` there names its process; a child that exits first is started again on another port
 * (the Rust tests' runtime/tests/it/redis_server.rs checks the same way).
 */
export async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const failures: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    const failed = new Promise<string>((resolve) => {
      redis.once("error", (e) => resolve(`cannot start redis-server (the README's test command installs it): ${e.message}`));
      redis.once("exit", (code, signal) => resolve(`it exited (${code ?? signal}) before it served`));
    });
    let failure: string | null = null;
    void failed.then((why) => (failure = why));
    const deadline = Date.now() + 10_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      if (failure !== null) break;
      const pid = await servedBy(port);
      if (pid !== null && pid === redis.pid) {
        return { url: `redis://127.0.0.1:${port}/`, stop: () => redis.kill("SIGKILL") };
      }
      if (pid !== null) failure = `another redis-server (process ${pid}) serves it`;
      else if (Date.now() > deadline) failure = "it did not serve within 10 s";
      if (failure !== null) break;
    }
    redis.kill("SIGKILL");
    failures.push(`port ${port}: ${failure}`);
    if (failure.startsWith("cannot start")) break;
  }
  throw new Error(`redis-server did not serve: ${failures.join("; ")}`);
}
