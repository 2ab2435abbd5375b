// The tutorial's query service, unchanged but for the standard library:
// node:http in place of express, fetch in place of axios. It keeps every post
// with its comments in memory, fed by the events Herald's bus gateway pushes
// to POST /events, and answers GET /posts with the object keyed by post id.
// On start it replays the whole history from GET /events, so a fresh process
// shows everything that happened before it.
//
//   PORT=4007 EVENT_BUS_URL=http://127.0.0.1:4005 node query.js
//
// PAGE_SIZE, if set, reads the history that many events at a time, following
// the gateway's Link rel="next" header; by default it is read in one answer.
const http = require('node:http');

const PORT = Number(process.env.PORT || 4002);
const EVENT_BUS_URL = process.env.EVENT_BUS_URL || 'http://127.0.0.1:4005';
const PAGE_SIZE = Number(process.env.PAGE_SIZE || 0);

const posts = {};

// The tutorial's handleEvent, as it is.
const handleEvent = (type, data) => {
  if (type === 'PostCreated') {
    const { id, title } = data;

    posts[id] = { id, title, comments: [] };
  }

  if (type === 'CommentCreated') {
    const { id, content, postId, status } = data;

    const post = posts[postId];
    post.comments.push({ id, content, status });
  }

  if (type === 'CommentUpdated') {
    const { id, content, postId, status } = data;

    const post = posts[postId];
    const comment = post.comments.find((comment) => {
      return comment.id === id;
    });

    comment.status = status;
    comment.content = content;
  }
};

// The ids of the events already handled. Herald's bus delivers at least
// once: a push whose answer was lost (this process stopped, a timeout) comes
// again with the same webhook-id, and handleEvent above would add the same
// comment twice. Recording each id and ignoring a repeat is how a subscriber
// gets once-per-event-id on an at-least-once bus. Events read from the
// history carry their id when they were stored as CloudEvents (Herald's own
// services' events); events posted in the tutorial's {type, data} shape come
// back from GET /events without one.
const seen = new Set();

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
  if (req.method === 'POST' && req.url === '/events') {
    const id = req.headers['webhook-id'];
    try {
      const { type, data } = await readJSON(req);
      if (id && seen.has(id)) {
        console.log('ignoring a repeat of event', id);
      } else {
        handleEvent(type, data);
        if (id) seen.add(id);
      }
      send(res, 200, {});
    } catch (err) {
      // Not a 2xx: the gateway retries the event later.
      console.log('event failed:', err.message);
      send(res, 500, { error: err.message });
    }
    return;
  }
  send(res, 404, { error: 'not found' });
});

// nextLink returns the URL of a Link header's rel="next", or null.
const nextLink = (header, base) => {
  const m = /<([^>]*)>\s*;\s*rel="?next"?/.exec(header || '');
  return m ? new URL(m[1], base).toString() : null;
};

// replay reads every stored event, page by page, and handles each in order.
const replay = async () => {
  let url = `${EVENT_BUS_URL}/events${PAGE_SIZE > 0 ? `?limit=${PAGE_SIZE}` : ''}`;
  let count = 0;
  while (url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
    for (const event of await res.json()) {
      try {
        handleEvent(event.type, event.data);
      } catch (err) {
        console.log(`replayed ${event.type} failed:`, err.message);
      }
      if (event.id) seen.add(event.id);
      count++;
    }
    url = nextLink(res.headers.get('link'), url);
  }
  return count;
};

const start = async () => {
  for (;;) {
    try {
      const count = await replay();
      console.log(`replayed ${count} events`);
      break;
    } catch (err) {
      console.log('cannot read the event history yet:', err.message);
      for (const key of Object.keys(posts)) delete posts[key];
      seen.clear();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  server.listen(PORT, process.env.HOST || '127.0.0.1', () => {
    console.log(`listening on ${PORT}`);
  });
};

start();
