// Runs `meetgate demo` and a headless Chromium for the browser tests.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../..");
export const screenshotDir = path.join(here, "screenshots");
const binary = process.env.MEETGATE_BIN ?? path.join(repoRoot, "target/debug/meetgate");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `meetgate demo` on free loopback ports with a fresh data directory and waits until it
 * answers. Returns its demo.json and a `stop()`.
 */
export async function startDemo() {
  if (!fs.existsSync(binary)) {
    throw new Error(`${binary} does not exist: build it first with \`cargo build -p meetgate\``);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "meetgate-browser-"));
  const [listen, sandboxListen] = [await freePort(), await freePort()];
  const log = fs.openSync(path.join(dataDir, "demo.log"), "w");
  // A clean environment: no MEETGATE_* settings of the developer's shell, no meetgate.toml
  // (the demo runs in its own directory).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MEETGATE_")));
  const child = spawn(
    binary,
    ["demo", "--listen", `127.0.0.1:${listen}`, "--sandbox-listen", `127.0.0.1:${sandboxListen}`, "--data-dir", dataDir],
    { cwd: dataDir, env: { ...env, MEETGATE_LOG_LEVEL: "warn" }, stdio: ["ignore", log, log] },
  );
  let exited = null;
  child.on("exit", (code, signal) => { exited = { code, signal }; });
  const jsonPath = path.join(dataDir, "demo.json");
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`meetgate demo exited early (${JSON.stringify(exited)}):\n${fs.readFileSync(path.join(dataDir, "demo.log"), "utf8")}`);
    if (Date.now() > deadline) throw new Error("meetgate demo did not become ready within 60 s");
    if (fs.existsSync(jsonPath)) {
      try {
        const demo = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
        const ready = await fetch(`${demo.meetgate_url}/readyz`);
        if (ready.ok) {
          return {
            demo,
            dataDir,
            async stop() {
              if (!exited) {
                child.kill("SIGTERM");
                for (let i = 0; i < 100 && !exited; i++) await sleep(50);
                if (!exited) child.kill("SIGKILL");
              }
              fs.rmSync(dataDir, { recursive: true, force: true });
            },
          };
        }
      } catch (_) { /* not written completely, or not listening yet */ }
    }
    await sleep(100);
  }
}

/** A headless Chromium with a fresh profile directory, as one browser context. */
export async function startBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "meetgate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1200, height: 860 },
    locale: "en-US",
    timezoneId: "Europe/Berlin",
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async stop() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `screenshots/NAME.png`. */
export async function screenshot(page, name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Signs in on the sign-in page and waits for the dashboard. */
export async function signIn(page, baseUrl, { email, password }) {
  await page.goto(`${baseUrl}/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${baseUrl}/app`);
}

/** Polls `check` (an async predicate) until it holds, or fails after `ms`. */
export async function eventually(what, check, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(200);
  }
}
