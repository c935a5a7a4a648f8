/*
 * The overview: counts by status, per-type queue, throughput and failure
 * rate over the last hour (an SVG bar chart drawn here), a sparkline of
 * finished tasks per minute over this session (a ring of samples kept in
 * the page), the runners with their heartbeat age, pause/resume per type,
 * and warnings when no runner is alive or the oldest pending task is old.
 * One GET /api/stats feeds it all (GET /api/health when stats lacks the
 * runners).  Cells are written only when their text changes.
 */

import * as api from '../api.js';
import { $, el, setText, setAttr, setClass, fmtNumber, fmtDuration, STATUSES } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const STALE_S = 30;		/* a heartbeat older than this: the runner is not alive */
const PENDING_OLD_S = 60;	/* the oldest PENDING task waiting longer: something is stuck */
const RING = 180;		/* session samples kept for the sparkline */

function svg(tag, attrs, ...children) {
	const n = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		if (v !== null && v !== undefined)
			n.setAttribute(k, String(v));
	for (const c of children)
		n.append(c);
	return n;
}

/* A type name as text nodes with a line-break opportunity after each underscore. */
function breakable(name) {
	const out = [];
	name.split('_').forEach((part, i) => {
		if (i > 0)
			out.push('_', el('wbr'));
		out.push(part);
	});
	return out;
}

function pct(rate) {
	return typeof rate === 'number' && Number.isFinite(rate) ? `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)}%` : '–';
}

export class OverviewView {
	/* actions: {filterStatus(status), pausedTypes(set), toast(), changed()} */
	constructor(actions) {
		this.actions = actions;
		this.countsEl = $('#counts');
		this.warningsEl = $('#warnings');
		this.typeRows = $('#type-rows');
		this.chartEl = $('#type-chart');
		this.sparkEl = $('#sparkline');
		this.runnersEl = $('#runners');
		this.counts = new Map();	/* status -> value node */
		this.types = new Map();		/* name -> row cells */
		this.ring = [];			/* {t, done, failed} */
		this.lastChart = '';
		this.lastSpark = '';
		this.lastRunners = '';
		this.lastWarnings = '';

		for (const s of STATUSES) {
			const value = el('span', { class: 'count-value' }, '–');
			const b = el('button', {
				type: 'button', class: `count count-${s.toLowerCase()}`,
				title: `Show ${s} tasks`, onclick: () => this.actions.filterStatus(s),
			}, el('span', { class: 'count-label' }, s), value);
			this.counts.set(s, value);
			this.countsEl.append(el('li', null, b));
		}
		this.typeRows.addEventListener('click', (e) => {
			const b = e.target.closest('button[data-type]');
			if (b)
				this.togglePause(b.dataset.type, b.dataset.paused !== 'true');
		});
	}

	async refresh() {
		const st = await api.stats();
		let runners = st.runners;
		let oldest = st.oldest_pending_age_s;
		if (!Array.isArray(runners)) {
			const h = await api.health();
			runners = h.runners;
			oldest = h.oldest_pending_age_s;
		}
		this.render(st, Array.isArray(runners) ? runners : [], oldest);
	}

	render(st, runners, oldest) {
		const by = st.by_status || {};
		for (const s of STATUSES)
			setText(this.counts.get(s), fmtNumber(by[s] ?? 0));

		this.renderWarnings(runners, oldest);
		this.renderTypes(st.by_type || {});
		this.sample(by);
		this.renderRunners(runners);
	}

	alive(r) {
		const age = typeof r.heartbeat_age_s === 'number' ? r.heartbeat_age_s :
		    (Date.now() - Date.parse(r.last_heartbeat)) / 1000;
		return { age, alive: Number.isFinite(age) && age <= STALE_S };
	}

	renderWarnings(runners, oldest) {
		const msgs = [];
		const live = runners.filter((r) => this.alive(r).alive).length;
		if (live === 0)
			msgs.push(['no-runner', runners.length === 0 ?
			    'No runner is alive: no taskq-runner has ever reported. Tasks stay PENDING until one is started.' :
			    `No runner is alive: the last heartbeat is older than ${STALE_S} s. Tasks stay PENDING until a runner is back.`]);
		if (typeof oldest === 'number' && oldest > PENDING_OLD_S)
			msgs.push(['old-pending', `The oldest PENDING task has waited ${fmtDuration(oldest * 1000)}.` +
			    (live ? ' Runners may be saturated, or its type paused.' : '')]);
		const key = JSON.stringify(msgs);
		if (key === this.lastWarnings)
			return;
		this.lastWarnings = key;
		this.warningsEl.replaceChildren(...msgs.map(([cls, m]) =>
		    el('p', { class: `warning warning-${cls}`, role: 'alert' }, el('strong', null, 'Warning: '), m)));
	}

	renderTypes(byType) {
		const names = Object.keys(byType);
		for (const name of names) {
			const t = byType[name] || {};
			let row = this.types.get(name);
			if (!row) {
				row = {
					tr: el('tr'),
					name: el('span'),
					paused: el('span', { class: 'badge badge-paused hidden' }, 'paused'),
					pending: el('td', { class: 'num' }),
					running: el('td', { class: 'num' }),
					button: el('button', { type: 'button', class: 'btn btn-small', 'data-type': name }),
				};
				row.tr.append(el('th', { scope: 'row' }, row.name, ' ', row.paused),
				    row.pending, row.running, el('td', { class: 'c-actions' }, row.button));
				this.types.set(name, row);
				this.typeRows.append(row.tr);
			}
			if (row.name.textContent !== name)
				row.name.replaceChildren(...breakable(name));
			setText(row.pending, fmtNumber(t.PENDING ?? 0));
			setText(row.running, fmtNumber(t.RUNNING ?? 0));
			const paused = t.paused === true;
			setClass(row.paused, 'hidden', !paused);
			setText(row.button, paused ? 'Resume' : 'Pause');
			setAttr(row.button, 'data-paused', String(paused));
			setAttr(row.button, 'aria-label', `${paused ? 'Resume' : 'Pause'} ${name} tasks`);
			setClass(row.tr, 'paused', paused);
		}
		this.actions.pausedTypes(new Set(names.filter((n) => byType[n] && byType[n].paused === true)));
		this.renderChart(byType, names);
	}

	/* Horizontal bars: tasks finished in the last hour per type, the failed share in the failure colour. */
	renderChart(byType, names) {
		const data = names.map((n) => {
			const t = byType[n] || {};
			const done = Number(t.throughput_1h) || 0;
			const rate = Number(t.failure_rate_1h) || 0;
			return { n, done, failed: Math.round(done * rate), rate: t.failure_rate_1h };
		});
		const key = JSON.stringify(data);
		if (key === this.lastChart)
			return;
		this.lastChart = key;
		const max = Math.max(1, ...data.map((d) => d.done));
		const W = 340, BAR = 14, GAP = 10, VALUE = 104;
		const LABEL = Math.min(140, 12 + 6.4 * Math.max(4, ...data.map((d) => d.n.length)));
		const H = data.length * (BAR + GAP) + GAP;
		const span = W - LABEL - VALUE;
		const g = [];
		data.forEach((d, i) => {
			const y = GAP + i * (BAR + GAP);
			const w = d.done ? Math.max(2, (d.done / max) * span) : 0;
			const wf = d.failed ? Math.max(2, (d.failed / max) * span) : 0;
			g.push(svg('text', { x: LABEL - 8, y: y + BAR - 3, 'text-anchor': 'end', class: 'chart-label' }, d.n),
			    svg('rect', { x: LABEL, y, width: span, height: BAR, rx: 3, class: 'chart-track' }),
			    svg('rect', { x: LABEL, y, width: w, height: BAR, rx: 3, class: 'chart-bar' }),
			    svg('rect', { x: LABEL, y, width: wf, height: BAR, rx: 3, class: 'chart-fail' }),
			    svg('text', { x: LABEL + span + 6, y: y + BAR - 3, class: 'chart-value' },
				`${fmtNumber(d.done)}${d.failed ? ` · ${pct(d.rate)} fail` : ''}`));
		});
		const desc = data.map((d) => `${d.n}: ${d.done} finished, ${pct(d.rate)} failed`).join('; ');
		this.chartEl.replaceChildren(svg('svg', {
			viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img',
			'aria-label': `Tasks finished in the last hour by type. ${desc}`,
		}, ...g), el('p', { class: 'legend' },
		    el('span', { class: 'key key-done' }), 'finished ',
		    el('span', { class: 'key key-fail' }), 'of which failed'));
	}

	/* Adds a sample of the cumulative finished counts; the sparkline plots their rate. */
	sample(by) {
		const now = Date.now();
		this.ring.push({ t: now, done: (by.SUCCESS ?? 0) + (by.FAILED ?? 0), failed: by.FAILED ?? 0 });
		if (this.ring.length > RING)
			this.ring.shift();
		this.renderSpark();
	}

	renderSpark() {
		const rates = [];
		for (let i = 1; i < this.ring.length; i++) {
			const a = this.ring[i - 1], b = this.ring[i];
			const min = (b.t - a.t) / 60000;
			if (min <= 0)
				continue;
			/* A purge lowers the totals; that is no negative throughput. */
			rates.push({
				done: Math.max(0, b.done - a.done) / min,
				failed: Math.max(0, b.failed - a.failed) / min,
			});
		}
		const W = 320, H = 56, PAD = 3;
		const max = Math.max(1, ...rates.map((r) => r.done));
		const now = rates.length ? rates[rates.length - 1] : { done: 0, failed: 0 };
		const peak = rates.length ? Math.max(...rates.map((r) => r.done)) : 0;
		const caption = rates.length ?
		    `${fmtNumber(Math.round(now.done))} finished/min now (${fmtNumber(Math.round(now.failed))} failed), peak ${fmtNumber(Math.round(peak))}/min, over ${fmtDuration(this.ring[this.ring.length - 1].t - this.ring[0].t)}` :
		    'Collecting samples…';
		const pts = (f) => rates.map((r, i) => {
			const x = rates.length === 1 ? W - PAD : PAD + (i / (rates.length - 1)) * (W - 2 * PAD);
			const y = H - PAD - (f(r) / max) * (H - 2 * PAD);
			return `${x.toFixed(1)},${y.toFixed(1)}`;
		}).join(' ');
		const done = pts((r) => r.done), failed = pts((r) => r.failed);
		const key = done + failed + caption;
		if (key === this.lastSpark)
			return;
		this.lastSpark = key;
		const area = rates.length > 1 ? `${PAD},${H - PAD} ${done} ${W - PAD},${H - PAD}` : '';
		this.sparkEl.replaceChildren(svg('svg', {
			viewBox: `0 0 ${W} ${H}`, class: 'spark-svg', role: 'img', preserveAspectRatio: 'none',
			'aria-label': `Finished tasks per minute during this session: ${caption}`,
		}, svg('line', { x1: 0, y1: H - PAD, x2: W, y2: H - PAD, class: 'spark-base' }),
		    area ? svg('polygon', { points: area, class: 'spark-area' }) : '',
		    svg('polyline', { points: done, class: 'spark-done' }),
		    svg('polyline', { points: failed, class: 'spark-fail' })),
		el('p', { class: 'legend' }, caption));
	}

	renderRunners(runners) {
		const items = runners.map((r) => {
			const { age, alive } = this.alive(r);
			return {
				name: `${r.host ?? '?'}:${r.pid ?? '?'}`,
				alive,
				/* Whole seconds: the list does not flicker with every heartbeat. */
				age: Number.isFinite(age) ? Math.round(age) : null,
				slots: Number.isFinite(r.slots) ? `${r.running ?? 0}/${r.slots} busy` : '',
				version: r.version || '',
			};
		});
		const key = JSON.stringify(items);
		if (key === this.lastRunners)
			return;
		this.lastRunners = key;
		if (items.length === 0) {
			this.runnersEl.replaceChildren(el('li', { class: 'muted' }, 'No runner has reported.'));
			return;
		}
		this.runnersEl.replaceChildren(...items.map((r) => el('li', { class: `runner ${r.alive ? 'alive' : 'stale'}` },
		    el('span', { class: 'dot', 'aria-hidden': 'true' }),
		    el('span', { class: 'runner-name mono' }, r.name),
		    el('span', { class: 'runner-state' }, r.alive ? 'alive' : 'not responding'),
		    el('span', { class: 'muted' }, `heartbeat ${r.age === null ? '?' : fmtDuration(r.age * 1000)} ago`),
		    r.slots ? el('span', { class: 'muted' }, r.slots) : null)));
	}

	async togglePause(name, pause) {
		try {
			const t = await api.pauseType(name, pause);
			this.actions.toast(t && t.paused ? `Paused ${name}: its tasks will not be started.` : `Resumed ${name}.`, 'ok');
		} catch (e) {
			this.actions.toast(`Could not ${pause ? 'pause' : 'resume'} ${name}: ${e.detail || e.message}`, 'error');
		}
		this.actions.changed();
	}
}
