// textgen serve: the page. No build step, no dependencies: it talks to /api and draws the stream.
"use strict";

const $ = (id) => document.getElementById(id);
const KNOBS = ["temperature", "top_k", "top_p", "repetition_penalty", "length", "max_turns", "seed", "num_samples"];
const FLAGS = ["cache", "ngram"]; // checkboxes: sent as true/false unless disabled
// a blank box is not sent: the server's default (no turn limit, a random seed, ...)
const STOPS = { length: "reached the length limit", turns: "reached the turn limit", eos: "the model ended the text" };

const state = { runs: [], run: null, controller: null, samples: [], pinned: null, active: null };

// ----- colours -------------------------------------------------------------------------------
function tint(prob) {
  // red (unsure) -> amber -> green (sure); the square root spreads the many small probabilities
  const hue = Math.round(120 * Math.sqrt(Math.max(0, Math.min(1, prob))));
  return `hsl(${hue} 85% 86%)`;
}
const pct = (p) => (p >= 0.995 ? "100%" : p >= 0.01 ? `${(100 * p).toFixed(1)}%` : `${(100 * p).toPrecision(2)}%`);

// ----- runs ----------------------------------------------------------------------------------
async function loadRuns() {
  const response = await fetch("/api/runs");
  const data = await response.json();
  state.runs = data.runs;
  state.limits = data.limits;
  const pick = $("run");
  pick.replaceChildren(...data.runs.map((r) => new Option(r.name, r.name)));
  pick.disabled = data.runs.length < 2;
  for (const name of KNOBS) {
    const value = data.defaults[name];
    $(name).value = value === null || value === undefined ? "" : value;
  }
  for (const name of FLAGS) $(name).checked = Boolean(data.defaults[name]);
  $("length").max = data.limits.max_length;
  $("num_samples").max = data.limits.max_samples;
  selectRun(data.runs[0].name);
}

function selectRun(name) {
  const run = state.runs.find((r) => r.name === name);
  state.run = run;
  const bits = [run.corpus, run.architecture, run.val_bpb === null ? null : `val_bpb ${run.val_bpb.toFixed(3)}`,
    `${run.vocab_size.toLocaleString()} tokens`];
  $("run-info").textContent = bits.filter(Boolean).join(" · ") + (run.attention ? " · click a word for its attention" : "");
  const speaker = $("speaker");
  speaker.replaceChildren(...run.speakers.map((s) => new Option(s.name, s.prime)));
  $("max_turns").disabled = !run.turns;
  $("ngram").disabled = !run.ngram;
  const ngramLabel = $("ngram").closest("label");
  ngramLabel.dataset.on ??= ngramLabel.title; // the page's own tooltip, for a run with an n-gram
  ngramLabel.title = run.ngram ? ngramLabel.dataset.on : "this run's generator has no n-gram (trained with --ngram-order 0)";
  document.querySelector(".side").classList.toggle("off", !run.embeddings);
}

// ----- the request ---------------------------------------------------------------------------
function request() {
  const body = { run: state.run.name, prime: $("prime").value.trim() || $("speaker").value };
  for (const name of KNOBS) {
    const raw = $(name).value.trim();
    if (raw !== "" && !$(name).disabled) body[name] = Number(raw);
  }
  for (const name of FLAGS) if (!$(name).disabled) body[name] = $(name).checked;
  return body;
}

function showError(box, data) {
  box.replaceChildren(document.createTextNode(data.error || "something went wrong"));
  const suggestions = data.suggestions || [];
  if (suggestions.length && data.word) {
    box.append(document.createTextNode(" — try "));
    for (const word of suggestions) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "suggestion";
      b.textContent = word;
      b.addEventListener("click", () => {
        const input = box === $("error") ? $("prime") : $("word");
        const current = input.value.trim() || $("speaker").value;
        input.value = current.split(data.word).join(word);
        box.hidden = true;
        input.focus();
      });
      box.append(b, document.createTextNode(" "));
    }
  }
  box.hidden = false;
}

async function generate(event) {
  event.preventDefault();
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  $("error").hidden = true;
  closePopup();
  $("samples").replaceChildren();
  state.samples = [];
  setBusy(true);
  status("sending…");
  try {
    const response = await fetch("/api/generate/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(request()),
      signal: controller.signal,
    });
    if (!response.ok) {
      showError($("error"), await response.json().catch(() => ({ error: `HTTP ${response.status}` })));
      status("");
      return;
    }
    await readEvents(response.body, handle);
  } catch (err) {
    if (err.name !== "AbortError") showError($("error"), { error: `the server did not answer (${err.message})` });
    else status("stopped");
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      setBusy(false);
    }
  }
}

async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

function setBusy(busy) {
  $("generate").disabled = false; // a new Generate replaces the running one
  $("stop").disabled = !busy;
  document.body.classList.toggle("busy", busy);
}

function status(text) {
  $("status").textContent = text;
}

// ----- drawing the script --------------------------------------------------------------------
function handle(name, data) {
  if (name === "queued") status(data.ahead ? `waiting for the model (${data.ahead} ahead)…` : "generating…");
  else if (name === "start") start(data);
  else if (name === "token") token(data);
  else if (name === "end") end(data);
  else if (name === "done") status(doneText());
  else if (name === "error") {
    showError($("error"), data);
    status("stopped");
  }
}

function start(data) {
  status(`generating… (seed ${data.seed})`);
  for (let i = 0; i < data.num_samples; i++) {
    const article = document.createElement("article");
    article.className = "sample";
    const head = document.createElement("h3");
    head.textContent = data.num_samples > 1 ? `sample ${i + 1}` : "";
    head.hidden = data.num_samples === 1;
    const script = document.createElement("div");
    script.className = "script";
    script.addEventListener("keydown", moveFocus);
    const foot = document.createElement("p");
    foot.className = "stop-reason";
    article.append(head, script, foot);
    $("samples").append(article);
    const sample = { script, foot, para: null, tokens: [], count: 0, attention: data.attention };
    state.samples.push(sample);
    data.prime_pieces.forEach((piece, position) => place(sample, { ...piece, position }, true));
  }
}

function paragraph(sample) {
  if (!sample.para) {
    sample.para = document.createElement("p");
    sample.para.className = "turn";
    sample.script.append(sample.para);
  }
  return sample.para;
}

function place(sample, data, isPrime) {
  const kind = data.kind;
  if (kind === "hidden") return;
  if (kind === "speaker" && (data.new_turn || (sample.para && sample.para.childNodes.length))) sample.para = null;
  const para = paragraph(sample);
  let text = data.text;
  if (text.startsWith(" ")) {
    para.append(document.createTextNode(" "));
    text = text.slice(1);
  }
  const el = document.createElement(kind === "speaker" ? "b" : "span");
  el.className = `tok ${kind}${isPrime ? " prime" : ""}`;
  if (kind === "return" || kind === "turn") {
    el.textContent = kind === "turn" ? "¶" : "↵";
    el.classList.add("brk");
  } else if (kind === "eos") {
    el.textContent = "end of text";
  } else {
    el.textContent = text;
  }
  para.append(el);
  if (kind === "return") para.append(document.createElement("br"));
  if (kind === "turn" || kind === "eos") sample.para = null;
  sample.tokens[data.position] = { el, data, isPrime };
  if (isPrime) return;
  el.style.background = tint(data.prob);
  el.tabIndex = sample.count === 0 ? 0 : -1;
  el.dataset.position = data.position;
  el.addEventListener("mouseenter", () => state.pinned || showPopup(sample, data.position, false));
  el.addEventListener("mouseleave", () => state.pinned || closePopup());
  el.addEventListener("focus", () => state.pinned || showPopup(sample, data.position, false));
  el.addEventListener("click", (ev) => {
    ev.stopPropagation();
    const same = state.pinned && state.pinned.sample === sample && state.pinned.position === data.position;
    if (same) closePopup();
    else showPopup(sample, data.position, true);
  });
  sample.count += 1;
}

function token(data) {
  const sample = state.samples[data.sample];
  if (sample) place(sample, data, false);
  if (data.sample === 0 && data.index % 10 === 0) status(`generating… ${data.index + 1} tokens`);
}

function end(data) {
  const sample = state.samples[data.sample];
  if (!sample) return;
  sample.stop = data.stop_reason;
  sample.foot.textContent = `${data.length} tokens · ${STOPS[data.stop_reason] || data.stop_reason}`;
}

function doneText() {
  const reasons = state.samples.map((s) => STOPS[s.stop] || s.stop);
  const unique = [...new Set(reasons)];
  return state.samples.length === 1 ? `done: ${unique[0]}` : `done: ${state.samples.length} samples`;
}

// ----- the popup: probability, entropy, alternatives; attention when pinned ---------------------
function showPopup(sample, position, pinned) {
  const entry = sample.tokens[position];
  if (!entry) return;
  clearAttention();
  const d = entry.data;
  const box = $("popup");
  box.replaceChildren();
  const head = document.createElement("div");
  head.className = "pop-head";
  const word = document.createElement("strong");
  word.textContent = entry.el.textContent;
  const nums = document.createElement("span");
  nums.textContent = `p ${pct(d.prob)} · entropy ${d.entropy_bits.toFixed(2)} bits`;
  head.append(word, nums);
  box.append(head);
  const list = document.createElement("ol");
  list.className = "alts";
  const top = Math.max(d.prob, ...(d.alternatives || []).map((a) => a.prob), 1e-9); // bars relative to the likeliest
  for (const alt of d.alternatives || []) {
    const li = document.createElement("li");
    if (alt.token === d.token) li.className = "chosen";
    const label = document.createElement("span");
    label.className = "alt-word";
    label.textContent = alt.text;
    const bar = document.createElement("i");
    bar.className = "bar";
    bar.style.width = `${Math.max(2, Math.round((100 * alt.prob) / top))}%`;
    const value = document.createElement("span");
    value.className = "alt-p";
    value.textContent = pct(alt.prob);
    li.append(label, bar, value);
    list.append(li);
  }
  box.append(list);
  if (!list.querySelector(".chosen")) {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = "the sampled word was not among the model's top choices";
    box.append(note);
  }
  if (d.attention) {
    if (pinned) box.append(attentionStrip(sample, d.attention));
    else {
      const note = document.createElement("p");
      note.className = "note";
      note.textContent = "click for its attention over the words before it";
      box.append(note);
    }
  }
  box.hidden = false;
  box.classList.toggle("pinned", pinned);
  state.pinned = pinned ? { sample, position } : null;
  state.active = { sample, position };
  placePopup(entry.el);
}

function attentionStrip(sample, attention) {
  const wrap = document.createElement("div");
  wrap.className = "attention";
  const title = document.createElement("p");
  title.className = "note";
  title.textContent = "attention over the words before it";
  const strip = document.createElement("div");
  strip.className = "strip";
  const peak = Math.max(...attention.weights, 1e-9);
  attention.weights.forEach((w, i) => {
    const at = sample.tokens[attention.start + i];
    if (!at) return;
    const cell = document.createElement("span");
    cell.className = "cell";
    cell.textContent = at.el.textContent || "·";
    cell.title = `${pct(w)}`;
    cell.style.background = `rgba(37, 99, 235, ${(0.08 + 0.8 * (w / peak)).toFixed(3)})`;
    cell.style.color = w / peak > 0.55 ? "#fff" : "";
    strip.append(cell);
    at.el.classList.add("attended");
    at.el.style.boxShadow = `0 0 0 2px rgba(37, 99, 235, ${(0.9 * (w / peak)).toFixed(3)})`;
  });
  wrap.append(title, strip);
  return wrap;
}

function clearAttention() {
  for (const el of document.querySelectorAll(".attended")) {
    el.classList.remove("attended");
    el.style.boxShadow = "";
  }
}

function placePopup(anchor) {
  const box = $("popup");
  const r = anchor.getBoundingClientRect();
  const width = Math.min(box.offsetWidth, window.innerWidth - 16);
  let left = r.left + window.scrollX;
  left = Math.max(8 + window.scrollX, Math.min(left, window.scrollX + window.innerWidth - width - 8));
  let top = r.bottom + window.scrollY + 6;
  if (r.bottom + box.offsetHeight + 12 > window.innerHeight && r.top > box.offsetHeight + 12) {
    top = r.top + window.scrollY - box.offsetHeight - 6;
  }
  box.style.left = `${left}px`;
  box.style.top = `${top}px`;
}

function closePopup() {
  $("popup").hidden = true;
  state.pinned = null;
  clearAttention();
}

function moveFocus(ev) {
  if (ev.key === "Escape") return closePopup();
  if (!["ArrowLeft", "ArrowRight", "Enter", " "].includes(ev.key) || !ev.target.dataset.position) return;
  const sample = state.samples.find((s) => s.script === ev.currentTarget);
  const here = Number(ev.target.dataset.position);
  if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    ev.stopPropagation();
    return showPopup(sample, here, true);
  }
  const step = ev.key === "ArrowRight" ? 1 : -1;
  for (let p = here + step; p >= 0 && p < sample.tokens.length; p += step) {
    const next = sample.tokens[p];
    if (next && !next.isPrime) {
      ev.target.tabIndex = -1;
      next.el.tabIndex = 0;
      next.el.focus();
      ev.preventDefault();
      return;
    }
  }
}

// ----- neighbours ----------------------------------------------------------------------------
async function similar(event) {
  event.preventDefault();
  const word = $("word").value.trim();
  const box = $("similar-error");
  box.hidden = true;
  if (!word) return;
  const params = new URLSearchParams({ run: state.run.name, word, n: "12" });
  const response = await fetch(`/api/similar?${params}`);
  const data = await response.json();
  const list = $("neighbours");
  list.replaceChildren();
  if (!response.ok) return showError(box, data);
  for (const n of data.neighbours) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "neighbour";
    b.textContent = n.word;
    b.title = "prime with this word";
    b.addEventListener("click", () => {
      $("prime").value = n.word;
      $("prime").focus();
    });
    const bar = document.createElement("i");
    bar.className = "bar";
    bar.style.width = `${Math.max(2, Math.round(100 * Math.max(0, n.similarity)))}%`;
    const value = document.createElement("span");
    value.className = "alt-p";
    value.textContent = n.similarity.toFixed(3);
    li.append(b, bar, value);
    list.append(li);
  }
}

// ----- wiring --------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("controls").addEventListener("submit", generate);
  $("controls").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.tagName === "SELECT") {
      ev.preventDefault();
      $("controls").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("run").addEventListener("change", (ev) => selectRun(ev.target.value));
  $("speaker").addEventListener("change", () => ($("prime").value = ""));
  $("similar-form").addEventListener("submit", similar);
  document.addEventListener("click", (ev) => {
    if (state.pinned && !$("popup").contains(ev.target)) closePopup();
  });
  document.addEventListener("keydown", (ev) => ev.key === "Escape" && closePopup());
  loadRuns().catch((err) => showError($("error"), { error: `could not load the runs (${err.message})` }));
});
