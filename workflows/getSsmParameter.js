// Body of an async function, run in the isolated-vm sandbox.
// Sees: params, Env (CREDFLOW_AGENT_APP_ENV_* of the agent), context, console, aws.ssm.
// With CREDFLOW_AGENT_APP_ENV_AWS_ACCESS_KEY_ID / _AWS_SECRET_ACCESS_KEY set, those keys are used;
// otherwise the agent's default AWS credential chain applies.
const credentials = Env.aws_access_key_id
  ? { accessKeyId: Env.aws_access_key_id, secretAccessKey: Env.aws_secret_access_key }
  : undefined;

let answer;
try {
  // WithDecryption: a SecureString arrives decrypted (and the agent masks it); without it, as ciphertext.
  answer = await aws.ssm.getParameter({
    Name: params.parameterName,
    WithDecryption: true,
    region: params.region,
    credentials,
  });
} catch (error) {
  if (error.name === 'ParameterNotFound') {
    throw new Error(`parameter "${params.parameterName}" not found in ${params.region}`);
  }
  throw error;
}
const { Parameter } = answer;

console.log(`read parameter ${Parameter.Name}, version ${Parameter.Version} (${Parameter.Type})`);

// A JSON object (the RDS shape) is returned as is; any other text (a plain password) as { value }.
let parsed;
try {
  parsed = JSON.parse(Parameter.Value);
} catch {
  return { value: Parameter.Value };
}
return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { value: Parameter.Value };
