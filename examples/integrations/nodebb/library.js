'use strict';

// EXAMPLE, not tested: a NodeBB plugin that asks a safeguard service about each new post.
// Needs Node 18+ (global fetch). Configure with SAFEGUARD_URL, SAFEGUARD_API_KEY and, for the
// webhook variant, SAFEGUARD_HOOK_SECRET (the content of the --hook-secret nodebb=FILE file).

const crypto = require('crypto');

const URL = process.env.SAFEGUARD_URL || 'http://127.0.0.1:8080';
const API_KEY = process.env.SAFEGUARD_API_KEY;
const HOOK_SECRET = process.env.SAFEGUARD_HOOK_SECRET;
const TIMEOUT_MS = 2000; // the author waits for this
const ON_UNREACHABLE = 'allow'; // 'remove' to fail closed

const plugin = {};

async function moderate(body) {
	try {
		const response = await fetch(`${URL}/v1/moderate`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				...(API_KEY ? { Authorization: `Bearer ${API_KEY}` } : {}),
			},
			body: JSON.stringify(body),
			signal: AbortSignal.timeout(TIMEOUT_MS),
		});
		if (!response.ok) {
			return { action: ON_UNREACHABLE };
		}
		return await response.json();
	} catch (err) {
		console.warn(`[safeguard] unreachable: ${err.name}`);
		return { action: ON_UNREACHABLE };
	}
}

// Before a post is created: synchronous, refuses the post when the decision is "remove".
plugin.filterPostCreate = async (hookData) => {
	const { post, data } = hookData;
	const decision = await moderate({
		id: post.pid ? String(post.pid) : undefined,
		text: String(post.content || data.content || ''),
		title: data.title,
		author: { id: String(post.uid) },
		thread_id: post.tid ? String(post.tid) : undefined,
		parent_id: data.toPid ? String(data.toPid) : undefined,
	});
	if (decision.action === 'remove') {
		const reason = (decision.matches || []).map(m => m.reason).find(Boolean);
		throw new Error(reason || 'This post breaks the community guidelines.');
	}
	// "hold" is allowed here; queue it with NodeBB's post queue or act on it from the webhook callback.
	return hookData;
};

// After a post is saved: the webhook variant, signed with X-Safeguard-Signature.
plugin.sendWebhook = async ({ post }) => {
	if (!HOOK_SECRET) {
		return;
	}
	const body = JSON.stringify({
		post: { pid: post.pid, uid: post.uid, tid: post.tid, content: post.content, timestamp: post.timestamp, toPid: post.toPid },
	});
	const signature = `sha256=${crypto.createHmac('sha256', HOOK_SECRET).update(body).digest('hex')}`;
	try {
		await fetch(`${URL}/v1/hooks/nodebb`, {
			method: 'POST',
			headers: {
				'Content-Type': 'application/json',
				'X-Safeguard-Signature': signature,
				'X-Safeguard-Event-Id': `post-${post.pid}-${post.edited || post.timestamp}`,
			},
			body,
			signal: AbortSignal.timeout(TIMEOUT_MS),
		});
	} catch (err) {
		console.warn(`[safeguard] webhook failed: ${err.name}`);
	}
};

module.exports = plugin;
