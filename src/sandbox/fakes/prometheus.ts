import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenFake, readBody, sendJson, type ListeningFake } from './fake-http.ts';

// A stand-in for Prometheus' HTTP API, instant queries only: `GET|POST <prefix>/api/v1/query` with
// `query` (and `time`) as Prometheus takes them, answered in its JSON format (a vector of one series
// per value, or `status: "error"`). It evaluates no PromQL: `answer` decides each query's values.

/** Each series' value for a query, or an error as Prometheus reports a bad one. */
export type PrometheusAnswer = number[] | { errorType: string; error: string; status?: number };

export interface FakePrometheusOptions {
  /** Default "/fake/prometheus": the server's base URL is `<origin><prefix>`. */
  prefix?: string;
  /** The Bearer token requests must carry; undefined accepts any. */
  token?: string;
  answer: (query: string, at: number) => PrometheusAnswer;
}

export class FakePrometheus {
  readonly prefix: string;
  readonly token: string | undefined;
  /** Every query received, in order, for tests. */
  readonly queries: string[] = [];
  #answer: FakePrometheusOptions['answer'];

  constructor(options: FakePrometheusOptions) {
    this.prefix = (options.prefix ?? '/fake/prometheus').replace(/\/+$/, '');
    this.token = options.token;
    this.#answer = options.answer;
  }

  /** Replaces how queries are answered (a test turning a figure up). */
  answerWith(answer: FakePrometheusOptions['answer']): void {
    this.#answer = answer;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== `${this.prefix}/api/v1/query`) return false;
    if (req.method !== 'GET' && req.method !== 'POST') {
      sendJson(res, 405, { status: 'error', errorType: 'bad_data', error: 'method not allowed' });
      return true;
    }
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(401, { 'Content-Type': 'text/plain' });
      res.end('Unauthorized\n');
      return true;
    }
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const query = params.get('query');
    if (!query) {
      sendJson(res, 400, {
        status: 'error',
        errorType: 'bad_data',
        error: 'invalid parameter "query": no query',
      });
      return true;
    }
    this.queries.push(query);
    const time = params.get('time');
    const at = time === null ? Date.now() / 1000 : Number(time);
    const answer = this.#answer(query, at * 1000);
    if (!Array.isArray(answer)) {
      sendJson(res, answer.status ?? 400, {
        status: 'error',
        errorType: answer.errorType,
        error: answer.error,
      });
      return true;
    }
    sendJson(res, 200, {
      status: 'success',
      data: {
        resultType: 'vector',
        result: answer.map((value, i) => ({
          metric: answer.length > 1 ? { instance: `fake-${i + 1}` } : {},
          value: [at, formatValue(value)],
        })),
      },
    });
    return true;
  }
}

/** As Prometheus writes a sample value: Go's formatting of NaN and the infinities. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
