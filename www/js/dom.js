/*
 * Small DOM and formatting helpers shared by the views.  Everything here
 * puts text into the document as text: el() turns string children into text
 * nodes and never parses markup, so server data cannot become HTML.
 */

/*
 * Creates an element.  attrs: "class" sets className, "on<event>" functions
 * become listeners, true sets an empty attribute, false/null/undefined are
 * skipped, anything else is set with setAttribute (as text).  Children may be
 * nodes, strings/numbers (text nodes), arrays of them, or null (skipped).
 */
export function el(tag, attrs, ...children) {
	const node = document.createElement(tag);
	if (attrs) {
		for (const [k, v] of Object.entries(attrs)) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				node.className = v;
			else if (k.startsWith('on') && typeof v === 'function')
				node.addEventListener(k.slice(2), v);
			else
				node.setAttribute(k, v === true ? '' : String(v));
		}
	}
	append(node, children);
	return node;
}

function append(node, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(node, c);
		else if (c instanceof Node)
			node.appendChild(c);
		else
			node.appendChild(document.createTextNode(String(c)));
	}
}

/* Sets node's text only when it differs, so unchanged refreshes write nothing. */
export function setText(node, s) {
	s = s === null || s === undefined ? '' : String(s);
	if (node.textContent !== s)
		node.textContent = s;
}

/* Sets or removes an attribute only when that changes something. */
export function setAttr(node, name, value) {
	if (value === null || value === undefined || value === false) {
		if (node.hasAttribute(name))
			node.removeAttribute(name);
		return;
	}
	value = value === true ? '' : String(value);
	if (node.getAttribute(name) !== value)
		node.setAttribute(name, value);
}

/* Toggles a class only when that changes something. */
export function setClass(node, cls, on) {
	if (node.classList.contains(cls) !== Boolean(on))
		node.classList.toggle(cls, Boolean(on));
}

export function $(sel, root = document) {
	return root.querySelector(sel);
}

/* ---- formatting --------------------------------------------------------- */

export const STATUSES = ['PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'];
export const FINAL = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

const numberFmt = new Intl.NumberFormat();
export function fmtNumber(n) {
	return typeof n === 'number' && Number.isFinite(n) ? numberFmt.format(n) : '–';
}

const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
	year: 'numeric', month: 'short', day: 'numeric',
	hour: '2-digit', minute: '2-digit', second: '2-digit',
});

/* Milliseconds since the epoch of an RFC 3339 string, or NaN. */
export function parseTime(iso) {
	return typeof iso === 'string' ? Date.parse(iso) : NaN;
}

/* Local date and time, e.g. "29 Nov 2026, 03:10:00". */
export function fmtLocal(iso) {
	const t = parseTime(iso);
	return Number.isNaN(t) ? '–' : dateTimeFmt.format(t);
}

/*
 * A short local time without Intl (cheap enough for 500 rows): "14:05:09"
 * today, else "2026-11-28 14:05".
 */
export function fmtShortLocal(iso, now = Date.now()) {
	const t = parseTime(iso);
	if (Number.isNaN(t))
		return '';
	const d = new Date(t);
	const n = new Date(now);
	const p2 = (v) => String(v).padStart(2, '0');
	const hm = `${p2(d.getHours())}:${p2(d.getMinutes())}`;
	if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate())
		return `${hm}:${p2(d.getSeconds())}`;
	return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${hm}`;
}

/* The UTC form shown on hover (title). */
export function fmtUTC(iso) {
	const t = parseTime(iso);
	return Number.isNaN(t) ? '' : new Date(t).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

/*
 * "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in ..."
 * for future times such as a delayed start).
 */
export function fmtRelative(iso, now = Date.now()) {
	const t = parseTime(iso);
	if (Number.isNaN(t))
		return '–';
	const d = Math.round((now - t) / 1000);
	const a = Math.abs(d);
	let s;
	if (a < 5)
		return 'just now';
	else if (a < 60)
		s = `${a} s`;
	else if (a < 3600)
		s = `${Math.floor(a / 60)} min`;
	else if (a < 86400)
		s = `${Math.floor(a / 3600)} h`;
	else
		s = `${Math.floor(a / 86400)} d`;
	return d >= 0 ? `${s} ago` : `in ${s}`;
}

/* A duration in milliseconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function fmtDuration(ms) {
	if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
		return '–';
	if (ms < 1000)
		return `${Math.round(ms)} ms`;
	const s = ms / 1000;
	if (s < 60)
		return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
	const m = Math.floor(s / 60);
	if (m < 60)
		return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
	return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/* Byte counts as "512 B", "1.5 KiB", "3.2 MiB". */
export function fmtBytes(n) {
	if (typeof n !== 'number' || !Number.isFinite(n))
		return '–';
	if (n < 1024)
		return `${n} B`;
	const units = ['KiB', 'MiB', 'GiB'];
	let v = n, i = -1;
	do {
		v /= 1024;
		i++;
	} while (v >= 1024 && i < units.length - 1);
	return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/* The time between two RFC 3339 times (end defaults to now), or NaN. */
export function between(startIso, endIso, now = Date.now()) {
	const a = parseTime(startIso);
	const b = endIso ? parseTime(endIso) : now;
	return a - b > 0 ? NaN : b - a;
}

export function shortId(id) {
	return typeof id === 'string' ? id.slice(0, 8) : '';
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(s) {
	return typeof s === 'string' && UUID_RE.test(s);
}

/* A status badge: <span class="badge status-running">RUNNING</span>. */
export function badge(status) {
	return el('span', { class: `badge status-${String(status).toLowerCase()}` }, status);
}

export function setBadge(node, status) {
	const cls = `badge status-${String(status).toLowerCase()}`;
	if (node.className !== cls)
		node.className = cls;
	setText(node, status);
}

/* A <time> element: local time as text, UTC on hover. */
export function timeEl(iso, relative = false) {
	const t = el('time');
	setTime(t, iso, relative);
	return t;
}

export function setTime(node, iso, relative = false) {
	if (!iso) {
		setText(node, '–');
		setAttr(node, 'datetime', null);
		setAttr(node, 'title', null);
		return;
	}
	setAttr(node, 'datetime', iso);
	setAttr(node, 'title', relative ? `${fmtLocal(iso)} (${fmtUTC(iso)})` : fmtUTC(iso));
	setText(node, relative ? fmtRelative(iso) : fmtLocal(iso));
}

/* A random id for Idempotency-Key; crypto.randomUUID needs a secure context. */
export function randomKey() {
	if (crypto.randomUUID)
		return crypto.randomUUID();
	const b = crypto.getRandomValues(new Uint8Array(16));
	return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
