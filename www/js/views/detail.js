/*
 * The task detail dialog: parameters, result (a view per type), error,
 * captured worker output, attempts, timestamps and durations, with cancel
 * and retry.  A native <dialog> opened with showModal() traps focus and
 * closes on Escape.  While the task is not finished the dialog follows it
 * on every refresh; it is rebuilt only when the task's JSON changed.
 */

import * as api from '../api.js';
import {
	$, el, badge, timeEl, fmtRelative, fmtDuration, fmtBytes, fmtNumber,
	between, shortId, isUuid, FINAL,
} from '../dom.js';

function section(title, ...content) {
	return el('section', { class: 'detail-section' }, el('h3', null, title), ...content);
}

function pretty(value) {
	return el('pre', { class: 'code' }, JSON.stringify(value, null, 2));
}

/* A definition list from [label, value] pairs; null values are left out. */
function facts(pairs) {
	const dl = el('dl', { class: 'facts' });
	for (const [k, v] of pairs) {
		if (v === null || v === undefined)
			continue;
		dl.append(el('div', null, el('dt', null, k), el('dd', null, v)));
	}
	return dl;
}

function timeFact(iso) {
	if (!iso)
		return null;
	return el('span', null, timeEl(iso), ' ', el('span', { class: 'muted' }, `(${fmtRelative(iso)})`));
}

function paramValue(v) {
	if (typeof v === 'string') {
		if (v === '')
			return el('span', { class: 'muted' }, '(empty)');
		if (v.includes('\n') || v.length > 80)
			return el('pre', { class: 'code' }, v);
		return el('span', { class: 'value' }, v);
	}
	if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
		return el('span', { class: 'value' }, v.join(', '));
	return el('code', null, JSON.stringify(v));
}

/* data_processing: rows, bytes and a table of column statistics. */
function csvResult(r) {
	const num = (v) => (typeof v === 'number' ? fmtNumber(Math.round(v * 1000) / 1000) : '–');
	const cols = Array.isArray(r.columns) ? r.columns : [];
	const table = el('table', { class: 'stats-table' },
	    el('caption', { class: 'visually-hidden' }, 'Column statistics'),
	    el('thead', null, el('tr', null,
		...['Column', 'Type', 'Non-empty', 'Empty', 'Min', 'Max', 'Mean', 'Std dev'].map(
		    (h, i) => el('th', { scope: 'col', class: i > 1 ? 'num' : null }, h)))),
	    el('tbody', null, cols.map((c) => el('tr', null,
		el('th', { scope: 'row' }, String(c.name ?? '')),
		el('td', null, String(c.type ?? '')),
		el('td', { class: 'num' }, fmtNumber(c.non_empty)),
		el('td', { class: 'num' }, fmtNumber(c.empty)),
		el('td', { class: 'num' }, num(c.min)),
		el('td', { class: 'num' }, num(c.max)),
		el('td', { class: 'num' }, num(c.mean)),
		el('td', { class: 'num' }, num(c.stddev))))));
	return [
		facts([
			['Rows', fmtNumber(r.rows)],
			['Columns', fmtNumber(cols.length)],
			['Ragged rows', fmtNumber(r.ragged_rows)],
			['Input', fmtBytes(r.bytes)],
		]),
		el('div', { class: 'table-wrap' }, table),
	];
}

/* image_processing: the output image, its size and a download link. */
function imageResult(r) {
	if (!isUuid(r.output_file_id))
		return [pretty(r)];
	const url = api.fileUrl(r.output_file_id);
	const what = `${r.width ?? '?'}×${r.height ?? '?'} ${r.format ?? ''}`.trim();
	return [
		el('figure', { class: 'preview' },
		    el('img', { src: url, alt: `Output image, ${what}`, loading: 'lazy', decoding: 'async' }),
		    el('figcaption', null, `${what}, ${fmtBytes(r.bytes)}`)),
		el('p', null, el('a', {
			class: 'btn', href: url,
			download: `taskq-${shortId(r.output_file_id)}.${r.format || 'img'}`,
		}, 'Download image')),
	];
}

/* email: the delivery outcome. */
function emailResult(r) {
	const n = r.recipients;
	return [
		el('p', { class: 'outcome' }, `Delivered via ${r.transport ?? 'unknown transport'} to ${fmtNumber(n)} recipient${n === 1 ? '' : 's'}.`),
		facts([['Message-ID', r.message_id ? el('code', null, String(r.message_id)) : null]]),
	];
}

const RESULT_VIEWS = {
	data_processing: csvResult,
	image_processing: imageResult,
	email: emailResult,
};

export class DetailView {
	/* actions: {cancel(id), retry(id), open(id), toast()} */
	constructor(actions) {
		this.actions = actions;
		this.dialog = $('#detail');
		this.body = $('#detail-body');
		this.title = $('#detail-title');
		this.task = null;
		this.json = '';
		this.id = null;
		$('#detail-close').addEventListener('click', () => this.dialog.close());
		/* A click on the backdrop (outside the dialog box) closes it too. */
		this.dialog.addEventListener('click', (e) => {
			if (e.target === this.dialog) {
				const r = this.dialog.getBoundingClientRect();
				if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom)
					this.dialog.close();
			}
		});
		this.dialog.addEventListener('close', () => {
			/* The event comes a task after the closing: the dialog may be
			 * open again by then, on another task, which must stay. */
			if (this.dialog.open)
				return;
			this.id = null;
			this.task = null;
			this.json = '';
			if (this.returnFocus && this.returnFocus.isConnected)
				this.returnFocus.focus();
		});
	}

	get isOpen() {
		return this.dialog.open;
	}

	async open(id) {
		if (!this.dialog.open)
			this.returnFocus = document.activeElement;
		this.id = id;
		this.json = '';
		this.title.textContent = `Task ${shortId(id)}`;
		this.body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
		if (!this.dialog.open)
			this.dialog.showModal();
		try {
			this.show(await api.getTask(id));
		} catch (e) {
			if (this.id === id)
				this.body.replaceChildren(el('p', { class: 'form-error' },
				    e.status === 404 ? 'This task no longer exists.' : `Could not load the task: ${e.detail || e.message}`));
		}
	}

	/* Follows an unfinished task; called by the refresh loop. */
	async refresh() {
		if (!this.dialog.open || !this.id || (this.task && FINAL.has(this.task.status)))
			return;
		const id = this.id;
		const t = await api.getTask(id);
		if (this.id === id)
			this.show(t);
	}

	/* Shows t if it is the open task and differs from what is shown. */
	show(t) {
		if (!this.dialog.open || t.id !== this.id)
			return;
		const json = JSON.stringify(t);
		if (json === this.json)
			return;
		this.json = json;
		this.task = t;
		const hadFocus = document.activeElement && this.body.contains(document.activeElement);
		const focusKey = hadFocus ? document.activeElement.dataset.key : null;
		const scroll = this.body.scrollTop;
		this.title.textContent = `${t.task_type} · ${shortId(t.id)}`;
		this.body.replaceChildren(...this.render(t));
		this.body.scrollTop = scroll;
		if (hadFocus) {
			/* Keep the keyboard user's place; a button that went away
			 * (Cancel, once the task finished) hands focus to Close. */
			const f = focusKey ? this.body.querySelector(`[data-key="${focusKey}"]`) : null;
			(f || $('#detail-close')).focus();
		}
	}

	render(t) {
		const now = Date.now();
		const out = [];
		const actions = el('div', { class: 'detail-actions' }, badge(t.status));
		if (t.status === 'PENDING' || t.status === 'RUNNING')
			actions.append(el('button', { type: 'button', class: 'btn btn-danger', 'data-key': 'cancel', onclick: () => this.actions.cancel(t.id) }, 'Cancel task'));
		if (t.status === 'FAILED' || t.status === 'CANCELLED')
			actions.append(el('button', { type: 'button', class: 'btn btn-primary', 'data-key': 'retry', onclick: () => this.actions.retry(t.id) }, 'Retry task'));
		out.push(actions);

		if (t.status === 'RUNNING' || t.status === 'PENDING') {
			const p = Number.isFinite(t.progress) ? t.progress : 0;
			out.push(el('div', { class: 'detail-progress' },
			    el('progress', { max: '100', value: String(p), 'aria-label': `Progress ${p}%` }),
			    el('span', { class: 'pct' }, `${p}%`)));
		}

		if (t.error_message)
			out.push(section('Error', el('pre', { class: 'code error-text' }, t.error_message)));

		if (t.result_data && typeof t.result_data === 'object') {
			const view = RESULT_VIEWS[t.task_type];
			let content;
			try {
				content = view ? view(t.result_data) : [pretty(t.result_data)];
			} catch {
				content = [pretty(t.result_data)];
			}
			out.push(section('Result', ...content));
		}

		const waited = t.started_at ? between(t.run_at && t.run_at > t.created_at ? t.run_at : t.created_at, t.started_at) : NaN;
		const ran = t.started_at ? between(t.started_at, t.completed_at, now) : NaN;
		const attempts = Number.isFinite(t.attempt) ?
		    `${t.attempt}${Number.isFinite(t.max_attempts) ? ` of ${t.max_attempts}` : ''}` : null;
		out.push(section('Details', facts([
			['Id', el('code', { class: 'mono' }, t.id)],
			['Type', t.task_type],
			['Status', t.status],
			['Progress', `${t.progress ?? 0}%`],
			['Attempt', attempts],
			['Priority', Number.isFinite(t.priority) ? String(t.priority) : null],
			['Timeout', Number.isFinite(t.timeout_s) ? fmtDuration(t.timeout_s * 1000) : null],
			['Created', timeFact(t.created_at)],
			['Run at', t.run_at && t.run_at !== t.created_at ? timeFact(t.run_at) : null],
			['Started', timeFact(t.started_at)],
			['Completed', timeFact(t.completed_at)],
			['Updated', t.updated_at && !FINAL.has(t.status) ? timeFact(t.updated_at) : null],
			['Waited', Number.isNaN(waited) ? null : fmtDuration(waited)],
			[FINAL.has(t.status) ? 'Ran' : 'Running for', Number.isNaN(ran) ? null : fmtDuration(ran)],
			['Retry of', isUuid(t.retry_of) ? el('button', {
				type: 'button', class: 'link mono', 'data-key': 'retry-of',
				onclick: () => this.actions.open(t.retry_of),
			}, t.retry_of) : null],
		])));

		const params = t.parameters && typeof t.parameters === 'object' ? Object.entries(t.parameters) : [];
		out.push(section('Parameters', params.length ?
		    facts(params.map(([k, v]) => [k, paramValue(v)])) :
		    el('p', { class: 'muted' }, 'None.')));

		if (typeof t.worker_output === 'string' && t.worker_output !== '')
			out.push(section('Worker output', el('pre', { class: 'code output' }, t.worker_output)));
		return out;
	}
}
