/*
 * console.cjs - the browser half of t7101: Debian's chromium, headless,
 * driven by playwright-core, against a real `mdeploy serve` and real
 * pipeline runs that deploy to PHP instances behind HAProxy.
 *
 * Environment: BROWSER_DEPS (node_modules of build-aux/browser-deps.sh),
 * BASE (console URL), WTOKEN / RTOKEN (write and read-only tokens), MDEPLOY
 * (the binary), LBURL (the group's load balancer), SHOTS (screenshot dir).
 * Prints one result per line: "0<TAB>name" (pass), "1<TAB>name" (fail),
 * "#<TAB>text" (diagnostics); the shell test turns them into TAP.
 */
"use strict";
const path = require("path");
const { spawn } = require("child_process");
const { chromium } = require(path.join(process.env.BROWSER_DEPS, "node_modules", "playwright-core"));

const { BASE, WTOKEN, RTOKEN, MDEPLOY, LBURL, SHOTS } = process.env;
let failed = 0;
function ok(cond, name, why) {
  console.log((cond ? "0" : "1") + "\t" + name);
  if (!cond) { failed++; if (why) console.log("#\t" + String(why).replace(/\n/g, " ")); }
  return cond;
}
async function check(name, fn) {
  try { await fn(); return ok(true, name); } catch (e) { return ok(false, name, e.message); }
}
function run(args) {
  const p = spawn(MDEPLOY, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr.on("data", (d) => { err += d; });
  p.done = new Promise((res) => p.on("exit", (code) => res({ code, err })));
  return p;
}
async function served() {
  try { return (await (await fetch(LBURL)).text()).trim(); } catch (e) { return "unreachable: " + e.message; }
}
/* Percentages the group page's weights show, by fleet ("web-prod-v001": 50). */
async function weights(page) {
  const items = await page.locator("[data-testid=fleet-weight]").allTextContents();
  const w = {};
  for (const t of items) { const m = t.match(/^(\S+): (\d+)%/); if (m) w[m[1]] = +m[2]; }
  return w;
}
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn().catch((e) => { last = e.message; return false; });
    if (last === true) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for " + what + (last !== false && last !== undefined ? " (last: " + JSON.stringify(last) + ")" : ""));
}

(async () => {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  page.on("dialog", (d) => d.accept());
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));

  // ---- no token: the page asks for one, the API refuses -------------------
  await page.goto(BASE + "/");
  await check("without a session the page shows the sign-in form", () => page.getByLabel("Token").waitFor());
  ok(await page.evaluate(() => fetch("/api/executions").then((r) => r.status)) === 401, "a request without a token is refused (401)");
  await page.getByLabel("Token").fill("mdt_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  await check("a wrong token: sign-in refused", () => page.getByText("Sign-in refused").waitFor());
  await page.screenshot({ path: path.join(SHOTS, "01-sign-in.png") });
  await page.getByLabel("Token").fill(WTOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await check("signed in with a write token", () => page.getByText("alice", { exact: true }).waitFor());
  const cookie = (await ctx.cookies()).find((c) => c.name === "mdeploy_session");
  ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
  await page.evaluate(() => { window.__noReload = 1; });

  // ---- an execution progressing on screen, an approval clicked ------------
  const run1 = run(["pipeline", "run", "--poll-ms", "100", "ship", "--var", "text=release one"]);
  const row = page.locator("section[aria-labelledby=ex-h] tbody tr").first();
  await check("the new execution appears on the overview without reload", () => row.waitFor());
  await row.getByRole("link").click();
  const src = page.locator("[data-action='Source/Make-site']");
  await check("the execution page shows the source action running",
    () => src.getByText("InProgress", { exact: true }).waitFor());
  await src.getByText("Output").click();
  await check("the running action's output is followed without reload", async () => {
    await src.locator("pre.log").getByText("still making it").waitFor({ timeout: 8000 });
    if (!(await src.getByText("InProgress", { exact: true }).count())) throw new Error("the action had ended already");
  });
  await page.screenshot({ path: path.join(SHOTS, "02-execution-running.png"), fullPage: true });
  await check("... then succeeded, without reload", () => src.getByText("Succeeded", { exact: true }).waitFor());
  const gate = page.locator("[data-action='Gate/Release-manager']");
  await check("the approval waits with its summary and buttons", async () => {
    await gate.getByText("Waiting", { exact: true }).waitFor();
    await gate.getByText("waiting for approval: ship release one?").waitFor();
    await gate.getByRole("button", { name: "Approve" }).waitFor();
  });
  await check("the action's output stays open and complete", () => src.locator("pre.log").getByText("making the site: release one").waitFor());
  await page.screenshot({ path: path.join(SHOTS, "03-approval.png"), fullPage: true });
  const id = page.url().split("/").pop();
  const csrfless = await page.evaluate((id) => fetch(`/api/executions/${id}/approve`, { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action: "Gate/Release-manager" }) })
    .then((r) => r.status), id);
  ok(csrfless === 403, "a POST without the CSRF token is refused (403) even with the session cookie", "got " + csrfless);
  await gate.getByLabel("Comment").fill("looks good");
  await gate.getByRole("button", { name: "Approve" }).click();
  await check("after Approve the pipeline goes on and succeeds, shown live",
    () => page.locator("[data-testid=exec-status]").getByText("Succeeded", { exact: true }).waitFor({ timeout: 60000 }));
  const r1 = await run1.done;
  ok(r1.code === 0, "the pipeline run exits 0", r1.err);
  ok(await served() === "release one", "release one is live");
  ok(await page.evaluate(() => window.__noReload === 1), "no page reload happened");
  await page.screenshot({ path: path.join(SHOTS, "04-execution-done.png"), fullPage: true });

  // ---- a canary shift on screen, approved from the overview ---------------
  const run2 = run(["pipeline", "run", "--poll-ms", "100", "ship", "--var", "text=release two"]);
  await page.goto(BASE + "/#/");
  const card = page.locator("[data-testid=approval]").first();
  await check("the next approval appears on the overview", () => card.waitFor({ timeout: 30000 }));
  await card.getByRole("button", { name: "Approve" }).click();
  await page.goto(BASE + "/#/groups/prod");
  let split = null;
  await check("the group page shows the canary's weights, 50% and 50%", () => until(async () => {
    const w = await weights(page);
    if (Object.values(w).filter((v) => v === 50).length === 2) { split = w; return true; }
    return w;
  }, 60000, "a 50/50 split"));
  await page.screenshot({ path: path.join(SHOTS, "05-canary.png"), fullPage: true });
  await check("... then 100% to the new fleet, without reload", () => until(async () => {
    const w = await weights(page);
    const e = Object.entries(w);
    return e.length >= 1 && e.some(([f, v]) => v === 100 && split && f in split && f !== "web-prod-v001") || w;
  }, 60000, "100% on the new fleet"));
  const r2 = await run2.done;
  ok(r2.code === 0, "the second run exits 0", r2.err);
  ok(await served() === "release two", "release two is live");

  // ---- journal timeline ------------------------------------------------------
  const dep = await page.evaluate(() => fetch("/api/groups/prod").then((r) => r.json()).then((g) => g.live.id));
  await page.goto(BASE + "/#/deployments/" + dep);
  await check("the deployment's journal shows its shift steps", async () => {
    await page.locator("[data-testid=journal] li").filter({ hasText: "shift 50" }).waitFor();
    await page.locator("[data-testid=journal] li").filter({ hasText: "shift 100" }).waitFor();
  });
  await page.screenshot({ path: path.join(SHOTS, "06-journal.png"), fullPage: true });

  // ---- the rollback button -----------------------------------------------------
  await page.goto(BASE + "/#/groups/prod");
  await page.locator("[data-testid=rollback]").click();
  await check("Roll back: the page says it rolled back", () => page.getByText("Group prod rolled back").waitFor({ timeout: 60000 }));
  await check("... and shows the first fleet taking 100% again", () => until(async () => {
    const w = await weights(page);
    return w["web-prod-v001"] === 100 || w;
  }, 30000, "web-prod-v001 at 100%"));
  ok(await served() === "release one", "release one is live again");
  await check("the live release says who deployed it (the token) and its bundle's SHA-256", () => until(async () => {
    const g = await page.evaluate(() => fetch("/api/groups/prod").then((r) => r.json()));
    const by = await page.locator("[data-testid=live-by]").textContent();
    const sha = await page.locator("[data-testid=live-sha256]").textContent();
    return (by === "token:alice" && /^[0-9a-f]{64}$/.test(sha) && sha === g.live.bundle_sha256) || [by, sha, g.live.bundle_sha256];
  }, 30000, "token:alice and the live bundle's digest"));
  await page.screenshot({ path: path.join(SHOTS, "07-rolled-back.png"), fullPage: true });
  await page.goto(BASE + "/#/executions");
  await page.getByRole("link", { name: "ship", exact: true }).click();
  await check("a pipeline's page lists its executions", async () => {
    await page.getByRole("heading", { name: "Pipeline ship" }).waitFor();
    if (await page.locator("tbody tr").count() !== 2) throw new Error("expected 2 executions");
  });
  await page.goto(BASE + "/#/audit");
  await check("the audit page lists the decisions with who took them", async () => {
    await page.locator("tr").filter({ hasText: "approve" }).filter({ hasText: "token:alice" }).first().waitFor();
    await page.locator("tr").filter({ hasText: "rollback" }).filter({ hasText: "token:alice" }).first().waitFor();
  });

  // ---- Stop and roll back during a canary ----------------------------------------
  const run3 = run(["pipeline", "run", "--poll-ms", "100", "ship", "--var", "text=release three"]);
  await page.goto(BASE + "/#/");
  const card3 = page.locator("[data-testid=approval]").first();
  await check("the third release's approval appears", () => card3.waitFor({ timeout: 30000 }));
  await card3.getByRole("button", { name: "Approve" }).click();
  await page.goto(BASE + "/#/groups/prod");
  await check("the third release's canary shows 50/50", () => until(async () => {
    const w = await weights(page);
    return (w["web-prod-v001"] === 50 && Object.values(w).filter((v) => v === 50).length === 2) || w;
  }, 60000, "a 50/50 split with web-prod-v001"));
  await page.getByRole("button", { name: "Stop and roll back" }).click();
  await check("Stop and roll back: the page says so", () => page.getByText(/stopped and rolled back/).waitFor({ timeout: 30000 }));
  await check("... and web-prod-v001 takes 100% again", () => until(async () => {
    const w = await weights(page);
    return w["web-prod-v001"] === 100 || w;
  }, 30000, "web-prod-v001 at 100%"));
  ok(await served() === "release one", "release one still serves after the stopped canary");
  const r3 = await run3.done;
  ok(r3.code !== 0, "the third run ends unsuccessfully (its deployment was stopped)");
  const last = await page.evaluate(() => fetch("/api/deployments?group=prod&limit=1").then((r) => r.json()));
  ok(["RolledBack", "Stopped"].includes(last.deployments[0].status), "the stopped deployment is recorded as rolled back",
    last.deployments[0].status);

  // ---- a read-only token, on a phone ---------------------------------------------
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  await p2.goto(BASE + "/");
  await p2.getByLabel("Token").fill(RTOKEN);
  await p2.getByRole("button", { name: "Sign in" }).click();
  await check("a read-only token signs in and is shown as such", () => p2.getByText("viewer (read-only)").waitFor());
  await p2.goto(BASE + "/#/groups/prod");
  await check("the group page shows traffic to a read-only token", () => p2.locator("[data-testid=weights]").waitFor());
  ok(await p2.locator("[data-testid=rollback]").count() === 0, "no Roll back button for a read-only token");
  const ro = await p2.evaluate(async () => {
    const s = await (await fetch("/api/session")).json();
    return (await fetch("/api/groups/prod/rollback", { method: "POST", body: "{}",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf } })).status;
  });
  ok(ro === 403, "a read-only session's rollback POST is refused (403)", "got " + ro);
  const wide = await p2.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
  ok(wide, "the group page fits a phone's width (no sideways scrolling of the page)");
  await p2.screenshot({ path: path.join(SHOTS, "08-phone.png"), fullPage: true });
  ok(pageErrors.length === 0, "no script errors on the pages", pageErrors.join("; "));
  await browser.close();
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log("1\tthe browser test ran to the end");
  console.log("#\t" + String(e && e.stack || e).replace(/\n/g, " | "));
  process.exit(1);
});
