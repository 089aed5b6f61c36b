import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { expandEnv, formatZodIssues, plainTokenSchema } from '../config/index.js';
import { CredflowError, messageOf } from '../errors.js';
import { toAccessToken, type AccessToken } from './access-token.js';
import { scopes } from './scopes.js';

const namePattern = z.string().regex(/^[A-Za-z0-9_.*-]{1,128}$/, {
  message: 'must be a name or a pattern with * (letters, digits, "_", ".", "-", "*")',
});

/** Audit identities of callers without a token (in-process calls, the CLI working on the files). */
const reservedTokenIds = ['local', 'cli'];

const tokenEntrySchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be letters, digits, "_", "." or "-" (at most 64)' })
      .refine((id) => !reservedTokenIds.includes(id), {
        message: 'is reserved: "local" and "cli" name the agent\'s own callers in audit lines',
      })
      .describe('names the token in audit lines'),
    token: plainTokenSchema
      .optional()
      .describe('the plain token (prefer sha256): 16 to 1024 printable ASCII characters, no spaces'),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex digits (the SHA-256 of the token)' })
      .optional()
      .describe('SHA-256 of the token in hex, so the token itself need not be in the file'),
    scopes: z.array(z.enum(scopes)).min(1).describe('read, query, preview, reveal, admin'),
    integrations: z.array(namePattern).optional().describe('integration names or * patterns this token reaches'),
    workflows: z.array(namePattern).optional().describe('workflow names or * patterns this token may preview'),
  })
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), {
    message: 'give exactly one of "token" or "sha256"',
  });

export const tokensFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    tokens: z.array(tokenEntrySchema).min(1),
  })
  .superRefine((file, ctx) => {
    const ids = new Set<string>();
    file.tokens.forEach((t, i) => {
      if (ids.has(t.id))
        ctx.addIssue({ code: 'custom', path: ['tokens', i, 'id'], message: `duplicate token id "${t.id}"` });
      ids.add(t.id);
    });
  });

/**
 * Reads a tokens file (CREDFLOW_TOKENS_FILE): `${VAR}` is expanded as in the config files, the
 * result is validated, and only SHA-256 digests are kept (plain tokens are returned for the
 * masker). Errors name the file and the JSON path and never quote a token.
 */
export async function readTokensFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  /** Ids already taken (those generated for CREDFLOW_API_TOKENS): a file token may not share one. */
  takenIds: ReadonlySet<string> = new Set(),
): Promise<{ tokens: AccessToken[]; plain: string[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : messageOf(error);
    throw new CredflowError('CONFIG_INVALID', `${file}: ${why}`, { details: { file } });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new CredflowError('CONFIG_INVALID', `${file}: not valid JSON`, { details: { file } });
  }
  const parsed = tokensFileSchema.safeParse(expandEnv(document, file, env));
  if (!parsed.success) {
    const problems = formatZodIssues(file, parsed.error);
    throw new CredflowError('CONFIG_INVALID', problems.join('\n'), { details: { file, problems } });
  }
  for (const [i, t] of parsed.data.tokens.entries()) {
    if (takenIds.has(t.id)) {
      const message = `${file}: tokens[${i}].id: "${t.id}" is the id of a token in CREDFLOW_API_TOKENS (ids "token-<8 hex digits>" are made from those tokens); choose another id, so that audit lines tell the two apart`;
      throw new CredflowError('CONFIG_INVALID', message, { details: { file, problems: [message] } });
    }
  }
  const tokens = parsed.data.tokens.map((t) => toAccessToken(t));
  const seen = new Set<string>();
  for (const [i, t] of tokens.entries()) {
    const hex = t.digest.toString('hex');
    if (seen.has(hex))
      throw new CredflowError('CONFIG_INVALID', `${file}: tokens[${i}]: the same token is given twice`, {
        details: { file },
      });
    seen.add(hex);
  }
  // Plain tokens written in the file go to the masker, so they are never printed.
  const plain = parsed.data.tokens.flatMap((t) => (t.token === undefined ? [] : [t.token]));
  return { tokens, plain };
}
