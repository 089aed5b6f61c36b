import type { AgentSettings, Integration } from '../config/index.js';
import type { QueryLimits } from '../postgres/index.js';

/** An integration's query limits: its own where it sets them, else the agent's. */
export function queryLimits(integration: Integration, settings: AgentSettings): QueryLimits {
  return {
    readOnly: integration.readOnly ?? false,
    statementTimeoutMs: integration.statementTimeoutMs ?? settings.statementTimeoutMs,
    maxRows: integration.maxRows ?? settings.queryMaxRows,
    maxResultBytes: integration.maxResultBytes ?? settings.queryMaxBytes,
    maxMessageBytes: settings.queryMaxMessageBytes,
  };
}
