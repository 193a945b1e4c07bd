// inpaintkit's page: no framework, no build step. Paint the mask on a canvas at the image's own size,
// send image + mask + method + options to the API, follow the job's server-sent events, show the result.
"use strict";
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const withToken = (url) => (token ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : url);

const state = { imageFile: null, methods: [], models: [], history: [], job: null, events: null, resultUrl: null };
const picture = $("picture"), mask = $("mask"), pictureCtx = picture.getContext("2d"), maskCtx = mask.getContext("2d");

async function api(path, options = {}) {
  const response = await fetch(withToken(path), { ...options, headers: { ...headers, ...(options.headers || {}) } });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return response;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

// -- models, methods and their options (the form comes from the API's schema) -------------------------
async function loadLists() {
  state.models = await (await api("/api/v1/models")).json();
  state.methods = await (await api("/api/v1/methods")).json();
  $("model").innerHTML = state.models.map((m) =>
    `<option value="${m.name}" ${m.default ? "selected" : ""}>${m.name} (${m.resolution}px ${m.space})</option>`).join("");
  fillMethods();
}

function currentModel() { return state.models.find((m) => m.name === $("model").value); }

function fillMethods() {
  const model = currentModel();
  const usable = state.methods.filter((m) => m.spaces.length === 0 || (model && m.spaces.includes(model.space)));
  const previous = $("method").value;
  $("method").innerHTML = usable.map((m) => `<option value="${m.name}">${m.name}</option>`).join("");
  if (usable.some((m) => m.name === previous)) $("method").value = previous;
  else if (usable.some((m) => m.name === "combine-image")) $("method").value = "combine-image";
  $("prompt-row").hidden = !(model && model.conditioning === "text-conditioned");
  fillOptions();
}

function fillOptions() {
  const method = state.methods.find((m) => m.name === $("method").value);
  $("method-summary").textContent = method ? method.summary : "";
  $("options").innerHTML = "";
  if (!method) return;
  for (const option of method.options) {
    const row = document.createElement("label");
    row.title = option.help || "";
    let input;
    if (option.limits.choices) {
      input = document.createElement("select");
      input.innerHTML = option.limits.choices.map((c) => `<option ${c === option.default ? "selected" : ""}>${c}</option>`).join("");
    } else if (option.type === "bool") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = !!option.default;
    } else {
      input = document.createElement("input");
      input.type = option.type === "str" ? "text" : "number";
      if (option.type === "float") input.step = "any";
      for (const [key, attr] of [["ge", "min"], ["gt", "min"], ["le", "max"], ["lt", "max"]]) {
        if (key in option.limits) input[attr] = option.limits[key];
      }
      input.value = option.default === null ? "" : option.default;
      input.placeholder = option.default === null ? "default" : "";
    }
    input.dataset.option = option.name;
    input.dataset.type = option.type;
    row.append(`${option.name} `, input);
    $("options").append(row);
  }
}

function optionValues() {
  const values = {};
  for (const input of $("options").querySelectorAll("[data-option]")) {
    if (input.type === "checkbox") values[input.dataset.option] = input.checked;
    else if (input.value !== "") values[input.dataset.option] = input.value;  // the server converts and checks
  }
  return values;
}

// -- the image and the mask ------------------------------------------------------------------------------
function openImage(file) {
  if (!file) return;
  const img = new Image();
  img.onload = () => {
    state.imageFile = file;
    for (const canvas of [picture, mask]) { canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; }
    pictureCtx.drawImage(img, 0, 0);
    clearMask();
    $("drop").classList.add("has-image");
    $("run").disabled = false;
    status(`${img.naturalWidth} x ${img.naturalHeight}: paint over what to fill.`);
    URL.revokeObjectURL(img.src);
  };
  img.onerror = () => status("that file is not an image this browser can read", true);
  img.src = URL.createObjectURL(file);
}

function loadMaskFile(file) {
  if (!file) return;
  const img = new Image();
  img.onload = () => {
    remember();
    maskCtx.clearRect(0, 0, mask.width, mask.height);
    const scratch = document.createElement("canvas");
    scratch.width = mask.width; scratch.height = mask.height;
    const ctx = scratch.getContext("2d");
    ctx.drawImage(img, 0, 0, mask.width, mask.height);
    const data = ctx.getImageData(0, 0, mask.width, mask.height);
    for (let i = 0; i < data.data.length; i += 4) {  // white = fill: show it red
      const on = data.data[i] + data.data[i + 1] + data.data[i + 2] > 3 * 127;
      data.data.set(on ? [255, 0, 0, 255] : [0, 0, 0, 0], i);
    }
    maskCtx.putImageData(data, 0, 0);
  };
  img.src = URL.createObjectURL(file);
}

function remember() {
  state.history.push(maskCtx.getImageData(0, 0, mask.width, mask.height));
  if (state.history.length > 50) state.history.shift();
}
function clearMask() { remember(); maskCtx.clearRect(0, 0, mask.width, mask.height); }
function undo() { const last = state.history.pop(); if (last) maskCtx.putImageData(last, 0, 0); }

let painting = false, last = null;
function point(event) {
  const box = mask.getBoundingClientRect();
  return { x: (event.clientX - box.left) * mask.width / box.width, y: (event.clientY - box.top) * mask.height / box.height };
}
function stroke(from, to) {
  const scale = mask.width / mask.getBoundingClientRect().width;
  maskCtx.globalCompositeOperation = $("eraser").checked ? "destination-out" : "source-over";
  maskCtx.strokeStyle = "rgb(255,0,0)";
  maskCtx.lineWidth = Number($("brush").value) * scale;
  maskCtx.lineCap = maskCtx.lineJoin = "round";
  maskCtx.beginPath();
  maskCtx.moveTo(from.x, from.y);
  maskCtx.lineTo(to.x + 0.01, to.y);
  maskCtx.stroke();
}
mask.addEventListener("pointerdown", (e) => { if (!state.imageFile) return; painting = true; remember(); last = point(e); stroke(last, last); });
mask.addEventListener("pointermove", (e) => { if (!painting) return; const p = point(e); stroke(last, p); last = p; });
window.addEventListener("pointerup", () => { painting = false; });

function maskBlob() {  // white where painted, black elsewhere, at the image's size
  const out = document.createElement("canvas");
  out.width = mask.width; out.height = mask.height;
  const ctx = out.getContext("2d");
  const data = maskCtx.getImageData(0, 0, mask.width, mask.height);
  const bw = ctx.createImageData(mask.width, mask.height);
  for (let i = 0; i < data.data.length; i += 4) {
    const v = data.data[i + 3] > 0 ? 255 : 0;
    bw.data.set([v, v, v, 255], i);
  }
  ctx.putImageData(bw, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// -- jobs ------------------------------------------------------------------------------------------------
async function run() {
  if (!state.imageFile) return;
  const form = new FormData();
  form.append("image", state.imageFile);
  form.append("mask", await maskBlob(), "mask.png");
  form.append("method", $("method").value);
  form.append("model", $("model").value);
  form.append("options", JSON.stringify(optionValues()));
  form.append("seed", $("seed").value || "0");
  if (!$("prompt-row").hidden && $("prompt").value) form.append("prompt", $("prompt").value);
  $("run").disabled = true;
  $("progress").value = 0;
  try {
    const job = await (await api("/api/v1/jobs", { method: "POST", body: form })).json();
    state.job = job.id;
    $("cancel").disabled = false;
    status(job.position ? `queued: ${job.position} job(s) ahead` : "queued");
    follow(job.id);
  } catch (error) {
    status(error.message, true);
    $("run").disabled = false;
  }
}

function follow(id) {
  if (state.events) state.events.close();
  const events = new EventSource(withToken(`/api/v1/jobs/${id}/events`));
  state.events = events;
  events.addEventListener("queued", (e) => {
    const data = JSON.parse(e.data);
    status(data.position ? `queued: ${data.position} job(s) ahead` : "next in the queue");
  });
  events.addEventListener("started", () => status("running"));
  events.addEventListener("progress", (e) => {
    const data = JSON.parse(e.data);
    $("progress").max = data.of || 1;
    $("progress").value = data.step;
    status(`${data.phase}: step ${data.step} of ${data.of}`);
  });
  events.addEventListener("done", async () => { events.close(); await showResult(id); finished(); status("done"); });
  events.addEventListener("failed", (e) => { events.close(); finished(); status(`failed: ${JSON.parse(e.data).error}`, true); });
  events.addEventListener("cancelled", () => { events.close(); finished(); status("cancelled"); });
}

function finished() { $("run").disabled = false; $("cancel").disabled = true; $("again").disabled = false; state.job = null; }

async function cancel() { if (state.job) await api(`/api/v1/jobs/${state.job}`, { method: "DELETE" }); }

async function showResult(id) {
  const blob = await (await api(`/api/v1/jobs/${id}/result`)).blob();
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  $("before").src = picture.toDataURL("image/png");
  $("after").src = state.resultUrl;
  $("result-box").hidden = false;
  $("download").href = state.resultUrl;
  $("download").hidden = false;
  $("progress").value = $("progress").max;
}

$("slider").addEventListener("input", () => { $("after").style.clipPath = `inset(0 ${100 - $("slider").value}% 0 0)`; });
$("image-file").addEventListener("change", (e) => openImage(e.target.files[0]));
$("mask-file").addEventListener("change", (e) => loadMaskFile(e.target.files[0]));
$("brush").addEventListener("input", () => { $("brush-size").textContent = $("brush").value; });
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", clearMask);
$("model").addEventListener("change", fillMethods);
$("method").addEventListener("change", fillOptions);
$("run").addEventListener("click", run);
$("cancel").addEventListener("click", cancel);
$("again").addEventListener("click", () => { $("seed").value = Number($("seed").value || 0) + 1; run(); });
$("drop").addEventListener("dragover", (e) => e.preventDefault());
$("drop").addEventListener("drop", (e) => { e.preventDefault(); openImage(e.dataTransfer.files[0]); });
loadLists().catch((error) => status(`could not reach the API: ${error.message}`, true));
