import express, { type Express, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AccessToken, Actor } from '../access/index.js';
import { profileNameSchema } from '../config/index.js';
import { CredflowError } from '../errors.js';
import { cutText } from '../logging/index.js';
import type { SecretMasker } from '../masking/index.js';
import type { Agent, QueryOptions } from '../use-cases/index.js';
import { errorHandler } from './error-handler.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { compose } from './compose.js';
import { createHttpMetrics, type HttpMetrics } from './http-metrics.js';
import { parseBody } from './parse-body.js';
import { createAccess, deny, tokenOf } from './create-access.js';
import { methodNotAllowed, requireJson } from './method-guards.js';
import { reloadRoutes } from './reload-routes.js';

const runBody = z.strictObject({
  params: z.record(z.string(), z.unknown()).optional(),
  reveal: z.boolean().optional(),
});

const queryBody = z.strictObject({
  sql: z
    .string()
    .min(1, { message: 'must not be empty' })
    .max(100_000)
    .refine((sql) => !sql.includes('\u0000'), { message: 'must not contain NUL characters' }),
  params: z.array(z.unknown()).max(10_000).optional(),
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(600_000)
    .optional()
    .describe('how long the caller waits: a wait for new credentials during a rotation ends by then'),
});

const emptyBody = z.strictObject({});

const profileQuery = z.strictObject({ profile: profileNameSchema.optional() });

/** `?profile=` on routes that resolve; nothing else is accepted in the query string. */
function profileOf(req: Request): { profile?: string } {
  // Express parses the query string each time req.query is read: most requests have none.
  if (!req.url.includes('?')) return {};
  const result = profileQuery.safeParse(req.query ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`);
    throw new CredflowError('BAD_REQUEST', `invalid query string: ${problems.join('; ')}`, { details: { problems } });
  }
  return result.data.profile ? { profile: result.data.profile } : {};
}

const nameOf = (req: Request): string => String(req.params.name);

/** The audit identity of a request: its token's id and the route pattern (never the token). */
function actorOf(req: Request, res: Response): Actor {
  return { tokenId: tokenOf(res).id, route: `${req.method} ${req.baseUrl}${String(req.route?.path ?? req.path)}` };
}

/**
 * Ends a query's wait for new credentials when its client goes away (the connection closed before
 * the answer was written); listens only once a wait begins.
 */
function cancelledWhenGone(res: Response): QueryOptions['cancelled'] {
  return (cancel) => {
    const onClose = () => {
      if (!res.writableEnded) cancel();
    };
    if (res.destroyed || res.socket?.destroyed) {
      cancel();
      return () => undefined;
    }
    res.on('close', onClose);
    return () => res.off('close', onClose);
  };
}

export interface CreateAppOptions {
  agent: Agent;
  /** The accepted tokens with their scopes (see src/access). */
  tokens: readonly AccessToken[];
  /** For refusals (audit lines) and unhandled errors. */
  logger: Logger;
  /** Masks every error message and detail before it is sent. */
  masker: SecretMasker;
  /** The agent's metrics, served at /metrics. */
  registry: Registry;
  /** Largest accepted JSON body. */
  bodyLimit?: string;
  /** Counts failed authentications per client address (default: 20 per 10 s, 10,000 addresses). */
  authFailures?: AuthFailureLimiter;
  /** The HTTP metrics, in the agent's registry (default: made here). */
  httpMetrics?: HttpMetrics;
}

/** The HTTP API: thin routes that validate input, call the agent and return JSON. */
export function createApp(options: CreateAppOptions): Express {
  const { agent, logger, registry } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const limiter =
    options.authFailures ?? new AuthFailureLimiter({ limit: 20, windowMs: 10_000, maxAddresses: 10_000, logger });
  const httpMetrics = options.httpMetrics ?? createHttpMetrics(registry);
  httpMetrics.setSources({ trackedAddresses: () => limiter.size });
  const access = createAccess(options.tokens, logger, { limiter, metrics: httpMetrics });
  const json = express.json({ limit: options.bodyLimit ?? '100kb', strict: true });

  // The busiest route, on the app itself and before every other: no router mount to cross and no
  // other route to try first, and its checks composed into one handler. Its checks are those of
  // every other API route.
  app.post(
    '/api/v1/integrations/:name/query',
    compose(access.authenticate, requireJson(true), json, access.need('query', 'integration'), async (req, res) => {
      const body = parseBody(queryBody, req.body);
      res.json(
        await agent.query(nameOf(req), body.sql, body.params ?? [], {
          ...profileOf(req),
          actor: actorOf(req, res),
          ...(body.timeoutMs === undefined ? {} : { timeoutMs: body.timeoutMs }),
          cancelled: cancelledWhenGone(res),
        }),
      );
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Prometheus scrapes with a bearer token too; metrics name every integration, so the token
  // needs "read" over all of them.
  app.get('/metrics', access.authenticate, access.need('read'), async (req, res) => {
    if (!tokenOf(res).unrestricted) {
      deny(logger, req, tokenOf(res).id, 'forbidden');
      throw new CredflowError(
        'FORBIDDEN',
        'metrics need a token that is not limited to some integrations or workflows',
      );
    }
    res.type(registry.contentType).send(await registry.metrics());
  });

  const api = express.Router();
  api.use(access.authenticate);
  // Routes whose body is optional (run, test, invalidate) take an empty body without a Content-Type.
  api.use((req, res, next) => (req.method === 'POST' ? requireJson(false)(req, res, next) : next()));
  api.use(json);

  api.get('/integrations', access.need('read'), (_req, res) => {
    const token = tokenOf(res);
    res.json({ integrations: agent.listIntegrations().filter((i) => token.integrations(i.name)) });
  });
  api.get('/integrations/:name', access.need('read', 'integration'), (req, res) => {
    res.json(agent.describeIntegration(nameOf(req)));
  });
  api.get('/workflows', access.need('read'), (_req, res) => {
    const token = tokenOf(res);
    res.json({ workflows: agent.listWorkflows().filter((w) => token.workflows(w.name)) });
  });
  api.get('/workflows/:name', access.need('read', 'workflow'), (req, res) => {
    res.json(agent.describeWorkflow(nameOf(req)));
  });
  api.post('/workflows/:name/run', access.need('preview', 'workflow'), async (req, res) => {
    const body = parseBody(runBody, req.body);
    if (body.reveal === true) access.check(req, res, 'reveal', 'workflow');
    res.json(
      await agent.previewWorkflow(nameOf(req), {
        ...(body.params ? { params: body.params } : {}),
        reveal: body.reveal === true,
        ...profileOf(req),
        actor: actorOf(req, res),
      }),
    );
  });
  api.post('/integrations/:name/test', access.need('query', 'integration'), async (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(await agent.testIntegration(nameOf(req), { ...profileOf(req), actor: actorOf(req, res) }));
  });
  api.get('/integrations/:name/status', access.need('read', 'integration'), (req, res) => {
    res.json(agent.status(nameOf(req), profileOf(req)));
  });
  api.post('/integrations/:name/invalidate', access.need('admin', 'integration'), (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(agent.invalidate(nameOf(req), { actor: actorOf(req, res) }));
  });
  api.use(reloadRoutes(agent, access, logger));
  // A known path with another method: 405 with Allow (after authentication, like the 404 below).
  for (const [route, method] of [
    ['/integrations', 'GET'],
    ['/integrations/:name', 'GET'],
    ['/workflows', 'GET'],
    ['/workflows/:name', 'GET'],
    ['/workflows/:name/run', 'POST'],
    ['/integrations/:name/test', 'POST'],
    ['/integrations/:name/status', 'GET'],
    ['/integrations/:name/invalidate', 'POST'],
    ['/integrations/:name/query', 'POST'],
    ['/reload', 'POST'],
    ['/config/status', 'GET'],
  ] as const) {
    api.all(route, methodNotAllowed(method));
  }
  api.use((req, _res, next) => {
    next(new CredflowError('NOT_FOUND', `no route ${req.method} ${cutText(`${req.baseUrl}${req.path}`)}`));
  });

  app.use('/api/v1', api);
  app.all('/healthz', methodNotAllowed('GET'));
  app.all('/metrics', methodNotAllowed('GET'));
  app.use((req, _res, next) => {
    next(new CredflowError('NOT_FOUND', `no route ${req.method} ${cutText(req.path)}`));
  });
  app.use(errorHandler(logger, options.masker));
  return app;
}
