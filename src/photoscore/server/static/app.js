// The listing page: send the chosen photos to /v1/rank and show them best first.
"use strict";

const SCALE = "0-100";
const form = document.getElementById("upload");
const input = document.getElementById("photos");
const keyBox = document.getElementById("key-box");
const keyInput = document.getElementById("api-key");
const statusLine = document.getElementById("status");
const problem = document.getElementById("problem");
const gallery = document.getElementById("gallery");
const galleryTitle = document.getElementById("gallery-title");
let lastFiles = [];
let objectUrls = [];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(number) {
  return String(Number(number.toFixed(2)));
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

async function rankPhotos(files) {
  lastFiles = files;
  if (!files.length) return;
  const body = new FormData();
  for (const file of files) body.append("photos", file, file.name);
  const headers = {};
  if (keyInput.value.trim()) headers["X-API-Key"] = keyInput.value.trim();
  problem.textContent = "";
  statusLine.textContent = `Scoring ${plural(files.length, "photo")}…`;
  form.setAttribute("aria-busy", "true");
  let response;
  let data;
  try {
    response = await fetch(`/v1/rank?scale=${SCALE}`, { method: "POST", body, headers });
    data = await response.json();
  } catch (error) {
    statusLine.textContent = "";
    problem.textContent = `Could not reach the server (${error.message}).`;
    return;
  } finally {
    form.removeAttribute("aria-busy");
  }
  if (response.status === 401) {
    statusLine.textContent = "";
    problem.textContent = "This server needs an API key: enter it under API key, then press Enter.";
    keyBox.open = true;
    keyInput.focus();
    return;
  }
  if (!Array.isArray(data.photos)) {
    statusLine.textContent = "";
    problem.textContent = data.error || `The server answered ${response.status}.`;
    return;
  }
  show(files, data);
}

function show(files, data) {
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls = [];
  const flagged = new Set(data.flagged);
  gallery.replaceChildren(...data.photos.map((photo) => card(files[photo.index], photo, data, flagged)));
  galleryTitle.hidden = false;
  const parts = [`${plural(data.scored, "photo")} ranked.`];
  if (data.cover !== null) parts.push(`Suggested cover: ${data.photos[0].path}.`);
  parts.push(`${plural(flagged.size, "weak photo")} flagged (mean score below ${short(data.flag_below)}).`);
  if (data.failed) parts.push(`${plural(data.failed, "photo")} could not be scored.`);
  statusLine.textContent = parts.join(" ");
  problem.textContent = data.error || "";
}

function card(file, photo, data, flagged) {
  const item = element("li", "photo");
  const figure = element("figure");
  const image = element("img");
  const url = URL.createObjectURL(file);
  objectUrls.push(url);
  image.src = url;
  image.alt = `Photo ${photo.path}`;
  const caption = element("figcaption");
  const name = element("span", "name", photo.path);
  if (photo.error) {
    item.classList.add("failed");
    caption.append(name, element("span", "error", `Not scored: ${photo.error}`));
  } else {
    item.dataset.score = photo.normalized_score;
    item.dataset.rank = photo.rank;
    const score = element("span", "score");
    score.append("Score ", element("strong", "", String(Math.round(photo.normalized_score))), " / 100");
    const mean = `mean ${photo.mean_score_prediction.toFixed(2)} ± ${photo.std_score_prediction.toFixed(2)} on 1–10`;
    caption.append(element("span", "rank", `#${photo.rank}`), name, score, element("span", "mean", mean));
    const tags = element("span", "tags");
    if (photo.index === data.cover) {
      item.classList.add("cover");
      tags.append(element("span", "tag cover-tag", "Suggested cover"));
    }
    if (flagged.has(photo.index)) {
      item.classList.add("flagged");
      tags.append(element("span", "tag flag-tag", `Weak: below ${short(data.flag_below)}`));
    }
    caption.append(tags);
  }
  figure.append(image, caption);
  item.append(figure);
  return item;
}

input.addEventListener("change", () => rankPhotos([...input.files]));
keyInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    rankPhotos(lastFiles);
  }
});
form.addEventListener("submit", (event) => event.preventDefault());
form.addEventListener("dragover", (event) => {
  event.preventDefault();
  form.classList.add("dragging");
});
form.addEventListener("dragleave", () => form.classList.remove("dragging"));
form.addEventListener("drop", (event) => {
  event.preventDefault();
  form.classList.remove("dragging");
  rankPhotos([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/") || !file.type));
});
