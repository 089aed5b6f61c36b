export { MASK, SecretMasker } from './secret-masker.js';
export { isSecretKey } from './is-secret-key.js';
