// The page's one script: it calls the same server's JSON API with relative URLs (so a path prefix
// in front of the service keeps working) and sends the API key only once the server asked for one.

const TOP_K = 10;
const SIMILAR_K = 5;
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];

const byId = (id) => document.getElementById(id);
const form = byId("tag-form");
const keyField = byId("key-field");
const keyInput = byId("api-key");
const modelSelect = byId("model");
const fileInput = byId("file");
const submitButton = byId("submit");
const progress = byId("upload-progress");
const statusLine = byId("status");
const errorLine = byId("error");
const resultSection = byId("result");
const canvas = byId("taggram");

const allTags = byId("all-tags");

let shownTaggram = null; // { taggram, top, tags }, redrawn when the width or the choice of rows changes

class ApiError extends Error {
  constructor(status, detail, retryAfter = null) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function apiError(status, bodyText, retryAfter) {
  let detail = bodyText;
  try {
    detail = JSON.parse(bodyText).detail ?? bodyText;
  } catch {
    // not JSON (a proxy's error page): keep the text
  }
  return new ApiError(status, typeof detail === "string" ? detail : JSON.stringify(detail), retryAfter);
}

function authHeaders() {
  const key = keyInput.value.trim();
  return key ? { "X-API-Key": key } : {};
}

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: authHeaders() });
  } catch {
    throw new ApiError(0, "network error");
  }
  if (!response.ok) {
    throw apiError(response.status, await response.text(), response.headers.get("Retry-After"));
  }
  return response.json();
}

function explain(error) {
  const detail = error.message;
  switch (error.status) {
    case 0: return "Could not reach the server. Check the connection and try again.";
    case 401: return keyInput.value.trim()
      ? "The server refused this API key: check it in the API key field, then try again."
      : "This server needs an API key: enter it in the API key field, then try again.";
    case 413: return `Too large or too long: ${detail}`;
    case 415: return `Not audio: ${detail}`;
    case 503: return `The server is busy (${detail}): try again in ${error.retryAfter ?? "a few"} seconds.`;
    default: return `Error ${error.status}: ${detail}`;
  }
}

function showError(error) {
  statusLine.textContent = "";
  errorLine.textContent = explain(error);
  if (error.status === 401) {
    keyField.hidden = false;
    keyInput.focus();
  }
}

async function loadModels() {
  try {
    const models = (await getJson("models")).filter((model) => model.status === "ready");
    modelSelect.replaceChildren(...models.map((model) => new Option(
      `${model.name} (version ${model.version}, ${model.tags.length} tags)`, model.name, model.default, model.default,
    )));
    if (models.length === 0) {
      modelSelect.replaceChildren(new Option("no model is ready yet", ""));
      errorLine.textContent = "No model is ready yet: reload the page in a moment.";
    } else {
      errorLine.textContent = "";
    }
  } catch (error) {
    modelSelect.replaceChildren(new Option(error.status === 401 ? "enter the API key first" : "unavailable", ""));
    showError(error);
  }
}

function upload(file, model) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `tag?top_k=${TOP_K}&model=${encodeURIComponent(model)}`);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = event.loaded / event.total;
    });
    request.upload.addEventListener("load", () => {
      progress.value = 1;
      statusLine.textContent = `Uploaded ${file.name}; tagging…`;
    });
    request.addEventListener("load", () => {
      if (request.status === 200) resolve(JSON.parse(request.responseText));
      else reject(apiError(request.status, request.responseText, request.getResponseHeader("Retry-After")));
    });
    request.addEventListener("error", () => reject(new ApiError(0, "network error")));
    const body = new FormData();
    body.append("file", file, file.name);
    request.send(body);
  });
}

function showSummary(result) {
  const rows = [
    ["Model", `${result.model.name}, version ${result.model.version}`],
    ["Duration", `${result.duration.toFixed(1)} s`],
    ["Windows", `${result.n_windows} of ${result.window_seconds} s, every ${result.hop_seconds} s`],
  ];
  // `decode` says what a damaged file lost while decoding (servers that report it).
  if (result.decode) rows.push(["Decode warnings", result.decode.warning || "none"]);
  rows.push(["Result id", result.id]);
  byId("summary").replaceChildren(...rows.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    return [dt, dd];
  }));
}

function showTopTags(top) {
  byId("top-tags").replaceChildren(...top.map(({ tag, score }) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    const bar = document.createElement("span");
    const fill = document.createElement("span");
    const value = document.createElement("span");
    name.className = "tag";
    name.textContent = tag;
    bar.className = "bar";
    bar.setAttribute("aria-hidden", "true");
    fill.style.width = `${(score * 100).toFixed(1)}%`;
    bar.append(fill);
    value.className = "score";
    value.textContent = score.toFixed(3);
    item.append(name, bar, value);
    return item;
  }));
}

function colour(score) {
  const position = Math.min(Math.max(score, 0), 1) * (VIRIDIS.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, VIRIDIS.length - 1);
  const mix = position - low;
  const [r, g, b] = VIRIDIS[low].map((channel, i) => Math.round(channel + (VIRIDIS[high][i] - channel) * mix));
  return `rgb(${r} ${g} ${b})`;
}

function seconds(value) {
  if (value < 60) return `${Number(value.toFixed(1))} s`;
  const whole = Math.round(value);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

// Heatmap of the given tags (rows) over the song's windows (columns), time on the x axis.
function drawTaggram({ taggram, tags }) {
  const context = canvas.getContext("2d");
  const font = "12px system-ui, sans-serif";
  const rowHeight = 20;
  const top = 4;
  const axisHeight = 60;
  const width = canvas.parentElement.clientWidth;
  const height = top + tags.length * rowHeight + axisHeight;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  context.scale(ratio, ratio);
  context.font = font;
  const left = Math.ceil(Math.max(...tags.map((tag) => context.measureText(tag).width))) + 10;
  const plotWidth = Math.max(width - left - 12, 10);
  const starts = taggram.times;
  const end = starts[starts.length - 1] + taggram.window_seconds;
  const x = (time) => left + (time / end) * plotWidth;

  tags.forEach((tag, row) => {
    const column = taggram.tags.indexOf(tag);
    starts.forEach((start, i) => {
      const next = i + 1 < starts.length ? starts[i + 1] : end;
      context.fillStyle = colour(taggram.scores[i][column]);
      context.fillRect(x(start), top + row * rowHeight, x(next) - x(start) + 0.5, rowHeight - 1);
    });
  });

  context.fillStyle = "#1a1a1a";
  context.textAlign = "right";
  context.textBaseline = "middle";
  tags.forEach((tag, row) => context.fillText(tag, left - 6, top + row * rowHeight + rowHeight / 2));

  const axisTop = top + tags.length * rowHeight;
  const step = TICK_STEPS.find((candidate) => end / candidate <= plotWidth / 60) ?? TICK_STEPS.at(-1);
  context.textAlign = "center";
  context.textBaseline = "top";
  context.strokeStyle = "#1a1a1a";
  for (let time = 0; time <= end; time += step) {
    context.beginPath();
    context.moveTo(x(time), axisTop);
    context.lineTo(x(time), axisTop + 4);
    context.stroke();
    context.fillText(seconds(time), x(time), axisTop + 6);
  }
  context.fillText("time", left + plotWidth / 2, axisTop + 22);
  drawLegend(context, left, axisTop + 42);
}

// The colour scale: score 0 (dark) to 1 (bright), the same for every song.
function drawLegend(context, left, top) {
  const width = 100;
  const gradient = context.createLinearGradient(left, 0, left + width, 0);
  VIRIDIS.forEach(([r, g, b], i) => gradient.addColorStop(i / (VIRIDIS.length - 1), `rgb(${r} ${g} ${b})`));
  context.textBaseline = "middle";
  context.textAlign = "right";
  context.fillText("score 0", left - 4, top + 5);
  context.fillStyle = gradient;
  context.fillRect(left, top, width, 10);
  context.fillStyle = "#1a1a1a";
  context.textAlign = "left";
  context.fillText("1", left + width + 4, top + 5);
}

function describeTaggram({ taggram, tags }) {
  byId("taggram-text").replaceChildren(...tags.map((tag) => {
    const column = taggram.tags.indexOf(tag);
    const scores = taggram.scores.map((row) => row[column]);
    const peak = scores.indexOf(Math.max(...scores));
    const item = document.createElement("li");
    item.textContent = `${tag}: highest ${scores[peak].toFixed(2)} at ${seconds(taggram.times[peak])}, `
      + `lowest ${Math.min(...scores).toFixed(2)}`;
    return item;
  }));
  canvas.setAttribute("aria-label", `Taggram: ${tags.length} tags over ${taggram.times.length} windows`);
}

function showTaggramRows() {
  shownTaggram.tags = allTags.checked ? shownTaggram.taggram.tags : shownTaggram.top;
  drawTaggram(shownTaggram);
  describeTaggram(shownTaggram);
}

async function showTaggram(result) {
  try {
    const taggram = await getJson(`taggram/${result.id}`);
    shownTaggram = { taggram, top: result.top.map(({ tag }) => tag) };
    showTaggramRows();
  } catch (error) {
    showError(error);
  }
}

// GET /similar exists once similarity search is deployed; until then (404) the section stays hidden.
async function showSimilar(result) {
  const section = byId("similar");
  section.hidden = true;
  let answer;
  try {
    answer = await getJson(`similar/${result.id}?k=${SIMILAR_K}`);
  } catch {
    return;
  }
  const tracks = Array.isArray(answer) ? answer : answer.results ?? answer.neighbours ?? answer.neighbors ?? [];
  byId("similar-list").replaceChildren(...tracks.map((track) => {
    const item = document.createElement("li");
    const id = document.createElement("code");
    id.textContent = track.id;
    item.append(id, ` (similarity ${Number(track.score).toFixed(3)})`);
    return item;
  }));
  section.hidden = tracks.length === 0;
}

async function showResult(result) {
  showSummary(result);
  showTopTags(result.top);
  resultSection.hidden = false;
  statusLine.textContent = `Tagged ${result.duration.toFixed(1)} s of audio: ${result.top[0]?.tag ?? "no tags"} first.`;
  byId("result-heading").focus();
  await Promise.all([showTaggram(result), showSimilar(result)]);
}

async function tagChosenFile() {
  if (form.hasAttribute("aria-busy")) return; // one song at a time
  const file = fileInput.files[0];
  if (!file) {
    errorLine.textContent = "Choose an audio file first.";
    fileInput.focus();
    return;
  }
  if (!modelSelect.value) await loadModels();
  if (!modelSelect.value) return;
  errorLine.textContent = "";
  statusLine.textContent = `Uploading ${file.name}…`;
  resultSection.hidden = true;
  progress.value = 0;
  progress.hidden = false;
  // aria-disabled rather than disabled: the button keeps the keyboard focus for a retry after an error.
  submitButton.setAttribute("aria-disabled", "true");
  form.setAttribute("aria-busy", "true");
  try {
    await showResult(await upload(file, modelSelect.value));
  } catch (error) {
    showError(error);
  } finally {
    submitButton.removeAttribute("aria-disabled");
    form.removeAttribute("aria-busy");
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  tagChosenFile();
});
keyInput.addEventListener("change", loadModels);
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  document.body.classList.remove("dragging");
  if (event.dataTransfer.files.length === 0) return;
  fileInput.files = event.dataTransfer.files;
  tagChosenFile();
});
allTags.addEventListener("change", () => shownTaggram && showTaggramRows());
window.addEventListener("resize", () => shownTaggram && drawTaggram(shownTaggram));
loadModels();
