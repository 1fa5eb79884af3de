/**
 * A small reverse proxy standing in for a load balancer in front of several Latchkey
 * instances: round-robin by default, or the instance a test names in `x-latchkey-instance`
 * (an index), so a test can say "redeem this code on the other instance".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Proxy {
  origin: string;
  port: number;
  /** How many requests each instance received. */
  hits: number[];
  close(): Promise<void>;
}

export async function startProxy(targetPorts: number[]): Promise<Proxy> {
  let next = 0;
  const hits = targetPorts.map(() => 0);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const named = req.headers['x-latchkey-instance'];
    const index = named !== undefined ? Number(named) % targetPorts.length : next++ % targetPorts.length;
    hits[index]!++;
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPorts[index], method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    hits,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
