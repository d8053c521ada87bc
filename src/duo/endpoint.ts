/**
 * Where the client sends requests: validates the configured API host and decides the scheme.
 * Real Duo is always https; plain http is allowed only for a loopback host with an explicit port,
 * which is how the client reaches the local sandbox.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface DuoEndpoint {
  /** Lower-cased host as signed, port included when configured (what Duo's clients sign). */
  signedHost: string;
  baseUrl: string;
  loopback: boolean;
}

const HOST_RE = /^(?:(\[[0-9a-f:.]+\])|([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*))(?::(\d{1,5}))?$/;

export class DuoConfigError extends Error {
  override readonly name = 'DuoConfigError';
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

export function resolveDuoEndpoint(apiHost: string): DuoEndpoint {
  const host = apiHost.trim().toLowerCase();
  const m = HOST_RE.exec(host);
  if (!m) {
    throw new DuoConfigError(
      `Duo API host "${apiHost}" is not a host name; give it without scheme or path, e.g. api-xxxxxxxx.duosecurity.com (or 127.0.0.1:PORT for the sandbox)`,
    );
  }
  const hostname = m[1] ?? m[2] ?? '';
  const port = m[3];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new DuoConfigError(`Duo API host "${apiHost}" has port ${port}, which is out of range 1-65535`);
  }
  const loopback = isLoopbackHost(hostname);
  const scheme = loopback && port !== undefined ? 'http' : 'https';
  return { signedHost: host, baseUrl: `${scheme}://${host}`, loopback };
}

let cachedVersion: string | undefined;

/** duo-sync's version from package.json (read once, lazily, so nothing is read at import time). */
export function duoSyncVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = __dirname;
  cachedVersion = '0.0.0';
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const parsed: unknown = JSON.parse(readFileSync(candidate, 'utf8'));
      if (parsed && typeof parsed === 'object' && 'name' in parsed && parsed.name === 'duo-sync' && 'version' in parsed && typeof parsed.version === 'string') {
        cachedVersion = parsed.version;
        break;
      }
    }
    dir = dirname(dir);
  }
  return cachedVersion;
}
