// Event forms from the machine registry's JSON Schemas (zod's export): one
// form per event the task's current state accepts. An object schema's
// properties become labelled fields (string → text, enum → select, const →
// fixed, number/integer → number, boolean → checkbox, anything else → JSON);
// a schema that is not a plain object, or no schema, gets a JSON box.
// The browser does not validate (the form is novalidate): the server's
// checks answer, and their message is shown next to the form's button.
import { esc } from './panels.js';

const isObj = (v) => !!v && typeof v === 'object' && !Array.isArray(v);

/** The single JSON Schema type of `p` ('string', …), ignoring a 'null' alternative; undefined when mixed or absent. */
function typeOf(p) {
  const t = Array.isArray(p.type) ? p.type.filter((x) => x !== 'null') : [p.type];
  return t.length === 1 && typeof t[0] === 'string' ? t[0] : undefined;
}

/** How a property is edited. */
export function fieldKind(p) {
  if (!isObj(p)) return 'json';
  if ('const' in p) return 'const';
  if (Array.isArray(p.enum) && p.enum.length) return 'enum';
  const t = typeOf(p);
  if (t === 'string') return 'string';
  if (t === 'number' || t === 'integer') return 'number';
  if (t === 'boolean') return 'boolean';
  return 'json';
}

/** A schema the form can lay out as fields: an object with properties (and nothing that changes what they mean). */
function isFieldSchema(schema) {
  return isObj(schema) && typeOf(schema) === 'object' && isObj(schema.properties) && !schema.anyOf && !schema.oneOf && !schema.allOf && !schema.$ref;
}

function attrs(map) {
  return Object.entries(map)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k}="${esc(v)}"`))
    .join('');
}

function fieldHtml(type, name, p, required) {
  const kind = fieldKind(p);
  const id = `f-${type}-${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const base = { id, name, 'data-field': name, 'data-kind': kind, 'data-required': String(required), 'aria-required': required ? 'true' : undefined };
  const hint = isObj(p) && typeof p.description === 'string' ? `<span class="hint muted small">${esc(p.description)}</span>` : '';
  const label = `<label for="${esc(id)}" class="name">${esc(name)}${required ? '<span class="req" title="required">*</span>' : ''}</label>`;
  const dflt = isObj(p) ? p.default : undefined;
  let control;
  if (kind === 'const') {
    control = `<input type="hidden"${attrs({ ...base, 'data-value': JSON.stringify(p.const) })}><code class="fixed">${esc(JSON.stringify(p.const))}</code>`;
  } else if (kind === 'enum') {
    const opts = p.enum.map((v) => `<option value="${esc(JSON.stringify(v))}"${v === dflt ? ' selected' : ''}>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</option>`);
    control = `<select${attrs(base)}>${required && dflt === undefined ? '<option value="" selected disabled>choose…</option>' : required ? '' : '<option value="">(none)</option>'}${opts.join('')}</select>`;
  } else if (kind === 'string') {
    control = `<input type="text"${attrs({ ...base, value: typeof dflt === 'string' ? dflt : undefined, placeholder: p.format ?? (p.minLength ? `at least ${p.minLength} character${p.minLength === 1 ? '' : 's'}` : undefined), spellcheck: 'false' })}>`;
  } else if (kind === 'number') {
    const step = typeOf(p) === 'integer' ? '1' : 'any';
    const big = (v) => (typeof v === 'number' && Math.abs(v) < 1e15 ? v : undefined);
    control = `<input type="number"${attrs({ ...base, step, min: big(p.minimum), max: big(p.maximum), value: typeof dflt === 'number' ? dflt : undefined })}>`;
  } else if (kind === 'boolean') {
    control = `<input type="checkbox"${attrs({ ...base, checked: dflt === true })}>`;
  } else {
    const t = isObj(p) ? typeOf(p) : undefined;
    const placeholder = t === 'array' ? '[ … ] (JSON)' : t === 'object' ? '{ … } (JSON)' : 'JSON';
    control = `<textarea rows="2" spellcheck="false"${attrs({ ...base, placeholder })}>${dflt !== undefined ? esc(JSON.stringify(dflt)) : ''}</textarea>`;
  }
  return `<div class="field field-${kind}" data-name="${esc(name)}">${label}${control}${hint}</div>`;
}

/** One form for an accepted event `{ type, schema }`. */
export function eventFormHtml({ type, schema }) {
  let body;
  if (isFieldSchema(schema)) {
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const fields = Object.entries(schema.properties)
      .filter(([name]) => name !== 'type')
      .map(([name, p]) => fieldHtml(type, name, p, required.has(name)));
    body = fields.length ? fields.join('') : '<p class="muted small">no fields</p>';
  } else if (schema) {
    // A union, a reference, …: the whole event as JSON, its type filled in.
    body = `<div class="field field-json"><label class="name">event (JSON)</label><textarea rows="3" spellcheck="false" data-kind="event">${esc(JSON.stringify({ type }))}</textarea></div>`;
  } else {
    body = `<div class="field field-json"><label class="name">fields <span class="muted small">(no schema: JSON object, optional)</span></label><textarea rows="2" spellcheck="false" data-kind="extra" placeholder="{ }"></textarea></div>`;
  }
  return `<form class="event-form" data-type="${esc(type)}" novalidate>
    <h3><code>${esc(type)}</code>${schema ? '' : ' <span class="muted small">no schema</span>'}</h3>
    <div class="fields">${body}</div>
    <div class="form-actions"><button type="submit" class="send-event">Send ${esc(type)}</button><span class="form-result" role="status"></span></div>
  </form>`;
}

/** The forms for `accepts.events`, or a note why there are none (`status`: the task's). */
export function eventFormsHtml(accepts, status) {
  if (!accepts?.events?.length) {
    const why =
      status !== 'active'
        ? `The task is ${status}: it takes no more events.`
        : accepts?.source === 'none' || !accepts
          ? 'No process registered this machine: its events are unknown, send one as JSON below.'
          : 'The current state accepts no events.';
    return `<p class="muted small" id="forms-none">${esc(why)}</p>`;
  }
  return accepts.events.map(eventFormHtml).join('');
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: not JSON (${err.message})`);
  }
}

/** The event a filled form describes, `type` included. Throws a readable Error for a JSON field that does not parse. */
export function readEventForm(form) {
  const type = form.dataset.type;
  let event = { type };
  for (const el of form.querySelectorAll('[data-kind]')) {
    const name = el.dataset.field;
    const required = el.dataset.required === 'true';
    const kind = el.dataset.kind;
    if (kind === 'const') event[name] = JSON.parse(el.dataset.value);
    else if (kind === 'string') {
      if (el.value !== '' || required) event[name] = el.value;
    } else if (kind === 'number') {
      if (el.value !== '') event[name] = Number(el.value);
    } else if (kind === 'boolean') event[name] = el.checked;
    else if (kind === 'enum') {
      if (el.value !== '') event[name] = JSON.parse(el.value);
    } else if (kind === 'json') {
      if (el.value.trim() !== '') event[name] = parseJson(el.value, name);
    } else if (kind === 'event' || kind === 'extra') {
      if (el.value.trim() === '') continue;
      const v = parseJson(el.value, kind === 'event' ? 'event' : 'fields');
      if (!isObj(v)) throw new Error(`${kind === 'event' ? 'event' : 'fields'}: a JSON object, please`);
      event = { ...event, ...v, type };
    }
  }
  return event;
}

/** What the page says once the server answered a send. */
export function sentText(event, r) {
  return r.applied === false ? `queued ${event.type} (${r.entryId}): ${r.reason ?? 'not applied yet'}` : `applied ${event.type} (${r.entryId})`;
}

/**
 * Submit the forms in `container` through `send(event)` (a promise of the
 * server's answer); the confirmation or the error goes next to the form's
 * button (or to `fallback` when the form was redrawn meanwhile: the state moved on).
 */
export function wireEventForms(container, send, fallback) {
  container.addEventListener('submit', async (e) => {
    const form = e.target.closest('form.event-form');
    if (!form) return;
    e.preventDefault();
    const button = form.querySelector('button.send-event');
    const say = (text, ok) => {
      const out = form.isConnected ? form.querySelector('.form-result') : fallback;
      out.textContent = text;
      out.classList.toggle('ok-text', ok);
      out.classList.toggle('error-text', !ok);
    };
    let event;
    try {
      event = readEventForm(form);
    } catch (err) {
      say(err.message, false);
      return;
    }
    button.disabled = true;
    say('sending…', true);
    form.dataset.pending = 'true';
    try {
      say(sentText(event, await send(event)), true);
    } catch (err) {
      say(err.message, false);
    } finally {
      button.disabled = false;
      delete form.dataset.pending;
    }
  });
}
