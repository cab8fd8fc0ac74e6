// A provider's HTTP API stood in for on loopback (a Bot API, an SMS gateway): each request's body is read and
// handed to `answer`, whose status, JSON text and headers are sent back.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface StubAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface Stub {
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

export async function httpStub(answer: (req: IncomingMessage, body: string) => StubAnswer): Promise<Stub> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const a = answer(req, Buffer.concat(chunks).toString("utf8"));
      res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
