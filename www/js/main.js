/*
 * The composition root: builds the views, wires their actions (open,
 * cancel, retry, confirm, toasts), shows the one banner when the API
 * fails, and runs the refresh loop: every 2 s while the tab is visible,
 * backing off 4, 8, 16 up to 30 s while the API fails, and back to 2 s by
 * itself on the first success.
 */

import * as api from './api.js';
import { $, el, setText, setClass, shortId } from './dom.js';
import { ListView } from './views/list.js';
import { DetailView } from './views/detail.js';
import { SubmitView } from './views/submit.js';
import { OverviewView } from './views/overview.js';

const INTERVAL_MS = 2000;
const MAX_BACKOFF_MS = 30000;
const OVERVIEW_EVERY = 5;	/* ticks between overview refreshes when the list is quiet */
const CLOCK_MS = 5000;		/* relative times and running durations */

/* ---- toasts and the confirm step ------------------------------------- */

function toast(message, kind = 'info', action = null) {
	const box = $('#toasts');
	const t = el('div', { class: `toast toast-${kind}` }, el('span', null, message));
	if (action)
		t.append(el('button', {
			type: 'button', class: 'link', onclick: () => {
				t.remove();
				action.run();
			},
		}, action.label));
	t.append(el('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
	box.append(t);
	while (box.children.length > 4)
		box.firstElementChild.remove();
	setTimeout(() => t.remove(), kind === 'error' ? 10000 : 6000);
}

function confirmStep(title, text, okLabel) {
	const d = $('#confirm');
	setText($('#confirm-title'), title);
	setText($('#confirm-text'), text);
	setText($('#confirm-yes'), okLabel || 'Confirm');
	d.returnValue = '';
	return new Promise((resolve) => {
		d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
		d.showModal();
		$('#confirm-no').focus();
	});
}

/* ---- the refresh loop -------------------------------------------------- */

const state = {
	timer: null,
	delay: INTERVAL_MS,
	running: null,		/* the tick in flight */
	ticks: 0,
	typesLoaded: false,
	overviewDue: true,
	failing: false,
	again: false,		/* another round was asked for during this one */
};

let list, detail, submit, overview;

function setLive(text) {
	setText($('#refresh-status'), text);
}

async function loadTypes() {
	const types = await api.taskTypes();
	if (!Array.isArray(types))
		return;
	submit.setTypes(types);
	list.setTypes(types);
	state.typesLoaded = true;
}

/*
 * One round: the list (one request), the task types until they loaded,
 * the overview when something changed or every few ticks, and the open
 * dialog's task while it runs.  Throws when the API failed.
 */
async function round() {
	const changed = await list.refresh();
	if (!state.typesLoaded)
		await loadTypes();
	state.ticks++;
	if (changed || state.overviewDue || state.ticks % OVERVIEW_EVERY === 0) {
		state.overviewDue = false;
		await overview.refresh();
	}
	if (detail.isOpen)
		await detail.refresh();
}

function schedule(ms) {
	clearTimeout(state.timer);
	state.timer = null;
	if (!document.hidden)
		state.timer = setTimeout(tick, ms);
}

/*
 * Runs one round now and schedules the next.  Asked while a round is in
 * flight (an action just changed something), it runs another right after,
 * since the one in flight may have read before the change.
 */
function tick() {
	if (state.running) {
		state.again = true;
		return state.running;
	}
	clearTimeout(state.timer);
	state.running = (async () => {
		try {
			await round();
			state.delay = INTERVAL_MS;
			state.failing = false;
			setLive('Live · refreshing every 2 s');
		} catch (e) {
			if (e && e.name === 'AbortError')
				return;
			/* A refused request (4xx) is reported where it belongs (a toast,
			 * the form); the API is up, so the pace stays. */
			if (e instanceof api.ApiError && !e.transient) {
				state.delay = INTERVAL_MS;
				return;
			}
			state.failing = true;
			state.delay = Math.min(state.delay * 2, MAX_BACKOFF_MS);
			if (e && e.retryAfter)
				state.delay = Math.min(Math.max(state.delay, e.retryAfter * 1000), MAX_BACKOFF_MS);
			setLive(`Offline · retrying in ${Math.round(state.delay / 1000)} s`);
			setText($('#banner-text'), `${bannerMessage} Retrying in ${Math.round(state.delay / 1000)} s.`);
		} finally {
			state.running = null;
			const again = state.again && !state.failing;
			state.again = false;
			schedule(again ? 0 : state.delay);
		}
	})();
	return state.running;
}

/* ---- the banner -------------------------------------------------------- */

let bannerMessage = '';

function banner(message) {
	const b = $('#banner');
	if (message) {
		bannerMessage = message;
		setText($('#banner-text'), message);
		setClass(b, 'hidden', false);
	} else
		setClass(b, 'hidden', true);
}

/* ---- actions shared by the views ------------------------------------- */

/* Something changed through us: refresh everything now. */
function changed() {
	state.overviewDue = true;
	return tick();
}

async function cancelTask(id) {
	try {
		const t = await api.cancelTask(id);
		list.applyTask(t);
		detail.show(t);
		toast(`Cancelled ${t.task_type} task ${shortId(id)}.`, 'ok');
	} catch (e) {
		toast(e.status === 409 ? `Task ${shortId(id)} was not cancelled: ${e.detail}` :
		    `Cancel failed: ${e.detail || e.message}`, 'error');
	}
	changed();
}

async function retryTask(id) {
	try {
		const t = await api.retryTask(id);
		toast(`Retried ${shortId(id)} as new task ${shortId(t.id)}.`, 'ok', { label: 'Open', run: () => detail.open(t.id) });
	} catch (e) {
		toast(e.status === 409 ? `Task ${shortId(id)} was not retried: ${e.detail}` :
		    `Retry failed: ${e.detail || e.message}`, 'error');
	}
	changed();
}

function main() {
	const actions = {
		open: (id) => detail.open(id),
		cancel: cancelTask,
		retry: retryTask,
		toast,
		confirm: confirmStep,
		changed,
		submitted: () => changed(),
		pausedTypes: (set) => submit.setPaused(set),
		filterStatus: (s) => {
			list.setFilter({ status: list.filter.status === s ? '' : s });
			$('#tasks').focus({ preventScroll: true });
		},
	};
	list = new ListView(actions);
	detail = new DetailView(actions);
	submit = new SubmitView(actions);
	overview = new OverviewView(actions);

	api.setTroubleListener(banner);
	$('#banner-retry').addEventListener('click', () => {
		state.delay = INTERVAL_MS;
		changed();
	});

	document.addEventListener('visibilitychange', () => {
		if (document.hidden) {
			clearTimeout(state.timer);
			state.timer = null;
			setLive('Paused while this tab is hidden');
		} else {
			state.delay = INTERVAL_MS;
			tick();
		}
	});
	setInterval(() => {
		if (!document.hidden)
			list.tick();
	}, CLOCK_MS);

	/* A handle for the console and the browser tests. */
	window.taskq = {
		refreshList: () => list.refresh(),
		refresh: changed,
		get filter() {
			return { ...list.filter };
		},
	};
	tick();
}

main();
