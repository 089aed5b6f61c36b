import type { AgentSettings, Integration } from '../config/index.js';
import { CredflowError } from '../errors.js';

export type ProfileSettings = Pick<AgentSettings, 'defaultProfile' | 'profiles'>;

/** The profile a request means: the one given, else the configured default; checked against the integration's profiles. */
export type ProfileFor = (integration: Integration, profile: string | undefined) => string;

/**
 * An integration accepts the profiles it declares, or else the agent's (CREDFLOW_PROFILES), so
 * callers cannot make the agent hold a cache entry and a pool per made-up profile name.
 */
export function createProfileFor(settings: ProfileSettings): ProfileFor {
  // Asked on every query: each integration's list is worked out once.
  const acceptedProfiles = new WeakMap<Integration, readonly string[]>();
  return (integration, profile) => {
    const chosen = profile ?? settings.defaultProfile;
    let accepted = acceptedProfiles.get(integration);
    if (accepted === undefined) {
      const declared = integration.fetchCredentialsDynamically?.profiles;
      acceptedProfiles.set(integration, (accepted = declared ? Object.keys(declared) : settings.profiles));
    }
    if (!accepted.includes(chosen)) {
      throw new CredflowError(
        'PROFILE_NOT_FOUND',
        `integration "${integration.name}" has no profile "${chosen}" (it has: ${accepted.join(', ')})`,
        { details: { integration: integration.name, profile: chosen } },
      );
    }
    return chosen;
  };
}

/** Every profile an integration's responses may be cached under: the agent's and the ones it declares. */
export function cachedProfilesOf(integration: Integration, settings: ProfileSettings): Set<string> {
  return new Set([
    settings.defaultProfile,
    ...settings.profiles,
    ...Object.keys(integration.fetchCredentialsDynamically?.profiles ?? {}),
  ]);
}
