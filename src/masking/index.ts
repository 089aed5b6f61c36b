export { defaultMaskerLimits, MASK, SecretMasker } from './secret-masker.js';
export type { MaskerLimits } from './secret-masker.js';
export { isSecretKey } from './is-secret-key.js';
export { scrubFragments } from './scrub-fragments.js';
