// The console's script (served as /console.js: no inline scripts, CSP).
"use strict";
const T = {
  zh: { title:"综合执法指挥台", signout:"退出", signinTitle:"指挥员登录", officerId:"工号", password:"密码", signin:"登录",
    board:"任务看板", dispatch:"派发任务", officers:"执法人员", evidence:"证据", map:"位置图", case:"案件",
    assigneeKind:"派给", toOfficer:"执法人员", toTeam:"中队", assignee:"对象", taskTitle:"任务名称", matter:"事项编码",
    priority:"优先级", normal:"普通", urgent:"紧急", place:"地点", lat:"纬度", lon:"经度", due:"截止时间", caseId:"案件编号",
    instructions:"工作要求", send:"派发", name:"姓名", team:"中队", online:"在线", lastSeen:"最近在线", position:"最近位置",
    mapNote:"本地绘制（无在线地图）：圆点为执法人员最近位置，方块为未完成任务，红色三角为待分拨事件。", show:"查看", when:"时间", kind:"类别", by:"提交人", receipt:"回执",
    live:"实时连接", offline:"连接中断，重连中…", overdue:"已超期", cancel:"撤销任务", history:"处理记录", sent:"已派发", close:"关闭", more:"更多", flaggedOnly:"只看待复核", unknownMatter:"事项目录中无此编码",
    closedOtherwise:"已拒收/撤销", system:"系统", reassign:"改派", reassignTo:"改派给", reassignReason:"改派理由（可不填）：", cancelReason:"撤销理由：", cancelConfirm:"确定撤销该任务？",
    grid_report:"网格上报", camera_alert:"视频告警", monitor_packet:"监测数据", street_vending:"占道经营", illegal_dumping:"乱倒垃圾",
    inspection:"巡查记录", photo:"照片证据", service:"电子送达", service_event:"送达回执", interview:"远程询问",
    exportCase:"导出证据包", exporting:"正在导出…", exported:"已导出", custody:"保管记录", deviceSigned:"设备签名", yes:"有", no:"无",
    video:"视频", audio:"录音", document:"文书", duration:"时长", play:"播放",
    leaf:"日志序号", origin:"来源", view_item:"查看", download_original:"下载原件", export:"导出", audit:"核查", review_flag:"复核",
    triage:"事件分拨", triageNote:"监测报警、视频告警与网格上报登记为事件；同一地点同类事件自动合并。", category:"类别", summary:"摘要", reports:"报告数",
    incidentState:"状态", dispatchIncident:"派遣", dismissIncident:"不予处置", dismissReason:"不予处置的理由：", review:"审核", approve:"审核通过", returnWork:"退回重办",
    returnReason:"退回理由：", sources:"来源", escalated:"无人接单", followUp:"复查",
    splitOff:"拆分所选报告", splitReason:"拆分理由（可不填）：", mergeInto:"并入", mergeReason:"并入理由（可不填）：", noImages:"无图片",
    monitor:"在线监测", camera:"视频监控", supervisor:"指挥员", undecodable:"图像无法解码（原件照存）", post_processing_failed:"后处理失败",
    lampblack_exceedance:"油烟超标", monitor_fault:"设备故障", monitor_offline:"设备离线",
    createdFrom:"派发日期自", createdTo:"至", pickOnMap:"在地图上选点", pickNote:"点击地图选择任务地点（Esc 取消）。", picked:"已选地点", nearestOfficers:"附近在线执法人员", secondsAgo:"秒前", minutesAgo:"分钟前", live:"实时",
    caseSearch:"案件编号或当事人", search:"查找", subject:"当事人", itemCount:"材料数", lastActive:"最近更新", backToCases:"返回案件列表",
    content:"内容", mediaFacts:"拍摄信息", declared:"终端申报", exifSays:"EXIF 记录", apart:"相差", reviewFlag:"标记已复核", reviewNote:"复核意见",
    reviewed:"已复核", reviews:"复核记录", pendingReview:"待复核", digests:"摘要值", nearest:"距任务地点", itemsInCase:"案件材料", assignmentsOfCase:"相关任务",
    serviceState:"送达状态", moreItems:"材料较多，仅显示前 500 件；完整材料请导出证据包。", openOriginal:"打开原件", noCases:"没有符合条件的案件",
    minutes:"分钟", metres:"米", mapTiles:"底图", stats:"统计", statsFrom:"起", statsTo:"止", statsBy:"分组", byDomain:"领域", byMatter:"事项", byTeam:"中队",
    byOfficer:"执法人员", byMonth:"月份", yearSummary:"上年度汇总", downloadCsv:"下载 CSV", downloadXlsx:"下载 Excel", group:"分组", inspectionsCount:"检查数", penaltiesCount:"处罚类",
    outcomesCol:"处理结果", incidentsTitle:"事件", responseTitle:"响应时间", catalogueTitle:"事项目录（按领域）", totalInspections:"检查总数",
    penaltiesThis:"处罚类结果", penaltiesLast:"去年同期", yoy:"同比", toAccepted:"派发至接收", toOnSite:"派发至到场", toCompleted:"派发至办结",
    overdueRate:"超期率", returnedRate:"退回率", assignmentsCreated:"派发任务", matters:"事项", compulsory:"强制措施", reloadDirectory:"重新载入人员名册", reloadCatalogue:"重新载入事项目录",
    reloadedDirectory:"名册已载入：{n} 人在岗，停用 {d} 人，结束会话 {s} 个。", reloadedCatalogue:"事项目录已载入：现行版本 {v}，{n} 项。", compulsoryMeasure:"行政强制措施", credentialsTitle:"执法证（记录时）", credentialValid:"有效", credentialInvalid:"无效或未持证", accuracyM:"精度（米）",
    matterCode:"事项编码", officerIds:"执法人员", findings:"检查情况", outcome:"处理结果", outcomeNote:"处理说明", startedAtMs:"开始时间", endedAtMs:"结束时间",
    rectifyByMs:"整改期限", photoIds:"照片", assignmentId:"任务", identifier:"证件号码", contact:"联系方式", address:"地址", latitude:"纬度", longitude:"经度",
    recipient:"受送达人", role:"身份", channel:"送达方式", documentNumber:"文书编号", documentType:"文书种类", sentAtMs:"发送时间", consent:"送达确认", interviewee:"被询问人",
    capturedAtMs:"拍摄时间", contentType:"类型", sizeBytes:"大小（字节）", recordId:"所属记录",
    explain_EVIDENCE_FLAG_EXIF_UNREADABLE:"照片没有可读的 EXIF 信息，无法核对拍摄时间和位置。",
    explain_EVIDENCE_FLAG_EXIF_TIME_MISSING:"EXIF 中没有拍摄时间（DateTimeOriginal），无法核对。",
    explain_EVIDENCE_FLAG_EXIF_GPS_MISSING:"终端申报了拍摄位置，但 EXIF 中没有 GPS 位置。",
    explain_EVIDENCE_FLAG_TRAILING_BYTES:"文件结束标记之后还有数据；原件逐字节保存，请核实来源。",
    explain_time:"EXIF 拍摄时间 {a} 与终端申报时间 {b} 相差 {n} 分钟。", explain_place:"EXIF 位置与终端申报位置相距约 {n} 米。",
    explain_container:"录制文件内的创建时间 {a} 与终端申报时间 {b} 相差 {n} 分钟。",
    alertProblems:"证据完整性告警：后台核查发现 {n} 处问题，请立即处理（见服务器日志）。", alertWitness:"见证方拒绝了 {n} 个日志检查点：日志可能被改写。" },
  en: { title:"Enforcement command console", signout:"Sign out", signinTitle:"Supervisor sign-in", officerId:"ID", password:"Password", signin:"Sign in",
    board:"Board", dispatch:"Dispatch", officers:"Officers", evidence:"Evidence", map:"Map", case:"Case",
    assigneeKind:"Assign to", toOfficer:"Officer", toTeam:"Team", assignee:"Assignee", taskTitle:"Title", matter:"Matter code",
    priority:"Priority", normal:"Normal", urgent:"Urgent", place:"Place", lat:"Latitude", lon:"Longitude", due:"Due at", caseId:"Case id",
    instructions:"Instructions", send:"Dispatch", name:"Name", team:"Team", online:"Online", lastSeen:"Last seen", position:"Last position",
    mapNote:"Drawn locally (no map tiles): dots are officers' last positions, squares open assignments, red triangles incidents awaiting triage.", show:"Show", when:"When", kind:"Kind", by:"By", receipt:"Receipt",
    live:"live", offline:"disconnected, reconnecting…", overdue:"overdue", cancel:"Cancel assignment", history:"History", sent:"Dispatched", close:"Close", more:"more", flaggedOnly:"Flagged for review only", unknownMatter:"not in the catalogue",
    closedOtherwise:"Rejected / cancelled", system:"System", reassign:"Reassign", reassignTo:"Reassign to", reassignReason:"Why is it reassigned? (optional)", cancelReason:"Why is it cancelled?", cancelConfirm:"Cancel this assignment?",
    grid_report:"Grid report", camera_alert:"Video alert", monitor_packet:"Monitor data", street_vending:"Street vending", illegal_dumping:"Illegal dumping",
    inspection:"Inspection", photo:"Photo", service:"Service", service_event:"Service event", interview:"Interview",
    exportCase:"Export package", exporting:"Exporting…", exported:"Exported", custody:"Chain of custody", deviceSigned:"Device-signed", yes:"yes", no:"no",
    video:"Video", audio:"Recording", document:"Document", duration:"Duration", play:"Play",
    leaf:"Leaf", origin:"From", view_item:"viewed", download_original:"original downloaded", export:"exported", audit:"audited", review_flag:"flag reviewed",
    triage:"Triage", triageNote:"Monitor alarms, camera alerts and grid reports become incidents; reports of one kind at one place join.", category:"Category", summary:"Summary", reports:"Reports",
    incidentState:"State", dispatchIncident:"Dispatch", dismissIncident:"Dismiss", dismissReason:"Why is it dismissed?", review:"Review", approve:"Approve", returnWork:"Return",
    returnReason:"Why is it returned?", sources:"Sources", escalated:"not accepted", followUp:"follow-up",
    splitOff:"Split off the selected reports", splitReason:"Why is it split? (optional)", mergeInto:"Merge into", mergeReason:"Why is it merged? (optional)", noImages:"no images",
    monitor:"Monitor", camera:"Camera", supervisor:"Supervisor", undecodable:"The image does not decode (the original is kept as sent)", post_processing_failed:"Post-processing failed",
    lampblack_exceedance:"Cooking fumes over the limit", monitor_fault:"Monitor fault", monitor_offline:"Monitor offline",
    createdFrom:"Dispatched from", createdTo:"to", pickOnMap:"Pick on the map", pickNote:"Click the map to place the assignment (Esc cancels).", picked:"Place picked", nearestOfficers:"Nearest officers online", secondsAgo:"s ago", minutesAgo:"min ago", live:"live",
    caseSearch:"Case id or party", search:"Search", subject:"Party", itemCount:"Items", lastActive:"Last activity", backToCases:"Back to cases",
    content:"Content", mediaFacts:"Capture facts", declared:"Declared by the terminal", exifSays:"In the EXIF", apart:"apart", reviewFlag:"Mark reviewed", reviewNote:"Review note",
    reviewed:"reviewed", reviews:"Reviews", pendingReview:"awaiting review", digests:"Digests", nearest:"from the place", itemsInCase:"Case items", assignmentsOfCase:"Assignments",
    serviceState:"Service", moreItems:"The case has more items than the first 500 shown; export the package for all of them.", openOriginal:"Open the original", noCases:"No case matches",
    minutes:"min", metres:"m", mapTiles:"Base map", stats:"Statistics", statsFrom:"From", statsTo:"To", statsBy:"Group by", byDomain:"Domain", byMatter:"Matter", byTeam:"Team",
    byOfficer:"Officer", byMonth:"Month", yearSummary:"Last year's summary", downloadCsv:"Download CSV", downloadXlsx:"Download Excel", group:"Group", inspectionsCount:"Inspections", penaltiesCount:"Penalties",
    outcomesCol:"Outcomes", incidentsTitle:"Incidents", responseTitle:"Response times", catalogueTitle:"Catalogue by domain", totalInspections:"Inspections",
    penaltiesThis:"Penalty outcomes", penaltiesLast:"A year earlier", yoy:"Change", toAccepted:"Dispatch to accepted", toOnSite:"Dispatch to on site", toCompleted:"Dispatch to completed",
    overdueRate:"Overdue rate", returnedRate:"Returned rate", assignmentsCreated:"Assignments", matters:"Matters", compulsory:"Compulsory measures", reloadDirectory:"Reload the directory", reloadCatalogue:"Reload the catalogue",
    reloadedDirectory:"Directory reloaded: {n} enrolled, {d} disabled, {s} sessions ended.", reloadedCatalogue:"Catalogue reloaded: version {v} in force, {n} matters.", compulsoryMeasure:"compulsory measure", credentialsTitle:"Enforcement credentials (as recorded)", credentialValid:"valid", credentialInvalid:"not valid or none", accuracyM:"Accuracy (m)",
    matterCode:"Matter", officerIds:"Officers", findings:"Findings", outcome:"Outcome", outcomeNote:"Outcome note", startedAtMs:"Started", endedAtMs:"Ended",
    rectifyByMs:"Rectify by", photoIds:"Photos", assignmentId:"Assignment", identifier:"Identifier", contact:"Contact", address:"Address", latitude:"Latitude", longitude:"Longitude",
    recipient:"Recipient", role:"Role", channel:"Channel", documentNumber:"Document number", documentType:"Document type", sentAtMs:"Sent", consent:"Consent", interviewee:"Interviewee",
    capturedAtMs:"Captured", contentType:"Type", sizeBytes:"Size (bytes)", recordId:"Record",
    explain_EVIDENCE_FLAG_EXIF_UNREADABLE:"The photo has no readable EXIF: its capture time and place cannot be checked.",
    explain_EVIDENCE_FLAG_EXIF_TIME_MISSING:"The EXIF has no capture time (DateTimeOriginal) to check.",
    explain_EVIDENCE_FLAG_EXIF_GPS_MISSING:"The terminal declared a place, but the EXIF has no GPS position.",
    explain_EVIDENCE_FLAG_TRAILING_BYTES:"Data follows the file's end marker; the original is kept byte for byte: check where it came from.",
    explain_time:"The EXIF capture time {a} and the declared time {b} are {n} min apart.", explain_place:"The EXIF place is about {n} m from the declared place.",
    explain_container:"The recording's own creation time {a} and the declared time {b} are {n} min apart.",
    alertProblems:"Evidence integrity alert: the background audit found {n} problem(s); act now (see the server log).", alertWitness:"A witness refused {n} log checkpoint(s): the log may have been rewritten." }
};
// Every protocol enum and reason in both languages, from one table
// (terms.json, which the server serves in front of this script as TERMS).
for (const [key, names] of Object.entries(TERMS)) { T.zh[key] = names.zh; T.en[key] = names.en; }
let lang = localStorage.getItem("fieldlink-lang") || "zh";
const t = (key) => (T[lang] && T[lang][key]) || key;
function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach(el => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = lang === "zh" ? "English" : "中文";
  renderBoard(); renderOfficers(); renderIncidents();
}
document.getElementById("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("fieldlink-lang", lang); applyLang(); };

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const fmtTime = (ms) => ms ? new Date(Number(ms)).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB") : "—";
let csrf = "";
const assignments = new Map();
let officers = [];

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) { const e = new Error((data && (t(data.reason) + ": " + data.message)) || response.status); e.status = response.status; throw e; }
  return data;
}

// UUIDv7: 48-bit ms timestamp, version 7, variant 10, random rest.
function uuidv7() {
  const b = new Uint8Array(16); crypto.getRandomValues(b);
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) { b[i] = ms % 256; ms = Math.floor(ms / 256); }
  b[6] = (b[6] & 0x0f) | 0x70; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map(x => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0,8)}-${h.slice(8,12)}-${h.slice(12,16)}-${h.slice(16,20)}-${h.slice(20)}`;
}

$("signin-submit").onclick = async () => {
  $("signin-error").textContent = "";
  try {
    const session = await api("POST", "/api/session", { officer_id: $("signin-id").value.trim(), password: $("signin-password").value });
    start(session);
  } catch (e) { $("signin-error").textContent = e.message; }
};
$("signin-password").addEventListener("keydown", (e) => { if (e.key === "Enter") $("signin-submit").click(); });
$("signout").onclick = async () => { try { await api("DELETE", "/api/session"); } catch (e) {} location.reload(); };

// Tabs: click, or arrow keys along the bar (focus follows, as in a tablist).
const tabs = [...document.querySelectorAll("nav button")];
function showView(view) {
  tabs.forEach(b => { const on = b.dataset.view === view; b.classList.toggle("active", on); b.setAttribute("aria-selected", on); b.tabIndex = on ? 0 : -1; });
  document.querySelectorAll("[data-panel]").forEach(p => p.classList.toggle("hidden", p.dataset.panel !== view));
  if (view === "map") { drawMap(); loadOfficers(); }
  if (view === "officers") loadOfficers();
  if (view === "case" && !cases.loaded) loadCases();
  if (view === "stats") loadStats();
}
tabs.forEach(button => {
  button.setAttribute("role", "tab");
  button.onclick = () => showView(button.dataset.view);
  button.onkeydown = (e) => {
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0; if (!step) return;
    const next = tabs[(tabs.indexOf(button) + step + tabs.length) % tabs.length];
    next.focus(); next.click(); e.preventDefault();
  };
});
const isVisible = (view) => !document.querySelector(`[data-panel="${view}"]`).classList.contains("hidden");
// Whatever opens with a click opens with Enter or Space too; Esc closes the detail.
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    if (pickingPlace) { endPick(false); return; }
    if (!$("detail").classList.contains("hidden")) closeDetail();
    return;
  }
  if ((e.key === "Enter" || e.key === " ") && e.target.matches(".card, .evidence-item, tr[data-case], li[data-item], tr[data-incident] td:first-child")) {
    e.preventDefault(); e.target.click();
  }
});
let lastOpener = null;
// Shows the side panel and moves focus into it (back to the opener on Esc,
// or to its redrawn twin when a live change re-rendered the list).
function openDetail() {
  const detail = $("detail"); const from = document.activeElement;
  if (from && !detail.contains(from)) lastOpener = from;
  detail.classList.remove("hidden"); detail.focus();
}
function closeDetail() { $("detail").classList.add("hidden"); returnFocus(); }
function returnFocus() {
  if (!lastOpener) return;
  let target = lastOpener;
  if (!target.isConnected) {
    const key = ["id", "item", "case", "incident"].find(k => lastOpener.dataset && lastOpener.dataset[k]);
    if (key) target = document.querySelector(`[data-${key}="${CSS.escape(lastOpener.dataset[key])}"]`);
  }
  if (target) target.focus();
}

const COLUMNS = ["ASSIGNMENT_STATE_DISPATCHED","ASSIGNMENT_STATE_DELIVERED","ASSIGNMENT_STATE_ACCEPTED","ASSIGNMENT_STATE_EN_ROUTE","ASSIGNMENT_STATE_ON_SITE","ASSIGNMENT_STATE_PENDING_REVIEW","ASSIGNMENT_STATE_COMPLETED","ASSIGNMENT_STATE_REJECTED"];
function columnOf(state) {
  if (state === "ASSIGNMENT_STATE_CANCELLED") return "ASSIGNMENT_STATE_REJECTED";
  if (state === "ASSIGNMENT_STATE_RETURNED") return "ASSIGNMENT_STATE_ON_SITE";
  return state;
}
// Names, not ids (the id on hover): people and teams from /api/officers.
function personName(id) { const o = officers.find(o => o.officer_id === id); return o ? o.name : id; }
function teamName(id) { const o = officers.find(o => o.team_id === id && o.team_name); return o ? o.team_name : id; }
function named(id, name) { return id ? `<span class="named" title="${esc(id)}">${esc(name)}</span>` : ""; }
function who(id) { return named(id, id === "system" ? t("system") : personName(id)); }
function teamOf(id) { return named(id, teamName(id)); }
function assignee(a) { return a.officerId ? who(a.officerId) : teamOf(a.teamId); }
// The board's filters (team, officer, overdue): the server is asked for
// exactly those, and live changes are held to them too.
const boardFilter = { team: "", officer: "", overdue: false, from: "", to: "" };
function shownOnBoard(a) {
  if (boardFilter.overdue && !a.overdue) return false;
  const created = Number(a.createdAtMs || 0);
  if (boardFilter.from && created < new Date(boardFilter.from + "T00:00").getTime()) return false;
  if (boardFilter.to) { const end = new Date(boardFilter.to + "T00:00"); end.setDate(end.getDate() + 1); if (created >= end.getTime()) return false; }
  if (boardFilter.officer && a.officerId !== boardFilter.officer && a.acceptedBy !== boardFilter.officer) return false;
  if (boardFilter.team) {
    const inTeam = (id) => officers.some(o => o.officer_id === id && o.team_id === boardFilter.team);
    if (a.teamId !== boardFilter.team && !inTeam(a.officerId) && !inTeam(a.acceptedBy)) return false;
  }
  return true;
}
// Closed columns show the newest few; "more" shows the rest.
const CLOSED_SHOWN = 20;
const expanded = new Set();
function fillBoardFilters() {
  const team = $("f-team"), officer = $("f-officer"); if (!team || !officer) return;
  const teams = [...new Map(officers.filter(o => o.role === "officer").map(o => [o.team_id, o.team_name || o.team_id])).entries()];
  team.innerHTML = `<option value="">—</option>` + teams.map(([id, name]) => `<option value="${esc(id)}">${esc(name)}</option>`).join("");
  officer.innerHTML = `<option value="">—</option>` + officers.filter(o => o.role === "officer")
    .map(o => `<option value="${esc(o.officer_id)}">${esc(o.name)} (${esc(o.officer_id)})</option>`).join("");
  team.value = boardFilter.team; officer.value = boardFilter.officer;
}
for (const [id, key] of [["f-team", "team"], ["f-officer", "officer"], ["f-overdue", "overdue"], ["f-from", "from"], ["f-to", "to"]]) {
  const input = $(id);
  if (input) input.onchange = () => { boardFilter[key] = input.type === "checkbox" ? input.checked : input.value; loadAssignments(); };
}
function renderBoard() {
  const board = $("board"); if (!board) return;
  board.innerHTML = COLUMNS.map(c => `<div class="column" data-state="${c}"><h3>${esc(t(c === "ASSIGNMENT_STATE_REJECTED" ? "closedOtherwise" : c))}</h3></div>`).join("");
  const sorted = [...assignments.values()].sort((a, b) => Number(b.createdAtMs || 0) - Number(a.createdAtMs || 0));
  const counts = new Map();
  for (const a of sorted.filter(shownOnBoard)) {
    const state = columnOf(a.state);
    const column = board.querySelector(`[data-state="${state}"]`); if (!column) continue;
    const n = (counts.get(state) || 0) + 1; counts.set(state, n);
    if (CLOSED_COLUMNS.includes(state) && n > CLOSED_SHOWN && !expanded.has(state)) continue;
    const card = document.createElement("div");
    card.className = "card" + (a.overdue || a.escalated ? " overdue" : "") + (a.priority === "PRIORITY_URGENT" ? " urgent" : "");
    card.dataset.id = a.id; card.dataset.state = a.state; card.tabIndex = 0; card.setAttribute("role", "button");
    card.innerHTML = `<div class="title">${esc(a.title)}</div><div class="meta">${assignee(a)}${a.acceptedBy ? " → " + who(a.acceptedBy) : ""}</div>` +
      `<div class="meta">${a.dueAtMs && a.dueAtMs !== "0" ? esc(t("due")) + " " + esc(fmtTime(a.dueAtMs)) : ""}${a.overdue ? " · <b>" + esc(t("overdue")) + "</b>" : ""}` +
      `${a.escalated ? " · <b>" + esc(t("escalated")) + "</b>" : ""}${a.followUpOf || a.followUpRecordId ? " · " + esc(t("followUp")) : ""}</div>`;
    card.onclick = () => showAssignment(a.id);
    column.appendChild(card);
  }
  for (const state of CLOSED_COLUMNS) {
    const hidden = (counts.get(state) || 0) - CLOSED_SHOWN;
    if (hidden > 0 && !expanded.has(state)) {
      const more = document.createElement("button");
      more.type = "button"; more.className = "more"; more.textContent = `${t("more")} (${hidden})`;
      more.onclick = () => { expanded.add(state); renderBoard(); };
      board.querySelector(`[data-state="${state}"]`).appendChild(more);
    }
  }
}
const CLOSED_COLUMNS = ["ASSIGNMENT_STATE_COMPLETED", "ASSIGNMENT_STATE_REJECTED"];
async function loadAssignments() {
  const query = new URLSearchParams({ limit: "500" });
  if (boardFilter.team) query.set("team", boardFilter.team);
  if (boardFilter.officer) query.set("officer", boardFilter.officer);
  if (boardFilter.overdue) query.set("overdue", "true");
  // Dates are the browser's local days: from the first's midnight to the
  // midnight after the last.
  if (boardFilter.from) query.set("created_from", String(new Date(boardFilter.from + "T00:00").getTime()));
  if (boardFilter.to) { const end = new Date(boardFilter.to + "T00:00"); end.setDate(end.getDate() + 1); query.set("created_before", String(end.getTime())); }
  const list = await api("GET", "/api/assignments?" + query);
  assignments.clear(); (list.assignments || []).forEach(a => assignments.set(a.id, a)); renderBoard();
}
async function showAssignment(id) {
  const detail = $("detail"); const data = await api("GET", "/api/assignments/" + encodeURIComponent(id));
  const a = data.assignment;
  detail.innerHTML = `<h3>${esc(a.title)}</h3><div class="meta">${esc(t(a.state))} · ${assignee(a)}</div>` +
    `<p>${esc(a.instructions || "")}</p><h4>${esc(t("history"))}</h4><table>` +
    (data.events || []).map(e => `<tr><td>${esc(fmtTime(e.atMs))}</td><td>${esc(t(e.kind || ""))}</td><td>${who(e.by)}</td><td>${esc(e.reason || "")}</td></tr>`).join("") + "</table>" +
    (a.state === "ASSIGNMENT_STATE_PENDING_REVIEW"
      ? `<button class="primary" id="detail-approve" type="button">${esc(t("approve"))}</button> <button id="detail-return" type="button">${esc(t("returnWork"))}</button> `
      : "") +
    (FINAL_STATES.includes(a.state) ? "" :
      `<div class="reassign"><label>${esc(t("reassignTo"))} <select id="detail-reassign-to">${reassignOptions(a)}</select></label> ` +
      `<button type="button" id="detail-reassign">${esc(t("reassign"))}</button></div>` +
      `<button class="primary" id="detail-cancel" type="button">${esc(t("cancel"))}</button> `) +
    `<button type="button" id="detail-close">${esc(t("close"))}</button><div class="error" id="detail-error"></div>`;
  openDetail();
  $("detail-close").onclick = closeDetail;
  const review = async (approve, reason) => {
    try {
      const result = await api("POST", `/api/assignments/${encodeURIComponent(id)}/review`, { update_id: uuidv7(), approve, reason });
      assignments.set(result.assignment.id, result.assignment); renderBoard(); detail.classList.add("hidden"); loadIncidents();
    } catch (e) { $("detail-error").textContent = e.message; }
  };
  if ($("detail-approve")) {
    $("detail-approve").onclick = () => review(true, "");
    $("detail-return").onclick = () => { const reason = prompt(t("returnReason")); if (reason && reason.trim()) review(false, reason.trim()); };
  }
  if (!$("detail-cancel")) return;
  $("detail-cancel").onclick = async () => {
    const reason = prompt(t("cancelReason"));
    if (!reason || !reason.trim() || !confirm(t("cancelConfirm"))) return;
    try { await api("POST", `/api/assignments/${encodeURIComponent(id)}/cancel`, { update_id: uuidv7(), reason: reason.trim() }); detail.classList.add("hidden"); }
    catch (e) { $("detail-error").textContent = e.message; }
  };
  $("detail-reassign").onclick = async () => {
    const [kind, to] = $("detail-reassign-to").value.split(":");
    if (!to) return;
    const reason = prompt(t("reassignReason")); if (reason === null) return;
    const body = { update_id: uuidv7(), reason: reason.trim() };
    if (kind === "team") body.team_id = to; else body.officer_id = to;
    try {
      const result = await api("POST", `/api/assignments/${encodeURIComponent(id)}/reassign`, body);
      assignments.set(result.assignment.id, result.assignment); renderBoard(); detail.classList.add("hidden");
    } catch (e) { $("detail-error").textContent = e.message; }
  };
}
// Where the lifecycle ends: no cancel, no reassign.
const FINAL_STATES = ["ASSIGNMENT_STATE_COMPLETED", "ASSIGNMENT_STATE_CANCELLED"];
// Metres between two places (haversine; plenty for a town).
function metresBetween(a, b) {
  const r = 6371000, rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad, dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}
// Where an officer is: the newer of the terminal's live position and the
// place of their last inspection.
function whereIs(o) {
  return [o.live_position, o.last_position].filter(Boolean).sort((a, b) => Number(b.at_ms) - Number(a.at_ms))[0];
}
function fmtAge(ms) {
  const s = Math.max(0, Math.round(Number(ms) / 1000));
  return s < 120 ? `${s} ${t("secondsAgo")}` : `${Math.round(s / 60)} ${t("minutesAgo")}`;
}
function fmtDistance(m) { return m < 1000 ? `${Math.round(m)} ${t("metres")}` : `${(m / 1000).toFixed(1)} km`; }
// Officers online first, nearest to the assignment's place first among
// those (where positions exist), then the rest, then teams; the current
// assignee left out.
function reassignOptions(a) {
  const place = a.place && a.place.latitude ? a.place : null;
  const distance = (o) => place && whereIs(o) ? metresBetween(place, whereIs(o)) : Infinity;
  const people = officers.filter(o => o.role === "officer" && o.officer_id !== a.officerId)
    .sort((x, y) => Number(y.online) - Number(x.online) || distance(x) - distance(y) || x.name.localeCompare(y.name));
  const teams = [...new Map(officers.filter(o => o.role === "officer" && o.team_id !== a.teamId)
    .map(o => [o.team_id, o.team_name || o.team_id])).entries()];
  return `<option value="">—</option>` +
    people.map(o => `<option value="officer:${esc(o.officer_id)}">${o.online ? "● " : ""}${esc(o.name)} (${esc(o.officer_id)})` +
      `${distance(o) < Infinity ? " · " + esc(t("nearest")) + " " + esc(fmtDistance(distance(o))) : ""}</option>`).join("") +
    teams.map(([id, name]) => `<option value="team:${esc(id)}">${esc(name)}</option>`).join("");
}

// Triage (事件分拨): incidents, newest first; kept live by the `incident`
// events of /api/events (each carries the incident after the change).
let incidents = [];
function incidentChanged(event) {
  const i = event.incident; if (!i || !i.id) return;
  const at = incidents.findIndex(x => x.id === i.id);
  if (at >= 0) incidents[at] = i; else { incidents.push(i); incidents.sort((a, b) => (a.id < b.id ? 1 : -1)); }
  renderIncidents(); mapChanged();
  const open = $("detail").dataset.incident;
  if (open === i.id && !$("detail").classList.contains("hidden")) showIncident(i.id);
}
async function loadIncidents() {
  try { incidents = (await api("GET", "/api/incidents?limit=200")).incidents || []; renderIncidents(); $("triage-error").textContent = ""; }
  catch (e) { $("triage-error").textContent = e.message; }
}
function renderIncidents() {
  const body = $("incidents"); if (!body) return;
  body.innerHTML = incidents.map(i => `<tr data-incident="${esc(i.id)}" data-state="${esc(i.state)}" data-category="${esc(i.category)}"><td>${esc(fmtTime(i.lastReportAtMs))}</td><td>${esc(t(i.category))}</td>` +
    `<td>${esc(i.title)}</td><td>${esc(i.reportCount || 1)}</td><td>${teamOf(i.teamId)}</td><td>${esc(t(i.state))}</td><td>` +
    (i.state === "INCIDENT_STATE_NEW"
      ? `<button class="primary" type="button" data-act="dispatch">${esc(t("dispatchIncident"))}</button> <button type="button" data-act="dismiss">${esc(t("dismissIncident"))}</button>`
      : "") + `</td></tr>`).join("");
}
$("incidents").addEventListener("click", async (e) => {
  const row = e.target.closest("[data-incident]"); if (!row) return;
  const id = row.dataset.incident, act = e.target.dataset.act;
  try {
    if (act === "dispatch") {
      await api("POST", `/api/incidents/${encodeURIComponent(id)}/dispatch`, { assignment_id: uuidv7() });
      await Promise.all([loadIncidents(), loadAssignments()]);
    } else if (act === "dismiss") {
      const reason = prompt(t("dismissReason"));
      if (reason && reason.trim()) { await api("POST", `/api/incidents/${encodeURIComponent(id)}/dismiss`, { update_id: uuidv7(), reason: reason.trim() }); await loadIncidents(); }
    } else { showIncident(id); }
  } catch (err) { $("triage-error").textContent = err.message; }
});
async function showIncident(id) {
  const detail = $("detail");
  const path = "/api/incidents/" + encodeURIComponent(id);
  const [data, evidence] = await Promise.all([api("GET", path), api("GET", path + "/evidence")]);
  const i = data.incident, isNew = i.state === "INCIDENT_STATE_NEW";
  // Each report with thumbnails of its images; while NEW, a box to split it off.
  const sources = (evidence.sources || []).map(s => `<li class="incident-source" data-source="${esc(s.item_id)}">` +
    (isNew && !s.merged_from ? `<input type="checkbox" class="split-pick" value="${esc(s.item_id)}"> ` : "") +
    `${esc(fmtTime(s.at_ms))} · ${esc(t(s.kind))} ${esc(s.source_id)} · ${esc(s.summary)}` +
    (s.merged_from ? ` <span class="meta">(${esc(t("INCIDENT_STATE_MERGED"))} ${esc(s.merged_from.slice(0, 8))})</span>` : "") +
    `<div class="thumbs">` + (s.images.length ? s.images.map(img => `<a href="${esc(img.url)}" target="_blank" rel="noopener">` +
      `<img class="source-thumb" loading="lazy" alt="" src="${esc(img.thumbnail_url)}"></a>`).join("") : "") + `</div></li>`).join("");
  const others = incidents.filter(o => o.id !== i.id && (o.state === "INCIDENT_STATE_NEW" || o.state === "INCIDENT_STATE_DISPATCHED"));
  detail.dataset.incident = i.id;
  detail.innerHTML = `<h3>${esc(i.title)}</h3><div class="meta">${esc(t(i.category))} · ${esc(t(i.state))} · ${teamOf(i.teamId)} · ${esc(t("reports"))} ${esc(i.reportCount || 1)}</div>` +
    (i.dismissReason ? `<p>${esc(i.dismissReason)}</p>` : "") +
    `<h4>${esc(t("sources"))}</h4><ul class="sources">${sources}</ul>` +
    (isNew ? `<div class="actions"><button type="button" id="split-off">${esc(t("splitOff"))}</button> ` +
      (others.length ? `<select id="merge-into">${others.map(o => `<option value="${esc(o.id)}">${esc(t(o.category))} · ${esc(o.title)}</option>`).join("")}</select> ` +
        `<button type="button" id="merge-go">${esc(t("mergeInto"))}</button>` : "") + `</div>` : "") +
    `<h4>${esc(t("history"))}</h4><table>` +
    (data.events || []).map(e => `<tr><td>${esc(fmtTime(e.atMs))}</td><td>${esc(t(e.kind || ""))}</td><td>${who(e.by)}</td>` +
      `<td>${esc(e.source ? t(e.source.kind) + " " + e.source.sourceId + " · " + e.source.summary : (e.reason || ""))}</td></tr>`).join("") + "</table>" +
    `<p class="error" id="incident-error"></p><button type="button" id="detail-close">${esc(t("close"))}</button>`;
  openDetail();
  // A thumbnail not made yet: hide it rather than show a broken image.
  detail.querySelectorAll("img.source-thumb").forEach(img => { img.onerror = () => { img.style.visibility = "hidden"; }; });
  $("detail-close").onclick = closeDetail;
  const act = async (fn) => { try { await fn(); } catch (err) { $("incident-error").textContent = err.message; } };
  if ($("split-off")) $("split-off").onclick = () => act(async () => {
    const picked = [...detail.querySelectorAll(".split-pick:checked")].map(c => c.value);
    if (!picked.length) return;
    const reason = prompt(t("splitReason")); if (reason === null) return;
    const made = await api("POST", path + "/split", { update_id: uuidv7(), new_incident_id: uuidv7(), item_ids: picked, reason: reason.trim() });
    await loadIncidents(); showIncident(made.incident.id);
  });
  if ($("merge-go")) $("merge-go").onclick = () => act(async () => {
    const reason = prompt(t("mergeReason")); if (reason === null) return;
    const into = await api("POST", path + "/merge", { update_id: uuidv7(), into_incident_id: $("merge-into").value, reason: reason.trim() });
    await loadIncidents(); showIncident(into.incident.id);
  });
}

function fillAssignees() {
  const kind = $("d-kind").value; const select = $("d-assignee");
  const options = kind === "team"
    ? [...new Map(officers.filter(o => o.role === "officer").map(o => [o.team_id, o.team_name || o.team_id])).entries()]
    : officers.filter(o => o.role === "officer").map(o => [o.officer_id, `${o.name} (${o.officer_id})`]);
  select.innerHTML = options.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join("");
}
$("d-kind").onchange = fillAssignees;
$("d-submit").onclick = async () => {
  $("d-error").textContent = ""; $("d-result").textContent = "";
  const assignment = { id: uuidv7(), title: $("d-title").value, instructions: $("d-instructions").value, matterCode: $("d-matter").value,
    area: $("d-address").value, priority: $("d-priority").value, caseId: $("d-case").value };
  if ($("d-kind").value === "team") assignment.teamId = $("d-assignee").value; else assignment.officerId = $("d-assignee").value;
  const lat = parseFloat($("d-lat").value), lon = parseFloat($("d-lon").value);
  if (!isNaN(lat) && !isNaN(lon)) assignment.place = { latitude: lat, longitude: lon, address: $("d-address").value };
  if ($("d-due").value) assignment.dueAtMs = String(new Date($("d-due").value).getTime());
  try {
    const result = await api("POST", "/api/assignments", assignment);
    assignments.set(result.assignment.id, result.assignment); renderBoard();
    $("d-result").textContent = t("sent") + " · " + result.assignment.id;
  } catch (e) { $("d-error").textContent = e.message; }
};

// The catalogue, for the dispatch form's matter picker (search by code,
// name or domain; the chosen matter's name shows under the field).
let matters = [], domains = [];
const domainName = (code) => { const d = domains.find(d => d.code === code); return d ? (lang === "zh" ? d.zh : d.en) : code; };
async function loadMatters() {
  const catalogue = await api("GET", "/api/matters");
  matters = catalogue.matters || []; domains = catalogue.domains || [];
  $("matters").innerHTML = matters.map(m => `<option value="${esc(m.code)}">${esc(m.name)} · ${esc(domainName(m.domain))}</option>`).join("");
  showMatterName();
}
function showMatterName() {
  const m = matters.find(m => m.code === $("d-matter").value.trim());
  $("d-matter-name").textContent = m ? `${m.name}（${domainName(m.domain)}）${m.enforcement_measure ? " · " + t("compulsoryMeasure") : ""}` : (matters.length ? t("unknownMatter") : "");
}
$("d-matter").oninput = showMatterName;
async function loadOfficers() { officers = (await api("GET", "/api/officers")).officers || []; renderOfficers(); fillAssignees(); fillBoardFilters(); fillCaseTeams(); renderBoard(); renderIncidents(); mapChanged(); }
function renderOfficers() {
  const body = $("officers"); if (!body) return;
  body.innerHTML = officers.map(o => `<tr data-officer="${esc(o.officer_id)}"><td>${esc(o.name)} <code>${esc(o.officer_id)}</code></td><td>${esc(o.team_name || o.team_id)}</td>` +
    `<td><span class="dot ${o.online ? "on" : ""}"></span>${o.online ? "●" : ""}</td><td>${esc(fmtTime(o.last_seen_ms))}</td>` +
    `<td>${whereIs(o) ? esc(whereIs(o).latitude.toFixed(5) + ", " + whereIs(o).longitude.toFixed(5)) +
      (whereIs(o) === o.live_position ? ` · ${esc(t("live"))} ${esc(fmtAge(o.live_position.age_ms))}` : "") : "—"}</td></tr>`).join("");
}

// Administration without a restart: reload the directory or the catalogue
// from their files (a bad file is refused and what is in force stays).
async function reloadReference(what) {
  $("reload-status").textContent = "";
  try {
    const done = await api("POST", "/api/admin/reload", { [what]: true });
    const d = done.directory, c = done.catalogue;
    $("reload-status").textContent = d
      ? t("reloadedDirectory").replace("{n}", d.enrolled).replace("{d}", d.disabled.length).replace("{s}", d.sessions_closed)
      : t("reloadedCatalogue").replace("{v}", c.current || "—").replace("{n}", c.matters);
    if (d) loadOfficers(); else loadMatters();
  } catch (e) { $("reload-status").textContent = e.message; }
}
$("reload-directory").onclick = () => reloadReference("directory");
$("reload-catalogue").onclick = () => reloadReference("catalogue");

// Statistics (统计): a period's figures, drawn locally as SVG, with the CSV
// the same query gives; "last year's summary" asks for the whole previous
// year, the figures the town's yearly report quotes.
// Statistics count days in China Standard Time (UTC+8), as the server does,
// whatever the browser's own zone: "today" is the agency's today (between
// 16:00 and 24:00 UTC a UTC browser's date is a day behind it).
const cstDay = (ms) => new Date(ms + 8 * 3600000).toISOString().slice(0, 10);
function statsQuery() {
  return new URLSearchParams({ from: $("s-from").value, to: $("s-to").value, by: $("s-by").value });
}
const fmtMs = (ms) => ms == null ? "—" : ms < 3600000 ? `${Math.round(ms / 60000)} ${t("minutes")}` : `${(ms / 3600000).toFixed(1)} h`;
const pct = (r) => r == null ? "—" : `${(r * 100).toFixed(1)}%`;
async function loadStats() {
  $("s-error").textContent = "";
  if (!$("s-from").value) { const today = cstDay(Date.now()); $("s-from").value = `${today.slice(0, 4)}-01-01`; $("s-to").value = today; }
  const query = statsQuery();
  $("s-csv").href = "/api/stats?" + query + "&format=csv";
  $("s-xlsx").href = "/api/stats?" + query + "&format=xlsx";
  try {
    const r = await api("GET", "/api/stats?" + query);
    const p = r.penalties;
    $("s-summary").innerHTML = [
      [t("totalInspections"), r.totals.inspections], [t("penaltiesThis"), p.this_period], [t("penaltiesLast"), p.a_year_earlier],
      [t("yoy"), p.change_percent == null ? "—" : `${p.change_percent > 0 ? "+" : ""}${p.change_percent}%`],
      [t("assignmentsCreated"), r.assignments.created], [t("overdueRate"), pct(r.assignments.overdue_rate)], [t("returnedRate"), pct(r.assignments.returned_rate)],
    ].map(([label, value]) => `<div class="stat-card"><div class="meta">${esc(label)}</div><b>${esc(value)}</b></div>`).join("");
    drawStatsChart(r.rows);
    $("s-rows").innerHTML = r.rows.concat([r.totals]).map(row => `<tr data-key="${esc(row.key)}"><td>${esc(row.label || row.key)} <code>${esc(row.key)}</code></td>` +
      `<td>${esc(row.inspections)}</td><td>${esc(row.penalties)}</td><td class="meta">${Object.entries(row.outcomes).map(([o, n]) => `${esc(t(o))} ${esc(n)}`).join("、")}</td></tr>`).join("");
    $("s-incidents").innerHTML = r.incidents.map(i => `<tr><td>${esc(t(i.category))}</td><td>${esc(i.total)}</td><td class="meta">${Object.entries(i.states).map(([s, n]) => `${esc(t(s))} ${esc(n)}`).join("、")}</td></tr>`).join("") +
      Object.entries(r.incident_sources).map(([kind, n]) => `<tr><td class="meta">${esc(t(kind))}</td><td>${esc(n)}</td><td></td></tr>`).join("");
    $("s-response").innerHTML = [["toAccepted", r.assignments.to_accepted], ["toOnSite", r.assignments.to_on_site], ["toCompleted", r.assignments.to_completed]]
      .map(([key, s]) => `<tr><td>${esc(t(key))}</td><td>p50 ${esc(fmtMs(s.p50_ms))}</td><td>p90 ${esc(fmtMs(s.p90_ms))}</td><td class="meta">n=${esc(s.count)}</td></tr>`).join("");
    $("s-catalogue").innerHTML = `<tr><td colspan="3" class="meta">${esc(r.catalogue_version || "—")}</td></tr>` +
      r.catalogue.map(d => `<tr><td>${esc(lang === "zh" ? d.zh : d.en)}</td><td>${esc(d.matters)} ${esc(t("matters"))}</td><td class="meta">${esc(d.compulsory_measures)} ${esc(t("compulsory"))}</td></tr>`).join("");
  } catch (e) { $("s-error").textContent = e.message; }
}
// Bars: each group's inspections, its penalty outcomes darker at the foot.
function drawStatsChart(rows) {
  const svg = $("s-chart"); const max = Math.max(1, ...rows.map(r => r.inspections));
  const width = Math.min(1000 / Math.max(rows.length, 1), 120);
  svg.innerHTML = rows.map((row, n) => {
    const h = row.inspections / max * 240, hp = row.penalties / max * 240, x = n * width + width * 0.15, w = width * 0.7;
    return `<g class="bar" data-key="${esc(row.key)}"><title>${esc(row.label || row.key)}: ${row.inspections}</title>` +
      `<rect x="${x}" y="${260 - h}" width="${w}" height="${h}" fill="#0b5cad"/><rect x="${x}" y="${260 - hp}" width="${w}" height="${hp}" fill="#c62828"/>` +
      `<text x="${x + w / 2}" y="${255 - h}" font-size="12" text-anchor="middle">${row.inspections}</text>` +
      `<text x="${x + w / 2}" y="278" font-size="11" text-anchor="middle">${esc((row.key || "").slice(0, 10))}</text></g>`;
  }).join("");
}
$("s-go").onclick = loadStats;
$("s-by").onchange = loadStats;
$("s-year").onclick = () => { const y = Number(cstDay(Date.now()).slice(0, 4)) - 1; $("s-from").value = `${y}-01-01`; $("s-to").value = `${y}-12-31`; loadStats(); };

// What kind of media an item holds, from its type: a picture with a
// thumbnail, or a video, recording or document shown by name and length.
function mediaKind(photo) {
  const type = (photo && photo.content_type) || "";
  if (type === "image/jpeg" || type === "image/png" || type === "") return "picture";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  if (type === "application/pdf") return "document";
  return "photo";
}
function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
function evidenceHtml(item) {
  const photo = item.photo;
  const kind = mediaKind(photo);
  const img = !photo ? "" : kind === "picture"
    ? `<img alt="" src="/api/photos/${encodeURIComponent(item.item_id)}/thumbnail" data-tries="0">`
    : `<span class="media-badge">${esc(t(kind))}${photo.duration_ms != null ? " " + esc(fmtDuration(photo.duration_ms)) : ""}</span>`;
  const flags = photo ? flagBadges(photo) : "";
  const pending = photo && (photo.pending_flags || photo.flags || []).length > 0;
  return `<div class="evidence-item" tabindex="0" role="button" data-item="${esc(item.item_id)}" data-kind="${esc(item.kind)}"${pending ? ' data-flagged="1"' : ""}>${img}<div><b>${esc(t(item.kind))}</b> · ${who(item.officer_id)} · ${esc(fmtTime(item.received_at_ms))}` +
    `<div>${flags}</div><div class="status">${esc(t("receipt"))} #${esc(item.server_seq)} · SHA-256 <code>${esc(item.sha256.slice(0, 16))}…</code>${item.case_id ? " · " + esc(item.case_id) : ""}</div></div></div>`;
}
// Each flag in words; a reviewed one is marked so (its review in the detail).
function flagBadges(photo) {
  const pending = photo.pending_flags || photo.flags || [];
  return (photo.flags || []).map(f => `<span class="flag${pending.includes(f) ? "" : " reviewed"}" data-flag="${esc(f)}" title="${esc(f)}">${esc(t(f))}` +
    `${pending.includes(f) ? "" : " · " + esc(t("reviewed"))}</span>`).join("");
}
// The thumbnail is made just after the receipt: try again a few times
// (listened for here, not in an inline handler: the page's CSP allows none).
document.addEventListener("error", (e) => {
  if (e.target instanceof HTMLImageElement && e.target.dataset.tries !== undefined) retryThumbnail(e.target);
}, true);
function retryThumbnail(img) {
  const tries = Number(img.dataset.tries) + 1; img.dataset.tries = tries;
  if (tries > 20) { img.style.visibility = "hidden"; return; }
  setTimeout(() => { img.src = img.src.split("?")[0] + "?try=" + tries; }, 500);
}
// "Flagged for review only": items without a flag are hidden, live ones too.
$("f-flagged").onchange = () => $("evidence").classList.toggle("flagged-only", $("f-flagged").checked);
async function loadEvidence() {
  const data = await api("GET", "/api/evidence?limit=50");
  $("evidence").innerHTML = (data.items || []).map(evidenceHtml).join("");
}

// The map: officers' last positions, open assignments and incidents
// awaiting triage, over the configured base layer (XYZ tiles, Web
// Mercator) or, without one, drawn locally with nothing fetched. It
// redraws on every live change while it is shown.
let mapSettings = { tile_url: null, attribution: null };
let mapView = null; // how svg points map to places, for picking one
const MAP_W = 1000, MAP_H = 520, TILE = 256;
function mercator(lat, lon, z) {
  const n = TILE * 2 ** z, s = Math.sin(Math.max(-85, Math.min(85, lat)) * Math.PI / 180);
  return [(lon + 180) / 360 * n, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n];
}
function unmercator(x, y, z) {
  const n = TILE * 2 ** z;
  return { longitude: x / n * 360 - 180, latitude: Math.atan(Math.sinh(Math.PI * (1 - 2 * y / n))) * 180 / Math.PI };
}
function mapPoints() {
  const points = officers.filter(o => whereIs(o)).map(o => {
    const at = whereIs(o), live = at === o.live_position;
    return { x: at.longitude, y: at.latitude, kind: "officer",
      label: live ? `${o.name} · ${fmtAge(at.age_ms)}` : o.name,
      stale: live ? Number(at.age_ms) > 10 * 60000 : (at.at_ms && Date.now() - Number(at.at_ms) > 30 * 60000) };
  });
  for (const a of assignments.values()) {
    if (a.place && a.place.latitude && !["ASSIGNMENT_STATE_COMPLETED","ASSIGNMENT_STATE_CANCELLED","ASSIGNMENT_STATE_REJECTED"].includes(a.state))
      points.push({ x: a.place.longitude, y: a.place.latitude, label: a.title, kind: "task", overdue: a.overdue });
  }
  for (const i of incidents) {
    if (i.place && i.place.latitude && i.state === "INCIDENT_STATE_NEW")
      points.push({ x: i.place.longitude, y: i.place.latitude, label: t(i.category), kind: "incident" });
  }
  return points;
}
function drawMap() {
  const svg = $("map-svg"); if (!svg) return;
  const points = mapPoints();
  // With no marks yet, the dispatch form's place (or the town's centre).
  const lat0 = parseFloat($("d-lat").value), lon0 = parseFloat($("d-lon").value);
  const fallback = !isNaN(lat0) && !isNaN(lon0) ? { x: lon0, y: lat0 } : { x: 121.544, y: 29.868 };
  const xs = points.length ? points.map(p => p.x) : [fallback.x], ys = points.length ? points.map(p => p.y) : [fallback.y];
  const pad = 0.002, minX = Math.min(...xs) - pad, maxX = Math.max(...xs) + pad, minY = Math.min(...ys) - pad, maxY = Math.max(...ys) + pad;
  let project, tiles = "";
  if (mapSettings.tile_url) {
    // The largest zoom at which every mark fits, centred.
    let z = 18;
    for (; z > 2; z--) {
      const [x1, y1] = mercator(maxY, minX, z), [x2, y2] = mercator(minY, maxX, z);
      if (x2 - x1 <= MAP_W - 80 && y2 - y1 <= MAP_H - 80) break;
    }
    const [cx, cy] = mercator((minY + maxY) / 2, (minX + maxX) / 2, z);
    const ox = cx - MAP_W / 2, oy = cy - MAP_H / 2;
    project = (lon, lat) => { const [x, y] = mercator(lat, lon, z); return [x - ox, y - oy]; };
    mapView = { toPlace: (x, y) => unmercator(x + ox, y + oy, z) };
    const n = 2 ** z;
    for (let tx = Math.floor(ox / TILE); tx * TILE < ox + MAP_W; tx++) {
      for (let ty = Math.max(0, Math.floor(oy / TILE)); ty * TILE < oy + MAP_H && ty < n; ty++) {
        const url = mapSettings.tile_url.replace("{z}", z).replace("{x}", ((tx % n) + n) % n).replace("{y}", ty);
        tiles += `<image class="tile" href="${esc(url)}" x="${tx * TILE - ox}" y="${ty * TILE - oy}" width="${TILE}" height="${TILE}"/>`;
      }
    }
  } else {
    const sx = (x) => 40 + (x - minX) / (maxX - minX) * 920, sy = (y) => 480 - (y - minY) / (maxY - minY) * 440;
    project = (lon, lat) => [sx(lon), sy(lat)];
    mapView = { toPlace: (x, y) => ({ longitude: minX + (x - 40) / 920 * (maxX - minX), latitude: minY + (480 - y) / 440 * (maxY - minY) }) };
  }
  // Marks at one spot stack their labels instead of writing over each other.
  const taken = new Map();
  svg.innerHTML = tiles + points.map(p => {
    const [x, y] = project(p.x, p.y);
    const spot = `${Math.round(x / 8)},${Math.round(y / 8)}`;
    const nth = taken.get(spot) || 0; taken.set(spot, nth + 1);
    const labelY = y + 4 + nth * 16;
    const mark = p.kind === "officer" ? `<circle cx="${x}" cy="${y}" r="7" fill="${p.stale ? "#7a8794" : "#0b5cad"}" stroke="#fff" stroke-width="2"/>`
      : p.kind === "incident" ? `<polygon class="incident-pin" points="${x},${y-8} ${x-7},${y+6} ${x+7},${y+6}" fill="#c62828" stroke="#fff" stroke-width="1.5"/>`
      : `<rect x="${x-6}" y="${y-6}" width="12" height="12" fill="${p.overdue ? "#c62828" : "#e67e00"}" stroke="#fff" stroke-width="1.5"/>`;
    return mark + `<text x="${x + 10}" y="${labelY}" font-size="13" class="map-label">${esc(p.label)}</text>`;
  }).join("");
  $("map-note").classList.toggle("hidden", !!mapSettings.tile_url);
  $("map-attribution").textContent = mapSettings.tile_url ? `${t("mapTiles")}: ${mapSettings.attribution || new URL(mapSettings.tile_url.replace(/[{}]/g, "")).host}` : "";
}
// Redraws while shown: live changes call this; positions are re-read
// every 30 s.
function mapChanged() { if (isVisible("map")) drawMap(); }
// Live positions move: the map refreshes every 10 s while it is shown.
setInterval(() => { if (isVisible("map") && csrf) loadOfficers(); }, 10000);

// The dispatch form suggests the officers online nearest its place.
async function suggestNearest() {
  const lat = parseFloat($("d-lat").value), lon = parseFloat($("d-lon").value);
  const out = $("d-nearest"); if (!out) return;
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) { out.textContent = "—"; return; }
  const near = (await api("GET", `/api/officers/nearest?latitude=${lat}&longitude=${lon}&limit=5`)).officers || [];
  out.innerHTML = near.length ? near.map(o => `<button type="button" class="link" data-officer="${esc(o.officer_id)}">${esc(o.name)} · ${esc(fmtDistance(o.distance_m))}</button>`).join(" ") : "—";
  out.querySelectorAll("button").forEach(b => b.onclick = () => {
    $("d-kind").value = "officer"; fillAssignees(); $("d-assignee").value = b.dataset.officer;
  });
}
$("d-lat").addEventListener("change", suggestNearest);
$("d-lon").addEventListener("change", suggestNearest);

// The dispatch form's address offers the places already on record (the
// addresses of assignments and incidents, with their coordinates); choosing
// one fills them in. Nothing is looked up elsewhere.
function knownPlaces() {
  const places = new Map();
  const add = (p) => { if (p && p.address && p.latitude) places.set(p.address, p); };
  for (const a of assignments.values()) add(a.place);
  for (const i of incidents) add(i.place);
  return places;
}
$("d-address").onfocus = () => {
  $("places").innerHTML = [...knownPlaces().keys()].map(address => `<option value="${esc(address)}"></option>`).join("");
};
$("d-address").oninput = () => {
  const place = knownPlaces().get($("d-address").value.trim()); if (!place) return;
  $("d-lat").value = Number(place.latitude).toFixed(6); $("d-lon").value = Number(place.longitude).toFixed(6);
  $("d-pick-status").textContent = t("picked");
  suggestNearest();
};

// Picking the dispatch form's place on the map: click a point, Esc cancels.
let pickingPlace = false;
$("d-pick").onclick = () => { pickingPlace = true; $("map-pick-note").hidden = false; $("map").classList.add("picking"); showView("map"); };
function endPick(picked) {
  pickingPlace = false; $("map-pick-note").hidden = true; $("map").classList.remove("picking"); showView("dispatch");
  $("d-pick-status").textContent = picked ? t("picked") : "";
}
$("map-svg").addEventListener("click", (e) => {
  if (!pickingPlace || !mapView) return;
  const svg = $("map-svg"), point = svg.createSVGPoint(); point.x = e.clientX; point.y = e.clientY;
  const at = point.matrixTransform(svg.getScreenCTM().inverse());
  const place = mapView.toPlace(at.x, at.y);
  $("d-lat").value = place.latitude.toFixed(6); $("d-lon").value = place.longitude.toFixed(6);
  endPick(true);
  suggestNearest();
});

// Cases (案件): the most recently active first, searchable by case id or
// party, by team; a case opens as its file.
const cases = { loaded: false, list: [], next: null, open: "" };
function fillCaseTeams() {
  const select = $("case-team"); const value = select.value;
  const teams = [...new Map(officers.filter(o => o.role === "officer").map(o => [o.team_id, o.team_name || o.team_id])).entries()];
  select.innerHTML = `<option value="">—</option>` + teams.map(([id, name]) => `<option value="${esc(id)}">${esc(name)}</option>`).join("");
  select.value = value;
}
async function loadCases(more) {
  $("case-error").textContent = "";
  const query = new URLSearchParams({ limit: "50" });
  if ($("case-q").value.trim()) query.set("q", $("case-q").value.trim());
  if ($("case-team").value) query.set("team", $("case-team").value);
  if (more && cases.next) query.set("before", cases.next);
  try {
    const page = await api("GET", "/api/cases?" + query);
    cases.list = more ? cases.list.concat(page.cases) : page.cases; cases.next = page.next_before; cases.loaded = true;
    renderCases();
  } catch (e) { $("case-error").textContent = e.message; }
}
function renderCases() {
  $("cases").innerHTML = cases.list.length ? cases.list.map(c => `<tr data-case="${esc(c.case_id)}" tabindex="0"><td><code>${esc(c.case_id)}</code></td><td>${esc(c.subject || "—")}</td>` +
    `<td>${esc(c.items)}</td><td>${esc(fmtTime(c.last_at_ms))}</td><td>${(c.officers || []).map(who).join("、")}</td></tr>`).join("")
    : `<tr><td colspan="5" class="status">${esc(t("noCases"))}</td></tr>`;
  $("cases-more").classList.toggle("hidden", !cases.next);
}
$("case-search").onclick = () => loadCases(false);
$("case-q").addEventListener("keydown", (e) => { if (e.key === "Enter") loadCases(false); });
$("case-team").onchange = () => loadCases(false);
$("cases-more").onclick = () => loadCases(true);
$("cases").addEventListener("click", (e) => { const row = e.target.closest("[data-case]"); if (row) openCase(row.dataset.case); });
$("case-back").onclick = () => { $("case-file-view").classList.add("hidden"); $("case-list-view").classList.remove("hidden"); cases.open = ""; };
// The case file: every item in time order with its content, images and
// state, and the assignments its records answer.
async function openCase(id) {
  $("case-error").textContent = ""; $("case-export-status").textContent = "";
  try {
    const file = await api("GET", `/api/cases/${encodeURIComponent(id)}/file`);
    cases.open = file.case_id;
    const summary = cases.list.find(c => c.case_id === file.case_id);
    $("case-title").textContent = `${file.case_id}${summary && summary.subject ? " · " + summary.subject : ""}`;
    $("case-assignments").innerHTML = (file.assignments || []).length ? `<h4>${esc(t("assignmentsOfCase"))}</h4><ul>` +
      file.assignments.map(a => `<li><a href="#" data-assignment="${esc(a.id)}">${esc(a.title)}</a> · ${esc(t(a.state))} · ${assignee(a)}</li>`).join("") + `</ul>` : "";
    $("case-items").innerHTML = file.items.map(i => `<li data-item="${esc(i.item_id)}" data-kind="${esc(i.kind)}" tabindex="0">` +
      `<div class="case-item-head"><b>${esc(t(i.kind))}</b> · ${esc(fmtTime(i.occurred_at_ms))} · ${who(i.officer_id)} · ${esc(t("receipt"))} #${esc(i.server_seq)}` +
      `${i.service_state ? " · " + esc(t("serviceState")) + " " + esc(t(i.service_state)) : ""}${i.device_signed ? " · " + esc(t("deviceSigned")) : ""}</div>` +
      (i.photo ? (mediaKind(i.photo) === "picture" ? `<img class="case-thumb" alt="" loading="lazy" src="/api/photos/${encodeURIComponent(i.item_id)}/thumbnail" data-tries="0">`
        : `<span class="media-badge">${esc(t(mediaKind(i.photo)))}${i.photo.duration_ms != null ? " " + esc(fmtDuration(i.photo.duration_ms)) : ""}</span>`) + flagBadges(i.photo) : "") +
      (i.kind !== "photo" ? contentHtml(i.body) : "") + `</li>`).join("") +
      (file.more ? `<li class="status">${esc(t("moreItems"))}</li>` : "");
    $("case-list-view").classList.add("hidden"); $("case-file-view").classList.remove("hidden");
  } catch (e) { $("case-error").textContent = e.message; }
}
$("case-items").addEventListener("click", (e) => { const row = e.target.closest("[data-item]"); if (row) showItem(row.dataset.item); });
$("case-assignments").addEventListener("click", (e) => { const link = e.target.closest("[data-assignment]"); if (link) { e.preventDefault(); showAssignment(link.dataset.assignment); } });
$("evidence").addEventListener("click", (e) => { const item = e.target.closest("[data-item]"); if (item) showItem(item.dataset.item); });

// The case package (docs/evidence-export.md), downloaded as a file.
$("case-export").onclick = async () => {
  const id = cases.open; if (!id) return;
  $("case-error").textContent = ""; $("case-export-status").textContent = t("exporting");
  try {
    const response = await fetch(`/api/cases/${encodeURIComponent(id)}/export`, { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    if (!response.ok) { const data = await response.json().catch(() => null); throw new Error((data && (t(data.reason) + ": " + data.message)) || response.status); }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a"); link.href = url; link.download = id.replace(/[^A-Za-z0-9-]/g, "_") + ".tar";
    document.body.appendChild(link); link.click(); link.remove(); setTimeout(() => URL.revokeObjectURL(url), 60000);
    $("case-export-status").textContent = t("exported");
  } catch (e) { $("case-export-status").textContent = ""; $("case-error").textContent = e.message; }
};

// A video or recording plays from the original (each play is a custody
// event, as a download is); nothing loads until asked.
function mediaPlayer(item) {
  const kind = mediaKind(item.photo);
  const src = `/api/photos/${encodeURIComponent(item.item_id)}/original`;
  const facts = `<p class="meta">${esc(item.photo.content_type)}${item.photo.codecs ? " · " + esc(item.photo.codecs) : ""}` +
    `${item.photo.duration_ms != null ? " · " + esc(t("duration")) + " " + esc(fmtDuration(item.photo.duration_ms)) : ""}` +
    `${item.photo.width ? " · " + esc(item.photo.width + "×" + item.photo.height) : ""}</p>`;
  if (kind === "video") return facts + `<video controls preload="none" src="${esc(src)}"></video>`;
  if (kind === "audio") return facts + `<audio controls preload="none" src="${esc(src)}"></audio>`;
  return facts;
}

// Decoded content as a list of fields: enum names and times in words,
// nested messages flattened ("subject · name"), lists joined.
const TIME_KEY = /(AtMs|Ms|_at_ms)$/;
// The fields a reader looks for first; ids the page shows elsewhere are left out.
const FIELD_ORDER = ["subject", "matterCode", "outcome", "outcomeNote", "findings", "rectifyByMs", "recipient", "documentType", "documentNumber",
  "channel", "interviewee", "place", "startedAtMs", "endedAtMs", "sentAtMs", "officerIds"];
const FIELDS_SHOWN_ELSEWHERE = ["id", "caseId", "photoIds"];
function contentHtml(body) {
  if (body === null || body === undefined) return "";
  if (typeof body !== "object") return `<pre class="content">${esc(body)}</pre>`;
  const rank = (k) => { const n = FIELD_ORDER.indexOf(k); return n < 0 ? FIELD_ORDER.length : n; };
  body = Object.fromEntries(Object.entries(body).filter(([k]) => !FIELDS_SHOWN_ELSEWHERE.includes(k)).sort(([a], [b]) => rank(a) - rank(b)));
  const rows = [];
  const walk = (value, path) => {
    if (value === null || value === undefined || value === "") return;
    if (Array.isArray(value)) {
      if (value.length && typeof value[0] === "object") value.forEach((v, n) => walk(v, path.concat(String(n + 1))));
      else if (value.length) rows.push([path, value.map(v => path[path.length - 1] === "officerIds" ? personName(v) : typeof v === "string" && TERMS[v] ? t(v) : String(v)).join("、")]);
      return;
    }
    if (typeof value === "object") { for (const [k, v] of Object.entries(value)) walk(v, path.concat(k)); return; }
    const key = path[path.length - 1];
    const text = key === "assignmentId" && assignments.has(value) ? assignments.get(value).title
      : TIME_KEY.test(key) && /^\d+$/.test(String(value)) && Number(value) > 1e11 ? fmtTime(value)
      : typeof value === "string" && TERMS[value] ? t(value) : String(value);
    rows.push([path, text]);
  };
  walk(body, []);
  return `<dl class="content">` + rows.map(([path, text]) => `<dt>${esc(path.map(k => t(k)).join(" · "))}</dt><dd>${esc(text)}</dd>`).join("") + `</dl>`;
}
// What a flag means for this photo, with its own numbers where it has them.
function explainFlag(flag, photo) {
  const minutes = (a, b) => Math.round(Math.abs(Number(a) - Number(b)) / 60000);
  if (flag === "EVIDENCE_FLAG_EXIF_TIME_MISMATCH" && photo.exif_time_ms != null)
    return t("explain_time").replace("{a}", fmtTime(photo.exif_time_ms)).replace("{b}", fmtTime(photo.captured_at_ms)).replace("{n}", minutes(photo.exif_time_ms, photo.captured_at_ms));
  if (flag === "EVIDENCE_FLAG_CONTAINER_TIME_MISMATCH" && photo.container_time_ms != null)
    return t("explain_container").replace("{a}", fmtTime(photo.container_time_ms)).replace("{b}", fmtTime(photo.captured_at_ms)).replace("{n}", minutes(photo.container_time_ms, photo.captured_at_ms));
  if (flag === "EVIDENCE_FLAG_EXIF_GPS_MISMATCH" && photo.exif_position && photo.position)
    return t("explain_place").replace("{n}", Math.round(metresBetween(photo.exif_position, photo.position)));
  const words = t("explain_" + flag);
  return words === "explain_" + flag ? "" : words;
}
const fmtPlace = (p) => p ? `${Number(p.latitude).toFixed(5)}, ${Number(p.longitude).toFixed(5)}` : "—";
// Capture facts: what the terminal declared beside what the file says.
function mediaFactsHtml(photo) {
  return `<h4>${esc(t("mediaFacts"))}</h4><table class="facts"><tr><th></th><th>${esc(t("declared"))}</th><th>${esc(t("exifSays"))}</th></tr>` +
    `<tr><th>${esc(t("when"))}</th><td>${esc(fmtTime(photo.captured_at_ms))}</td><td>${esc(fmtTime(photo.exif_time_ms ?? photo.container_time_ms))}</td></tr>` +
    `<tr><th>${esc(t("place"))}</th><td>${esc(fmtPlace(photo.position))}</td><td>${esc(fmtPlace(photo.exif_position))}</td></tr></table>`;
}
// Each flag explained, its reviews under it, and a form for those pending.
function flagsHtml(photo) {
  if (!(photo.flags || []).length) return "";
  const reviews = photo.reviews || [], pending = photo.pending_flags || [];
  return `<h4>${esc(t("pendingReview"))} / ${esc(t("reviews"))}</h4><ul class="flags">` + photo.flags.map(flag =>
    `<li data-flag="${esc(flag)}"><span class="flag${pending.includes(flag) ? "" : " reviewed"}">${esc(t(flag))}</span> ${esc(explainFlag(flag, photo))}` +
    reviews.filter(r => r.flag === flag).map(r => `<div class="review">✔ ${esc(t("reviewed"))} · ${who(r.actor)} · ${esc(fmtTime(r.at_ms))} · ${esc(r.note)}` +
      ` <span class="meta">${esc(t("leaf"))} ${esc(r.leaf_index)}</span></div>`).join("") +
    (pending.includes(flag) ? `<div class="review-form"><label>${esc(t("reviewNote"))} <input class="review-note" maxlength="500"></label>` +
      ` <button type="button" class="review-go" data-flag="${esc(flag)}">${esc(t("reviewFlag"))}</button></div>` : "") +
    `</li>`).join("") + `</ul>`;
}
// An item: its content, its media and their facts, its flags and their
// reviews, its receipt with both digests, whether the device signed it, and
// its chain of custody (this view is itself recorded in it).
async function showItem(id) {
  const detail = $("detail"); const item = await api("GET", "/api/items/" + encodeURIComponent(id));
  const photo = item.photo;
  const original = `/api/photos/${encodeURIComponent(item.item_id)}/original`;
  detail.dataset.item = item.item_id;
  detail.innerHTML = `<h3>${esc(t(item.kind))}</h3><div class="meta">${who(item.officer_id)} · ${esc(item.device_id)}${item.case_id ? " · " + esc(item.case_id) : ""}</div>` +
    (photo && mediaKind(photo) === "picture" && photo.thumbnail ? `<a href="${original}" target="_blank" rel="noopener" title="${esc(t("openOriginal"))}"><img class="detail-thumb" alt="" src="/api/photos/${encodeURIComponent(item.item_id)}/thumbnail"></a>` : "") +
    (photo ? mediaPlayer(item) + `<p><a href="${original}" target="_blank" rel="noopener">${esc(t("download_original"))}</a></p>` + mediaFactsHtml(photo) + flagsHtml(photo) : "") +
    ((item.findings || []).length ? `<p class="error">${(item.findings).map(f => `${esc(t(f.finding))}: ${esc(f.detail)}`).join("<br>")}</p>` : "") +
    (item.kind !== "photo" ? `<h4>${esc(t("content"))}</h4>` + contentHtml(item.body) : "") +
    ((item.credentials || []).length ? `<h4>${esc(t("credentialsTitle"))}</h4><table class="facts" id="credentials">` + item.credentials.map(c =>
      `<tr><td>${who(c.officer_id)}</td><td>${esc(c.credential_number || "—")}</td><td>${esc(c.valid_until ? "≤ " + c.valid_until : "")}</td>` +
      `<td>${esc(c.in_force ? t("credentialValid") : t("credentialInvalid"))}</td></tr>`).join("") + `</table>` : "") +
    `<h4>${esc(t("receipt"))}</h4><p class="status">#${esc(item.receipt.server_seq)} · ${esc(fmtTime(item.receipt.received_at_ms))}<br>` +
    `SHA-256 <code class="digest" data-digest="sha256">${esc(item.receipt.sha256)}</code><br>SM3 <code class="digest" data-digest="sm3">${esc(item.receipt.sm3)}</code><br>` +
    `${esc(t("leaf"))} ${esc(item.leaf_index ?? "—")} · ${esc(t("deviceSigned"))}: ${esc(item.device_signed ? t("yes") : t("no"))}</p>` +
    `<h4>${esc(t("custody"))}</h4><table id="custody">` +
    (item.custody || []).map(c => `<tr><td>${esc(fmtTime(c.at_ms))}</td><td>${esc(t(c.action))}${c.flag ? " · " + esc(t(c.flag)) : ""}</td><td>${who(c.actor)}</td><td>${esc(c.origin)}</td></tr>`).join("") + "</table>" +
    `<div class="error" id="detail-error"></div><button type="button" id="detail-close">${esc(t("close"))}</button>`;
  openDetail();
  $("detail-close").onclick = closeDetail;
  detail.querySelectorAll(".review-go").forEach(button => button.onclick = async () => {
    const note = button.parentElement.querySelector(".review-note").value.trim();
    if (!note) { button.parentElement.querySelector(".review-note").focus(); return; }
    try {
      const result = await api("POST", `/api/items/${encodeURIComponent(item.item_id)}/flag-reviews`, { review_id: uuidv7(), flag: button.dataset.flag, note });
      // The feed's entry follows: still flagged only while a flag waits.
      const entry = document.querySelector(`#evidence [data-item="${CSS.escape(item.item_id)}"]`);
      if (entry) {
        if (result.pending_flags.length) entry.dataset.flagged = "1"; else delete entry.dataset.flagged;
        entry.querySelectorAll(".flag").forEach(f => { if (!result.pending_flags.includes(f.dataset.flag)) f.classList.add("reviewed"); });
      }
      showItem(item.item_id);
    } catch (e) { $("detail-error").textContent = e.message; }
  });
}

// Problems that need a person: the evidence scrub's, a witness's refusal.
async function checkAlerts() {
  try {
    const a = await api("GET", "/api/alerts");
    const lines = [];
    if (Number(a.evidence_problems) > 0) lines.push(t("alertProblems").replace("{n}", a.evidence_problems));
    if (Number(a.witness_refusals) > 0) lines.push(t("alertWitness").replace("{n}", a.witness_refusals));
    $("alert-banner").textContent = lines.join(" ");
    $("alert-banner").classList.toggle("hidden", lines.length === 0);
  } catch (e) {}
}

function connectEvents() {
  const events = new EventSource("/api/events");
  events.onopen = () => { $("live-status").textContent = "● " + t("live"); };
  events.onerror = () => { $("live-status").textContent = "○ " + t("offline"); };
  events.addEventListener("assignment", (e) => {
    const event = JSON.parse(e.data);
    if (event.assignment) {
      assignments.set(event.assignment.id, event.assignment); renderBoard(); mapChanged();
      if (event.assignment.incidentId) loadIncidents();
    }
  });
  events.addEventListener("evidence", (e) => {
    const item = JSON.parse(e.data);
    if (!document.querySelector(`[data-item="${CSS.escape(item.item_id)}"]`)) $("evidence").insertAdjacentHTML("afterbegin", evidenceHtml(item));
  });
  events.addEventListener("incident", (e) => incidentChanged(JSON.parse(e.data)));
  events.addEventListener("presence", (e) => {
    const online = new Set(JSON.parse(e.data).online || []);
    officers.forEach(o => { const was = o.online; o.online = online.has(o.officer_id); if (was && !o.online) o.last_seen_ms = Date.now(); });
    renderOfficers(); mapChanged();
  });
}

async function start(session) {
  csrf = session.csrf_token;
  $("who").textContent = `${session.name} (${session.officer_id})`;
  $("signin").classList.add("hidden"); $("app").classList.remove("hidden"); $("signout").classList.remove("hidden");
  await Promise.all([loadAssignments(), loadOfficers(), loadEvidence(), loadIncidents(), loadMatters(),
    api("GET", "/api/map").then(m => { mapSettings = m; }).catch(() => {})]);
  connectEvents();
  checkAlerts(); setInterval(checkAlerts, 30000);
}

$("dispatch-form").addEventListener("submit", (e) => e.preventDefault());
applyLang();
api("GET", "/api/session").then(start).catch(() => {});
