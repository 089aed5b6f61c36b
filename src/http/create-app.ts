import express, { type Express } from 'express';
import { z } from 'zod';
import type { Agent } from '../agent/create-agent.js';
import { profileNameSchema } from '../config/integration-schema.js';
import { CredflowError } from '../errors.js';
import { errorHandler } from './error-handler.js';
import { parseBody } from './parse-body.js';
import { requireToken } from './require-token.js';

const runBody = z.strictObject({
  params: z.record(z.string(), z.unknown()).optional(),
  reveal: z.boolean().optional(),
});

const queryBody = z.strictObject({
  sql: z.string().min(1, { message: 'must not be empty' }).max(100_000),
  params: z.array(z.unknown()).max(10_000).optional(),
});

const emptyBody = z.strictObject({});

const profileQuery = z.strictObject({ profile: profileNameSchema.optional() });

/** `?profile=` on routes that resolve; nothing else is accepted in the query string. */
function profileOf(query: unknown): { profile?: string } {
  const result = profileQuery.safeParse(query ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`);
    throw new CredflowError('BAD_REQUEST', `invalid query string: ${problems.join('; ')}`, { details: { problems } });
  }
  return result.data.profile ? { profile: result.data.profile } : {};
}

export interface CreateAppOptions {
  agent: Agent;
  tokens: readonly string[];
  /** Largest accepted JSON body. */
  bodyLimit?: string;
}

/** The HTTP API: thin routes that validate input, call the agent and return JSON. */
export function createApp(options: CreateAppOptions): Express {
  const { agent } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Prometheus scrapes with the same bearer token as every other route but /healthz.
  app.get('/metrics', requireToken(options.tokens), async (_req, res) => {
    res.type(agent.metrics.registry.contentType).send(await agent.metrics.registry.metrics());
  });

  const api = express.Router();
  api.use(requireToken(options.tokens));
  api.use(express.json({ limit: options.bodyLimit ?? '100kb', strict: true }));

  api.get('/integrations', (_req, res) => {
    res.json({ integrations: agent.listIntegrations() });
  });
  api.get('/integrations/:name', (req, res) => {
    res.json(agent.describeIntegration(req.params.name));
  });
  api.get('/workflows', (_req, res) => {
    res.json({ workflows: agent.listWorkflows() });
  });
  api.get('/workflows/:name', (req, res) => {
    res.json(agent.describeWorkflow(req.params.name));
  });
  api.post('/workflows/:name/run', async (req, res) => {
    const body = parseBody(runBody, req.body);
    res.json(
      await agent.previewWorkflow(req.params.name, { ...(body.params ? { params: body.params } : {}), reveal: body.reveal === true, ...profileOf(req.query) }),
    );
  });
  api.post('/integrations/:name/test', async (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(await agent.testIntegration(req.params.name, profileOf(req.query)));
  });
  api.get('/integrations/:name/status', (req, res) => {
    res.json(agent.status(req.params.name, profileOf(req.query)));
  });
  api.post('/integrations/:name/invalidate', (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(agent.invalidate(req.params.name));
  });
  api.post('/integrations/:name/query', async (req, res) => {
    const body = parseBody(queryBody, req.body);
    res.json(await agent.query(req.params.name, body.sql, body.params ?? [], profileOf(req.query)));
  });
  api.use((req, _res, next) => {
    next(new CredflowError('NOT_FOUND', `no route ${req.method} ${req.baseUrl}${req.path}`));
  });

  app.use('/api/v1', api);
  app.use((req, _res, next) => {
    next(new CredflowError('NOT_FOUND', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler(agent.logger, agent.masker));
  return app;
}
