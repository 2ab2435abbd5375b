// The tutorial's moderation service, unchanged but for the standard library:
// node:http in place of express, fetch in place of axios. Herald's bus
// gateway pushes every event to POST /events; on CommentCreated this service
// decides the comment and posts CommentModerated back to the bus.
//
//   PORT=4006 EVENT_BUS_URL=http://127.0.0.1:4005 BANNED=orange node moderation.js
//
// Run it instead of Herald's own moderation (herald up posts comments
// blog-query gateway --push http://127.0.0.1:4006/events).
const http = require('node:http');

const PORT = Number(process.env.PORT || 4003);
const EVENT_BUS_URL = process.env.EVENT_BUS_URL || 'http://127.0.0.1:4005';
// Words that make a comment rejected, comma-separated. The tutorial checks
// content.includes('orange'); like Herald's moderation, this ignores case.
const BANNED = (process.env.BANNED || 'orange').split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);

const handleEvent = async (type, data) => {
  if (type === 'CommentCreated') {
    const content = data.content.toLowerCase();
    const status = BANNED.some((word) => content.includes(word)) ? 'rejected' : 'approved';

    const res = await fetch(`${EVENT_BUS_URL}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        type: 'CommentModerated',
        data: { id: data.id, postId: data.postId, status, content: data.content },
      }),
    });
    if (!res.ok) {
      throw new Error(`the event bus answered ${res.status}: ${await res.text()}`);
    }
  }
};

const readJSON = async (req) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  return JSON.parse(body);
};

const send = (res, status, value) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
};

const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/events') {
    try {
      const { type, data } = await readJSON(req);
      await handleEvent(type, data);
      send(res, 200, {});
    } catch (err) {
      // Not a 2xx: the gateway retries the event later, so no comment is
      // left unmoderated because the bus was briefly unreachable.
      console.log('event failed:', err.message);
      send(res, 500, { error: err.message });
    }
    return;
  }
  send(res, 404, { error: 'not found' });
});

server.listen(PORT, process.env.HOST || '127.0.0.1', () => {
  console.log(`listening on ${PORT}`);
});
