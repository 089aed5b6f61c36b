// Body of an async function, run in the isolated-vm sandbox.
// Reads a Doppler config's secrets (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD) with a service
// token from Env (CREDFLOW_AGENT_APP_ENV_DOPPLER_TOKEN) and returns them in the RDS shape the
// integrations' templates use. The agent masks the token and every response body it reads.
if (!Env.doppler_token) throw new Error('set CREDFLOW_AGENT_APP_ENV_DOPPLER_TOKEN to a Doppler service token');

const query = `project=${encodeURIComponent(params.project)}&config=${encodeURIComponent(params.config)}&format=json`;
const res = await http.fetch(`${params.dopplerUrl}/v3/configs/config/secrets/download?${query}`, {
  headers: { Authorization: `Bearer ${Env.doppler_token}`, Accept: 'application/json' },
});
if (res.status !== 200) throw new Error(`Doppler answered ${res.status} ${res.statusText}`);

const secrets = JSON.parse(res.body);
return {
  host: secrets.DB_HOST,
  port: Number(secrets.DB_PORT),
  dbname: secrets.DB_NAME,
  username: secrets.DB_USER,
  password: secrets.DB_PASSWORD,
};
