// Drives the supervisor console in Debian's headless Chromium with
// playwright-core (no browser download). Started by tests/tests/e2e/browser.rs,
// which plays the terminal: it prints progress lines the test waits on.
//   CONSOLE_URL  the console's base URL
//   SCREENSHOT   where to save the screenshot (PNG)
//   SCREENSHOT_DIR  where to save the views' screenshots for the README
//   CHROMIUM     the browser (default /usr/bin/chromium)
import { chromium } from "playwright-core";

const base = process.env.CONSOLE_URL;
const screenshot = process.env.SCREENSHOT;
const shots = process.env.SCREENSHOT_DIR;
const shoot = async (page, name) => { if (shots) await page.screenshot({ path: `${shots}/console-${name}.png` }); };
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

  // The morning: filter the board by officer-02's team; the overnight
  // assignment is there, overdue. Open it and reassign it to an officer who
  // is online (listed first, marked ●).
  const team = await page.evaluate(async () => (await (await fetch("/api/officers")).json()).officers.find(o => o.officer_id === "officer-02").team_id);
  await page.selectOption("#f-team", team);
  const late = '.card.overdue[data-state="ASSIGNMENT_STATE_DISPATCHED"]';
  await page.waitForSelector(late);
  await shoot(page, "board");
  const lateId = await page.getAttribute(late, "data-id");
  await page.click(late);
  await page.waitForSelector("#detail-reassign-to");
  const firstChoice = await page.$eval("#detail-reassign-to", s => s.options[1].textContent);
  if (!firstChoice.startsWith("●") || !firstChoice.includes("officer-01")) throw new Error(`the online officer is not offered first: ${firstChoice}`);
  await page.selectOption("#detail-reassign-to", "officer:officer-01");
  page.once("dialog", dialog => dialog.accept("原承办人未上线 the assignee is off duty"));
  await page.click("#detail-reassign");
  await page.selectOption("#f-team", "");
  await page.waitForSelector(`.card[data-id="${lateId}"] .named[title="officer-01"]`);
  console.log("OVERDUE_REASSIGNED");

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
  // The place: picked on the map (a click fills the coordinates)…
  await page.click("#d-pick");
  await page.waitForSelector("#map.picking #map-svg");
  await page.click("#map-svg", { position: { x: 300, y: 200 } });
  await page.waitForSelector('[data-panel="dispatch"]:not(.hidden)');
  if (!(await page.inputValue("#d-lat")) || !(await page.inputValue("#d-lon"))) throw new Error("picking on the map filled no place");
  // …or an address already on record (the overnight assignment's) fills them.
  await page.fill("#d-address", "城南路 12 号");
  if (await page.inputValue("#d-lat") !== "29.868300" || await page.inputValue("#d-lon") !== "121.544000")
    throw new Error(`the known address gave ${await page.inputValue("#d-lat")}, ${await page.inputValue("#d-lon")}`);
  // The officers online nearest the place are suggested (officer-01's live
  // position is about 80 m away); choosing one fills the assignee.
  await page.selectOption("#d-kind", "team");
  await page.waitForSelector('#d-nearest button[data-officer="officer-01"]');
  const suggestion = await page.textContent('#d-nearest button[data-officer="officer-01"]');
  if (!/\d+ (米|m)/.test(suggestion)) throw new Error(`the suggestion names no distance: ${suggestion}`);
  await page.click('#d-nearest button[data-officer="officer-01"]');
  if (await page.inputValue("#d-kind") !== "officer" || await page.inputValue("#d-assignee") !== "officer-01")
    throw new Error("choosing the nearest officer did not fill the assignee");
  console.log("NEAREST_SUGGESTED");
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

  // Open the flagged photo: each flag explained, the receipt with both
  // digests; review every flag with a note. The feed's filter then leaves
  // it out, and the custody list shows the reviews.
  await page.click('.evidence-item[data-kind="photo"]');
  await page.waitForSelector('#detail code[data-digest="sm3"]');
  await page.waitForSelector("#detail .review-go");
  await shoot(page, "evidence");
  for (let n = 0; n < 10 && await page.$("#detail .review-go"); n++) {
    await page.fill("#detail .review-note", "执法记录仪截图，无 EXIF 属正常 body-camera still");
    await page.click("#detail .review-go");
    await page.waitForFunction((left) => document.querySelectorAll("#detail .review-go").length < left,
      await page.$$eval("#detail .review-go", b => b.length));
  }
  await page.waitForSelector("#detail .review");
  const logged = await page.textContent("#custody");
  if (!logged.includes("复核")) throw new Error(`the custody list does not show the review: ${logged}`);
  await page.keyboard.press("Escape");
  await page.waitForSelector("#detail", { state: "hidden" });
  await page.check("#f-flagged");
  await page.waitForSelector('.evidence-item[data-kind="photo"]', { state: "hidden" });
  await page.uncheck("#f-flagged");
  console.log("FLAG_REVIEWED");

  // The case: found in the list by part of its id, its file shows every
  // item's content, the photo's thumbnail and the assignment it answers.
  await page.click("#tab-case");
  await page.fill("#case-q", "2026-0101");
  await page.press("#case-q", "Enter");
  await page.waitForSelector('tr[data-case="ZF-2026-0101"]');
  await page.click('tr[data-case="ZF-2026-0101"]');
  await page.waitForSelector('#case-items li[data-kind="inspection"] dl.content');
  const content = await page.textContent('#case-items li[data-kind="inspection"]');
  if (!content.includes("城南建材经营部")) throw new Error(`the record's content is missing: ${content}`);
  await page.waitForFunction(() => {
    const img = document.querySelector('#case-items li[data-kind="photo"] img.case-thumb');
    return img && img.complete && img.naturalWidth > 0;
  });
  await page.waitForSelector("#case-assignments [data-assignment]");
  await shoot(page, "case");
  console.log("CASE_READ");

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
  // Administration without a restart: the catalogue reloads and says which
  // version is in force.
  await page.click("#reload-catalogue");
  await page.waitForFunction(() => document.querySelector("#reload-status").textContent.includes("2026-07"));
  await page.click("#tab-board");
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.click("#tab-map");
  await page.waitForSelector("#map-svg circle");
  // The configured base layer is drawn under the marks, its credit shown.
  await page.waitForFunction(() => [...document.querySelectorAll("#map-svg image.tile")].length > 0);
  if (!(await page.textContent("#map-attribution")).includes("测试底图")) throw new Error("the tiles' attribution is missing");
  await shoot(page, "map");
  // The incident still awaiting triage is pinned on the map.
  await page.waitForSelector("#map-svg .incident-pin");
  // Statistics: this year's figures, drawn as SVG bars, with their CSV.
  await page.click("#tab-stats");
  await page.waitForSelector("#s-chart g.bar");
  const total = await page.textContent("#s-summary .stat-card b");
  if (!(Number(total) >= 1)) throw new Error(`the statistics count ${total} inspections`);
  if (!(await page.getAttribute("#s-csv", "href")).includes("format=csv")) throw new Error("no CSV link");
  await shoot(page, "stats");
  console.log("STATS_SEEN");

  // The keyboard: arrows move along the tabs; Enter opens a card, Esc
  // closes it and gives focus back.
  await page.focus("#tab-map");
  await page.keyboard.press("ArrowRight");
  if (!(await page.getAttribute("#tab-case", "aria-selected") === "true")) throw new Error("ArrowRight did not move to the next tab");
  await page.click("#tab-board");
  await page.focus(".card");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#detail:not(.hidden)");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#detail", { state: "hidden" });
  if (!(await page.evaluate(() => document.activeElement.classList.contains("card")))) throw new Error("focus did not return to the card");
  console.log("KEYBOARD");

  // A 1366×768 command-room screen: nothing scrolls sideways.
  await page.setViewportSize({ width: 1366, height: 768 });
  for (const view of ["board", "evidence", "case", "map", "stats"]) {
    await page.click(`#tab-${view}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 1366) throw new Error(`the ${view} view is ${wide} px wide at 1366`);
  }
  await page.click("#tab-board");
  await shoot(page, "board-1366");
  console.log("FITS_1366");

  // English beside Chinese.
  await page.click("#lang");
  if ((await page.textContent("#tab-board")).trim() !== "Board") throw new Error("no English switch");
  console.log("DONE");
} finally {
  await browser.close();
}
