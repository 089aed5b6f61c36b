import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose } from '../../src/http/compose.js';

describe('compose', () => {
  let url = '';
  let close: () => void = () => undefined;

  beforeAll(async () => {
    const seen: RequestHandler = (req, res, next) => {
      res.locals.trail = [...((res.locals.trail as string[] | undefined) ?? []), 'a'];
      next();
    };
    const app = express();
    app.get(
      '/ok',
      compose(
        seen,
        (_req, res, next) => next(null),
        (_req, res) => void res.json({ trail: res.locals.trail }),
      ),
    );
    app.get(
      '/next-error',
      compose(
        seen,
        (_req, _res, next) => next(new Error('passed')),
        () => {
          throw new Error('never reached');
        },
      ),
    );
    app.get(
      '/throws',
      compose(seen, () => {
        throw new Error('thrown');
      }),
    );
    app.get(
      '/rejects',
      compose(seen, async () => {
        await Promise.resolve();
        throw new Error('rejected');
      }),
    );
    app.get(
      '/falls-through',
      compose(seen, (_req, _res, next) => next()),
    );
    app.get('/falls-through', (_req, res) => void res.json({ after: true }));
    const onError: ErrorRequestHandler = (error: Error, _req, res, _next) =>
      void res.status(500).json({ error: error.message });
    app.use(onError);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close());

  const get = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('runs the handlers in order; a falsy next() argument is no error', async () => {
    expect(await get('/ok')).toEqual({ status: 200, body: { trail: ['a'] } });
  });

  it('hands an error passed to next, thrown, or rejected to the error handler, and runs nothing after it', async () => {
    expect(await get('/next-error')).toEqual({ status: 500, body: { error: 'passed' } });
    expect(await get('/throws')).toEqual({ status: 500, body: { error: 'thrown' } });
    expect(await get('/rejects')).toEqual({ status: 500, body: { error: 'rejected' } });
  });

  it('goes on to the next route when the last handler calls next()', async () => {
    expect(await get('/falls-through')).toEqual({ status: 200, body: { after: true } });
  });
});
