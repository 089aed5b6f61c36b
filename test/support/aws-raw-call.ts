import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/** SHA-256 (or HMAC-SHA256 with a secret) in the shape @smithy/signature-v4 expects, from node:crypto. */
class NodeSha256 {
  private hash;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export interface RawAwsCall {
  /** X-Amz-Target, e.g. `secretsmanager.GetSecretValue`. */
  target?: string;
  /** The body that is signed (and sent, unless `sendBody` is given). */
  body: string;
  /** Signs with this key pair (by @smithy/signature-v4, as the SDK does); unsigned without. */
  sign?: { accessKeyId: string; secretAccessKey: string; date?: Date; region?: string };
  /** Sent instead of `body` after signing: a replay of the signature with another body. */
  sendBody?: string;
  /** Host header (signed as such); default the endpoint's own host:port. */
  host?: string;
  /** Headers changed after signing (a replay with other headers). */
  afterSigning?: Record<string, string>;
}

/** One raw HTTP request to an AWS JSON 1.1 endpoint, as curl or a hand-signing client would send it. */
export async function rawAwsCall(endpoint: string, call: RawAwsCall): Promise<Response> {
  const url = new URL(endpoint);
  let headers: Record<string, string> = {
    host: call.host ?? url.host,
    'content-type': 'application/x-amz-json-1.1',
    ...(call.target === undefined ? {} : { 'x-amz-target': call.target }),
  };
  if (call.sign) {
    const signer = new SignatureV4({
      credentials: { accessKeyId: call.sign.accessKeyId, secretAccessKey: call.sign.secretAccessKey },
      region: call.sign.region ?? 'us-east-1',
      service: 'secretsmanager',
      sha256: NodeSha256,
    });
    const signed = await signer.sign(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        query: {},
        headers,
        body: call.body,
      },
      call.sign.date ? { signingDate: call.sign.date } : {},
    );
    headers = signed.headers;
  }
  headers = { ...headers, ...call.afterSigning };
  const body = call.sendBody ?? call.body;
  return new Promise<Response>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers))
            if (typeof value === 'string') responseHeaders.set(name, value);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: responseHeaders }));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
