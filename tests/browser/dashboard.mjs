// Browser tests of dmarc-web in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): log in, open each page, apply a filter, open a message's detail, log out;
// no JavaScript dialog (XSS) and no CSP violation may occur; a screenshot of each page is saved.
// Usage: node dashboard.mjs DMARC_WEB WEB_SEED OUT_DIR. With DMARC_BROWSER_STORE set (a
// postgresql:// URI, from run_postgres.sh) the store is that database instead of a SQLite file.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [webBinary, seedBinary, outDir] = process.argv.slice(2);
if (!webBinary || !seedBinary || !outDir) {
    console.error("usage: node dashboard.mjs DMARC_WEB WEB_SEED OUT_DIR");
    process.exit(64);
}
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "dmarc-web-browser-"));
const store = process.env.DMARC_BROWSER_STORE || join(work, "store.db");
const password = "browser test password 1";
execFileSync(seedBinary, [store, password], { stdio: "inherit" });

// The DNS the dashboard sees (DNS check page, reverse DNS of sources): a zone file, no network.
const zone = join(work, "zone.txt");
writeFileSync(zone, [
    '_dmarc.example.com TXT "v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=100; ' +
        'rua=mailto:dmarc-reports@example.com; ruf=mailto:forensic@example.com; fo=1"',
    'example.com TXT "v=spf1 ip4:192.0.2.0/24 include:_spf.example.net mx -all"',
    'example.com TXT "google-site-verification=abc123"',
    'example.com A 192.0.2.1',
    'mail.example.com A 192.0.2.10',
    '_dmarc.example.org TXT "v=DMARC1; p=quarantine; rua=mailto:d@example.org"',
    'shop.example.org TXT "v=spf1 redirect=_spf.example.org"',
    '10.2.0.192.in-addr.arpa PTR mail.example.com',
    '11.2.0.192.in-addr.arpa PTR mail2.example.com',
    '20.100.51.198.in-addr.arpa PTR smtp.shop.example.org',
    '30.113.0.203.in-addr.arpa PTR bulk-30.newsletter.example.net',
    '',
].join("\n"));

const server = spawn(webBinary, ["--store", store, "--listen", "127.0.0.1:0",
    "--test-dns-data", zone], {
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
    await check("sources page, reverse DNS resolved in the background", async () => {
        await page.goto(base + "/sources?period=30d");
        assert(await page.locator("table.data tbody tr").count() >= 6, "too few sources");
        // The first visit queues the lookups and shows "resolving…"; a later one has the names.
        let text = "";
        for (let i = 0; i < 20 && !text.includes("mail.example.com"); i++) {
            await page.waitForTimeout(250);
            await page.goto(base + "/sources?period=30d");
            text = await page.textContent("main");
        }
        assert(text.includes("mail.example.com"), "no reverse DNS name");
        assert(text.includes("smtp.shop.example.org"), "no reverse DNS name for the shop");
        await shot("web-sources");
    });
    await check("reports: the ledger per report and destination", async () => {
        await page.goto(base + "/reports");
        const rows = await page.locator("#reports tbody tr").count();
        assert(rows === 12, `${rows} reports`);
        const text = await page.textContent("main");
        for (const status of ["sent", "pending", "temp_failed", "perm_failed", "unauthorised",
            "suppressed"]) {
            assert(text.includes(status), `no ${status}`);
        }
        await shot("web-reports");
    });
    await check("report detail: XML preview, deliveries, resend", async () => {
        await Promise.all([page.waitForURL(/\/reports\/[0-9]+$/),
            page.locator("#reports tbody tr td.actions a", { hasText: "Preview" }).first().click()]);
        const xml = await page.textContent("pre.xml");
        assert(xml.includes("<feedback>") && xml.includes("  <report_metadata>"), "no indented XML");
        const download = await page.request.get(page.url() + "/download");
        assert(download.headers()["content-type"] === "application/gzip", "download type");
        assert(/^attachment; filename="[A-Za-z0-9._!-]+\.xml\.gz"$/.test(
            download.headers()["content-disposition"]), download.headers()["content-disposition"]);
        await shot("web-report-detail");
        await Promise.all([page.waitForURL(/resent=[0-9]+/), page.click("h2 form.inline button")]);
        assert((await page.textContent(".notice")).includes("set back to pending"), "no notice");
    });
    await check("hostile XML in a report is text", async () => {
        await page.goto(base + "/reports");
        const links = page.locator("#reports tbody tr", { hasText: "bank.example" })
            .locator("td.actions a", { hasText: "Preview" });
        await links.first().click();
        await page.waitForURL(/\/reports\/[0-9]+$/);
        assert((await page.textContent("pre.xml")).includes("<script>alert('xml')</script>"),
            "comment not shown as text");
    });
    await check("suppressions: add one with a comment and expiry, then remove it", async () => {
        await page.goto(base + "/suppressions");
        await page.fill("input[name=pattern]", "Reports@Partner.Example");
        await page.fill("input[name=comment]", "partner asked, <ticket 99>");
        await page.fill("input[name=expires]", "2099-12-31");
        await Promise.all([page.waitForURL(/\/suppressions$/), page.click("form.filters button")]);
        let text = await page.textContent("#suppressions");
        assert(text.includes("Reports@partner.example"), "not added");
        assert(text.includes("partner asked, <ticket 99>"), "comment not shown as text");
        await shot("web-suppressions");
        const row = page.locator("#suppressions tbody tr", { hasText: "Reports@partner.example" });
        await Promise.all([page.waitForURL(/\/suppressions$/), row.locator("button").click()]);
        text = await page.textContent("#suppressions");
        assert(!text.includes("Reports@partner.example"), "not removed");
        await page.fill("input[name=pattern]", "not a domain");
        await page.click("form.filters button");
        assert((await page.textContent(".error")).includes("domain"), "bad pattern accepted");
    });
    await check("DNS check: record, discovery path, SPF", async () => {
        await page.goto(base + "/dns");
        await page.fill("input[name=domain]", "mail.example.com");
        await Promise.all([page.waitForURL(/domain=/), page.click("form.filters button")]);
        const text = await page.textContent("main");
        assert(text.includes("_dmarc.mail.example.com"), "no path");
        assert(text.includes("p=reject"), "no record");
        await page.goto(base + "/dns?domain=example.com");
        const spf = await page.locator("#spf tbody tr").count();
        assert(spf === 4, `${spf} SPF terms`);
        await shot("web-dns");
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
