import { z } from 'zod';

/**
 * Request headers a step may not set: the agent frames the request itself (Host from the URL,
 * Content-Length from the body, one connection per request, no compression it would have to
 * undo), and hop-by-hop headers would let a step smuggle a second request or reach a proxy.
 */
const forbiddenHeaders = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'expect',
  'accept-encoding',
  'http2-settings',
]);

const tokenChars = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const headersSchema = z
  .record(
    z
      .string()
      .max(256)
      .regex(tokenChars, { message: 'a header name must be an HTTP token' })
      .refine((name) => !forbiddenHeaders.has(name.toLowerCase()) && !/^proxy-/i.test(name), {
        message:
          'the agent sets this header itself (Host, Connection, Content-Length, Transfer-Encoding, Proxy-*, ...)',
      }),
    z
      .string()
      .max(8192)
      .regex(/^[^\r\n\0]*$/, { message: 'a header value may not hold CR, LF or NUL' }),
  )
  .refine((headers) => Object.keys(headers).length <= 64, { message: 'at most 64 headers' });

/** The methods http.fetch sends; a body goes with the ones that carry one. */
export const httpMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const httpFetchOptionsSchema = z.strictObject({
  method: z
    .string()
    .transform((m) => m.toUpperCase())
    .pipe(z.enum(httpMethods))
    .optional(),
  headers: headersSchema.optional(),
  body: z
    .string()
    .max(1024 * 1024)
    .optional(),
});

/** What step code passes to http.fetch(url, options): checked on the host. */
export const httpFetchArgsSchema = z
  .tuple([z.string().min(1).max(8192), httpFetchOptionsSchema.nullish()])
  .refine(([, options]) => !(options?.body !== undefined && ['GET', 'HEAD'].includes(options.method ?? 'GET')), {
    message: 'a GET or HEAD request has no body',
    path: [1, 'body'],
  });

export interface HttpRequest {
  url: string;
  method: (typeof httpMethods)[number];
  headers: Record<string, string>;
  body: string | undefined;
}

/** What http.fetch resolves to. The body is text (UTF-8); parsing it (JSON.parse) is the step's job. */
export interface HttpResponse {
  status: number;
  statusText: string;
  /** Lower-case names; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** The URL that answered, after redirects. */
  url: string;
  redirected: boolean;
}
