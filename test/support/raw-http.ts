import { connect, type Socket } from 'node:net';

/** What came back on a raw connection: the parsed head (when any bytes came) and whether the server closed it. */
export interface RawResponse {
  /** undefined when the server closed without answering. */
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  raw: string;
  /** The server closed (or reset) the connection before `timeoutMs`. */
  closed: boolean;
}

export interface RawOptions {
  /** Hang guard: give up after this long and report `closed: false`. */
  timeoutMs?: number;
  /** Writes spread out over time, e.g. headers byte by byte; each entry is written after `delayMs`. */
  parts?: (string | Buffer)[];
  delayMs?: number;
  /** Resolve as soon as a complete response head has arrived (keep-alive requests). */
  untilHead?: boolean;
}

function parse(raw: Buffer, closed: boolean): RawResponse {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : undefined, headers, body: end === -1 ? '' : text.slice(end + 4), raw: text, closed };
}

/**
 * Sends bytes fetch() cannot express (raw `..` paths, NUL bytes, lying Content-Length, slow
 * headers) on a fresh TCP connection and collects the answer until the server closes it.
 */
export function rawRequest(url: string, request: string | Buffer, options: RawOptions = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket: Socket = connect({ host: hostname, port: Number(port) });
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(Buffer.concat(chunks), closed));
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.untilHead && Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      void (async () => {
        socket.write(request);
        for (const part of options.parts ?? []) {
          await new Promise((r) => setTimeout(r, options.delayMs ?? 100));
          if (settled || socket.destroyed) return;
          socket.write(part);
        }
      })();
    });
  });
}

/** A request head with CRLFs; `headers` are written as given (no validation). */
export function head(method: string, path: string, headers: Record<string, string | number> = {}): string {
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}
