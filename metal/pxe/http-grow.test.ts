/** serveHttp(): small buffers until a connection proved it reads, then big ones, across keep-alive requests. */
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { test } from 'node:test'
import type { FileSource, ServedFile } from './files.ts'
import { serveHttp } from './http.ts'

const SIZE = 128 * 1024

/** Files a.img and b.img (SIZE bytes each); records the length of each read, by file. */
function recordingSource(): { source: FileSource; reads: Map<string, number[]> } {
  const reads = new Map<string, number[]>()
  const source: FileSource = {
    async open(path) {
      if (path !== 'a.img' && path !== 'b.img') return undefined
      const file: ServedFile = {
        size: SIZE,
        async read(buffer, offset, length, position) {
          reads.set(path, [...(reads.get(path) ?? []), length])
          const n = Math.min(length, SIZE - position)
          buffer.fill(7, offset, offset + n)
          return n
        },
        async close() {},
      }
      return file
    },
  }
  return { source, reads }
}

function get(port: number, path: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
      })
      res.on('end', () => resolve(bytes))
    })
      .on('error', reject)
      .end()
  })
}

test('serveHttp() starts a connection with small buffers and its next file with big ones once it took growAfter bytes', async () => {
  const { source, reads } = recordingSource()
  const server = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files: source,
    chunkSize: 64 * 1024,
    smallChunkSize: 8 * 1024,
    growAfter: SIZE,
  })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    assert.equal(await get(server.port, '/a.img', agent), SIZE)
    assert.equal(await get(server.port, '/b.img', agent), SIZE)
    // a.img: the whole file in small reads (the connection had not taken growAfter bytes yet).
    assert.deepEqual(reads.get('a.img'), Array(16).fill(8 * 1024))
    // b.img on the same connection: it proved it reads, so big reads from the start.
    assert.deepEqual(reads.get('b.img'), [64 * 1024, 64 * 1024])
  } finally {
    agent.destroy()
    await server.close()
  }
})
