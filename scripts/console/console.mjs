#!/usr/bin/env node
// The web console in a real browser (docs/CONSOLE.md): playwright-core
// drives Debian's Chromium, headless, against the release binary started
// here on a free loopback port with a data directory in a temporary
// directory. It walks through every page as an administrator and as a user
// without permissions, checks that a state-changing request without the
// CSRF token is refused, fails on any console error or failed request it
// did not expect, and saves screenshots of each page at 1280 px and 390 px,
// light and dark, in target/console-screenshots.
//
// Run: scripts/console/run.sh (installs playwright-core with npm ci), or
// `node scripts/console/console.mjs` after `cargo build --release`.
// CHROMIUM=/path/to/chromium overrides /usr/bin/chromium.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const KMS = path.join(ROOT, "target", "release", "kms");
const SHOTS = path.join(ROOT, "target", "console-screenshots");
const BROWSER = process.env.CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
/** The page being driven, for a screenshot when a step fails. */
let current = null;

// ------------------------------------------------------------------ server
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function startServer(dir) {
  const port = await freePort();
  const data = path.join(dir, "data");
  const log = fs.openSync(path.join(dir, "server.log"), "a");
  const proc = spawn(KMS, ["serve", "--data-dir", data, "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", log, log] });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the server exited with ${proc.exitCode} (log: ${dir}/server.log)`);
    try { if ((await fetch(endpoint + "/health")).ok) break; } catch (_) { /* not yet */ }
    if (Date.now() > deadline) throw new Error("the server did not become healthy");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, endpoint, data, log: path.join(dir, "server.log") };
}

function stopServer(server) {
  return new Promise((resolve) => {
    if (!server || server.proc.exitCode !== null) return resolve();
    const kill = setTimeout(() => server.proc.kill("SIGKILL"), 30_000);
    server.proc.once("exit", () => { clearTimeout(kill); resolve(); });
    server.proc.kill("SIGTERM");
  });
}

function readCredentials(file) {
  const c = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) c[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return { ak: c.aws_access_key_id, sk: c.aws_secret_access_key };
}

/** `kms admin ...` as the bootstrap administrator; its JSON answer. */
function kmsAdmin(server, ...args) {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: path.join(server.data, "credentials"), AWS_ENDPOINT_URL_KMS: server.endpoint };
  delete env.AWS_ACCESS_KEY_ID; delete env.AWS_SECRET_ACCESS_KEY; delete env.AWS_PROFILE;
  const out = execFileSync(KMS, ["admin", ...args], { env, encoding: "utf8" });
  return out.trim() ? JSON.parse(out) : null;
}

// ------------------------------------------------------------------ checks
let checks = 0;
function ok(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  checks++;
}
function step(name) { console.log(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${name}`); }

/**
 * Every page of a context is watched: console errors, uncaught exceptions
 * and failed requests fail the test, but for the HTTP error answers a step
 * announced with `expectError(path, status)` (Chromium logs those as console
 * errors too: "Failed to load resource").
 */
function watch(context, label) {
  const problems = [];
  const expected = [];
  const allowedUrls = new Set();
  function attach(page) {
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const url = msg.location().url || "";
      if (/Failed to load resource/.test(msg.text()) && allowedUrls.has(url)) return;
      problems.push(`${label}: console error: ${msg.text()} (${url})`);
    });
    page.on("pageerror", (e) => problems.push(`${label}: uncaught exception: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`${label}: request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() < 400) return;
      const p = new URL(r.url()).pathname;
      const i = expected.findIndex((e) => e.path === p && e.status === r.status());
      if (i >= 0) { expected.splice(i, 1); allowedUrls.add(r.url()); return; }
      problems.push(`${label}: unexpected HTTP ${r.status()} for ${r.request().method()} ${p}`);
    });
  }
  return {
    attach,
    expectError(p, status) { expected.push({ path: p, status }); },
    assertClean() {
      if (problems.length) throw new Error("the pages had problems:\n  " + problems.join("\n  "));
      checks++;
    },
  };
}

const LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

// ------------------------------------------------------------------ pages
async function signIn(page, ak, sk) {
  await page.locator("#access-key-id").fill(ak);
  await page.locator("#secret-access-key").fill(sk);
  await page.locator("#secret-access-key").press("Enter");
}

async function filterKeys(page, fields) {
  await page.goto(page.url().split("#")[0] + "#/keys");
  for (const [k, v] of Object.entries(fields)) {
    const el = page.locator("#f-" + k);
    if (k === "state" || k === "spec") await el.selectOption(v); else await el.fill(v);
  }
  await page.getByRole("button", { name: "Filter" }).click();
}

async function main() {
  if (!fs.existsSync(KMS)) throw new Error(`${KMS} is missing: run cargo build --release first`);
  if (!fs.existsSync(BROWSER)) throw new Error(`${BROWSER} is missing: apt-get install chromium`);
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kms-console-"));
  let server, browser;
  try {
    server = await startServer(dir);
    const { ak, sk } = readCredentials(path.join(server.data, "credentials"));
    // A user with no policy at all: every call is refused.
    const viewer = kmsAdmin(server, "create-user", "--name", "console-viewer");
    step(`server on ${server.endpoint}, user ${viewer.Arn}`);
    const CONSOLE = server.endpoint + "/console/";

    browser = await chromium.launch({ executablePath: BROWSER, headless: true, args: LAUNCH_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    const w = watch(context, "admin");
    const page = await context.newPage();
    current = page;
    w.attach(page);
    page.setDefaultTimeout(10_000);

    // ---- sign-in: a wrong secret is refused with AWS's exception name
    await page.goto(CONSOLE);
    await page.locator("#access-key-id").waitFor();
    ok(await page.evaluate(() => document.activeElement?.id) === "access-key-id", "the access key field has the focus");
    w.expectError("/console/api/signin", 401);
    await signIn(page, ak, "not-the-secret-" + "x".repeat(25));
    await page.locator(".error", { hasText: "UnrecognizedClientException" }).waitFor();
    ok(await page.locator("#secret-access-key").inputValue() === "", "the secret field is emptied after a failed sign-in");
    step("wrong secret refused: UnrecognizedClientException");

    // ---- sign-in with the keyboard only
    await page.locator("#access-key-id").fill("");
    await page.locator("#access-key-id").focus();
    await page.keyboard.type(ak);
    await page.keyboard.press("Tab");
    await page.keyboard.type(sk);
    await page.keyboard.press("Enter");
    await page.locator("#who").filter({ hasText: "(admin)" }).waitFor();
    await page.locator("h1", { hasText: "Keys" }).waitFor();
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    ok(!stored.includes(sk), "the secret is in no browser storage");
    const cookies = await context.cookies();
    const cookie = cookies.find((c) => c.name === "kms_console");
    ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", "the session cookie is HttpOnly and SameSite=Strict");
    ok(!cookies.some((c) => c.value.includes(sk)), "the secret is in no cookie");
    step("signed in (keyboard only); cookie HttpOnly, SameSite=Strict; no secret in storage");

    // ---- create a key with an alias and tags
    await page.getByRole("link", { name: "Create key" }).click();
    await page.locator("#c-desc").fill("made by the console test");
    await page.locator("#c-alias").fill("alias/console-test");
    await page.locator("#c-tags").fill("team=payments\nenv=console-test");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#key-title", { hasText: "alias/console-test" }).waitFor();
    const keyId = decodeURIComponent(page.url().split("#/key/")[1]);
    ok(/^[0-9a-f-]{36}$/.test(keyId), "the key page names the new key: " + keyId);
    // Two more keys, so that the filters have something to leave out.
    await page.goto(CONSOLE + "#/create");
    await page.locator("#c-desc").fill("another key");
    await page.locator("#c-tags").fill("team=other");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#key-title").waitFor();
    await page.goto(CONSOLE + "#/create");
    await page.locator("#c-spec").selectOption("HMAC_256");
    await page.locator("#c-usage").selectOption("GENERATE_VERIFY_MAC");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#key-title").waitFor();
    step(`created ${keyId} with alias/console-test and two tags, and two other keys`);

    // ---- the list, by filter
    await filterKeys(page, { alias: "console-test" });
    await page.locator("table.keys tbody tr").first().waitFor();
    ok(await page.locator("table.keys tbody tr").count() === 1, "the alias filter leaves one key");
    ok(await page.locator("table.keys").innerText().then((t) => t.includes(keyId)), "the alias filter finds the key");
    await filterKeys(page, { tag: "team=payments", state: "Enabled", spec: "SYMMETRIC_DEFAULT" });
    await page.locator("table.keys tbody tr").first().waitFor();
    ok(await page.locator("table.keys tbody tr").count() === 1, "the tag+state+spec filter leaves one key");
    await filterKeys(page, { spec: "HMAC_256" });
    await page.locator("table.keys tbody tr").first().waitFor();
    ok(!(await page.locator("table.keys").innerText()).includes(keyId), "the spec filter leaves the key out");
    await page.goto(CONSOLE + "#/keys");
    await page.locator("table.keys tbody tr").nth(2).waitFor();
    ok(await page.locator("table.keys tbody tr").count() === 3, "the unfiltered list shows the three keys");
    step("found in the list by alias, by tag+state+spec; left out by another spec");

    // ---- key page: the policy editor, validated by PutKeyPolicy
    await page.locator("table.keys a", { hasText: "alias/console-test" }).click();
    await page.locator("#policy-editor").waitFor();
    const policy = JSON.parse(await page.locator("#policy-editor").inputValue());
    ok(Array.isArray(policy.Statement), "the editor shows the key's policy");
    w.expectError("/console/api/call", 400);
    await page.locator("#policy-editor").fill('{"Version": "2012-10-17", "Statement": [ {"Effect": "Allow"');
    await page.locator("#save-policy").click();
    const refused = page.locator(".error", { hasText: "MalformedPolicyDocumentException" });
    await refused.waitFor();
    const refusedText = await refused.innerText();
    step("malformed policy refused in the editor: " + refusedText.replace(/\s+/g, " "));
    policy.Statement.push({ Sid: "ConsoleTestDescribe", Effect: "Allow", Principal: { AWS: viewer.Arn }, Action: "kms:DescribeKey", Resource: "*" });
    await page.locator("#policy-editor").fill(JSON.stringify(policy));
    await page.getByRole("button", { name: "Format" }).click();
    ok((await page.locator("#policy-editor").inputValue()).includes('\n  "Statement"'), "Format indents the policy");
    await page.locator("#save-policy").click();
    await page.locator(".notice", { hasText: "Policy saved." }).waitFor();
    step("valid policy saved (a statement for the viewer added)");

    // ---- grants: create, then revoke
    await page.locator("#grantee").fill(viewer.Arn);
    await page.locator("#op-Decrypt").check();
    await page.locator("#op-DescribeKey").check();
    await page.locator("#create-grant").click();
    await page.locator("#grants tbody tr", { hasText: viewer.Arn }).waitFor();
    ok(await page.locator("#grants tbody tr").innerText().then((t) => t.includes("Decrypt")), "the grant lists its operations");
    await page.getByRole("button", { name: /^Revoke grant / }).click();
    await page.locator("p.empty", { hasText: "No grants." }).waitFor();
    step("grant created for the viewer (Decrypt, DescribeKey) and revoked");

    // ---- disable, enable
    await page.getByRole("button", { name: "Disable key" }).click();
    await page.locator("#key-title .badge", { hasText: "Disabled" }).waitFor();
    await page.getByRole("button", { name: "Enable key" }).click();
    await page.locator("#key-title .badge", { hasText: "Enabled" }).waitFor();
    step("disabled, enabled");

    // ---- rotation on demand and its history
    await page.getByRole("button", { name: "Rotate now" }).click();
    // The background job finishes the rotation; the page shows it once reloaded.
    for (let i = 0; i < 50 && !(await page.locator("#rotations tbody tr").count()); i++) {
      await page.waitForTimeout(200);
      await page.reload();
      await page.locator("#key-title").waitFor();
    }
    ok(await page.locator("#rotations tbody tr", { hasText: "ON_DEMAND" }).count() === 1, "the rotation history lists the on-demand rotation");
    step("rotated on demand; the history lists it");

    // ---- schedule deletion (the confirmation names the key and its last use), cancel it
    // A use of the key first, through the console's own call path.
    await page.evaluate((id) => kms("Encrypt", { KeyId: id, Plaintext: btoa("console test") }), keyId);
    await page.reload();
    await page.locator("#last-use", { hasText: "Encrypt" }).waitFor();
    await page.locator("#schedule-deletion").click();
    const dialog = page.locator("dialog#confirm");
    await dialog.waitFor();
    const said = await dialog.innerText();
    ok(said.includes("alias/console-test") && said.includes(keyId), "the confirmation names the key");
    ok(/Last use:\s*Encrypt at .* by arn:aws:iam::111122223333:user\/admin/.test(said), "the confirmation tells the key's last use: " + said.match(/Last use:.*/)?.[0]);
    ok(await page.evaluate(() => document.activeElement?.id) === "confirm-cancel", "Cancel has the focus in the confirmation");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    ok(await page.locator("#key-title .badge").innerText() === "Enabled", "Escape schedules nothing");
    await page.locator("#schedule-deletion").click();
    await page.locator("#pending-days").fill("7");
    await page.locator("#confirm-ok").click();
    await page.locator("#key-title .badge", { hasText: "PendingDeletion" }).waitFor();
    ok(await page.locator(".meta").innerText().then((t) => t.includes("Deletion date")), "the deletion date is shown");
    await page.getByRole("button", { name: "Cancel deletion" }).click();
    await page.locator("#key-title .badge", { hasText: "Disabled" }).waitFor();
    await page.getByRole("button", { name: "Enable key" }).click();
    await page.locator("#key-title .badge", { hasText: "Enabled" }).waitFor();
    step("deletion scheduled (7 days) after a confirmation naming the key and its last use, then cancelled");

    // ---- access: users, roles, the simulator
    await page.getByRole("link", { name: "Access" }).click();
    await page.locator("td", { hasText: "console-viewer" }).first().waitFor();
    await page.locator("#sim-principal").fill(viewer.Arn);
    await page.locator("#sim-action").fill("kms:DescribeKey");
    await page.locator("#sim-key").fill(keyId);
    await page.locator("#simulate").click();
    await page.locator("#sim-result .badge", { hasText: "allowed" }).waitFor();
    const decided = await page.locator("#sim-result").innerText();
    ok(decided.includes("ConsoleTestDescribe"), "the simulator names the deciding statement: " + decided.replace(/\s+/g, " "));
    await page.locator("#sim-action").fill("kms:Decrypt");
    await page.locator("#simulate").click();
    await page.locator("#sim-result .badge", { hasText: "denied" }).waitFor();
    step("simulator: DescribeKey allowed by ConsoleTestDescribe, Decrypt denied");

    // ---- audit: the key's events, a full record, the trail verified
    await page.getByRole("link", { name: "Audit" }).click();
    const searched = () => page.locator("#audit-results[aria-busy='false']").waitFor();
    await page.locator("#a-key").fill(keyId);
    await page.locator("#audit-search").click();
    await searched();
    while (await page.locator("#audit-more").isVisible()) await page.locator("#audit-more").click();
    const events = await page.locator("table.events").innerText();
    for (const name of ["CreateKey", "CreateAlias", "PutKeyPolicy", "CreateGrant", "RevokeGrant", "DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion"]) {
      ok(events.includes(name), `the audit search finds the key's ${name}`);
    }
    ok(events.includes("console"), "the console's calls are marked as such");
    // The refused policy names no resource (it was refused before the key
    // was looked up): found by its error.
    await page.locator("#a-key").fill("");
    await page.locator("#a-errorCode").fill("MalformedPolicyDocumentException");
    await page.locator("#audit-search").click();
    await searched();
    ok(await page.locator("table.events tbody tr").count() === 1, "the error filter finds the refused policy");
    await page.locator("table.events tbody tr").first().click();
    const record = JSON.parse(await page.locator("#audit-record").innerText());
    ok(record.sessionCredentialFromConsole === "true" && record.userAgent === "kms-console", "the record is marked as from the console");
    ok(record.errorCode === "MalformedPolicyDocumentException", "the record carries the error");
    await page.locator("#a-errorCode").fill("");
    await page.locator("#audit-search").click();
    await searched();
    await page.locator("svg[aria-label='Calls per minute by outcome'] rect").first().waitFor();
    await page.locator("#audit-verify").click();
    await page.locator(".notice", { hasText: "The trail verifies" }).waitFor();
    step("audit: the key's events found, a full record shown, the trail verifies");

    // ---- health
    await page.getByRole("link", { name: "Health" }).click();
    await page.locator("#h-requests").waitFor();
    await page.locator("svg[aria-label='requests per second']").waitFor({ timeout: 15_000 });
    ok(/\d/.test(await page.locator("#h-fsync").innerText()), "the audit fsync latency is shown");
    ok(await page.locator(".badge.Enabled").count() > 0, "keys by state are shown");
    step("health: request rate and latency charts, fsync latency, keys by state");

    // ---- a state-changing request without the CSRF token is refused
    w.expectError("/console/api/call", 403); w.expectError("/console/api/call", 403);
    w.expectError("/console/api/call", 415); w.expectError("/console/api/call", 403);
    const csrf = await page.evaluate(async () => {
      const call = (headers) => fetch("/console/api/call", { method: "POST", headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ target: "TrentService.CreateKey", body: { Description: "csrf" } }) }).then(async (r) => ({ status: r.status, body: await r.json() }));
      return { none: await call({}), wrong: await call({ "X-CSRF-Token": "0".repeat(64) }) };
    });
    ok(csrf.none.status === 403 && csrf.none.body.__type === "InvalidCsrfToken", "no CSRF token: refused " + JSON.stringify(csrf.none));
    ok(csrf.wrong.status === 403 && csrf.wrong.body.__type === "InvalidCsrfToken", "a wrong CSRF token: refused");
    const form = await page.evaluate(async () => (await fetch("/console/api/call", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "{}" })).status);
    ok(form === 415, "a body that is not JSON (what a cross-site form can send) is refused");
    const listed = await page.evaluate(async () => (await fetch("/console/api/call", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": "" }, body: "{}" })).status);
    ok(listed === 403, "an empty CSRF token is refused");
    step("requests without the CSRF token (or with a wrong one, or not JSON) refused");

    // ---- sign out: the session is gone on the server too
    const token = await page.evaluate(async () => (await (await fetch("/console/api/session")).json()).csrfToken);
    await page.locator("#signout").click();
    await page.locator("#access-key-id").waitFor();
    w.expectError("/console/api/call", 401);
    const after = await page.evaluate(async (t) => {
      const s = await (await fetch("/console/api/session")).json();
      const r = await fetch("/console/api/call", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": t }, body: JSON.stringify({ target: "TrentService.ListKeys" }) });
      return { signedIn: s.signedIn, status: r.status };
    }, token);
    ok(after.signedIn === false && after.status === 401, "after sign-out the session no longer works");
    step("signed out; the old session is refused");
    w.assertClean();

    // ---- a user without permissions sees AWS's AccessDeniedException
    const vctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const vw = watch(vctx, "viewer");
    const vpage = await vctx.newPage();
    current = vpage;
    vw.attach(vpage);
    vpage.setDefaultTimeout(10_000);
    await vpage.goto(CONSOLE);
    vw.expectError("/console/api/call", 400);
    await signIn(vpage, viewer.AccessKeyId, viewer.SecretAccessKey);
    const denied = vpage.locator(".error", { hasText: "AccessDeniedException" });
    await denied.waitFor();
    const deniedText = await denied.innerText();
    ok(deniedText.includes(`User: ${viewer.Arn} is not authorized to perform: kms:ListKeys`), "AWS's text: " + deniedText.replace(/\s+/g, " "));
    ok(await vpage.locator("h1", { hasText: "Keys" }).isVisible() && await vpage.locator("nav").isVisible(), "the page around the error still works");
    // The key whose policy lets the viewer describe it: the key page shows it, and refuses the rest.
    for (let i = 0; i < 7; i++) vw.expectError("/console/api/call", 400);
    await vpage.goto(CONSOLE + "#/key/" + keyId);
    await vpage.locator("#key-title").waitFor();
    ok(await vpage.locator(".error", { hasText: "AccessDeniedException" }).count() >= 3, "the key page shows AccessDeniedException for what the viewer may not see");
    for (let i = 0; i < 2; i++) vw.expectError("/console/api/call", 400);
    await vpage.getByRole("link", { name: "Access" }).click();
    await vpage.locator(".error", { hasText: "AccessDeniedException" }).first().waitFor();
    vw.expectError("/console/api/audit", 400);
    await vpage.getByRole("link", { name: "Audit" }).click();
    await vpage.locator(".error", { hasText: "AccessDeniedException" }).first().waitFor();
    await vpage.screenshot({ path: path.join(SHOTS, "denied-1280-light.png"), fullPage: true });
    vw.assertClean();
    await vctx.close();
    step("the viewer sees AccessDeniedException with AWS's text on keys, the key page, access and audit");

    // ---- screenshots of each page: 1280 and 390 px wide, light and dark
    for (const [width, height] of [[1280, 900], [390, 844]]) {
      for (const scheme of ["light", "dark"]) {
        const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, deviceScaleFactor: 1 });
        const sw = watch(ctx, `screenshots ${width} ${scheme}`);
        const p = await ctx.newPage();
        current = p;
        sw.attach(p);
        p.setDefaultTimeout(10_000);
        const shot = async (name) => {
          await p.evaluate(() => window.scrollTo(0, 0));
          await p.screenshot({ path: path.join(SHOTS, `${name}-${width}-${scheme}.png`), fullPage: true });
        };
        await p.goto(CONSOLE);
        await p.locator("#access-key-id").waitFor();
        await shot("signin");
        await signIn(p, ak, sk);
        await p.locator("table.keys tbody tr").nth(2).waitFor();
        await shot("keys");
        await p.goto(CONSOLE + "#/create");
        await p.locator("#c-spec").waitFor();
        await shot("create");
        await p.goto(CONSOLE + "#/key/" + keyId);
        await p.locator("#policy-editor").waitFor();
        await shot("key");
        await p.goto(CONSOLE + "#/access");
        await p.locator("td", { hasText: "console-viewer" }).first().waitFor();
        await p.locator("#sim-principal").fill(viewer.Arn);
        await p.locator("#sim-action").fill("kms:DescribeKey");
        await p.locator("#sim-key").fill(keyId);
        await p.locator("#simulate").click();
        await p.locator("#sim-result .badge").waitFor();
        await shot("access");
        await p.goto(CONSOLE + "#/audit");
        await p.locator("table.events tbody tr").first().waitFor();
        await p.locator("table.events tbody tr").first().click();
        await p.locator("#audit-record").waitFor();
        await shot("audit");
        await p.goto(CONSOLE + "#/health");
        // Some traffic while the samples are taken, so that the charts show it.
        await p.evaluate(async () => {
          const { csrfToken } = await (await fetch("/console/api/session")).json();
          const until = Date.now() + 4500;
          for (let i = 0; Date.now() < until; i++) {
            await fetch("/console/api/call", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
              body: JSON.stringify({ target: "TrentService.GenerateRandom", body: { NumberOfBytes: 32 } }) });
            if (i % 3 === 0) await new Promise((r) => setTimeout(r, 15));
          }
        });
        await p.locator("svg[aria-label='requests per second']").waitFor({ timeout: 15_000 });
        await shot("health");
        await p.goto(CONSOLE + "#/key/" + keyId);
        await p.locator("#schedule-deletion").click();
        await p.locator("dialog#confirm").waitFor();
        await p.screenshot({ path: path.join(SHOTS, `confirm-${width}-${scheme}.png`) });
        await p.keyboard.press("Escape");
        sw.assertClean();
        await ctx.close();
      }
    }
    step(`screenshots of 9 pages at 1280 and 390 px, light and dark, in ${path.relative(process.cwd(), SHOTS) || SHOTS}`);
    console.log(`console: ${checks} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS}`);
  } catch (e) {
    if (current) {
      const file = path.join(SHOTS, "failure.png");
      if (await current.screenshot({ path: file, fullPage: true }).then(() => true, () => false)) console.error("the page at the failure: " + file);
    }
    if (server) {
      try { process.stderr.write("--- server log (tail)\n" + fs.readFileSync(server.log, "utf8").slice(-4000) + "\n"); } catch (_) { /* none */ }
    }
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e.stack || String(e)); process.exit(1); });
