import express, { type Express } from 'express';
import { z } from 'zod';
import type { Agent } from '../agent/create-agent.js';
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
    res.json(await agent.previewWorkflow(req.params.name, { ...(body.params ? { params: body.params } : {}), reveal: body.reveal === true }));
  });
  api.post('/integrations/:name/test', async (req, res) => {
    parseBody(emptyBody, req.body);
    res.json(await agent.testIntegration(req.params.name));
  });
  api.post('/integrations/:name/query', async (req, res) => {
    const body = parseBody(queryBody, req.body);
    res.json(await agent.query(req.params.name, body.sql, body.params ?? []));
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
