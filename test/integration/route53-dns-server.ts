import { createSocket } from 'node:dgram';

// A tiny authoritative-style DNS server on 127.0.0.1 (UDP) for resolver-verification tests: answers A,
// CNAME and TXT questions from a map that tests change while it runs. Hand-encoded (RFC 1035 §4).

const TYPES = { A: 1, CNAME: 5, TXT: 16 } as const;
type AnswerType = keyof typeof TYPES;

export interface TestDnsServer {
  /** "127.0.0.1:PORT", as a plan's verify.resolvers entry. */
  address: string;
  set(name: string, type: AnswerType, values: string[]): void;
  /** Stop answering at all (queries then time out), or resume. */
  silent(on: boolean): void;
  queries: number;
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const records = new Map<string, string[]>();
  const key = (name: string, type: AnswerType) => `${name.toLowerCase().replace(/\.$/, '')}|${type}`;
  let quiet = false;
  const socket = createSocket('udp4');
  const server: TestDnsServer = {
    address: '',
    queries: 0,
    set: (name, type, values) => void records.set(key(name, type), values),
    silent: (on) => void (quiet = on),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (query, peer) => {
    server.queries++;
    if (quiet || query.length < 12) return;
    // Question: labels from offset 12, then QTYPE and QCLASS.
    const labels: string[] = [];
    let offset = 12;
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset] ?? 0;
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('latin1'));
      offset += 1 + length;
    }
    const questionEnd = offset + 5;
    const qtype = query.readUInt16BE(offset + 1);
    const type = (Object.keys(TYPES) as AnswerType[]).find((t) => TYPES[t] === qtype);
    const name = labels.join('.');
    const answers: Buffer[] = [];
    const known = [...records.keys()].some((k) => k.startsWith(`${name.toLowerCase()}|`));
    for (const value of (type && records.get(key(name, type))) ?? []) {
      const rdata = type === 'A' ? encodeA(value) : type === 'CNAME' ? encodeName(value) : encodeTxt(value);
      const fixed = Buffer.alloc(10);
      fixed.writeUInt16BE(TYPES[type!], 0);
      fixed.writeUInt16BE(1, 2); // class IN
      fixed.writeUInt32BE(0, 4); // TTL 0: nothing caches between rounds
      fixed.writeUInt16BE(rdata.length, 8);
      answers.push(Buffer.from([0xc0, 0x0c]), fixed, rdata); // name: pointer to the question
    }
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8480 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR AA RD RA, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length / 3, 6);
    socket.send(
      Buffer.concat([header, query.subarray(12, questionEnd), ...answers]),
      peer.port,
      peer.address,
    );
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.address = `127.0.0.1:${socket.address().port}`;
  return server;
}

function encodeA(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}

function encodeTxt(text: string): Buffer {
  const chunks = text.match(/[\s\S]{1,255}/g) ?? [''];
  return Buffer.concat(
    chunks.map((c) => Buffer.concat([Buffer.from([Buffer.byteLength(c)]), Buffer.from(c)])),
  );
}
