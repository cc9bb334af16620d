// The vestis web page: plain ES module, no build step. Talks to the JSON API of the same server.
const $ = (sel) => document.querySelector(sel);
const PAGE = 24;

const state = {
  info: null,
  selected: {},      // facet field -> Set of values
  query: null,       // {kind: 'text'|'list'|'photo'|'similar', ...} of what the grid shows
  nextOffset: null,
  photo: null,       // {file, url, extraction}
  outfit: [],        // [{id, name, thumbnail, attributes}]
  detail: null,      // the item shown in the dialog
};

// ---- API ---------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function showError(err) {
  const box = $('#error');
  box.textContent = err ? String(err.message || err) : '';
  box.hidden = !err;
}

async function guarded(fn) {
  showError(null);
  document.body.classList.add('busy');
  try { return await fn(); } catch (err) { showError(err); } finally { document.body.classList.remove('busy'); }
}

// ---- filters -----------------------------------------------------------------------------------
function quote(value) { return `'${String(value).replaceAll("'", "''")}'`; }

function whereOf(selected, except = null) {
  const parts = [];
  for (const [field, values] of Object.entries(selected)) {
    if (field === except || values.size === 0) continue;
    const list = [...values].map(quote);
    parts.push(list.length === 1 ? `${field} = ${list[0]}` : `${field} in (${list.join(', ')})`);
  }
  return parts.join(' AND ');
}

function params(entries) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) if (v !== null && v !== undefined && v !== '') p.append(k, v);
  return p.toString();
}

async function loadFacets() {
  const fields = state.info.facet_fields;
  const where = whereOf(state.selected);
  // disjunctive facets: a field with a selection counts its values without its own selection
  const calls = [api(`/api/facets?${params({ where })}&${fields.map((f) => `field=${encodeURIComponent(f)}`).join('&')}`)];
  const own = fields.filter((f) => state.selected[f]?.size);
  for (const f of own) calls.push(api(`/api/facets?${params({ where: whereOf(state.selected, f), field: f })}`));
  const [all, ...mine] = await Promise.all(calls);
  own.forEach((f, i) => { all.facets[f] = mine[i].facets[f]; });
  renderFacets(all);
}

function renderFacets(data) {
  const list = $('#facet-list');
  list.replaceChildren();
  for (const field of state.info.facet_fields) {
    const values = data.facets[field] || [];
    const chosen = state.selected[field] || new Set();
    const group = document.createElement('fieldset');
    group.className = 'facet';
    group.dataset.field = field;
    const legend = document.createElement('legend');
    legend.textContent = field.replaceAll('_', ' ');
    group.append(legend);
    const shown = values.slice();
    for (const v of chosen) if (!shown.some((x) => x.value === v)) shown.push({ value: v, count: 0 });
    for (const { value, count } of shown) {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = value;
      box.checked = chosen.has(value);
      box.addEventListener('change', () => toggleFacet(field, value, box.checked));
      const text = document.createElement('span');
      text.textContent = value.replaceAll('_', ' ');
      const n = document.createElement('span');
      n.className = 'muted';
      n.textContent = count;
      label.append(box, text, n);
      group.append(label);
    }
    if (shown.length) list.append(group);
  }
  $('#clear-filters').hidden = !Object.values(state.selected).some((s) => s.size);
}

function toggleFacet(field, value, on) {
  const set = state.selected[field] || (state.selected[field] = new Set());
  if (on) set.add(value); else set.delete(value);
  refresh();
}

// ---- results -----------------------------------------------------------------------------------
function describe(attributes) {
  const shown = state.info.listing.map((f) => attributes[f]).filter((v) => v && (!Array.isArray(v) || v.length));
  return shown.map((v) => (Array.isArray(v) ? v.join('/') : v).replaceAll('_', ' ')).join(' · ');
}

async function fetchPage(offset) {
  const q = state.query;
  const where = whereOf(state.selected);
  if (q.kind === 'photo') {
    const form = new FormData();
    form.append('photo', q.blob, q.name || 'photo.jpg');
    if (q.modify) form.append('modify', q.modify);
    return api(`/api/search/image?${params({ where, k: PAGE, offset })}`, { method: 'POST', body: form });
  }
  if (q.kind === 'similar') {
    return api(`/api/items/${q.id}/similar?${params({ modify: q.modify, where, k: PAGE, offset })}`);
  }
  return api(`/api/search?${params({ q: q.text, where, k: PAGE, offset })}`);
}

function renderStatus(page) {
  const q = state.query;
  const filters = whereOf(state.selected);
  let text;
  if (q.kind === 'text') text = `Results for “${q.text}”`;
  else if (q.kind === 'photo') text = q.modify ? `Like your photo, but ${q.modify}` : 'Like your photo';
  else if (q.kind === 'similar') text = q.modify ? `Like ${q.label}, but ${q.modify}` : `More like ${q.label}`;
  else text = page.total !== null && page.total !== undefined ? `${page.total} items` : 'Items';
  $('#status').textContent = filters ? `${text} — where ${filters}` : text;
}

async function runQuery(query) {
  state.query = query;
  await guarded(async () => {
    const page = await fetchPage(0);
    $('#grid').replaceChildren();
    renderStatus(page);
    appendHits(page);
  });
}

async function refresh() {
  await guarded(loadFacets);
  await runQuery(state.query || { kind: 'list' });
}

function appendHits(page) {
  const grid = $('#grid');
  for (const hit of page.hits) grid.append(card(hit));
  if (!grid.children.length) {
    const empty = document.createElement('p');
    empty.className = 'muted empty';
    empty.textContent = 'No items match.';
    grid.append(empty);
  }
  state.nextOffset = page.next_offset;
  $('#more').hidden = page.next_offset === null || page.next_offset === undefined;
}

function card(hit) {
  const node = $('#card').content.firstElementChild.cloneNode(true);
  node.dataset.id = hit.id;
  const img = node.querySelector('img');
  img.src = hit.thumbnail;
  img.alt = hit.name;
  node.querySelector('.card-title').textContent = `#${hit.id}` + (hit.score ? ` · ${hit.score.toFixed(3)}` : '');
  node.querySelector('.card-attrs').textContent = describe(hit.attributes);
  node.querySelector('.thumb').addEventListener('click', () => openItem(hit.id));
  node.querySelector('.similar').addEventListener('click', () => moreLike(hit.id));
  const form = node.querySelector('.but-form');
  node.querySelector('.but').addEventListener('click', () => { form.hidden = !form.hidden; form.querySelector('input').focus(); });
  form.addEventListener('submit', (e) => { e.preventDefault(); moreLike(hit.id, form.querySelector('input').value.trim()); });
  node.querySelector('.add').addEventListener('click', () => addToOutfit(hit));
  return node;
}

function moreLike(id, modify = '') {
  $('#detail').close();
  return runQuery({ kind: 'similar', id, modify: modify || null, label: `#${id}` });
}

// ---- item details ------------------------------------------------------------------------------
function attrTable(table, attributes, confidence = {}) {
  table.replaceChildren();
  for (const [field, value] of Object.entries(attributes)) {
    if (value === null || (Array.isArray(value) && !value.length)) continue;
    const row = table.insertRow();
    row.insertCell().textContent = field.replaceAll('_', ' ');
    row.insertCell().textContent = (Array.isArray(value) ? value.join(', ') : String(value)).replaceAll('_', ' ');
    const c = row.insertCell();
    c.className = 'muted';
    c.textContent = confidence[field] !== undefined ? confidence[field].toFixed(2) : '';
  }
}

async function openItem(id) {
  await guarded(async () => {
    const item = await api(`/api/items/${id}`);
    state.detail = item;
    const img = $('#detail-img');
    img.onerror = () => { img.onerror = null; img.src = item.thumbnail; };
    img.src = item.image;
    img.alt = item.name;
    $('#detail-title').textContent = `#${item.id} ${item.name}`;
    attrTable($('#detail-attrs'), item.attributes, item.confidence);
    $('#detail-modify').value = '';
    $('#detail').showModal();
  });
}

// ---- your photo: attributes, garments, search by it --------------------------------------------
async function analysePhoto() {
  const photo = state.photo;
  const parser = $('#parser').value;
  $('#photo-status').textContent = 'Reading the photo…';
  $('#garments').replaceChildren();
  $('#photo-attrs').replaceChildren();
  for (const box of document.querySelectorAll('#photo-frame .box')) box.remove();
  await guarded(async () => {
    const form = new FormData();
    form.append('photos', photo.file, photo.file.name || 'photo.jpg');
    const res = await api(`/api/extract?${params({ parser })}`, { method: 'POST', body: form });
    photo.extraction = res;
    const items = res.items || [];
    if (res.kind === 'person') {
      $('#photo-status').textContent = items.length
        ? `A photo of a person: ${items.length} garment(s). Click one to search by it.`
        : 'A photo of a person, but no garment was found.';
      drawBoxes(res);
    } else {
      $('#photo-status').textContent = 'A product shot. Its attributes:';
    }
    attrTable($('#photo-attrs'), res.attributes, res.confidence);
  });
}

function drawBoxes(res) {
  const [w, h] = res.image_size;
  const frame = $('#photo-frame');
  const list = $('#garments');
  res.items.forEach((item, i) => {
    const [x0, y0, x1, y1] = item.box;
    const box = document.createElement('button');
    box.type = 'button';
    box.className = 'box';
    box.style.left = `${(100 * x0) / w}%`;
    box.style.top = `${(100 * y0) / h}%`;
    box.style.width = `${(100 * (x1 - x0)) / w}%`;
    box.style.height = `${(100 * (y1 - y0)) / h}%`;
    const label = `${item.class || 'item'} ${i + 1}`;
    box.title = `${label}: ${describe(item.attributes)}`;
    box.textContent = label;
    box.addEventListener('click', () => searchGarment(item, res.image_size, label));
    box.dataset.area = (x1 - x0) * (y1 - y0);
    frame.append(box);
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.textContent = `${label}: ${describe(item.attributes) || 'no attributes'}`;
    chip.addEventListener('click', () => searchGarment(item, res.image_size, label));
    list.append(chip);
  });
  // smaller boxes on top, so a garment inside another (a top under a coat) stays clickable
  const boxes = [...frame.querySelectorAll('.box')].sort((a, b) => b.dataset.area - a.dataset.area);
  frame.append(...boxes);
}

async function searchGarment(item, size, label) {
  const img = $('#photo-img');
  const scale = img.naturalWidth / size[0];
  const [x0, y0, x1, y1] = item.box.map((v) => Math.round(v * scale));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, x1 - x0);
  canvas.height = Math.max(1, y1 - y0);
  canvas.getContext('2d').drawImage(img, x0, y0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  attrTable($('#photo-attrs'), item.attributes, item.confidence);
  const modify = $('#photo-modify').value.trim() || null;
  await runQuery({ kind: 'photo', blob, name: 'garment.jpg', modify, label });
  $('#status').textContent = `Like the ${label} of your photo` + (modify ? `, but ${modify}` : '');
}

function choosePhoto(file) {
  if (!file) return;
  if (state.photo) URL.revokeObjectURL(state.photo.url);
  state.photo = { file, url: URL.createObjectURL(file), extraction: null };
  $('#photo-img').src = state.photo.url;
  $('#photo-panel').hidden = false;
  analysePhoto();
}

// ---- outfit builder ----------------------------------------------------------------------------
function addToOutfit(hit) {
  if (state.outfit.some((x) => x.id === hit.id)) return;
  const completing = $('#suggestions').children.length > 0;
  state.outfit.push(hit);
  renderOutfit();
  if (completing) completeOutfit();  // the look changed: suggest for what it still lacks
}

function renderOutfit() {
  const list = $('#outfit-items');
  list.replaceChildren();
  for (const it of state.outfit) {
    const li = document.createElement('li');
    const img = document.createElement('img');
    img.src = it.thumbnail;
    img.alt = it.name;
    const text = document.createElement('span');
    text.textContent = `#${it.id} ${describe(it.attributes)}`;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'link';
    remove.textContent = 'remove';
    remove.addEventListener('click', () => { state.outfit = state.outfit.filter((x) => x.id !== it.id); renderOutfit(); });
    li.append(img, text, remove);
    list.append(li);
  }
  $('#outfit-empty').hidden = state.outfit.length > 0;
  $('#outfit-score').disabled = state.outfit.length < 2;
  $('#outfit-complete').disabled = state.outfit.length < 1;
  $('#outfit-result').textContent = '';
  $('#suggestions').replaceChildren();
}

const ids = () => state.outfit.map((x) => x.id);
const postJSON = (path, body) => api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

async function scoreOutfit() {
  await guarded(async () => {
    const res = await postJSON('/api/outfits/score', { items: ids() });
    const [a, b] = res.weakest_pair.items;
    $('#outfit-result').textContent = `Score ${res.score.toFixed(3)} (${res.scorer}); weakest pair #${a} + #${b}`;
  });
}

async function completeOutfit() {
  await guarded(async () => {
    const res = await postJSON('/api/outfits/complete', { items: ids(), k: 4 });
    const box = $('#suggestions');
    box.replaceChildren();
    const all = Object.entries(res.slots);
    const slots = all.filter(([, items]) => items.length);  // a category the catalog lacks is no suggestion
    if (!all.length) $('#outfit-result').textContent = 'The outfit has every main category.';
    else if (!slots.length) $('#outfit-result').textContent = 'Nothing in the catalog completes this look further.';
    for (const [slot, items] of slots) {
      const h = document.createElement('h3');
      h.textContent = slot.replaceAll('_', ' ');
      box.append(h);
      const row = document.createElement('div');
      row.className = 'suggestion-row';
      for (const s of items) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'suggestion';
        b.title = `#${s.id} ${describe(s.attributes)} (add to the outfit)`;
        const img = document.createElement('img');
        img.src = s.thumbnail;
        img.alt = `#${s.id}`;
        b.append(img);
        b.addEventListener('click', () => addToOutfit(s));
        row.append(b);
      }
      box.append(row);
    }
  });
}

// ---- wiring ------------------------------------------------------------------------------------
async function start() {
  state.info = await api('/api/info');
  $('#count').textContent = `${state.info.items} items · ${state.info.schema_name} schema`;
  for (const name of state.info.parsers.filter((p) => p !== 'whole')) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name === 'lite-parser' ? 'a person (find each garment)' : `a person (${name})`;
    $('#parser').append(option);
  }
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('#q').value.trim();
    runQuery(text ? { kind: 'text', text } : { kind: 'list' });
  });
  $('#photo').addEventListener('change', (e) => choosePhoto(e.target.files[0]));
  $('#parser').addEventListener('change', () => { if (state.photo) analysePhoto(); });
  $('#photo-close').addEventListener('click', () => { $('#photo-panel').hidden = true; });
  $('#photo-search').addEventListener('submit', (e) => {
    e.preventDefault();
    const modify = $('#photo-modify').value.trim() || null;
    runQuery({ kind: 'photo', blob: state.photo.file, name: state.photo.file.name, modify });
  });
  $('#more').addEventListener('click', () => guarded(async () => appendHits(await fetchPage(state.nextOffset))));
  $('#clear-filters').addEventListener('click', () => { state.selected = {}; refresh(); });
  $('#detail-similar').addEventListener('click', () => moreLike(state.detail.id));
  $('#detail-but').addEventListener('submit', (e) => { e.preventDefault(); moreLike(state.detail.id, $('#detail-modify').value.trim()); });
  $('#detail-outfit').addEventListener('click', () => { addToOutfit(state.detail); $('#detail').close(); });
  $('#outfit-score').addEventListener('click', scoreOutfit);
  $('#outfit-complete').addEventListener('click', completeOutfit);
  renderOutfit();
  await refresh();
  document.body.dataset.ready = 'true';
}

start().catch(showError);
