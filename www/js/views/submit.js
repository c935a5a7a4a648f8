/*
 * The submit form, generated from GET /api/task-types: one control per
 * declared parameter, chosen from its schema (enum: a select, boolean: a
 * checkbox, integer: a number, format uuid: a file upload, email lists: a
 * comma-separated field, long strings: a textarea), so a new type appears
 * without UI changes.  Client-side checks mirror the schema and its rules;
 * the server stays the judge, and its 422 is shown beside the field it
 * names.  Files are uploaded through POST /api/files first.
 */

import * as api from '../api.js';
import { $, el, setText, setClass, shortId, randomKey } from '../dom.js';

/* Top-level submit fields (API.md "Submit also accepts"); not part of a type's schema. */
const ADVANCED = [
	{ name: 'priority', label: 'Priority', schema: { type: 'integer', minimum: -100, maximum: 100, default: 0, description: 'Higher runs first (-100 to 100).' } },
	{ name: 'run_at', label: 'Start at', schema: { type: 'string', format: 'date-time', description: 'Not started before this local time.' } },
	{ name: 'max_attempts', label: 'Max attempts', schema: { type: 'integer', minimum: 1, maximum: 25, description: 'Automatic retries of temporary failures (1 to 25). Empty: the type\'s default.' } },
	{ name: 'timeout_s', label: 'Timeout (s)', schema: { type: 'integer', minimum: 1, maximum: 86400, description: 'Seconds before the run is stopped (1 to 86,400). Empty: the type\'s default.' } },
];

/* Deliberately lenient, like the browser's own check; the server's is exact. */
const EMAIL_RE = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;
const NO_NEWLINES = '^[^\\r\\n]*$';

function safeId(s) {
	return s.replace(/[^A-Za-z0-9_-]/g, '_');
}

function isList(schema) {
	return Array.isArray(schema.type) && schema.type.includes('array');
}

function isEmail(schema) {
	return schema.format === 'email' || (schema.items && schema.items.format === 'email');
}

function label(name) {
	return name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

const chars = (s) => [...s].length;
const plural = (n, w) => `${n.toLocaleString()} ${w}${n === 1 ? '' : 's'}`;

/*
 * One form field: its control, how to read its value and how to check it.
 * read() returns undefined when the field is not to be sent.
 */
class Field {
	constructor(prefix, name, schema, text) {
		this.name = name;
		this.schema = schema;
		this.id = `${prefix}-${safeId(name)}`;
		this.file = null;	/* {file, id}: the last upload, reused while the file is the same */
		const s = schema;
		const required = s.required === true;
		const hintId = `${this.id}-hint`;
		this.error = el('p', { class: 'field-error hidden', id: `${this.id}-error` });
		const describedBy = `${hintId} ${this.error.id}`;
		let control;

		if (Array.isArray(s.enum)) {
			this.kind = 'enum';
			control = el('select', { id: this.id, name, 'aria-describedby': describedBy },
			    required ? null : el('option', { value: '' },
				s.default !== undefined ? `Default (${s.default})` : 'Not set'),
			    s.enum.map((v) => el('option', { value: v }, String(v))));
		} else if (s.type === 'boolean') {
			this.kind = 'boolean';
			control = el('input', { type: 'checkbox', id: this.id, name, 'aria-describedby': describedBy });
			control.checked = s.default === true;
		} else if (s.type === 'integer' || s.type === 'number') {
			this.kind = 'number';
			control = el('input', {
				type: 'number', id: this.id, name, inputmode: 'numeric',
				min: s.minimum, max: s.maximum, step: s.type === 'integer' ? '1' : 'any',
				placeholder: s.default !== undefined ? String(s.default) : null,
				'aria-describedby': describedBy,
			});
		} else if (s.format === 'uuid') {
			this.kind = 'file';
			const desc = `${name} ${s.description || ''}`;
			control = el('input', {
				type: 'file', id: this.id, name,
				accept: /image/i.test(desc) ? 'image/*' : /csv/i.test(desc) ? '.csv,.tsv,.txt,text/csv,text/plain' : null,
				'aria-describedby': describedBy,
			});
		} else if (s.format === 'date-time') {
			this.kind = 'datetime';
			control = el('input', { type: 'datetime-local', id: this.id, name, step: '1', 'aria-describedby': describedBy });
		} else if (s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object')) ||
		    (s.type === 'array' && !isEmail(s))) {
			/* Structured values a future type may declare: typed as JSON. */
			this.kind = 'json';
			control = el('textarea', { id: this.id, name, rows: '3', spellcheck: 'false', placeholder: s.type === 'array' ? '["a", "b"]' : '{"key": "value"}', 'aria-describedby': describedBy });
		} else if (isEmail(s)) {
			this.kind = isList(s) ? 'emails' : 'email';
			control = el('input', {
				type: 'text', id: this.id, name, inputmode: 'email', autocomplete: 'off',
				spellcheck: 'false',
				placeholder: isList(s) ? 'name@example.com, other@example.org' : 'name@example.com',
				'aria-describedby': describedBy,
			});
		} else {
			this.kind = 'string';
			const max = s.maxLength ?? s.maxBytes ?? Infinity;
			if (max > 200 && s.pattern !== NO_NEWLINES)
				control = el('textarea', { id: this.id, name, rows: name === 'csv' || max > 100000 ? '5' : '3', spellcheck: 'false', 'aria-describedby': describedBy });
			else
				control = el('input', {
					type: 'text', id: this.id, name, autocomplete: 'off',
					maxlength: s.maxLength, size: s.maxLength === 1 ? '3' : null,
					placeholder: s.default !== undefined ? String(s.default) : null,
					'aria-describedby': describedBy,
				});
		}
		if (required)
			control.setAttribute('aria-required', 'true');
		this.control = control;
		control.addEventListener('input', () => this.setError(null));
		control.addEventListener('change', () => this.setError(null));

		const lab = el('label', { for: this.id }, text || label(name),
		    required ? el('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
		const hint = el('p', { class: 'hint', id: hintId }, s.description || '');
		if (this.kind === 'boolean')
			this.node = el('div', { class: 'field field-check' }, el('div', { class: 'check' }, control, lab), hint, this.error);
		else
			this.node = el('div', { class: 'field' }, lab, control, hint, this.error);
	}

	setError(msg) {
		setText(this.error, msg || '');
		setClass(this.error, 'hidden', !msg);
		setClass(this.node, 'invalid', Boolean(msg));
		if (msg)
			this.control.setAttribute('aria-invalid', 'true');
		else
			this.control.removeAttribute('aria-invalid');
	}

	/* Whether the field will be sent (what the cross-field rules look at). */
	present() {
		const c = this.control;
		switch (this.kind) {
		case 'boolean':
			return this.read().value !== undefined;
		case 'file':
			return c.files.length > 0;
		case 'string':
			return this.schema.required === true || c.value !== '';
		default:
			return c.value.trim() !== '';
		}
	}

	/* {value} to send (value undefined: leave out) or {error}. */
	read() {
		const s = this.schema;
		const c = this.control;
		const required = s.required === true;
		switch (this.kind) {
		case 'boolean':
			if (s.default !== undefined)
				return { value: c.checked === s.default ? undefined : c.checked };
			return { value: required || c.checked ? c.checked : undefined };
		case 'enum':
			if (c.value === '')
				return required ? { error: 'Choose a value.' } : { value: undefined };
			return { value: c.value };
		case 'number': {
			const v = c.value.trim();
			if (v === '') {
				/* A half-typed number reads as '' but is flagged by the browser. */
				if (c.validity && c.validity.badInput)
					return { error: 'Enter a number.' };
				return required ? { error: 'Required.' } : { value: undefined };
			}
			const n = Number(v);
			if (!Number.isFinite(n))
				return { error: 'Enter a number.' };
			if (s.type === 'integer' && !Number.isInteger(n))
				return { error: 'Enter a whole number.' };
			if (s.minimum !== undefined && n < s.minimum)
				return { error: `At least ${s.minimum.toLocaleString()}.` };
			if (s.maximum !== undefined && n > s.maximum)
				return { error: `At most ${s.maximum.toLocaleString()}.` };
			return { value: n };
		}
		case 'datetime': {
			if (c.value === '')
				return required ? { error: 'Required.' } : { value: undefined };
			const t = new Date(c.value);
			if (Number.isNaN(t.getTime()))
				return { error: 'Enter a date and time.' };
			return { value: t.toISOString() };
		}
		case 'file':
			if (c.files.length === 0)
				return required ? { error: 'Choose a file.' } : { value: undefined };
			return { value: c.files[0], upload: true };
		case 'json': {
			const v = c.value.trim();
			if (v === '')
				return required ? { error: 'Required.' } : { value: undefined };
			try {
				return { value: JSON.parse(v) };
			} catch {
				return { error: 'Enter valid JSON.' };
			}
		}
		case 'email': {
			const v = c.value.trim();
			if (v === '')
				return required ? { error: 'Required.' } : { value: undefined };
			if (!EMAIL_RE.test(v))
				return { error: 'Enter one address like name@example.com.' };
			if (s.maxLength && chars(v) > s.maxLength)
				return { error: `At most ${plural(s.maxLength, 'character')}.` };
			return { value: v };
		}
		case 'emails': {
			const list = c.value.split(/[,;\s]+/).filter(Boolean);
			const min = s.minItems ?? 0;
			const max = s.maxItems ?? Infinity;
			if (list.length === 0)
				return required ? { error: 'Give at least one address.' } : { value: undefined };
			if (list.length < min)
				return { error: `Give at least ${plural(min, 'address')}.` };
			if (list.length > max)
				return { error: `At most ${plural(max, 'address')}.` };
			const bad = list.find((a) => !EMAIL_RE.test(a));
			if (bad !== undefined)
				return { error: `“${bad}” is not an address like name@example.com.` };
			return { value: list.length === 1 ? list[0] : list };
		}
		default: {
			const v = c.value;
			if (v === '' && !required)
				return { value: undefined };
			if (s.minLength !== undefined && chars(v) < s.minLength)
				return { error: v === '' ? 'Required.' : `At least ${plural(s.minLength, 'character')}.` };
			if (s.maxLength !== undefined && chars(v) > s.maxLength)
				return { error: `At most ${plural(s.maxLength, 'character')} (now ${chars(v).toLocaleString()}).` };
			if (s.maxBytes !== undefined && new TextEncoder().encode(v).length > s.maxBytes)
				return { error: `At most ${plural(s.maxBytes, 'byte')} of UTF-8.` };
			if (s.pattern === NO_NEWLINES && /[\r\n]/.test(v))
				return { error: 'One line only: no line breaks.' };
			if (s.pattern && s.pattern !== NO_NEWLINES) {
				try {
					if (!new RegExp(s.pattern, 'u').test(v))
						return { error: 'Not in the expected form.' };
				} catch {
					/* A pattern this browser cannot compile: leave it to the server. */
				}
			}
			return { value: v };
		}
		}
	}

	/* Uploads the chosen file once; returns its id. */
	async upload(file) {
		if (this.file && this.file.file === file)
			return this.file.id;
		const r = await api.uploadFile(file);
		this.file = { file, id: r.id };
		return r.id;
	}

	focus() {
		this.control.focus();
	}
}

/* The form of one task type. */
class TypeForm {
	constructor(type) {
		this.type = type;
		const prefix = `p-${safeId(type.name)}`;
		const params = type.parameters && typeof type.parameters === 'object' ? type.parameters : {};
		this.fields = Object.entries(params).map(([name, schema]) => new Field(prefix, name, schema || {}));
		this.rules = Array.isArray(type.rules) ? type.rules : [];
		const ruleText = this.rules.map((r) => r.description).filter(Boolean);
		this.node = el('div', { class: 'type-form' },
		    ruleText.length ? el('p', { class: 'hint rules' }, ruleText.join(' ')) : null,
		    this.fields.map((f) => f.node));
	}

	field(name) {
		return this.fields.find((f) => f.name === name);
	}

	/* Cross-field rules; returns [[fieldName, message], ...]. */
	checkRules() {
		const errs = [];
		const has = (n) => {
			const f = this.field(n);
			return f ? f.present() : false;
		};
		for (const r of this.rules) {
			if (Array.isArray(r.exactly_one_of)) {
				const n = r.exactly_one_of.filter(has).length;
				if (n !== 1)
					for (const name of r.exactly_one_of)
						if (n === 0 || has(name))
							errs.push([name, r.description || `Give exactly one of ${r.exactly_one_of.join(', ')}.`]);
			} else if (Array.isArray(r.at_least_one_of)) {
				if (!r.at_least_one_of.some(has))
					for (const name of r.at_least_one_of)
						errs.push([name, r.description || `Give at least one of ${r.at_least_one_of.join(', ')}.`]);
			} else if (typeof r.param === 'string' && Array.isArray(r.requires_all_of)) {
				if (has(r.param) && !r.requires_all_of.every(has))
					errs.push([r.param, r.description || `Only with ${r.requires_all_of.join(' and ')}.`]);
			}
		}
		return errs;
	}
}

export class SubmitView {
	/* actions: {submitted(task), open(id), toast()} */
	constructor(actions) {
		this.actions = actions;
		this.form = $('#submit-form');
		this.typeSel = $('#submit-type');
		this.typeDesc = $('#submit-type-desc');
		this.params = $('#submit-params');
		this.advanced = $('#submit-advanced');
		this.error = $('#submit-error');
		this.status = $('#submit-status');
		this.button = $('#submit-button');
		this.pausedNote = $('#submit-paused');
		this.paused = null;
		this.forms = new Map();		/* type name -> TypeForm, kept so values survive switching */
		this.types = [];
		this.pending = null;		/* {body, key} of a submit whose answer was lost */

		this.adv = ADVANCED.map((a) => new Field('adv', a.name, a.schema, a.label));
		$('#submit-advanced-fields').append(el('div', { class: 'adv-grid' }, this.adv.map((f) => f.node)));

		this.typeSel.addEventListener('change', () => this.showType(this.typeSel.value));
		this.form.addEventListener('submit', (e) => {
			e.preventDefault();
			this.submit();
		});
		this.form.addEventListener('reset', () => {
			/* After the browser has reset the controls. */
			setTimeout(() => {
				this.forms.clear();
				this.typeSel.value = this.selected || '';
				this.showType(this.typeSel.value);
				for (const f of this.adv)
					f.setError(null);
				this.setFormError(null);
				setText(this.status, '');
			});
		});
	}

	get current() {
		return this.forms.get(this.typeSel.value) || null;
	}

	/* Called with GET /api/task-types whenever it is (re)loaded. */
	setTypes(types) {
		const names = types.map((t) => t.name).join('\n');
		if (names === this.types.map((t) => t.name).join('\n'))
			return;
		this.types = types;
		const keep = this.typeSel.value;
		this.typeSel.replaceChildren(...types.map((t) => el('option', { value: t.name }, t.name)));
		this.typeSel.disabled = types.length === 0;
		this.button.disabled = types.length === 0;
		if (types.some((t) => t.name === keep))
			this.typeSel.value = keep;
		this.forms.clear();
		this.showType(this.typeSel.value);
	}

	showType(name) {
		const type = this.types.find((t) => t.name === name);
		if (!type) {
			this.params.replaceChildren();
			setText(this.typeDesc, '');
			return;
		}
		let f = this.forms.get(name);
		if (!f) {
			f = new TypeForm(type);
			this.forms.set(name, f);
		}
		this.selected = name;
		setText(this.typeDesc, type.description || '');
		this.showPaused();
		this.params.replaceChildren(f.node);
		this.setFormError(null);
	}

	/* The types paused now (from the overview): said under the type picker. */
	setPaused(set) {
		this.paused = set;
		this.showPaused();
	}

	showPaused() {
		const on = Boolean(this.paused && this.paused.has(this.typeSel.value));
		setText(this.pausedNote, on ? 'This type is paused: its tasks are queued but not started until it is resumed.' : '');
		setClass(this.pausedNote, 'hidden', !on);
	}

	setFormError(msg) {
		setText(this.error, msg || '');
		setClass(this.error, 'hidden', !msg);
	}

	/* Shows a server error beside the field it names ("parameters.to", "priority"), else above the buttons. */
	showServerError(e) {
		const tf = this.current;
		let name = e.field || '';
		if (!name) {
			const m = /^(parameters\.[A-Za-z0-9_]+|priority|run_at|max_attempts|timeout_s)\b/.exec(e.detail || '');
			if (m)
				name = m[1];
		}
		let field = null;
		if (name.startsWith('parameters.') && tf)
			field = tf.field(name.slice('parameters.'.length).split(/[.[]/)[0]);
		else
			field = this.adv.find((f) => f.name === name) || null;
		if (field) {
			if (this.adv.includes(field))
				this.advanced.open = true;
			field.setError(e.detail);
			field.focus();
			this.setFormError(null);
		} else
			this.setFormError(e.detail || e.message);
	}

	async submit() {
		const tf = this.current;
		if (!tf)
			return;
		this.setFormError(null);
		setText(this.status, '');

		/* Client-side checks first, every field, then the rules. */
		const values = [];
		let first = null;
		for (const f of [...tf.fields, ...this.adv]) {
			const r = f.read();
			f.setError(r.error || null);
			if (r.error && !first)
				first = f;
			values.push([f, r]);
		}
		if (!first) {
			for (const [name, msg] of tf.checkRules()) {
				const f = tf.field(name);
				if (f) {
					f.setError(msg);
					first = first || f;
				}
			}
		}
		if (first) {
			if (this.adv.includes(first))
				this.advanced.open = true;
			first.focus();
			this.setFormError('Please correct the marked fields.');
			return;
		}

		this.button.disabled = true;
		this.form.setAttribute('aria-busy', 'true');
		try {
			const body = { task_type: tf.type.name, parameters: {} };
			for (const [f, r] of values) {
				if (r.value === undefined)
					continue;
				let v = r.value;
				if (r.upload) {
					setText(this.status, `Uploading ${v.name}…`);
					try {
						v = await f.upload(v);
					} catch (e) {
						f.setError(e.status === 413 ? `The file is too large: ${e.detail}` : `Upload failed: ${e.detail || e.message}`);
						f.focus();
						setText(this.status, '');
						return;
					}
				}
				if (this.adv.includes(f))
					body[f.name] = v;
				else
					body.parameters[f.name] = v;
			}
			setText(this.status, 'Submitting…');
			const text = JSON.stringify(body);
			/* Resend an unanswered submit with its key, so it is created once. */
			const key = this.pending && this.pending.text === text ? this.pending.key : randomKey();
			this.pending = { text, key };
			let task;
			try {
				task = await api.submitTask(body, key);
			} catch (e) {
				if (!e.transient)
					this.pending = null;
				setText(this.status, '');
				if (e.status === 422 || e.status === 400 || e.status === 413 || e.status === 415)
					this.showServerError(e);
				else
					this.setFormError(`Not submitted: ${e.detail || e.message}${e.transient ? ' Try again; a repeated submit creates the task only once.' : ''}`);
				return;
			}
			this.pending = null;
			setText(this.status, '');
			this.status.append(`Submitted ${task.task_type} task ${shortId(task.id)} (${task.status}). `,
			    el('button', { type: 'button', class: 'link', onclick: () => this.actions.open(task.id) }, 'View it'));
			this.actions.submitted(task);
		} finally {
			this.button.disabled = false;
			this.form.removeAttribute('aria-busy');
		}
	}
}
