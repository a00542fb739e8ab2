// PGlite with the TimescaleDB extension on a local port: node server.mjs PORT
import { PGlite } from '@electric-sql/pglite'
import { timescaledb } from '@electric-sql/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
const port = parseInt(process.argv[2] || '55432', 10)
const db = await PGlite.create({ extensions: { timescaledb } })
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' })
await server.start()
console.log(`listening ${port}`)
process.on('SIGTERM', async () => { await server.stop(); await db.close(); process.exit(0) })
