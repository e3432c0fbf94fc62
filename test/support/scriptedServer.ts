import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the scripted server received, its body read in full. */
export interface SeenRequest {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * An HTTP server on 127.0.0.1 that records every request (body read in full) and answers it with `answer`: for
 * tests of an HTTP client against scripted answers (statuses, headers, bodies a fake would not give).
 */
export async function startScriptedServer(answer: (req: SeenRequest, res: http.ServerResponse) => void): Promise<{ url: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(got);
      answer(got, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
