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
    leaf:"日志序号", origin:"来源", view_item:"查看", download_original:"下载原件", export:"导出", audit:"核查",
    triage:"事件分拨", triageNote:"监测报警、视频告警与网格上报登记为事件；同一地点同类事件自动合并。", category:"类别", summary:"摘要", reports:"报告数",
    incidentState:"状态", dispatchIncident:"派遣", dismissIncident:"不予处置", dismissReason:"不予处置的理由：", review:"审核", approve:"审核通过", returnWork:"退回重办",
    returnReason:"退回理由：", sources:"来源", escalated:"无人接单", followUp:"复查",
    splitOff:"拆分所选报告", splitReason:"拆分理由（可不填）：", mergeInto:"并入", mergeReason:"并入理由（可不填）：", noImages:"无图片",
    monitor:"在线监测", camera:"视频监控", supervisor:"指挥员", undecodable:"图像无法解码（原件照存）", post_processing_failed:"后处理失败",
    lampblack_exceedance:"油烟超标", monitor_fault:"设备故障", monitor_offline:"设备离线",
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
    leaf:"Leaf", origin:"From", view_item:"viewed", download_original:"original downloaded", export:"exported", audit:"audited",
    triage:"Triage", triageNote:"Monitor alarms, camera alerts and grid reports become incidents; reports of one kind at one place join.", category:"Category", summary:"Summary", reports:"Reports",
    incidentState:"State", dispatchIncident:"Dispatch", dismissIncident:"Dismiss", dismissReason:"Why is it dismissed?", review:"Review", approve:"Approve", returnWork:"Return",
    returnReason:"Why is it returned?", sources:"Sources", escalated:"not accepted", followUp:"follow-up",
    splitOff:"Split off the selected reports", splitReason:"Why is it split? (optional)", mergeInto:"Merge into", mergeReason:"Why is it merged? (optional)", noImages:"no images",
    monitor:"Monitor", camera:"Camera", supervisor:"Supervisor", undecodable:"The image does not decode (the original is kept as sent)", post_processing_failed:"Post-processing failed",
    lampblack_exceedance:"Cooking fumes over the limit", monitor_fault:"Monitor fault", monitor_offline:"Monitor offline",
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

document.querySelectorAll("nav button").forEach(button => button.onclick = () => {
  document.querySelectorAll("nav button").forEach(b => b.classList.toggle("active", b === button));
  document.querySelectorAll("[data-panel]").forEach(p => p.classList.toggle("hidden", p.dataset.panel !== button.dataset.view));
  if (button.dataset.view === "map") drawMap();
  if (button.dataset.view === "officers") loadOfficers();
});

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
const boardFilter = { team: "", officer: "", overdue: false };
function shownOnBoard(a) {
  if (boardFilter.overdue && !a.overdue) return false;
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
for (const [id, key] of [["f-team", "team"], ["f-officer", "officer"], ["f-overdue", "overdue"]]) {
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
    card.dataset.id = a.id; card.dataset.state = a.state;
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
  detail.classList.remove("hidden");
  $("detail-close").onclick = () => detail.classList.add("hidden");
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
// Officers online first, then the rest, then teams; the current assignee left out.
function reassignOptions(a) {
  const people = officers.filter(o => o.role === "officer" && o.officer_id !== a.officerId)
    .sort((x, y) => Number(y.online) - Number(x.online) || x.name.localeCompare(y.name));
  const teams = [...new Map(officers.filter(o => o.role === "officer" && o.team_id !== a.teamId)
    .map(o => [o.team_id, o.team_name || o.team_id])).entries()];
  return `<option value="">—</option>` +
    people.map(o => `<option value="officer:${esc(o.officer_id)}">${o.online ? "● " : ""}${esc(o.name)} (${esc(o.officer_id)})</option>`).join("") +
    teams.map(([id, name]) => `<option value="team:${esc(id)}">${esc(name)}</option>`).join("");
}

// Triage (事件分拨): incidents, newest first; kept live by the `incident`
// events of /api/events (each carries the incident after the change).
let incidents = [];
function incidentChanged(event) {
  const i = event.incident; if (!i || !i.id) return;
  const at = incidents.findIndex(x => x.id === i.id);
  if (at >= 0) incidents[at] = i; else { incidents.push(i); incidents.sort((a, b) => (a.id < b.id ? 1 : -1)); }
  renderIncidents(); drawMap();
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
  detail.classList.remove("hidden");
  // A thumbnail not made yet: hide it rather than show a broken image.
  detail.querySelectorAll("img.source-thumb").forEach(img => { img.onerror = () => { img.style.visibility = "hidden"; }; });
  $("detail-close").onclick = () => detail.classList.add("hidden");
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
let matters = [];
async function loadMatters() {
  matters = (await api("GET", "/api/matters")).matters || [];
  $("matters").innerHTML = matters.map(m => `<option value="${esc(m.code)}">${esc(m.name)} · ${esc(m.domain)}</option>`).join("");
  showMatterName();
}
function showMatterName() {
  const m = matters.find(m => m.code === $("d-matter").value.trim());
  $("d-matter-name").textContent = m ? `${m.name}（${m.domain}）` : (matters.length ? t("unknownMatter") : "");
}
$("d-matter").oninput = showMatterName;
async function loadOfficers() { officers = (await api("GET", "/api/officers")).officers || []; renderOfficers(); fillAssignees(); fillBoardFilters(); renderBoard(); renderIncidents(); }
function renderOfficers() {
  const body = $("officers"); if (!body) return;
  body.innerHTML = officers.map(o => `<tr data-officer="${esc(o.officer_id)}"><td>${esc(o.name)} <code>${esc(o.officer_id)}</code></td><td>${esc(o.team_name || o.team_id)}</td>` +
    `<td><span class="dot ${o.online ? "on" : ""}"></span>${o.online ? "●" : ""}</td><td>${esc(fmtTime(o.last_seen_ms))}</td>` +
    `<td>${o.last_position ? esc(o.last_position.latitude.toFixed(5) + ", " + o.last_position.longitude.toFixed(5)) : "—"}</td></tr>`).join("");
}

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
  const flags = photo ? (photo.flags || []).map(f => `<span class="flag" title="${esc(f)}">${esc(t(f))}</span>`).join("") : "";
  return `<div class="evidence-item" data-item="${esc(item.item_id)}" data-kind="${esc(item.kind)}"${flags ? ' data-flagged="1"' : ""}>${img}<div><b>${esc(t(item.kind))}</b> · ${who(item.officer_id)} · ${esc(fmtTime(item.received_at_ms))}` +
    `<div>${flags}</div><div class="status">${esc(t("receipt"))} #${esc(item.server_seq)} · SHA-256 <code>${esc(item.sha256.slice(0, 16))}…</code>${item.case_id ? " · " + esc(item.case_id) : ""}</div></div></div>`;
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

function drawMap() {
  const svg = $("map-svg");
  const points = officers.filter(o => o.last_position).map(o => ({ x: o.last_position.longitude, y: o.last_position.latitude, label: o.name, kind: "officer" }));
  for (const a of assignments.values()) {
    if (a.place && a.place.latitude && !["ASSIGNMENT_STATE_COMPLETED","ASSIGNMENT_STATE_CANCELLED","ASSIGNMENT_STATE_REJECTED"].includes(a.state))
      points.push({ x: a.place.longitude, y: a.place.latitude, label: a.title, kind: "task", overdue: a.overdue });
  }
  // Incidents waiting for triage: red triangles.
  for (const i of incidents) {
    if (i.place && i.place.latitude && i.state === "INCIDENT_STATE_NEW")
      points.push({ x: i.place.longitude, y: i.place.latitude, label: t(i.category), kind: "incident" });
  }
  if (!points.length) { svg.innerHTML = ""; return; }
  const xs = points.map(p => p.x), ys = points.map(p => p.y);
  const pad = 0.002, minX = Math.min(...xs) - pad, maxX = Math.max(...xs) + pad, minY = Math.min(...ys) - pad, maxY = Math.max(...ys) + pad;
  const sx = (x) => 40 + (x - minX) / (maxX - minX) * 920, sy = (y) => 480 - (y - minY) / (maxY - minY) * 440;
  svg.innerHTML = points.map(p => {
    const x = sx(p.x), y = sy(p.y);
    const mark = p.kind === "officer" ? `<circle cx="${x}" cy="${y}" r="7" fill="#0b5cad"/>`
      : p.kind === "incident" ? `<polygon class="incident-pin" points="${x},${y-8} ${x-7},${y+6} ${x+7},${y+6}" fill="#c62828"/>`
      : `<rect x="${x-6}" y="${y-6}" width="12" height="12" fill="${p.overdue ? "#c62828" : "#f39c12"}"/>`;
    return mark + `<text x="${x + 10}" y="${y + 4}" font-size="13">${esc(p.label)}</text>`;
  }).join("");
}

$("case-go").onclick = async () => {
  $("case-error").textContent = "";
  try {
    // A page at a time (the server pages by 500), up to 5,000 items shown.
    const base = "/api/cases/" + encodeURIComponent($("case-id").value.trim());
    const items = []; let after = "";
    do {
      const page = await api("GET", base + (after ? "?after=" + encodeURIComponent(after) : ""));
      items.push(...(page.items || [])); after = page.nextAfter || "";
    } while (after && items.length < 5000);
    $("case-items").innerHTML = items.map(i => `<tr data-item="${esc(i.itemId)}"><td>${esc(fmtTime(i.occurredAtMs))}</td><td>${esc(t(i.kind))}</td><td>${esc(i.officerId)}</td><td>#${esc(i.serverSeq)}</td></tr>`).join("");
  } catch (e) { $("case-error").textContent = e.message; }
};
$("case-items").addEventListener("click", (e) => { const row = e.target.closest("[data-item]"); if (row) showItem(row.dataset.item); });
$("evidence").addEventListener("click", (e) => { const item = e.target.closest("[data-item]"); if (item) showItem(item.dataset.item); });

// The case package (docs/evidence-export.md), downloaded as a file.
$("case-export").onclick = async () => {
  const id = $("case-id").value.trim(); if (!id) return;
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

// An item: its receipt, whether the device signed it, and its chain of
// custody (this view is itself recorded in it).
async function showItem(id) {
  const detail = $("detail"); const item = await api("GET", "/api/items/" + encodeURIComponent(id));
  const digest = item.photo ? item.photo.sha256 : item.receipt.sha256;
  detail.innerHTML = `<h3>${esc(t(item.kind))}</h3><div class="meta">${who(item.officer_id)} · ${esc(item.device_id)}${item.case_id ? " · " + esc(item.case_id) : ""}</div>` +
    `<p class="status">${esc(t("receipt"))} #${esc(item.receipt.server_seq)} · ${esc(fmtTime(item.receipt.received_at_ms))}<br>SHA-256 <code>${esc(digest)}</code><br>` +
    `${esc(t("leaf"))} ${esc(item.leaf_index ?? "—")} · ${esc(t("deviceSigned"))}: ${esc(item.device_signed ? t("yes") : t("no"))}</p>` +
    (item.photo ? mediaPlayer(item) + `<p><a href="/api/photos/${encodeURIComponent(item.item_id)}/original" target="_blank" rel="noopener">${esc(t("download_original"))}</a></p>` : "") +
    ((item.findings || []).length ? `<p class="error">${(item.findings).map(f => `${esc(t(f.finding))}: ${esc(f.detail)}`).join("<br>")}</p>` : "") +
    `<h4>${esc(t("custody"))}</h4><table id="custody">` +
    (item.custody || []).map(c => `<tr><td>${esc(fmtTime(c.at_ms))}</td><td>${esc(t(c.action))}</td><td>${esc(c.actor)}</td><td>${esc(c.origin)}</td></tr>`).join("") + "</table>" +
    `<button type="button" id="detail-close">${esc(t("close"))}</button>`;
  detail.classList.remove("hidden");
  $("detail-close").onclick = () => detail.classList.add("hidden");
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
      assignments.set(event.assignment.id, event.assignment); renderBoard();
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
    renderOfficers();
  });
}

async function start(session) {
  csrf = session.csrf_token;
  $("who").textContent = `${session.name} (${session.officer_id})`;
  $("signin").classList.add("hidden"); $("app").classList.remove("hidden"); $("signout").classList.remove("hidden");
  await Promise.all([loadAssignments(), loadOfficers(), loadEvidence(), loadIncidents(), loadMatters()]);
  connectEvents();
  checkAlerts(); setInterval(checkAlerts, 30000);
}

$("dispatch-form").addEventListener("submit", (e) => e.preventDefault());
applyLang();
api("GET", "/api/session").then(start).catch(() => {});
