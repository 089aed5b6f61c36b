import path from 'node:path';
import { CredflowError } from '../errors.js';
import { oneLine } from './format-issue.js';
import { StepCodeChecker } from './check-step-code.js';
import { bridgeWarnings } from './bridge-warnings.js';
import type { Integration, LoadedConfig, Workflow } from './loaded-config.js';
import { loadIntegration } from './load-integration.js';
import { loadWorkflow } from './load-workflow.js';
import { isDirectory, listJson } from './read-document.js';

export type { Integration, LoadedConfig, Workflow, WorkflowStep } from './loaded-config.js';

/**
 * Reads `workflows/*.json` and `integrations/*.json` under `dir`, expands `${VAR}`, validates each file
 * with zod and checks the references between them, and everything else that can be known without
 * running anything: step code compiles (in an isolate of its own, never run), templates parse, and
 * literal connection fields pass the schema used at connect time. Never throws for bad files: every
 * problem becomes one line in `problems`, and only valid files are kept. Doubts that do not stop the
 * load (an unknown bridge call in step code) become lines in `warnings`.
 */
export async function loadConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const problems: string[] = [];
  const workflows = new Map<string, Workflow>();
  const found = await Promise.all(['', 'workflows', 'integrations'].map((sub) => isDirectory(path.join(dir, sub))));
  if (!found[0]) {
    problems.push(`${dir}: folder not found (it should hold workflows/ and integrations/)`);
  } else if (!found[1] && !found[2]) {
    problems.push(`${dir}: holds neither workflows/ nor integrations/ (pass --dir with the folder that does)`);
  }
  const integrations = new Map<string, Integration>();
  /** Workflow files that exist but failed to load, by name, so integrations using them say so. */
  const broken = new Set<string>();

  const checker = new StepCodeChecker();
  try {
    for (const file of await listJson(dir, 'workflows', problems)) {
      const workflow = await loadWorkflow(dir, file, env, problems, checker);
      if (!workflow) {
        broken.add(path.basename(file, '.json'));
        continue;
      }
      if (workflows.has(workflow.name)) {
        problems.push(
          `${file}: name: workflow "${workflow.name}" is also defined in ${workflows.get(workflow.name)?.file}`,
        );
        continue;
      }
      workflows.set(workflow.name, workflow);
    }
  } finally {
    checker.dispose();
  }
  for (const file of await listJson(dir, 'integrations', problems)) {
    const integration = await loadIntegration(dir, file, env, problems, { workflows, broken });
    if (!integration) continue;
    if (integrations.has(integration.name)) {
      problems.push(
        `${file}: name: integration "${integration.name}" is also defined in ${integrations.get(integration.name)?.file}`,
      );
      continue;
    }
    integrations.set(integration.name, integration);
  }
  const warnings = [...workflows.values()].flatMap(bridgeWarnings);
  return { dir, integrations, workflows, problems: problems.map(oneLine), warnings: warnings.map(oneLine) };
}

/** Like loadConfig, but a config with any problem is a CONFIG_INVALID error listing them all. */
export async function loadValidConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const config = await loadConfig(dir, env);
  if (config.problems.length > 0) {
    throw new CredflowError('CONFIG_INVALID', `invalid configuration in ${dir}:\n${config.problems.join('\n')}`, {
      details: { problems: config.problems },
    });
  }
  return config;
}
