// synthloom review page: plain JavaScript, no dependencies, served by the package.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const TAB = Math.random().toString(36).slice(2, 10);
const FILTERS = ["q", "status", "decision", "kind", "label", "check", "verdict", "reason",
  "perturbation", "min_score", "max_score", "min_trust", "max_trust"];
const PAGE = 50;
let RUN = null, offset = 0, selected = null, calibration = null, listRequest = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const $ = (id) => document.getElementById(id);
// replace a node's children with nodes and texts, nested lists flattened, null and false left out
function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}
const short = (s, n) => (s && s.length > n ? s.slice(0, n) + "…" : s || "");
const json = (v) => JSON.stringify(v, null, 1);

async function api(path, body) {
  const init = {headers: {"X-Review-Token": TOKEN}};
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify({...body, who: $("who").value.trim() || undefined, tab: TAB});
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = "message " + (kind || "");
}

// ------------------------------------------------------------------ records list
function fillSelect(id, counts) {
  const select = $(id);
  for (const [value, n] of Object.entries(counts || {}))
    select.append(el("option", {value}, `${value} (${n})`));
}

function query() {
  const params = new URLSearchParams({offset, limit: PAGE});
  for (const f of FILTERS) {
    const v = $("filter-" + f).value.trim();
    if (v) params.set(f, v);
  }
  return params;
}

function badge(text, cls) { return el("span", {class: "badge " + (cls || "")}, text); }

function rowNode(row) {
  const checks = row.checks.map((c) => badge(
    c.check + (c.passed === true ? " ✓" : c.passed === false ? " ✗" : "") +
    (c.score !== null ? " " + c.score : ""), c.passed === true ? "pass" : c.passed === false ? "fail" : ""));
  return el("li", {class: "row" + (row.id === selected ? " selected" : ""), "data-id": row.id,
    onclick: () => showRecord(row.id)},
    el("div", {class: "text"}, row.text),
    el("div", {class: "meta"},
      badge(row.status, row.status), row.decision && badge("review: " + row.decision, row.decision),
      row.edited && badge("edited", "edited"), row.label !== null && badge("label: " + row.label),
      badge("trust " + row.trust_weight), ...checks,
      row.rejection && badge(row.rejection.operator + ": " + short(row.rejection.reason, 60), "rejected"),
      row.perturbation && badge("perturbed: " + row.perturbation)));
}

async function loadRows(append) {
  if (!append) offset = 0;
  const mine = ++listRequest;  // a later filter change wins over an answer still on its way
  document.body.dataset.loading = "1";
  try {
    const data = await api("/api/records?" + query());
    if (mine !== listRequest) return;
    delete document.body.dataset.loading;
    $("total").textContent = data.total;
    if (!append) fill($("rows"));
    $("rows").append(...data.rows.map(rowNode));
    offset = data.offset + data.rows.length;
    $("more").hidden = offset >= data.total;
  } catch (e) { say(e.message, "error"); }
}

// ------------------------------------------------------------------ one record
function isChat(v) { return Array.isArray(v) && v.length > 0 && v.every((m) => m && typeof m === "object" && "role" in m); }

function chatNode(messages) {
  return el("div", {class: "chat"}, messages.map((m) => el("div", {class: "msg " + m.role},
    el("span", {class: "role"}, m.role + (m.name ? " " + m.name : "") + (m.tool_call_id ? " (" + m.tool_call_id + ")" : "")),
    typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? ""),
    (Array.isArray(m.tool_calls) ? m.tool_calls : []).map((c) => el("div", {class: "call"},
      c && c.function ? "calls " + c.function.name + "(" + (typeof c.function.arguments === "string"
        ? c.function.arguments : JSON.stringify(c.function.arguments)) + ")" : JSON.stringify(c))))));
}

function valueNode(v) {
  if (isChat(v)) return chatNode(v);
  if (typeof v === "string") return el("div", {class: "text"}, v);
  return el("pre", {}, json(v));
}

// the record's fields: texts and conversations first, other values (tool specs, plans...)
// after them, folded
function fieldsNode(record) {
  const shown = [], folded = [];
  for (const part of ["inputs", "outputs"])
    for (const [k, v] of Object.entries(record[part] || {})) {
      if (typeof v === "string" || isChat(v)) shown.push(el("h3", {}, `${part}.${k}`), valueNode(v));
      else folded.push(el("details", {}, el("summary", {}, `${part}.${k}`), valueNode(v)));
    }
  return [shown, folded];
}

function contentNode(record) {
  const parts = [fieldsNode(record)];
  if (record.label !== null && record.label !== undefined)
    parts.push(el("h3", {}, "label"), el("div", {class: "text", id: "detail-label"}, record.label));
  return parts;
}

function provenanceNode(record) {
  const p = record.provenance;
  const ops = el("table", {}, el("tr", {}, el("th", {}, "operator"), el("th", {}, "version"),
    el("th", {}, "prompt sha256"), el("th", {}, "verdict"), el("th", {}, "detail")),
    p.operators.map((o) => el("tr", {}, el("td", {}, o.operator), el("td", {}, o.version),
      el("td", {title: o.prompt_sha256 || ""}, el("code", {}, short(o.prompt_sha256, 12))),
      el("td", {}, o.verdict || ""), el("td", {}, el("code", {}, short(JSON.stringify(o.detail), 120))))));
  const facts = [["origin", record.origin], ["backend / model", [p.backend, p.model].filter(Boolean).join(" / ")],
    ["model sha256", p.model_sha256], ["recipe sha256", p.recipe_sha256], ["source", p.source],
    ["plan", JSON.stringify(p.plan)], ["instance seed", p.instance_seed], ["target label", p.target_label],
    ["label constraint", p.label_constraint], ["parents", (p.parents || []).join(", ")],
    ["seed examples", (p.seed_examples || []).join(", ")], ["perturbation", p.perturbation && JSON.stringify(p.perturbation)],
    ["human fields", Object.keys(p.human_fields || {}).length ? JSON.stringify(p.human_fields) : null],
    ["created", p.created_at]].filter(([, v]) => v);
  return [ops, el("table", {}, facts.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))];
}

function verdictsNode(record) {
  if (!record.verification.length) return el("p", {class: "hint"}, "no verdicts");
  return el("table", {}, el("tr", {}, el("th", {}, "check"), el("th", {}, "by"), el("th", {}, "passed"),
    el("th", {}, "score"), el("th", {}, "detail")), record.verification.map((v) => el("tr", {},
    el("td", {}, v.check), el("td", {}, v.by), el("td", {}, v.passed === null ? "" : String(v.passed)),
    el("td", {}, v.score === null ? "" : v.score), el("td", {}, el("code", {}, short(JSON.stringify(v.detail), 160))))));
}

function fieldValue(record, path) {
  const [part, key] = path.split(/\.(.*)/s);
  const value = key === undefined ? record[part] : (record[part] || {})[key];
  return value === undefined ? null : value;
}

function rubricNode(prefix, skip) {
  return el("div", {class: "rubric"}, RUN.rubric.filter((c) => !(skip || []).includes(c.name)).map((c) => [
    el("span", {title: c.question}, c.name),
    el("span", {class: "levels"}, Object.entries(c.levels).map(([score, text]) => el("label", {title: text},
      el("input", {type: "radio", name: prefix + c.name, value: score, class: prefix + "score"}), score)))]));
}

function readScores(prefix) {
  const scores = {};
  for (const input of document.querySelectorAll(`input.${prefix}score:checked`))
    scores[input.name.slice(prefix.length)] = parseInt(input.value, 10);
  return scores;
}

async function act(body) {
  try {
    const data = await api("/api/actions", body);
    say(`${data.action.action} of ${data.action.record} recorded (#${data.action.seq})`, "ok");
    renderDetail(data);
    const row = document.querySelector(`.row[data-id="${data.action.record}"]`);
    if (row) row.replaceWith(rowNode(data.summary));
    return data;
  } catch (e) { say(e.message, "error"); return null; }
}

function actionsNode(data) {
  const record = data.record, summary = data.summary;
  const reason = el("input", {id: "reject-reason", placeholder: "reason for rejecting", size: 30});
  const fields = data.editable;
  const fieldSelect = el("select", {id: "edit-field"}, fields.map((f) => el("option", {value: f}, f)));
  const editValue = el("textarea", {id: "edit-value"});
  const showValue = () => {
    const v = fieldValue(record, fieldSelect.value);
    editValue.value = typeof v === "string" ? v : v === null ? "" : json(v);
  };
  fieldSelect.addEventListener("change", showValue);
  showValue();
  const saveEdit = () => {
    const old = fieldValue(record, fieldSelect.value);
    let value = editValue.value;
    // a text stays a text; other values are JSON; a field the record lacks takes JSON
    // when the text parses as JSON, else the text as typed
    if (typeof old !== "string" && fieldSelect.value !== "label") {
      try { value = JSON.parse(value); } catch (e) {
        if (old !== null) { say("the value must be JSON: " + e.message, "error"); return; }
      }
    }
    act({record: summary.id, action: "edit", field: fieldSelect.value, value, seen: old});
  };
  const keep = el("select", {id: "rate-keep"}, el("option", {value: ""}, "keep?"),
    el("option", {value: "true"}, "keep"), el("option", {value: "false"}, "drop"));
  const rate = () => {
    const k = keep.value === "" ? null : keep.value === "true";
    act({record: summary.id, action: "rate", scores: readScores("rate-"), keep: k});
  };
  return [
    el("div", {class: "actions"},
      el("button", {id: "btn-accept", type: "button", onclick: () => act({record: summary.id, action: "accept"})}, "Accept"),
      reason,
      el("button", {id: "btn-reject", type: "button", onclick: () => act({record: summary.id, action: "reject", reason: reason.value})}, "Reject"),
      summary.status === "rejected" && el("button", {id: "btn-rescue", type: "button",
        onclick: () => act({record: summary.id, action: "rescue", reason: reason.value || null})}, "Rescue")),
    el("h3", {}, "Edit a field"),
    el("div", {class: "actions"}, fieldSelect, editValue,
      el("button", {id: "btn-save-edit", type: "button", onclick: saveEdit}, "Save edit")),
    RUN.rubric.length ? [el("h3", {}, "Rate on the judge's rubric"), rubricNode("rate-"),
      el("div", {class: "actions"}, keep, el("button", {id: "btn-rate", type: "button", onclick: rate}, "Save rating"))] : null,
  ];
}

function historyNode(actions) {
  if (!actions.length) return el("p", {class: "hint"}, "no review actions yet");
  return el("table", {id: "history"}, el("tr", {}, ["#", "when", "who", "action", "what"].map((h) => el("th", {}, h))),
    actions.map((a) => el("tr", {}, el("td", {}, a.seq), el("td", {}, a.at.slice(0, 19).replace("T", " ")),
      el("td", {}, a.who), el("td", {}, a.action),
      el("td", {}, a.action === "edit" ? `${a.field}: ${short(JSON.stringify(a.before), 80)} → ${short(JSON.stringify(a.after), 80)}` +
        (a.seen !== null && JSON.stringify(a.seen) !== JSON.stringify(a.before) ? " (made over a change it had not seen)" : "")
        : [a.reason, a.scores && JSON.stringify(a.scores), a.label, a.keep !== null ? (a.keep ? "keep" : "drop") : null]
          .filter((x) => x !== null && x !== undefined).join(" ")))));
}

function renderDetail(data) {
  const record = data.record, summary = data.summary;
  selected = summary.id;
  document.querySelectorAll(".row").forEach((r) => r.classList.toggle("selected", r.dataset.id === selected));
  fill($("detail"),
    el("h2", {}, `${record.kind} record ${summary.id} `, badge(summary.status, summary.status),
      summary.decision && badge("review: " + summary.decision, summary.decision), " ", badge("trust " + record.trust_weight)),
    record.rejected && el("p", {class: "message error"}, `rejected by ${record.rejected.operator}: ${record.rejected.reason}`),
    el("section", {id: "content"}, contentNode(record)),
    actionsNode(data),
    el("h3", {}, "Review history"), historyNode(data.actions),
    el("h3", {}, "Verdicts"), verdictsNode(record),
    el("h3", {}, "Provenance"), provenanceNode(record));
}

let recordRequest = 0;
async function showRecord(id) {
  const mine = ++recordRequest;  // the last record clicked wins over slower answers
  try {
    const data = await api("/api/records/" + encodeURIComponent(id));
    if (mine === recordRequest) renderDetail(data);
  } catch (e) { say(e.message, "error"); }
}

// ------------------------------------------------------------------ calibration
function blindNode(view) {
  const parts = [fieldsNode(view)];
  if (view.label !== null && view.label !== undefined) parts.push(el("h3", {}, "label"), el("div", {}, view.label));
  return parts;
}

function showCalibrationItem() {
  const c = calibration, box = $("cal-item");
  const i = c.records.findIndex((r) => !c.rated.includes(r.id));
  if (i < 0) { fill(box, el("p", {id: "cal-done"}, `All ${c.records.length} records rated.`)); showCalibrationResult(); return; }
  const view = c.records[i];
  const labels = Object.keys(RUN.labels || {});
  const skip = labels.length ? ["label_fit"] : [];
  const send = async (keep) => {
    const label = document.querySelector("input[name=cal-label]:checked");
    if (labels.length && !label) { say("choose the label you would give first", "error"); return; }
    try {
      await api("/api/actions", {record: view.id, action: "rate", blind: true, keep,
        label: label ? label.value : null, scores: readScores("cal-")});
      c.rated.push(view.id);
      say(`rated ${c.rated.length} of ${c.records.length}`, "ok");
      showCalibrationItem();
    } catch (e) { say(e.message, "error"); }
  };
  fill(box, 
    el("h2", {id: "cal-progress"}, `Record ${c.rated.length + 1} of ${c.records.length} (blind)`),
    el("div", {class: "detail", "data-id": view.id, id: "cal-record"}, blindNode(view)),
    labels.length ? [el("h3", {}, "Your label"), el("div", {id: "cal-label"}, labels.map((l) => el("label", {},
      el("input", {type: "radio", name: "cal-label", value: l}), l + " ")))] : null,
    RUN.rubric.length ? [el("h3", {}, "Rubric"), rubricNode("cal-", skip)] : null,
    el("div", {class: "actions"},
      el("button", {id: "btn-cal-keep", type: "button", onclick: () => send(true)}, "Keep"),
      el("button", {id: "btn-cal-drop", type: "button", onclick: () => send(false)}, "Drop")));
}

function statText(r) {
  if (r.error) return r.error;
  const parts = [];
  if ("cohen_kappa" in r) parts.push(`kappa ${r.cohen_kappa === null ? "undefined" : r.cohen_kappa.toFixed(3)}`);
  if ("accuracy" in r) parts.push(`agreement ${(100 * r.accuracy).toFixed(1)}%`);
  if ("spearman" in r) parts.push(`Spearman ${r.spearman === null ? "undefined" : r.spearman.toFixed(3)}` +
    (r.spearman_p !== null ? ` (p ${r.spearman_p.toFixed(3)})` : ""));
  parts.push(`n ${r.n}` + (r.missing ? `, ${r.missing} without a judge answer` : ""));
  return parts.join(", ");
}

async function showCalibrationResult() {
  try {
    const r = await api("/api/calibration");
    const t = r.threshold;
    fill($("cal-result"),
      el("h2", {}, `Judges against ${r.rated} blind ratings` + (r.reviewers.length ? ` by ${r.reviewers.join(", ")}` : "")),
      r.agreement.length ? el("table", {id: "cal-table"}, el("tr", {}, el("th", {}, "judge"), el("th", {}, "statistic"), el("th", {}, "result")),
        r.agreement.map((a) => el("tr", {}, el("td", {}, a.judge), el("td", {}, a.statistic), el("td", {}, statText(a.result)))))
        : el("p", {class: "hint"}, "nothing to compare yet"),
      t && el("p", {id: "cal-threshold"}, t.result.error ? `best cut on ${t.score}: ${t.result.error}` :
        `Best cut on the ${t.score}: keep records scoring ≥ ${t.result.threshold} ` +
        `(kappa ${t.result.cohen_kappa === null ? "undefined" : t.result.cohen_kappa.toFixed(3)}, agreement ` +
        `${(100 * t.result.accuracy).toFixed(1)}% over ${t.result.n}; the cut keeps ${t.result.kept_by_cut}, you kept ${t.result.kept_by_person})` +
        (t.current ? `; the run's own cut (score ≥ ${t.current.min_score}` + (t.current.drop_quantile ?
          `, drop_quantile ${t.current.drop_quantile}` : "") + `): ${statText(t.current.result)}` : "")));
  } catch (e) { say(e.message, "error"); }
}

async function startCalibration() {
  try {
    calibration = await api(`/api/calibration/sample?n=${$("cal-n").value}&seed=${$("cal-seed").value}`);
    showCalibrationItem();
  } catch (e) { say(e.message, "error"); }
}

// ------------------------------------------------------------------ start
function showTab(name) {
  $("records-view").hidden = name !== "records";
  $("calibration-view").hidden = name !== "calibration";
  $("tab-records").classList.toggle("active", name === "records");
  $("tab-calibration").classList.toggle("active", name === "calibration");
}

async function start() {
  try { RUN = await api("/api/run"); } catch (e) { say(e.message, "error"); return; }
  $("run-name").textContent = `${RUN.task || ""} (${RUN.kind}) ${RUN.dir}`;
  $("who").value = localStorage.getItem("synthloom-reviewer") || RUN.reviewer;
  $("who").addEventListener("change", () => localStorage.setItem("synthloom-reviewer", $("who").value.trim()));
  if (RUN.problems.length) { $("problems").hidden = false; $("problems").textContent = "Skipped: " + RUN.problems.join("\n"); }
  fillSelect("filter-kind", RUN.facets.kind);
  fillSelect("filter-label", RUN.facets.label);
  fillSelect("filter-check", RUN.facets.check);
  fillSelect("filter-reason", RUN.facets.reason);
  fillSelect("filter-perturbation", RUN.facets.perturbation);
  let typing = null;  // the search waits for a pause in typing (250 ms)
  for (const f of FILTERS) $("filter-" + f).addEventListener(f === "q" ? "input" : "change", () => {
    clearTimeout(typing);
    typing = setTimeout(() => loadRows(false), f === "q" ? 250 : 0);
  });
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadRows(false); });
  $("more").addEventListener("click", () => loadRows(true));
  $("tab-records").addEventListener("click", () => showTab("records"));
  $("tab-calibration").addEventListener("click", () => showTab("calibration"));
  $("btn-cal-start").addEventListener("click", startCalibration);
  $("btn-cal-result").addEventListener("click", showCalibrationResult);
  await loadRows(false);
  document.body.dataset.ready = "1";
}
start();
