// The tutorial's posts service, unchanged but for the standard library:
// node:http in place of express, fetch in place of axios. It keeps posts in
// memory and posts PostCreated {id, title} to Herald's bus gateway, which
// stores it durably before answering.
//
//   PORT=4000 EVENT_BUS_URL=http://127.0.0.1:4005 node posts.js
//
// Run it instead of Herald's own posts (herald up comments moderation
// blog-query gateway).
const http = require('node:http');
const { randomBytes } = require('node:crypto');

const PORT = Number(process.env.PORT || 4000);
const EVENT_BUS_URL = process.env.EVENT_BUS_URL || 'http://127.0.0.1:4005';

const posts = {};

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
  if (req.method === 'GET' && req.url === '/posts') {
    send(res, 200, posts);
    return;
  }
  if (req.method === 'POST' && req.url === '/posts') {
    try {
      const id = randomBytes(4).toString('hex');
      const { title } = await readJSON(req);

      const bus = await fetch(`${EVENT_BUS_URL}/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'PostCreated', data: { id, title } }),
      });
      if (!bus.ok) throw new Error(`the event bus answered ${bus.status}: ${await bus.text()}`);

      // Kept only once the bus has stored its event, so no post exists
      // that the other services will never hear of.
      posts[id] = { id, title };
      send(res, 201, posts[id]);
    } catch (err) {
      console.log('create post failed:', err.message);
      send(res, 503, { error: err.message });
    }
    return;
  }
  if (req.method === 'POST' && req.url === '/events') {
    const { type } = await readJSON(req).catch(() => ({}));
    console.log('Received Event', type);
    send(res, 200, {});
    return;
  }
  send(res, 404, { error: 'not found' });
});

server.listen(PORT, process.env.HOST || '127.0.0.1', () => {
  console.log(`listening on ${PORT}`);
});
