// Browser tests of dmarc-web in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): log in, open each page, apply a filter, open a message's detail, log out;
// no JavaScript dialog (XSS) and no CSP violation may occur; a screenshot of each page is saved.
// Usage: node dashboard.mjs DMARC_WEB WEB_SEED OUT_DIR
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [webBinary, seedBinary, outDir] = process.argv.slice(2);
if (!webBinary || !seedBinary || !outDir) {
    console.error("usage: node dashboard.mjs DMARC_WEB WEB_SEED OUT_DIR");
    process.exit(64);
}
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "dmarc-web-browser-"));
const store = join(work, "store.db");
const password = "browser test password 1";
execFileSync(seedBinary, [store, password], { stdio: "inherit" });

const server = spawn(webBinary, ["--store", store, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
});
server.stderr.on("data", () => {}); // the access log
// The server never outlives this script, even when ctest's timeout kills it.
process.on("exit", () => server.kill("SIGTERM"));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(1));
const base = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("dmarc-web did not start")), 15000);
    server.stdout.on("data", (chunk) => {
        out += chunk;
        const m = out.match(/listening on (http:\/\/[0-9.]+:[0-9]+)/);
        if (m) {
            clearTimeout(timer);
            resolve(m[1]);
        }
    });
    server.on("exit", (code) => reject(new Error(`dmarc-web exited ${code}`)));
});

let passed = 0;
let failed = 0;
const problems = [];
async function check(name, fn) {
    try {
        await fn();
        passed++;
        console.log(`ok   ${name}`);
    } catch (e) {
        failed++;
        console.log(`FAIL ${name}: ${e.message}`);
    }
}
function assert(cond, message) {
    if (!cond) throw new Error(message);
}

const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.on("dialog", async (d) => {
        problems.push(`dialog opened: ${d.message()}`);
        await d.dismiss();
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
        // Failed loads (the favicon's 404, the wrong password's 401) are expected; a CSP
        // violation or a script error is not.
        const text = m.text();
        if (m.type() === "error" && !text.startsWith("Failed to load resource")) {
            problems.push(`console error: ${text}`);
        }
    });
    const shot = (name) => page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });

    await check("an anonymous visitor is sent to the login page", async () => {
        await page.goto(base + "/");
        assert(new URL(page.url()).pathname === "/login", `at ${page.url()}`);
        await shot("web-login");
    });
    await check("a wrong password is refused", async () => {
        await page.fill("input[name=user]", "admin");
        await page.fill("input[name=password]", "wrong password");
        await page.click("button[type=submit]");
        assert((await page.textContent(".error")).includes("Wrong"), "no error shown");
    });
    await check("log in", async () => {
        await page.fill("input[name=user]", "admin");
        await page.fill("input[name=password]", password);
        await Promise.all([page.waitForURL(base + "/"), page.click("button[type=submit]")]);
        assert((await page.textContent("h1")) === "Overview", "not on the overview");
    });
    await check("overview: KPIs and charts render", async () => {
        const kpis = await page.locator(".kpi").count();
        assert(kpis === 5, `${kpis} KPI cards`);
        const bars = await page.locator("svg.chart rect").count();
        assert(bars > 20, `${bars} chart bars`);
        const box = await page.locator("svg.chart").first().boundingBox();
        assert(box && box.width > 400 && box.height > 100, "chart not laid out");
        assert(await page.locator("table.data tbody tr").count() > 3, "no domain rows");
        await shot("web-overview");
    });
    await check("period selector drives the KPIs (autosubmit JS)", async () => {
        const before = await page.textContent(".kpi .kpi-value");
        await Promise.all([page.waitForURL(/period=30d/), page.selectOption("select[name=period]", "30d")]);
        const after = await page.textContent(".kpi .kpi-value");
        assert(Number(after) > Number(before), `messages ${before} -> ${after}`);
    });
    await check("messages: filter by result", async () => {
        await page.goto(base + "/messages");
        await shot("web-messages");
        await page.selectOption("select[name=result]", "fail");
        await page.fill("input[name=header_from]", "example.com");
        await Promise.all([page.waitForURL(/result=fail/), page.click("form.filters button")]);
        const badges = await page.locator("#messages tbody tr td:nth-child(5)").allTextContents();
        assert(badges.length > 0, "no rows");
        assert(badges.every((b) => b.trim() === "fail"), `results: ${[...new Set(badges)]}`);
        await shot("web-messages-filtered");
    });
    await check("message detail shows the evaluation trace", async () => {
        await Promise.all([page.waitForURL(/\/messages\/[0-9]+$/),
            page.locator("#messages tbody tr td:first-child a").first().click()]);
        const text = await page.textContent("main");
        assert(text.includes("Evaluation trace"), "no trace");
        assert(text.includes("v=DMARC1"), "no record");
        await shot("web-message-detail");
    });
    await check("domains page, hostile names shown as text", async () => {
        await page.goto(base + "/domains?period=all");
        const text = await page.textContent("main");
        assert(text.includes("<script>alert(1)</script>.evil"), "hostile name not shown as text");
        assert(await page.locator("main script").count() === 0, "a script element in main");
        await shot("web-domains");
    });
    await check("sources page", async () => {
        await page.goto(base + "/sources?period=30d");
        assert(await page.locator("table.data tbody tr").count() >= 6, "too few sources");
        await shot("web-sources");
    });
    await check("hostile message detail renders as text", async () => {
        await page.goto(base + "/messages?period=all&header_from=" +
            encodeURIComponent("<script>alert(1)</script>.evil"));
        await page.locator("#messages tbody tr td:first-child a").first().click();
        await page.waitForURL(/\/messages\/[0-9]+$/);
        const text = await page.textContent("main");
        assert(text.includes("\"><script>alert(3)</script>"), "helo not shown as text");
        await shot("web-message-hostile");
    });
    await check("log out", async () => {
        await Promise.all([page.waitForURL(/\/login$/), page.click("form.logout button")]);
        await page.goto(base + "/messages");
        assert(new URL(page.url()).pathname === "/login", "still logged in");
    });
    await check("no dialog, page error or CSP violation", async () => {
        assert(problems.length === 0, problems.join("; "));
    });
} finally {
    await browser.close();
    server.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
