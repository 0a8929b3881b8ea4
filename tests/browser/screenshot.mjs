// Signs in to a running console and saves a screenshot of each view: for
// the README (`node screenshot.mjs http://127.0.0.1:8080 out-dir`), e.g.
// while `fieldlink sim` drives terminals against `fieldlink-server serve --dev`.
import { chromium } from "playwright-core";

const [base = "http://127.0.0.1:8080", out = "."] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 860 }, locale: "zh-CN" });
  page.setDefaultTimeout(60_000);
  await page.goto(base);
  await page.fill("#signin-id", "supervisor-01");
  await page.fill("#signin-password", "demo-password");
  await page.click("#signin-submit");
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForTimeout(1500);
  for (const view of ["board", "triage", "officers", "evidence", "map", "case"]) {
    await page.click(`#tab-${view}`);
    await page.waitForTimeout(800);
    await page.screenshot({ path: `${out}/console-${view}.png` });
  }
} finally {
  await browser.close();
}
