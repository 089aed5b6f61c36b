import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { CredflowError } from '../errors.js';
import type { Agent } from '../use-cases/index.js';
import { deny, tokenOf, type Access } from './create-access.js';
import { requireJson } from './method-guards.js';
import { parseBody } from './parse-body.js';

/** A reload or the config status concern every integration: a token limited to some cannot use them. */
function needUnrestricted(logger: Logger, req: Request, res: Response): void {
  if (tokenOf(res).unrestricted) return;
  deny(logger, req, tokenOf(res).id, 'forbidden');
  throw new CredflowError(
    'FORBIDDEN',
    'this route needs a token that is not limited to some integrations or workflows',
  );
}

/**
 * `POST /reload` (admin): 200 with what changed, or 422 CONFIG_RELOAD_INVALID with the problems
 * (the last good configuration stays). `GET /config/status` (read): what is served and the last reload.
 */
export function reloadRoutes(agent: Agent, access: Access, logger: Logger): Router {
  const router = Router();
  router.post('/reload', access.need('admin'), requireJson(false), async (req, res) => {
    needUnrestricted(logger, req, res);
    parseBody(z.strictObject({}), req.body ?? {});
    const result = await agent.reload('api', { actor: { tokenId: tokenOf(res).id, route: 'POST /api/v1/reload' } });
    if (!result.applied) {
      throw new CredflowError(
        'CONFIG_RELOAD_INVALID',
        `the configuration has ${result.problems.length} problem(s); the last good configuration is still served`,
        {
          details: { problems: result.problems, at: result.at },
        },
      );
    }
    res.json(result);
  });
  router.get('/config/status', access.need('read'), (req, res) => {
    needUnrestricted(logger, req, res);
    res.json(agent.configStatus());
  });
  return router;
}
