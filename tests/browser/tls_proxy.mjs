// An https front for an app under test, as a TLS-terminating load balancer
// is in a deployment:
//
//   node tests/browser/tls_proxy.mjs <port> <certPem> <keyPem> <targetPort>
//
// Listens on 127.0.0.1:<port> with the certificate given and passes every
// request, as it came, to http://127.0.0.1:<targetPort>. Prints one line,
// `{"port":<port>}`, once it listens; exits when its stdin closes.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

const [port, cert, key, target] = process.argv.slice(2);
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const upstream = http.request({
    host: '127.0.0.1',
    port: Number(target),
    method: req.method,
    path: req.url,
    headers: req.headers,
  }, (answer) => {
    res.writeHead(answer.statusCode, answer.rawHeaders);
    answer.pipe(res);
  });
  upstream.on('error', (err) => {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`tls_proxy: ${err.message}`);
  });
  req.pipe(upstream);
});

server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
