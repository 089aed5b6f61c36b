import express from 'express';
import pg from 'pg';

/**
 * The HTTP baseline: a minimal express + pg endpoint doing what credflow's query route does, with
 * the password given directly. Run as its own process by the benchmark; prints its port.
 */
const pool = new pg.Pool({
  host: process.env.PGHOST,
  port: Number(process.env.PGPORT),
  user: process.env.PGUSER,
  password: process.env.PGPASSWORD,
  database: process.env.PGDATABASE,
  max: 10,
});
const app = express();
app.use(express.json({ limit: '100kb' }));
app.post('/query', async (req, res) => {
  const body = req.body as { sql: string; params?: unknown[] };
  const result = await pool.query({ text: body.sql, values: body.params ?? [] });
  res.json({
    fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
    rows: result.rows,
    rowCount: result.rowCount,
  });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void pool.end().then(() => process.exit(0));
});
