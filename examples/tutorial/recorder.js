// A test subscriber: it appends every event Herald's bus gateway pushes to
// POST /events to a JSON-lines file, one line {id, type, body} per delivery
// (id is the webhook-id header: the event's id, the same on every attempt),
// and only then answers 200. Restarted on the same file, it keeps appending,
// so the file shows the order of deliveries and any repeat across restarts.
//
//   PORT=4008 OUT=/tmp/events.jsonl node recorder.js
const fs = require('node:fs');
const http = require('node:http');

const PORT = Number(process.env.PORT || 4008);
const OUT = process.env.OUT;
if (!OUT) {
  console.error('set OUT to the file to append events to');
  process.exit(2);
}

const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/events') {
    let text = '';
    for await (const chunk of req) text += chunk;
    let body;
    try {
      body = JSON.parse(text);
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: err.message }));
      return;
    }
    // One write per line, done before the answer: a delivery answered 200
    // is on disk; one cut short by a crash is at most recorded twice.
    fs.appendFileSync(OUT, JSON.stringify({ id: req.headers['webhook-id'], type: body.type, body }) + '\n');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":"not found"}');
});

server.listen(PORT, process.env.HOST || '127.0.0.1', () => {
  console.log(`listening on ${PORT}`);
});
