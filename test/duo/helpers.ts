/** Test helpers: raw HTTP requests to the sandbox (for signing tests) and tiny fake servers. */
import { request, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RawResponse {
  status: number;
  body: { stat?: string; code?: number; message?: string; message_detail?: string; response?: unknown; metadata?: Record<string, unknown> };
}

/** Sends exactly what it is given (no signing, no re-encoding). */
export function rawRequest(apiHost: string, method: string, pathAndQuery: string, headers: Record<string, string>, body = ''): Promise<RawResponse> {
  const [host, port] = [apiHost.slice(0, apiHost.lastIndexOf(':')), Number(apiHost.slice(apiHost.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path: pathAndQuery, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as RawResponse['body'] });
        } catch {
          reject(new Error(`non-JSON reply ${res.statusCode}: ${text}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A loopback server answering every request with `reply`; returns its apiHost and a stop function. */
export async function fakeServer(reply: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ apiHost: string; stop: () => Promise<void> }> {
  const server = createServer(reply);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    apiHost: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
