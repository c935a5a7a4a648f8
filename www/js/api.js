/*
 * The taskq HTTP API (docs/API.md) as functions.  This module is the only
 * caller of fetch: it adds the X-Requested-With header to every
 * state-changing request, turns error bodies into ApiError, and tells one
 * listener (the banner in main.js) when the API cannot be reached and when
 * it answers again, so no view has to handle an outage itself.
 */

const BASE = '/api';

/* An answer the server gave but that is not a success; status 0 is a network failure. */
export class ApiError extends Error {
	constructor(status, detail, field, retryAfter) {
		super(detail);
		this.status = status;
		this.detail = detail;
		this.field = field || null;	/* e.g. "parameters.to" */
		this.retryAfter = retryAfter;	/* seconds, or 0 */
	}

	/* Whether the request may succeed later unchanged (outage, busy, timeout). */
	get transient() {
		return this.status === 0 || this.status === 408 || this.status === 429 ||
		    this.status >= 500;
	}
}

let onTrouble = () => {};
let troubled = false;

/*
 * Installs the single outage listener: fn(message) when a request fails
 * because the API is unreachable or failing (network error, 5xx), fn(null)
 * on the first success after that.
 */
export function setTroubleListener(fn) {
	onTrouble = fn;
}

function trouble(message) {
	troubled = true;
	onTrouble(message);
}

function fine() {
	if (troubled) {
		troubled = false;
		onTrouble(null);
	}
}

/*
 * One request.  opts.json is sent as a JSON body; opts.body as is (e.g.
 * FormData); opts.headers are added.  Returns the parsed JSON body (or
 * null when empty) and throws ApiError otherwise.
 */
async function request(method, path, opts = {}) {
	const headers = { Accept: 'application/json', ...opts.headers };
	let body = opts.body;
	if (opts.json !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(opts.json);
	}
	if (method !== 'GET' && method !== 'HEAD')
		headers['X-Requested-With'] = 'taskq';

	let res;
	try {
		res = await fetch(BASE + path, {
			method, headers, body,
			credentials: 'same-origin',
			cache: 'no-store',
			signal: opts.signal,
		});
	} catch (e) {
		if (e.name === 'AbortError')
			throw e;
		trouble('The taskq API cannot be reached (network error).');
		throw new ApiError(0, 'network error: the API cannot be reached');
	}

	let data = null;
	const text = await res.text().catch(() => '');
	if (text) {
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
	}
	if (res.ok) {
		fine();
		return data;
	}

	const detail = data && typeof data.detail === 'string' ? data.detail :
	    `HTTP ${res.status} ${res.statusText}`.trim();
	const field = data && typeof data.field === 'string' ? data.field : null;
	const retryAfter = Number.parseInt(res.headers.get('Retry-After') || '0', 10) || 0;
	const err = new ApiError(res.status, detail, field, retryAfter);
	if (err.transient)
		trouble(`The taskq API is failing: ${detail} (HTTP ${res.status}).`);
	else
		fine();
	throw err;
}

/* A query string from an object, skipping empty values. */
function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {}))
		if (v !== undefined && v !== null && v !== '')
			q.set(k, String(v));
	const s = q.toString();
	return s ? `?${s}` : '';
}

/* The filter body of the bulk endpoints, without empty values (those are a 422). */
function filterBody(filter) {
	const b = {};
	for (const k of ['status', 'task_type', 'q'])
		if (filter[k])
			b[k] = filter[k];
	return b;
}

/* GET /api/tasks/: {tasks, next_cursor}. params: status, task_type, q, limit, cursor. */
export function listTasks(params, signal) {
	return request('GET', `/tasks/${query(params)}`, { signal });
}

export function getTask(id) {
	return request('GET', `/tasks/${encodeURIComponent(id)}`);
}

/* POST /api/tasks/submit; key is the Idempotency-Key (a retried click submits once). */
export function submitTask(body, key) {
	return request('POST', '/tasks/submit', {
		json: body,
		headers: key ? { 'Idempotency-Key': key } : {},
	});
}

export function cancelTask(id) {
	return request('DELETE', `/tasks/${encodeURIComponent(id)}`);
}

export function retryTask(id) {
	return request('POST', `/tasks/${encodeURIComponent(id)}/retry`);
}

/* POST /api/tasks/cancel: {cancelled: n}. */
export function cancelMatching(filter) {
	return request('POST', '/tasks/cancel', { json: filterBody(filter) });
}

/* POST /api/tasks/retry: {retried: n}. */
export function retryMatching(filter) {
	return request('POST', '/tasks/retry', { json: filterBody(filter) });
}

export function taskTypes() {
	return request('GET', '/task-types');
}

export function pauseType(name, paused) {
	return request('POST', `/task-types/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`);
}

export function stats() {
	return request('GET', '/stats');
}

export function health() {
	return request('GET', '/health');
}

/* POST /api/files as multipart/form-data with the part "file". */
export function uploadFile(file) {
	const form = new FormData();
	form.append('file', file, file.name);
	return request('POST', '/files', { body: form });
}

/* The download URL of a stored file (the id is checked by the caller). */
export function fileUrl(id) {
	return `${BASE}/files/${encodeURIComponent(id)}`;
}
