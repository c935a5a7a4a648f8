/*
 * The task list: filters, search, newest-first rows, "load more" through
 * the cursor, per-row cancel/retry, bulk actions on the current filter.
 *
 * Rows are kept in a map id -> {tr, json, cells}.  A refresh fetches the
 * first page again and touches only what changed: a row whose JSON is the
 * same is skipped, a changed row rewrites only the cells whose text
 * differs, and rows are moved only when their order is wrong.  So a refresh
 * in which nothing happened costs one request and no DOM writes.
 */

import * as api from '../api.js';
import {
	$, el, setText, setAttr, setClass, setBadge, fmtLocal, fmtUTC, fmtRelative, fmtShortLocal,
	fmtDuration, between, parseTime, shortId, STATUSES, FINAL,
} from '../dom.js';

const CANCELLABLE = new Set(['PENDING', 'RUNNING']);
const RETRYABLE = new Set(['FAILED', 'CANCELLED']);
const SUMMARY_MAX = 160;

/*
 * One line that tells tasks apart in the list: the message, the subject
 * and recipients, the input, or else the parameters as JSON.  Generic on
 * purpose: a new type shows something useful without UI changes.
 */
export function summarize(task) {
	const p = task.parameters && typeof task.parameters === 'object' ? task.parameters : {};
	let s;
	if (typeof p.subject === 'string')
		s = `${p.subject} → ${[].concat(p.to ?? []).join(', ')}`;
	else if (typeof p.message === 'string')
		s = p.message === '' ? '(empty message)' : p.message;
	else if (typeof p.csv === 'string')
		s = `CSV: ${p.csv.split('\n', 1)[0]}`;
	else if (typeof p.file_id === 'string') {
		const size = [p.width, p.height].filter((v) => v !== undefined).join('×');
		s = `file ${shortId(p.file_id)}${size ? ` → ${size}` : ''}${p.format ? ` ${p.format}` : ''}`;
	} else
		s = JSON.stringify(p);
	s = s.replace(/\s+/g, ' ');
	return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s;
}

/* The duration column: queued, running for, ran for. */
function durationText(t, now) {
	if (t.status === 'PENDING') {
		const runAt = parseTime(t.run_at);
		if (!Number.isNaN(runAt) && runAt > now)
			return `starts ${fmtRelative(t.run_at, now)}`;
		return `queued ${fmtDuration(between(t.created_at, null, now))}`;
	}
	if (!t.started_at)
		return '–';
	return fmtDuration(between(t.started_at, t.completed_at, now));
}

export class ListView {
	/* actions: {open(id), cancel(id), retry(id), confirm(), toast(), changed()} */
	constructor(actions) {
		this.actions = actions;
		this.tbody = $('#task-rows');
		this.rows = new Map();		/* id -> row */
		this.filter = { status: '', task_type: '', q: '', limit: 50 };
		this.cursor = null;		/* next page after the rows shown */
		this.generation = 0;		/* bumps on filter change; late answers are dropped */
		this.loaded = false;
		this.inflight = null;

		this.form = $('#filters');
		this.statusSel = $('#filter-status');
		this.typeSel = $('#filter-type');
		this.qInput = $('#filter-q');
		this.limitSel = $('#filter-limit');
		this.more = $('#load-more');
		this.empty = $('#tasks-empty');
		this.summary = $('#tasks-summary');

		for (const s of STATUSES)
			this.statusSel.append(el('option', { value: s }, s));
		this.readLocation();

		this.statusSel.addEventListener('change', () => this.setFilter({ status: this.statusSel.value }));
		this.typeSel.addEventListener('change', () => this.setFilter({ task_type: this.typeSel.value }));
		this.limitSel.addEventListener('change', () => this.setFilter({ limit: Number(this.limitSel.value) }));
		let debounce = null;
		this.qInput.addEventListener('input', () => {
			clearTimeout(debounce);
			debounce = setTimeout(() => this.setFilter({ q: this.qInput.value.trim() }), 300);
		});
		this.form.addEventListener('submit', (e) => {
			e.preventDefault();
			clearTimeout(debounce);
			this.setFilter({ q: this.qInput.value.trim() });
		});
		this.more.addEventListener('click', () => this.loadMore());
		$('#bulk-retry').addEventListener('click', () => this.bulk('retry'));
		$('#bulk-cancel').addEventListener('click', () => this.bulk('cancel'));

		const title = (e) => {
			const t = e.target.closest && e.target.closest('time[datetime]');
			if (t && !t.title)
				t.title = `${fmtLocal(t.dateTime)} (${fmtUTC(t.dateTime)})`;
		};
		this.tbody.addEventListener('pointerover', title);
		this.tbody.addEventListener('focusin', title);

		/* One delegated listener for every row's buttons. */
		this.tbody.addEventListener('click', (e) => {
			const b = e.target.closest('button[data-action]');
			const tr = b && b.closest('tr');
			if (!tr)
				return;
			const id = tr.dataset.id;
			if (b.dataset.action === 'open')
				this.actions.open(id);
			else if (b.dataset.action === 'cancel')
				this.actions.cancel(id);
			else if (b.dataset.action === 'retry')
				this.actions.retry(id);
		});
	}

	/* The filter kept in the URL (?status=&task_type=&q=&limit=), so a view can be bookmarked. */
	readLocation() {
		const q = new URLSearchParams(location.search);
		const status = q.get('status') || '';
		if (status === '' || STATUSES.includes(status))
			this.filter.status = status;
		this.filter.task_type = q.get('task_type') || '';
		this.filter.q = q.get('q') || '';
		const limit = Number(q.get('limit'));
		if ([50, 100, 200, 500].includes(limit))
			this.filter.limit = limit;
		this.statusSel.value = this.filter.status;
		this.qInput.value = this.filter.q;
		this.limitSel.value = String(this.filter.limit);
	}

	writeLocation() {
		const q = new URLSearchParams();
		for (const k of ['status', 'task_type', 'q'])
			if (this.filter[k])
				q.set(k, this.filter[k]);
		if (this.filter.limit !== 50)
			q.set('limit', String(this.filter.limit));
		const s = q.toString();
		history.replaceState(null, '', s ? `?${s}` : location.pathname);
	}

	/* Fills the type filter from GET /api/task-types. */
	setTypes(types) {
		const keep = this.filter.task_type;
		this.typeSel.replaceChildren(el('option', { value: '' }, 'All types'),
		    ...types.map((t) => el('option', { value: t.name }, t.name)));
		if (keep && !types.some((t) => t.name === keep))
			this.typeSel.append(el('option', { value: keep }, keep));
		this.typeSel.value = keep;
	}

	setFilter(change) {
		const next = { ...this.filter, ...change };
		if (['status', 'task_type', 'q', 'limit'].every((k) => next[k] === this.filter[k]))
			return;
		this.filter = next;
		this.statusSel.value = next.status;
		this.typeSel.value = next.task_type;
		this.limitSel.value = String(next.limit);
		if (this.qInput.value.trim() !== next.q)
			this.qInput.value = next.q;
		this.writeLocation();
		this.reload().catch(() => {});
	}

	query(extra) {
		const f = this.filter;
		return { status: f.status, task_type: f.task_type, q: f.q, limit: f.limit, ...extra };
	}

	/* Replaces every row with the first page of the current filter. */
	async reload() {
		const gen = ++this.generation;
		this.tbody.setAttribute('aria-busy', 'true');
		let page;
		try {
			page = await api.listTasks(this.query());
		} catch (e) {
			if (gen === this.generation)
				this.showError(e);
			throw e;
		} finally {
			if (gen === this.generation)
				this.tbody.removeAttribute('aria-busy');
		}
		if (gen !== this.generation)
			return;
		const t0 = performance.now();
		this.rows.clear();
		const frag = document.createDocumentFragment();
		const now = Date.now();
		for (const t of page.tasks) {
			const row = this.buildRow(t, now);
			this.rows.set(t.id, row);
			frag.appendChild(row.tr);
		}
		this.tbody.replaceChildren(frag);
		this.cursor = page.next_cursor;
		this.loaded = true;
		this.updateChrome();
		performance.measure('taskq:list-render', { start: t0, detail: { rows: page.tasks.length } });
	}

	/*
	 * Fetches the first page again and merges it: new rows in place,
	 * changed rows updated, rows that no longer match removed.  Returns the
	 * number of rows changed.  Rows beyond the first page (from "load
	 * more") are older and are left as they were.
	 */
	async refresh() {
		if (!this.loaded)
			return this.reload().then(() => 1);
		const gen = this.generation;
		const page = await api.listTasks(this.query());
		if (gen !== this.generation)
			return 0;
		const t0 = performance.now();
		const now = Date.now();
		const seen = new Set();
		let changed = 0;
		let prev = null;
		for (const t of page.tasks) {
			seen.add(t.id);
			let row = this.rows.get(t.id);
			if (!row) {
				row = this.buildRow(t, now);
				this.rows.set(t.id, row);
				changed++;
			} else if (this.updateRow(row, t, now))
				changed++;
			const want = prev ? prev.nextSibling : this.tbody.firstChild;
			if (row.tr !== want)
				this.tbody.insertBefore(row.tr, want);
			prev = row.tr;
		}
		/* Rows newer than the page's last that it no longer holds stopped matching. */
		const last = page.tasks[page.tasks.length - 1];
		const complete = page.next_cursor === null;
		for (const [id, row] of this.rows) {
			if (seen.has(id))
				continue;
			if (complete || (last && row.task.created_at > last.created_at)) {
				row.tr.remove();
				this.rows.delete(id);
				changed++;
			}
		}
		if (this.cursor === null && !complete && this.rows.size <= page.tasks.length)
			this.cursor = page.next_cursor;
		if (changed)
			this.updateChrome();
		performance.measure('taskq:list-refresh', { start: t0, detail: { changed } });
		return changed;
	}

	async loadMore() {
		if (!this.cursor)
			return;
		const gen = this.generation;
		this.more.disabled = true;
		try {
			const page = await api.listTasks(this.query({ cursor: this.cursor }));
			if (gen !== this.generation)
				return;
			const frag = document.createDocumentFragment();
			const now = Date.now();
			for (const t of page.tasks) {
				if (this.rows.has(t.id))
					continue;
				const row = this.buildRow(t, now);
				this.rows.set(t.id, row);
				frag.appendChild(row.tr);
			}
			this.tbody.appendChild(frag);
			this.cursor = page.next_cursor;
			this.updateChrome();
		} catch (e) {
			this.actions.toast(`Could not load more tasks: ${e.detail || e.message}`, 'error');
		} finally {
			this.more.disabled = false;
		}
	}

	/* A filter the server refuses (e.g. from an old bookmark) falls back to all tasks. */
	showError(e) {
		if (e.status === 422) {
			this.actions.toast(`Filter refused: ${e.detail}. Showing all tasks.`, 'error');
			this.setFilter({ status: '', task_type: '', q: '' });
			return;
		}
		this.updateChrome(e);
	}

	updateChrome(err) {
		setClass(this.more, 'hidden', !this.cursor);
		setClass(this.empty, 'hidden', this.rows.size > 0 || !this.loaded);
		const f = this.filter;
		setText(this.empty, f.status || f.task_type || f.q ? 'No tasks match this filter.' :
		    'No tasks yet. Submit one with the form.');
		const what = [f.status, f.task_type, f.q ? `“${f.q}”` : ''].filter(Boolean).join(', ');
		let s = err && !this.loaded ? 'Tasks could not be loaded yet.' :
		    `${this.rows.size}${this.cursor ? '+' : ''} task${this.rows.size === 1 ? '' : 's'}${what ? ` matching ${what}` : ''}`;
		setText(this.summary, s);
	}

	/* Relative times and running durations move with the clock; called every few seconds. */
	tick() {
		const now = Date.now();
		for (const row of this.rows.values()) {
			setText(row.rel, fmtRelative(row.task.created_at, now));
			if (!FINAL.has(row.task.status))
				setText(row.duration, durationText(row.task, now));
		}
	}

	/*
	 * A new row: a clone of one template row (much cheaper than building
	 * each element), its cells found by position, then filled.
	 */
	buildRow(t, now) {
		if (!this.template)
			this.template = el('tr', null,
			    el('td', { class: 'c-status' }, el('span', { class: 'badge' })),
			    el('td', { class: 'c-task' }, el('button', { type: 'button', class: 'link task-open', 'data-action': 'open' },
				el('span', { class: 'task-type' }), el('span', { class: 'task-summary' }), el('span', { class: 'task-id mono' }))),
			    el('td', { class: 'c-progress' },
				el('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' },
				    el('div', { class: 'bar-fill' })),
				el('span', { class: 'pct' })),
			    el('td', { class: 'c-created' }, el('time', null, el('span', { class: 'rel' }), el('span', { class: 'abs' }))),
			    el('td', { class: 'c-duration' }, el('span', { class: 'duration' })),
			    el('td', { class: 'c-actions' }, el('button', { type: 'button', class: 'btn btn-small' })));
		const tr = this.template.cloneNode(true);
		const status = tr.firstChild;
		const task = status.nextSibling;
		const progress = task.nextSibling;
		const created = progress.nextSibling;
		const duration = created.nextSibling;
		const open = task.firstChild;
		const bar = progress.firstChild;
		const row = {
			task: t,
			json: JSON.stringify(t),
			tr,
			badge: status.firstChild,
			open,
			type: open.firstChild,
			text: open.firstChild.nextSibling,
			id: open.lastChild,
			bar,
			fill: bar.firstChild,
			progress: -1,
			pct: progress.lastChild,
			created: created.firstChild,
			rel: created.firstChild.firstChild,
			abs: created.firstChild.lastChild,
			duration: duration.firstChild,
			action: duration.nextSibling.firstChild,
		};
		tr.dataset.id = t.id;
		this.fill(row, t, now);
		return row;
	}

	/* Returns whether anything differed. */
	updateRow(row, t, now) {
		const json = JSON.stringify(t);
		if (json === row.json)
			return false;
		row.json = json;
		row.task = t;
		this.fill(row, t, now);
		return true;
	}

	/* Writes the row's cells; each helper writes only when the value differs. */
	fill(row, t, now) {
		setAttr(row.tr, 'class', `row-${String(t.status).toLowerCase()}`);
		setBadge(row.badge, t.status);
		setText(row.type, t.task_type);
		setText(row.text, summarize(t));
		setText(row.id, shortId(t.id));
		/* A div bar, not <progress>: cloning 500 of those (each with its own
		 * shadow tree) doubled the render time.  CSSOM writes are allowed by
		 * the Content-Security-Policy; style attributes in markup are not. */
		const p = Number.isFinite(t.progress) ? Math.max(0, Math.min(100, Math.round(t.progress))) : 0;
		if (row.progress !== p) {
			row.progress = p;
			row.fill.style.transform = `scaleX(${p / 100})`;
			row.bar.setAttribute('aria-valuenow', String(p));
			setText(row.pct, `${p}%`);
		}
		/* The hover title (local and UTC) is made when first pointed at:
		 * formatting 500 dates up front was a fifth of the render. */
		setAttr(row.created, 'datetime', t.created_at);
		setText(row.rel, fmtRelative(t.created_at, now));
		setText(row.abs, fmtShortLocal(t.created_at, now));
		setText(row.duration, durationText(t, now));

		let action = null;
		if (CANCELLABLE.has(t.status))
			action = 'cancel';
		else if (RETRYABLE.has(t.status))
			action = 'retry';
		setClass(row.action, 'hidden', !action);
		setAttr(row.action, 'data-action', action);
		setClass(row.action, 'btn-danger', action === 'cancel');
		setText(row.action, action === 'cancel' ? 'Cancel' : action === 'retry' ? 'Retry' : '');
		setAttr(row.action, 'aria-label', action ? `${action === 'cancel' ? 'Cancel' : 'Retry'} task ${shortId(t.id)}` : null);
	}

	/* The row of a task the user acted on, updated at once from the answer. */
	applyTask(t) {
		const row = this.rows.get(t.id);
		if (row)
			this.updateRow(row, t, Date.now());
	}

	/* Bulk retry of the failed / cancel of the pending tasks matching the filter, after a confirm step. */
	async bulk(kind) {
		const f = this.filter;
		let status;
		if (kind === 'retry')
			status = RETRYABLE.has(f.status) ? f.status : 'FAILED';
		else
			status = CANCELLABLE.has(f.status) ? f.status : 'PENDING';
		const filter = { status, task_type: f.task_type, q: f.q };
		const scope = [f.task_type ? `${f.task_type} ` : '', status, ' tasks',
		    f.q ? ` matching “${f.q}”` : ''].join('');
		const ok = await this.actions.confirm(
		    kind === 'retry' ? 'Retry tasks' : 'Cancel tasks',
		    kind === 'retry' ? `Retry all ${scope}? Each gets a new task.` :
		    `Cancel all ${scope}? This cannot be undone.`,
		    kind === 'retry' ? 'Retry all' : 'Cancel all');
		if (!ok)
			return;
		try {
			if (kind === 'retry') {
				const r = await api.retryMatching(filter);
				this.actions.toast(`Retried ${r.retried} ${scope}.`, 'ok');
			} else {
				const r = await api.cancelMatching(filter);
				this.actions.toast(`Cancelled ${r.cancelled} ${scope}.`, 'ok');
			}
		} catch (e) {
			this.actions.toast(`Bulk ${kind} failed: ${e.detail || e.message}`, 'error');
		}
		this.actions.changed();
	}
}
