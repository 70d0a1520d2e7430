// The listing review page: send the chosen photos to /v1/review and show the listing's facts and its
// photos in the order to show them, each with its room, its score and what to fix.
"use strict";

const form = document.getElementById("upload");
const input = document.getElementById("photos");
const presetSelect = document.getElementById("preset");
const keyBox = document.getElementById("key-box");
const keyInput = document.getElementById("api-key");
const statusLine = document.getElementById("status");
const problem = document.getElementById("problem");
const listingSection = document.getElementById("listing");
const facts = document.getElementById("facts");
const gallery = document.getElementById("gallery");
const galleryTitle = document.getElementById("gallery-title");
let lastFiles = [];
let objectUrls = [];
let request = 0; // only the latest request's answer is shown

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function roomName(room) {
  return room.replace(/_/g, " ");
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function list(items) {
  if (items.length < 2) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function presetTitle() {
  return presetSelect.value === "none" ? "" : presetSelect.selectedOptions[0].textContent;
}

function clearResults() {
  listingSection.hidden = true;
  galleryTitle.hidden = true;
  facts.replaceChildren();
  gallery.replaceChildren();
}

function fail(message) {
  statusLine.textContent = "";
  problem.textContent = message;
}

async function reviewPhotos(files) {
  lastFiles = files;
  if (!files.length) return;
  const mine = ++request;
  const body = new FormData();
  for (const file of files) body.append("photos", file, file.name);
  const headers = {};
  if (keyInput.value.trim()) headers["X-API-Key"] = keyInput.value.trim();
  const query = new URLSearchParams({ preset: presetSelect.value });
  const rules = presetTitle();
  problem.textContent = "";
  statusLine.textContent = `Reviewing ${plural(files.length, "photo")}${rules ? ` for ${rules}` : ""}…`;
  form.setAttribute("aria-busy", "true");
  let response;
  let data;
  try {
    response = await fetch(`/v1/review?${query}`, { method: "POST", body, headers });
    data = await response.json();
  } catch (error) {
    if (mine === request) fail(`Could not reach the server (${error.message}).`);
    return;
  } finally {
    if (mine === request) form.removeAttribute("aria-busy");
  }
  if (mine !== request) return;
  if (response.status === 401) {
    fail("This server needs an API key: enter it under API key, then press Enter.");
    keyBox.open = true;
    keyInput.focus();
    return;
  }
  if (!Array.isArray(data.photos) || !data.listing) {
    clearResults();
    fail(data.error || `The server answered ${response.status}.`);
    return;
  }
  show(files, data, rules);
}

function show(files, data, rules) {
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls = [];
  const listing = data.listing;
  const keptOver = new Map(); // a kept copy's name -> the names of its duplicates
  for (const group of listing.duplicates) keptOver.set(group.keep, group.copies);
  facts.replaceChildren(...(data.scored ? listingFacts(data, rules) : []));
  listingSection.hidden = !data.scored;
  gallery.replaceChildren(...data.photos.map((photo) => card(files[photo.index], photo, keptOver)));
  galleryTitle.hidden = false;

  const parts = data.scored ? [`${plural(data.scored, "photo")} reviewed${rules ? ` for ${rules}` : ""}.`] : [];
  if (listing.cover !== null) parts.push(`Cover: ${listing.cover}.`);
  const toFix = data.photos.filter((photo) => !photo.error && photo.reasons.length).length;
  if (toFix) parts.push(`${plural(toFix, "photo")} to fix.`);
  if (listing.missing_rooms.length) parts.push(`Missing: ${list(listing.missing_rooms.map(roomName))}.`);
  if (data.failed) parts.push(`${plural(data.failed, "photo")} could not be reviewed.`);
  statusLine.textContent = parts.join(" ");
  problem.textContent = data.error || "";
}

function fact(name, verdict, label, ...content) {
  const item = element("li", `fact ${verdict}`);
  item.dataset.fact = name;
  const badges = { pass: "OK", fail: "To fix", note: "Note" };
  item.append(element("span", "badge", badges[verdict]), element("strong", "", `${label}: `), ...content);
  return item;
}

function listingFacts(data, rules) {
  const listing = data.listing;
  const verdicts = listing.verdicts;
  const items = [];

  const minimum = listing.min_photos
    ? ` (${rules || "the preset"} asks for at least ${listing.min_photos})`
    : " (no minimum without platform rules)";
  items.push(
    fact(
      "photo_count",
      verdicts.photo_count,
      "Acceptable photos",
      `${listing.acceptable_photos} of ${listing.photos}${minimum}. A photo is acceptable when it passes every check and is no duplicate.`,
    ),
  );

  const shown = listing.rooms_shown.length ? list(listing.rooms_shown.map(roomName)) : "none recognised";
  const missing = listing.missing_rooms.length
    ? ` Missing: ${list(listing.missing_rooms.map(roomName))}.`
    : rules
      ? ` Every room ${rules} asks for is shown.`
      : "";
  items.push(fact("rooms", verdicts.rooms, "Rooms", `shown: ${shown}.${missing}`));

  const cover = listing.cover === null ? "none." : `${listing.cover}.`;
  const coverNote = listing.cover_note ? ` ${capitalised(listing.cover_note)}.` : "";
  items.push(fact("cover", verdicts.cover, "Cover", `${cover}${coverNote}`));

  if (listing.duplicates.length) {
    const groups = listing.duplicates.map(
      (group) => `keep ${group.keep}, drop ${list(group.copies)} (${group.exact ? "exact copy" : "near copy"})`,
    );
    items.push(fact("duplicates", "fail", "Duplicates", `${groups.join("; ")}.`));
  } else {
    items.push(fact("duplicates", "pass", "Duplicates", "none found."));
  }

  const tied = data.photos.filter((photo) => photo.tied_with && photo.tied_with.length).length;
  if (tied) {
    items.push(
      fact(
        "ties",
        "note",
        "Ties",
        `${plural(tied, "photo")} score within ${listing.tie_band} points of another: their order is within the models' noise.`,
      ),
    );
  }
  return items;
}

function card(file, photo, keptOver) {
  const item = element("li", "photo");
  item.dataset.index = photo.index;
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
    caption.append(element("span", "position", "Not shown"), name, element("span", "error", `Not reviewed: ${photo.error}`));
    figure.append(image, caption);
    item.append(figure);
    return item;
  }
  item.dataset.position = photo.position;
  item.dataset.room = photo.room;
  item.dataset.score = photo.mean_score_prediction;
  caption.append(element("span", "position", `#${photo.position}`), name);

  const tags = element("span", "tags");
  if (photo.cover) {
    item.classList.add("cover");
    tags.append(element("span", "tag cover-tag", "Cover"));
  }
  if (photo.duplicate_of !== null) {
    item.classList.add("duplicate");
    tags.append(element("span", "tag duplicate-tag", `Duplicate of ${photo.duplicate_of}`));
  } else if (keptOver.has(photo.path)) {
    tags.append(element("span", "tag kept-tag", `Kept over ${list(keptOver.get(photo.path))}`));
  }
  if (photo.tied_with.length) {
    item.classList.add("tied");
    tags.append(element("span", "tag tie-tag", `Tied with ${list(photo.tied_with)}`));
  }
  if (tags.childElementCount) caption.append(tags);

  const score = element("span", "score");
  score.append("Score ", element("strong", "", photo.mean_score_prediction.toFixed(2)), " / 10");
  const within = `${Math.round(photo.normalized_score * 100)} / 100 within this listing`;
  caption.append(score, element("span", "within", within));

  const room = element("span", "room");
  const probability = photo.room_probability === null ? "" : ` (${Math.round(photo.room_probability * 100)}%)`;
  room.append("Room: ", element("strong", "", capitalised(roomName(photo.room || "unknown"))), probability);
  caption.append(room);

  if (photo.reasons.length) {
    item.classList.add("to-fix");
    const reasons = element("ul", "reasons");
    reasons.setAttribute("aria-label", `To fix in ${photo.path}`);
    reasons.append(...photo.reasons.map((reason) => element("li", "", capitalised(reason))));
    caption.append(element("span", "fix-title", "To fix"), reasons);
  } else {
    caption.append(element("span", "passes", "Passes every check"));
  }
  figure.append(image, caption);
  item.append(figure);
  return item;
}

input.addEventListener("change", () => reviewPhotos([...input.files]));
presetSelect.addEventListener("change", () => reviewPhotos(lastFiles));
keyInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    reviewPhotos(lastFiles);
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
  reviewPhotos([...event.dataTransfer.files].filter((file) => file.type.startsWith("image/") || !file.type));
});
