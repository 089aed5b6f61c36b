// Body of an async function, run in the isolated-vm sandbox.
// Sees: params, Env (CREDFLOW_AGENT_APP_ENV_* of the agent), context, console, aws.secretsManager.
// With CREDFLOW_AGENT_APP_ENV_AWS_ACCESS_KEY_ID / _AWS_SECRET_ACCESS_KEY set, those keys are used;
// otherwise the agent's default AWS credential chain applies.
const credentials = Env.aws_access_key_id
  ? { accessKeyId: Env.aws_access_key_id, secretAccessKey: Env.aws_secret_access_key }
  : undefined;

let secret;
try {
  secret = await aws.secretsManager.getSecretValue({
    SecretId: params.secretName,
    region: params.region,
    credentials,
  });
} catch (error) {
  if (error.name === 'ResourceNotFoundException') {
    throw new Error(`secret "${params.secretName}" not found in ${params.region}`);
  }
  throw error;
}

console.log(`read secret ${secret.Name}, version ${secret.VersionId} (${secret.VersionStages.join(', ')})`);

// A secret holds either a string or binary data, which arrives base64-encoded. A JSON object (the
// RDS shape) is returned as is; any other text (an API key, a plain password) as { value }.
const text = secret.SecretString ?? base64.decode(secret.SecretBinary);
let parsed;
try {
  parsed = JSON.parse(text);
} catch {
  return { value: text };
}
return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { value: text };
