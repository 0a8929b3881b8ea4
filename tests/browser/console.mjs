// Drives the supervisor console in Debian's headless Chromium with
// playwright-core (no browser download). Started by tests/tests/e2e/browser.rs,
// which plays the terminal: it prints progress lines the test waits on.
//   CONSOLE_URL  the console's base URL
//   SCREENSHOT   where to save the screenshot (PNG)
//   CHROMIUM     the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";

const base = process.env.CONSOLE_URL;
const screenshot = process.env.SCREENSHOT;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As the machine kind's probe runs it: no sandbox as root, and no
  // background networking (this machine's network is closed).
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, locale: "zh-CN" });
  page.setDefaultTimeout(90_000);
  await page.goto(base);

  // Sign in (the page is Chinese first).
  if ((await page.textContent("#signin-submit")).trim() !== "登录") throw new Error("not zh-CN by default");
  await page.fill("#signin-id", "supervisor-01");
  await page.fill("#signin-password", "demo-password");
  await page.click("#signin-submit");
  await page.waitForSelector("#app:not(.hidden)");
  console.log("SIGNED_IN");

  // Dispatch an urgent assignment to officer-01.
  await page.click("#tab-dispatch");
  await page.selectOption("#d-kind", "officer");
  await page.selectOption("#d-assignee", "officer-01");
  await page.fill("#d-title", "核查城南路占道经营 Check street vending on Chengnan Road");
  await page.fill("#d-matter", "ZJ-001");
  // The picker names the catalogued matter.
  await page.waitForFunction(() => {
    const name = document.querySelector("#d-matter-name").textContent;
    return name.length > 0 && !name.includes("无此编码");
  });
  await page.selectOption("#d-priority", "PRIORITY_URGENT");
  await page.fill("#d-address", "城南路 12 号");
  await page.fill("#d-lat", "29.8683");
  await page.fill("#d-lon", "121.5440");
  await page.fill("#d-instructions", "核查占道堆放情况并拍照取证。");
  await page.click("#d-submit");
  await page.waitForFunction(() => document.querySelector("#d-result").textContent.includes("·"));
  const id = (await page.textContent("#d-result")).split("·")[1].trim();
  console.log("DISPATCHED " + id);

  // The terminal accepts it: the board changes live, without a reload.
  await page.click("#tab-board");
  await page.waitForSelector(`.column[data-state="ASSIGNMENT_STATE_ACCEPTED"] .card[data-id="${id}"]`);
  // Cards name people, not ids (the id is on hover).
  const shown = await page.textContent(`.card[data-id="${id}"] .named[title="officer-01"]`);
  if (!shown || shown.includes("officer-01")) throw new Error(`the card shows ${shown}, not the officer's name`);
  // Column titles and states come from the translation table.
  const title = await page.textContent('.column[data-state="ASSIGNMENT_STATE_ACCEPTED"] h3');
  if (title !== "已接收") throw new Error(`the column is titled ${title}`);
  console.log("ACCEPTED_SEEN");

  // The terminal uploads a photo: its thumbnail appears in the evidence feed.
  await page.click("#tab-evidence");
  await page.waitForFunction(() => {
    const img = document.querySelector('.evidence-item[data-kind="photo"] img');
    return img && img.complete && img.naturalWidth > 0 && img.style.visibility !== "hidden";
  });
  console.log("THUMBNAIL_SEEN");
  // Flagged for review only: the photo (no EXIF) stays, its flag in words;
  // the record (no flags) is hidden.
  await page.check("#f-flagged");
  await page.waitForSelector('.evidence-item[data-kind="inspection"]', { state: "hidden" });
  const flag = await page.textContent('.evidence-item[data-kind="photo"] .flag');
  if (!flag || flag.startsWith("EVIDENCE_FLAG")) throw new Error(`the flag shows as ${flag}`);
  await page.uncheck("#f-flagged");
  await page.waitForSelector('.evidence-item[data-kind="inspection"]');
  console.log("FLAGGED_FILTER");

  // Reassign it to officer-02 from its detail, with a reason: it goes back
  // to DISPATCHED, now named for 李秀英.
  await page.click("#tab-board");
  await page.click(`.card[data-id="${id}"]`);
  await page.waitForSelector("#detail-reassign-to");
  await page.selectOption("#detail-reassign-to", "officer:officer-02");
  page.once("dialog", dialog => dialog.accept("就近改派 nearer officer"));
  await page.click("#detail-reassign");
  await page.waitForSelector(`.column[data-state="ASSIGNMENT_STATE_DISPATCHED"] .card[data-id="${id}"] .named[title="officer-02"]`);
  console.log("REASSIGNED");
  // Filter the board by officer: officer-01's view no longer holds it;
  // officer-02's does.
  await page.selectOption("#f-officer", "officer-01");
  await page.waitForSelector(`.card[data-id="${id}"]`, { state: "detached" });
  await page.selectOption("#f-officer", "officer-02");
  await page.waitForSelector(`.card[data-id="${id}"]`);
  await page.selectOption("#f-officer", "");
  console.log("FILTERED");

  // Triage: the monitor's alarm waits as a NEW incident; dispatch it.
  await page.click("#tab-triage");
  await page.waitForSelector('tr[data-state="INCIDENT_STATE_NEW"] button[data-act="dispatch"]');
  await page.click('tr[data-state="INCIDENT_STATE_NEW"] button[data-act="dispatch"]');
  await page.waitForSelector('tr[data-state="INCIDENT_STATE_DISPATCHED"]');
  console.log("INCIDENT_DISPATCHED");

  // A camera's alert arrives while the supervisor watches: the queue grows
  // live (no reload, no polling), and its detail shows the snapshot's thumbnail.
  console.log("TRIAGE_WATCHING");
  await page.waitForSelector('tr[data-category="street_vending"][data-state="INCIDENT_STATE_NEW"]');
  console.log("LIVE_INCIDENT_SEEN");
  await page.click('tr[data-category="street_vending"] td:first-child');
  await page.waitForFunction(() => {
    const img = document.querySelector("#detail .incident-source img.source-thumb");
    return img && img.complete && img.naturalWidth > 0 && img.style.visibility !== "hidden";
  });
  console.log("SNAPSHOT_THUMB_SEEN");
  await page.click("#detail-close");

  // The officer list shows the terminal online; the map draws locally.
  await page.click("#tab-officers");
  await page.waitForSelector('tr[data-officer="officer-01"] .dot.on');
  await page.click("#tab-board");
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.click("#tab-map");
  await page.waitForSelector("#map-svg circle");
  // The incident still awaiting triage is pinned on the map.
  await page.waitForSelector("#map-svg .incident-pin");
  // English beside Chinese.
  await page.click("#lang");
  if ((await page.textContent("#tab-board")).trim() !== "Board") throw new Error("no English switch");
  console.log("DONE");
} finally {
  await browser.close();
}
