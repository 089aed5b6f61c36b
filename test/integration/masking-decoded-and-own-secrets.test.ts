import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFiles } from '../support/config-dir.js';
import { logLines } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';

/** A secret can leak raw, JSON-escaped (in a JSON body or log line) or URL-encoded. */
const leakFormsOf = (secret: string) => [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];

describe('masking: decoded binary secrets, the agent’s own secrets and the API tokens', () => {
  let t: TestAgent;
  const AGENT_KEY = 'agent-key-0123456789';
  const binaryPassword = 'Bin-pw-7f3a9c21&<>"x';
  const plainBinary = 'plain-binary-secret-5e8d1b';

  const config: ConfigFiles = {
    workflows: {
      decodeBinary: {
        name: 'decodeBinary',
        params: { secretName: 'binarySecret' },
        steps: [
          {
            name: 'fetch',
            code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); const text = base64.decode(r.SecretBinary); console.log(text); return JSON.parse(text);',
          },
        ],
      },
      decodePlainBinary: {
        name: 'decodePlainBinary',
        params: { secretName: 'plainBinary' },
        steps: [
          {
            name: 'fetch',
            code: "const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); const text = base64.decode(r.SecretBinary); console.log('decoded: ' + text); return { note: text };",
          },
        ],
      },
      echo: {
        name: 'echo',
        params: { value: '' },
        steps: [{ name: 'echo', code: "console.log('value: ' + params.value); return { note: params.value };" }],
      },
      fail: {
        name: 'fail',
        params: { value: '' },
        steps: [{ name: 'fail', code: "throw new Error('cannot use ' + params.value);" }],
      },
    },
    integrations: {},
  };

  beforeAll(async () => {
    t = await startTestAgent(config, { AWS_SECRET_ACCESS_KEY: AGENT_KEY });
    t.secrets.createSecret('binarySecret', {
      SecretBinary: new TextEncoder().encode(JSON.stringify({ username: 'binuser', password: binaryPassword })),
    });
    t.secrets.createSecret('plainBinary', { SecretBinary: new TextEncoder().encode(plainBinary) });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('masks a binary secret decoded by the step, in the response and the step logs, unless revealed', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/decodeBinary/run', {});
    expect(masked.status).toBe(200);
    expect(masked.body.masked).toBe(true);
    expect(masked.body.response).toMatchObject({ username: 'binuser', password: '********' });
    expect(masked.body.steps[0].logs).toHaveLength(1);
    expect(masked.body.steps[0].logs[0]).toContain('********');
    for (const form of leakFormsOf(binaryPassword)) {
      expect(masked.text).not.toContain(form);
      expect(t.logs.text()).not.toContain(form);
    }

    const revealed = await t.request('POST', '/api/v1/workflows/decodeBinary/run', { reveal: true });
    expect(revealed.status).toBe(200);
    expect(revealed.body.masked).toBe(false);
    expect(revealed.body.response).toEqual({ username: 'binuser', password: binaryPassword });
    expect(revealed.body.steps[0].logs).toEqual([JSON.stringify({ username: 'binuser', password: binaryPassword })]);
    expect(t.logs.text()).not.toContain(binaryPassword);
  });

  it('masks a decoded binary secret that is plain text, even under a key that is not secret-named', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/decodePlainBinary/run', {});
    expect(masked.status).toBe(200);
    expect(masked.body.response).toEqual({ note: '********' });
    expect(masked.body.steps[0].logs).toEqual(['decoded: ********']);
    for (const form of leakFormsOf(plainBinary)) expect(masked.text).not.toContain(form);

    const revealed = await t.request('POST', '/api/v1/workflows/decodePlainBinary/run', { reveal: true });
    expect(revealed.body.response).toEqual({ note: plainBinary });
    expect(t.logs.text()).not.toContain(plainBinary);
  });

  it("masks the agent's own AWS secret access key when a step logs or returns it", async () => {
    const masked = await t.request('POST', '/api/v1/workflows/echo/run', { params: { value: AGENT_KEY } });
    expect(masked.status).toBe(200);
    expect(masked.body.response).toEqual({ note: '********' });
    expect(masked.body.steps[0].logs).toEqual(['value: ********']);
    for (const form of leakFormsOf(AGENT_KEY)) expect(masked.text).not.toContain(form);

    const failed = await t.request('POST', '/api/v1/workflows/fail/run', { params: { value: AGENT_KEY } });
    expect(failed.status).not.toBe(200);
    expect(failed.body.error.code).toBe('WORKFLOW_FAILED');
    expect(failed.text).toContain('cannot use ********');
    expect(logLines(t).some((l) => l.event === 'workflow.run' && l.workflow === 'fail' && l.outcome === 'error')).toBe(
      true,
    );
    for (const form of leakFormsOf(AGENT_KEY)) {
      expect(failed.text).not.toContain(form);
      expect(t.logs.text()).not.toContain(form);
    }
  });

  it('never writes an API token into the logs, even when a step is handed one', async () => {
    for (const token of [t.token, 'second-token-abcdef']) {
      const failed = await t.request('POST', '/api/v1/workflows/fail/run', { params: { value: token } });
      expect(failed.body.error.code).toBe('WORKFLOW_FAILED');
    }
    const failures = logLines(t).filter(
      (l) => l.event === 'workflow.run' && l.workflow === 'fail' && l.outcome === 'error',
    );
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const token of [t.token, 'second-token-abcdef']) {
      for (const form of leakFormsOf(token)) expect(t.logs.text()).not.toContain(form);
    }
  });

  /** A step handed `token` fails, so the agent logs the step's error message; returns the captured log text. */
  async function logsAfterFailingWith(
    options: { env?: NodeJS.ProcessEnv; tokens?: string[] },
    token: (tokens: string[]) => string,
  ) {
    const a = await startTestAgent({ workflows: { fail: config.workflows?.fail ?? {} } }, options.env, {
      tokens: options.tokens ?? 'configured',
    });
    try {
      const value = token(a.agent.tokens);
      const res = await a.request('POST', '/api/v1/workflows/fail/run', { params: { value } }, a.agent.tokens[0] ?? '');
      expect(res.status).toBe(502);
      expect(a.logs.lines.some((line) => line.includes('"workflow run failed"'))).toBe(true);
      return { text: a.logs.text(), value };
    } finally {
      await a.close();
    }
  }

  it('never writes a token configured with CREDFLOW_API_TOKENS into the logs', async () => {
    const { text, value } = await logsAfterFailingWith(
      { env: { CREDFLOW_API_TOKENS: 'env-token-0123456789,env-token-abcdefghij' } },
      (tokens) => tokens[1] ?? '',
    );
    expect(value).toBe('env-token-abcdefghij');
    for (const form of leakFormsOf(value)) expect(text).not.toContain(form);
  });

  it('never writes a generated API token into the logs', async () => {
    const { text, value } = await logsAfterFailingWith({}, (tokens) => tokens[0] ?? '');
    expect(value.length).toBeGreaterThan(20);
    for (const form of leakFormsOf(value)) expect(text).not.toContain(form);
  });
});
