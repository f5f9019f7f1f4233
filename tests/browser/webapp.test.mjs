// meetgate's web app in a real browser, against `meetgate demo` (meetgate wired to its offline
// Zoom sandbox). Run with `npm test` after `cargo build -p meetgate`; screenshots of the main
// pages land in screenshots/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { eventually, screenshot, signIn, startBrowser, startDemo } from "./support.mjs";

describe("meetgate's web app", () => {
  let demo, browser, base, clinician, admin;

  before(async () => {
    demo = await startDemo();
    browser = await startBrowser();
    base = demo.demo.meetgate_url;
    clinician = demo.demo.meetgate_sign_ins.find((s) => s.role === "clinician");
    admin = demo.demo.meetgate_sign_ins.find((s) => s.role === "admin");
    assert.ok(clinician && admin, "demo.json lists a clinician and an admin");
  });

  after(async () => {
    await browser?.stop();
    await demo?.stop();
  });

  /** A page in a browser with no cookies: nobody signed in. */
  async function freshPage() {
    await browser.context.clearCookies();
    for (const p of browser.context.pages()) await p.close();
    const page = await browser.context.newPage();
    page.on("dialog", (dialog) => dialog.accept());
    return page;
  }

  test("a newcomer connects Zoom, runs an instant meeting, schedules a session and cancels it", async () => {
    const page = await freshPage();
    await page.goto(base);
    assert.match(page.url(), /\/signin\?next=/, "the app sends strangers to the sign-in page");
    await screenshot(page, "signin");
    await signIn(page, base, clinician);
    await page.getByRole("heading", { name: `Hello, ${clinician.name}` }).waitFor();
    assert.match(await page.locator("#zoom-state").innerText(), /Not connected yet/);
    await screenshot(page, "dashboard-not-connected");

    // Connect Zoom: meetgate's connect page, then the sandbox's consent page, then back.
    await page.getByRole("button", { name: "Connect Zoom" }).click();
    await page.getByRole("heading", { name: "Connect your Zoom account" }).waitFor();
    await page.getByRole("link", { name: "Continue to Zoom" }).click();
    await page.waitForURL((url) => url.href.startsWith(demo.demo.sandbox_url));
    const zoomUser = demo.demo.sandbox_sign_ins[0];
    await page.locator("#email").fill(zoomUser.email);
    await page.locator("#password").fill(zoomUser.password);
    await screenshot(page, "sandbox-consent");
    await page.locator("#allow").click();
    await page.waitForURL((url) => url.href.startsWith(`${base}/app?`) && url.searchParams.get("meetgate_status") === "connected");
    assert.match(await page.locator("#flash").innerText(), /Your Zoom account is connected/);
    assert.equal(await page.locator("#zoom-account").innerText(), zoomUser.email);
    assert.match(await page.locator("#zoom-health").innerText(), /Healthy/);
    await screenshot(page, "dashboard-connected");

    // Start an instant meeting: Zoom (the sandbox's room) opens as host in a new tab.
    await page.getByLabel("Client label (optional)").first().fill("Pat, intake call");
    const [room] = await Promise.all([
      browser.context.waitForEvent("page"),
      page.getByRole("button", { name: "Start instant meeting" }).click(),
    ]);
    await room.waitForURL((url) => url.href.startsWith(`${demo.demo.sandbox_url}/s/`));
    await room.getByText("You are the host").waitFor();
    await page.waitForURL((url) => /\/app\/meetings\/[^/]+$/.test(url.pathname));
    assert.match(await page.locator("#flash").innerText(), /Zoom is opening in a new tab/);
    const joinUrl = (await page.locator("#join-url").innerText()).trim();
    assert.ok(joinUrl.startsWith(`${demo.demo.sandbox_url}/j/`), `join link ${joinUrl}`);
    // Zoom's meeting.started webhook reaches meetgate; the page polls and says so.
    await eventually("the meeting page says started", async () => (await page.locator("#meeting-status").innerText()) === "started");
    await screenshot(page, "meeting-started");

    // The client opens the join link and gets in.
    const client = await browser.context.newPage();
    await client.goto(joinUrl);
    await client.getByLabel("Your name").fill("Pat");
    await client.getByRole("button", { name: "Join" }).click();
    await client.getByText("You joined as Pat").waitFor();
    await client.close();
    await room.reload();
    await room.getByText("Pat").waitFor();
    await screenshot(room, "sandbox-room");

    await page.goto(`${base}/app`);
    const row = page.locator("#upcoming tr", { hasText: "Pat, intake call" });
    assert.equal(await row.locator("[data-meeting-status]").innerText(), "started");

    // End it in the room; the dashboard follows without a reload.
    await room.getByRole("button", { name: "End meeting for all" }).click();
    await eventually("the dashboard says ended", async () => (await row.locator("[data-meeting-status]").innerText()) === "ended");
    await room.close();

    // Schedule a weekly session for tomorrow, move it, then cancel it.
    const tomorrow = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
    await page.getByLabel("Client label (optional)").nth(1).fill("Sam, weekly check-in");
    await page.getByLabel("Date").fill(tomorrow);
    await page.getByLabel("Time", { exact: true }).fill("10:00");
    await page.getByLabel("Duration").selectOption("45");
    assert.equal(await page.getByLabel("Time zone").inputValue(), "Europe/Berlin", "the time zone starts as the browser's");
    await page.getByLabel("Every week on the same day and time").check();
    await page.getByLabel("Number of sessions").fill("4");
    await screenshot(page, "dashboard-schedule");
    await page.getByRole("button", { name: "Schedule session" }).click();
    await page.waitForURL(/done=scheduled/);
    assert.match(await page.locator("#flash").innerText(), /The session is scheduled/);
    assert.equal(await page.locator("#meeting-status").innerText(), "waiting");
    assert.equal(await page.locator("ul.plain li").count(), 4, "four weekly sessions");
    assert.match(await page.locator("dl.facts").innerText(), /10:00 CES?T \(Europe\/Berlin\)/);
    await screenshot(page, "meeting-scheduled");

    await page.getByLabel("Time", { exact: true }).fill("11:30");
    await page.getByRole("button", { name: "Move the series" }).click();
    await page.waitForURL(/done=rescheduled/);
    assert.match(await page.locator("dl.facts").innerText(), /11:30 CES?T \(Europe\/Berlin\)/);

    await page.getByRole("button", { name: "Cancel the series" }).click();
    await page.waitForURL(/\/app\?done=cancelled/);
    assert.match(await page.locator("#flash").innerText(), /cancelled/);
    assert.equal(await page.locator("#upcoming tr", { hasText: "Sam, weekly check-in" }).count(), 0);
    await screenshot(page, "dashboard");

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "dashboard-phone");
    await page.setViewportSize({ width: 1200, height: 860 });
  });

  test("an admin creates an API key, sees it once, and revokes it", async () => {
    const page = await freshPage();
    await signIn(page, base, admin);
    await page.getByRole("link", { name: "Admin" }).click();
    await page.getByRole("heading", { name: "Members" }).waitFor();
    assert.match(await page.locator("#members").innerText(), new RegExp(clinician.email));
    await screenshot(page, "admin-members");

    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByLabel("Label").fill("browser test key");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.locator("#new-key").innerText()).trim();
    assert.match(key, /^mg_live_[0-9a-f]{16}_/);
    await screenshot(page, "admin-api-key-created");
    const asHost = (k) => fetch(`${base}/v1/tenant/settings`, { headers: { authorization: `Bearer ${k}` } });
    assert.equal((await asHost(key)).status, 200, "the new key works");

    // Reloading the answer does not send the form again.
    const [reloaded] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/admin/api-keys`),
      page.reload(),
    ]);
    assert.equal(reloaded.request().method(), "GET");
    assert.equal(await page.locator("#new-key").count(), 0, "the key is shown only once");
    const row = page.locator("#keys tr", { hasText: "browser test key" });
    assert.equal(await row.count(), 1, "a reload made no second key");
    await row.getByRole("button", { name: /Revoke/ }).click();
    await page.waitForURL(/done=revoked/);
    assert.match(await row.innerText(), /revoked/);
    assert.equal((await asHost(key)).status, 401, "the revoked key is refused");

    // Times read in the browser's time zone; the UTC time stays on hover.
    const created = row.locator("time").first();
    assert.match(await created.getAttribute("title"), /UTC$/);
    assert.doesNotMatch(await created.innerText(), /UTC/);

    for (const [name, file] of [["Zoom", "admin-zoom"], ["Webhooks", "admin-webhooks"], ["Audit log", "admin-audit"], ["Meeting policy", "admin-settings"]]) {
      await page.getByRole("navigation", { name: "Administration" }).getByRole("link", { name }).click();
      await page.getByRole("heading", { level: 1 }).waitFor();
      await screenshot(page, file);
    }
    assert.match(await page.locator("body").innerText(), /Waiting room/);
  });

  test("a wrong password is refused with a readable message", async () => {
    const page = await freshPage();
    await page.goto(`${base}/signin`);
    await page.getByLabel("Email").fill(clinician.email);
    await page.getByLabel("Password").fill("not-the-password");
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/signin` && r.request().method() === "POST"),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    assert.equal(response.status(), 401);
    assert.match(await page.getByRole("alert").innerText(), /email and password do not match/);
    assert.equal(await page.getByLabel("Email").inputValue(), clinician.email, "the email stays filled in");
    await screenshot(page, "signin-wrong-password");
    const cookies = await browser.context.cookies(base);
    assert.equal(cookies.filter((c) => c.name.includes("mg_session")).length, 0, "no session");
  });

  test("a form posted without the session's CSRF token is refused", async () => {
    const page = await freshPage();
    await signIn(page, base, clinician);
    const before = await (await page.request.get(`${base}/app/status`)).json();
    // The browser's cookies go along, as they would from a forged form; the token does not.
    const forged = await page.request.post(`${base}/app/meetings/instant`, { form: { client_label: "forged" }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    assert.match(await forged.text(), /did not carry the security token/);
    const wrong = await page.request.post(`${base}/app/disconnect`, { form: { csrf: "not-the-token" }, maxRedirects: 0 });
    assert.equal(wrong.status(), 403);
    const after = await (await page.request.get(`${base}/app/status`)).json();
    assert.deepEqual(after, before, "nothing was created");
    await page.setContent(await forged.text());
    await screenshot(page, "csrf-refused");
  });
});
