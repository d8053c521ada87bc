/**
 * A codec server (docs.temporal.io/codec-server) so the Temporal Web UI and CLI can show encrypted
 * payloads: `POST /encode` and `POST /decode` (also under one namespace path segment, e.g.
 * `/default/decode`), each taking and returning
 * `{"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}` (Payload in proto-JSON form,
 * as the UI sends it). CORS answers only the configured UI origins and allows the headers the UI
 * sends (content-type, x-namespace, authorization); other browser origins get 403. Bodies over
 * `maxBodyBytes` get 413. It listens on loopback unless told otherwise: whoever can call /decode can
 * read every payload, so give it a `bearerToken` (compared in constant time) or put authentication
 * in front of it. CORS `*` is allowed with a loud warning at start; the `null` origin is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { ConfigError } from '../config/env';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** 0 picks a free port. */
  port: number;
  /** Defaults to 127.0.0.1 (loopback only). */
  host?: string;
  /** Browser origins allowed to call the server, e.g. `http://localhost:8233`; `*` allows any origin without credentials. */
  corsOrigins?: readonly string[];
  /** Largest accepted request body; larger requests get 413. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Callers must send `Authorization: Bearer <token>`; anything else gets 401. */
  bearerToken?: string;
  /** Optional gate (e.g. check an Authorization header); a false answer gets 401. */
  authorize?: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Start-up warnings (CORS `*`, a non-loopback host); default console.warn. */
  warn?: (message: string) => void;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Digests are compared, so the comparison takes the same time whatever the token's length or content. */
function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const given = /^Bearer ([^\s]+)\s*$/i.exec(header ?? '')?.[1];
  const same = timingSafeEqual(tokenDigest(given ?? ''), expected);
  return given !== undefined && same;
}

export interface CodecServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 8 << 20;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

const JsonPayloadSchema = z.object({
  metadata: z.record(z.string(), z.base64('metadata values must be base64')).nullish(),
  data: z.base64('data must be base64').nullish(),
});
const PayloadsBodySchema = z.object({ payloads: z.array(JsonPayloadSchema) });
type JsonPayload = z.infer<typeof JsonPayloadSchema>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function fromJson(p: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  return { metadata, data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')) };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array(0)).toString('base64') };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `request body is larger than ${limit} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Stop collecting; the rest of the body is discarded while the 413 goes out.
      req.off('data', onData);
      req.resume();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json);
}

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const host = options.host ?? '127.0.0.1';
  const origins = new Set(options.corsOrigins ?? []);
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const expectedToken = options.bearerToken === undefined ? undefined : tokenDigest(options.bearerToken);
  if ([...origins].some((o) => o.toLowerCase() === 'null')) {
    throw new ConfigError('codec server CORS: the "null" origin is refused: browsers send it from sandboxed iframes, file:// pages and some redirects, so any page could claim it; list the UI\'s real origin');
  }
  if (origins.has('*')) {
    warn(
      `duo-sync codec server: WARNING CORS allows any origin (*): any web page open in a browser that can reach this server may call /decode${expectedToken ? ' (it still needs the bearer token)' : ' and read every payload, and no bearer token is required'}; list the UI's origins instead`,
    );
  }
  if (!LOOPBACK.has(host)) {
    warn(`duo-sync codec server: WARNING listening on ${host}: anyone who reaches /decode can read every payload${expectedToken ? ' with the bearer token' : '; set a bearer token or put authentication in front of it'}`);
  }

  /** Sets CORS headers; false when a browser origin is present and not allowed. */
  function cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    res.setHeader('vary', 'Origin');
    if (origins.has(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      return true;
    }
    if (origins.has('*')) {
      res.setHeader('access-control-allow-origin', '*');
      return true;
    }
    return false;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // `/encode`, `/decode`, or the same under one namespace segment (`/default/decode`) for the CLI's
    // `--codec-endpoint http://host:port/{namespace}` templating.
    const route = /^(?:\/[^/]+)?\/(encode|decode)\/?$/.exec(new URL(req.url ?? '/', 'http://codec.invalid').pathname)?.[1];
    const known = route !== undefined;
    if (!cors(req, res)) throw new HttpError(403, 'origin not allowed');
    if (req.method === 'OPTIONS') {
      if (!known) throw new HttpError(404, 'not found: use POST /encode or POST /decode');
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', '600');
      send(res, 204);
      return;
    }
    if (!known) throw new HttpError(404, 'not found: use POST /encode or POST /decode');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST, OPTIONS');
      throw new HttpError(405, 'method not allowed: use POST');
    }
    if (expectedToken && !bearerMatches(req.headers.authorization, expectedToken)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'unauthorized: send Authorization: Bearer <token>');
    }
    if (options.authorize && !(await options.authorize(req))) throw new HttpError(401, 'unauthorized');
    const raw = await readBody(req, limit);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
    const parsed = PayloadsBodySchema.safeParse(json);
    if (!parsed.success) {
      throw new HttpError(400, `invalid body: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`);
    }
    const payloads = parsed.data.payloads.map(fromJson);
    let result: Payload[];
    try {
      result = route === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    } catch (err) {
      throw new HttpError(400, err instanceof Error ? err.message : String(err));
    }
    send(res, 200, { payloads: result.map(toJson) });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error';
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 413) {
        res.setHeader('connection', 'close');
        req.resume();
      }
      send(res, status, { error: message });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
