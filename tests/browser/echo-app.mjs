// A tiny upstream app for the browser tests and scripts/demo: every response is an HTML page
// that lists every request header it received, exactly as received (original case, in order),
// one `name: value` line each inside <pre id="headers">. The identity nginx passed on is also
// shown in a friendlier table.
//
//   import { startEcho } from './echo-app.mjs';  const echo = await startEcho({ port: 0 });
//   node echo-app.mjs                             # ECHO_PORT (default 0), ECHO_HOST (127.0.0.1)
//
// Run as a script it prints one JSON line {"ready":true,"port":N} once it listens and stops on
// SIGTERM/SIGINT. It never opens an outbound connection.
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderPage(req) {
  const lines = [];
  const identity = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
    if (/^x-authentik-/i.test(raw[i])) {
      const shown = /jwt$/i.test(raw[i]) && raw[i + 1].length > 80
        ? `${raw[i + 1].slice(0, 60)}… (${raw[i + 1].length} bytes)` : raw[i + 1];
      identity.push(`<tr><th>${esc(raw[i])}</th><td>${esc(shown)}</td></tr>`);
    }
  }
  const user = req.headers['x-authentik-username'];
  const who = user
    ? `<p id="who">Signed in as <b>${esc(user)}</b>. <a id="sign-out" href="/outpost.goauthentik.io/sign_out">Sign out</a></p>`
    : '<p id="who">No X-authentik-username header: this request was not authenticated by nginx.</p>';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>echo app</title>
<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:1em;vertical-align:top}
td,pre{font-family:monospace;word-break:break-all;white-space:pre-wrap}</style></head>
<body><h1>echo app</h1>
${who}
<p id="request">${esc(req.method)} <code id="url">${esc(req.url)}</code></p>
<h2>Identity headers from nginx</h2>
<table id="identity">${identity.join('\n')}</table>
<h2>Every request header received</h2>
<pre id="headers">${esc(lines.join('\n'))}</pre>
</body></html>
`;
}

/**
 * Start the echo app. Resolves to { server, port, url, requests, close() } once listening.
 * `requests` counts the requests served.
 */
export function startEcho({ port = 0, host = '127.0.0.1' } = {}) {
  const app = { requests: 0 };
  // Session cookies and X-authentik-jwt of big tokens exceed node's default 16 KB header limit.
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    app.requests += 1;
    req.resume();
    req.on('end', () => {
      const body = renderPage(req);
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = server.address().port;
      Object.assign(app, {
        server,
        port: actual,
        url: `http://${host}:${actual}`,
        close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
      });
      resolve(app);
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
  const app = await startEcho({
    port: Number(process.env.ECHO_PORT || 0),
    host: process.env.ECHO_HOST || '127.0.0.1',
  });
  process.stdout.write(`${JSON.stringify({ ready: true, port: app.port })}\n`);
  const stop = () => app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
