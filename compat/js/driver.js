#!/usr/bin/env node
// kafkajs driver for the Riffle compatibility suite.
//
//   node driver.js <command>    (request: one JSON object on stdin)
//
// Prints exactly one JSON object on stdout: {"ok": true, ...result} or
// {"ok": false, "error": "...", "type": "..."} (exit code 1). kafkajs logs go
// to stderr. Binary fields (keys, values, header values) are base64.
//
// Commands: version, create-topic, produce, offsets, offsets-by-timestamp,
// metadata, describe-configs, consume (needs consumer groups, see TODO).
'use strict'

const { Kafka, logLevel, CompressionTypes, CompressionCodecs, Partitioners, ConfigResourceTypes } =
  require('kafkajs')

// --- compression codecs --------------------------------------------------
// gzip is built into kafkajs; the others come from npm packages. A codec whose
// package did not install is reported as unavailable (the harness SKIPs).
const codecStatus = { gzip: { ok: true } }
function tryCodec (name, type, load) {
  try {
    CompressionCodecs[type] = load()
    codecStatus[name] = { ok: true }
  } catch (e) {
    codecStatus[name] = { ok: false, error: String((e && e.message) || e) }
  }
}
tryCodec('snappy', CompressionTypes.Snappy, () => require('kafkajs-snappy'))
tryCodec('lz4', CompressionTypes.LZ4, () => new (require('kafkajs-lz4'))().codec)
// @kafkajs/zstd does not build on node >= 20 (its native dep cppzst fails to
// compile against node 20 headers), so use a ten-line codec over zstd-napi.
tryCodec('zstd', CompressionTypes.ZSTD, () => {
  const zstd = require('zstd-napi')
  return () => ({
    async compress (encoder) { return zstd.compress(encoder.buffer) },
    async decompress (buffer) { return zstd.decompress(buffer) }
  })
})
const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}

// --- helpers ---------------------------------------------------------------
const b64 = (s) => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))
const tob64 = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('base64'))

function logCreator () {
  return ({ level, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`kafkajs ${logLevel[level] || level}: ${message} ${JSON.stringify(extra)}\n`)
  }
}

function client (req) {
  return new Kafka({
    clientId: 'riffle-compat-kafkajs',
    brokers: req.bootstrap.split(','),
    logLevel: logLevel.WARN,
    logCreator,
    connectionTimeout: 5000,
    requestTimeout: 30000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 }
  })
}

async function withAdmin (req, fn) {
  const admin = client(req).admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

// headers: [[name, b64value], ...] -> kafkajs object; repeated names become
// arrays (kafkajs writes them as repeated headers, in order)
function toKafkajsHeaders (list) {
  const h = {}
  for (const [name, v] of list || []) {
    const buf = b64(v)
    if (Object.prototype.hasOwnProperty.call(h, name)) {
      h[name] = Array.isArray(h[name]) ? h[name].concat([buf]) : [h[name], buf]
    } else {
      h[name] = buf
    }
  }
  return h
}

// --- commands ----------------------------------------------------------
const commands = {
  async version () {
    return {
      kafkajs: require('kafkajs/package.json').version,
      node: process.version,
      codecs: codecStatus
    }
  },

  async 'create-topic' (req) {
    return withAdmin(req, async (admin) => {
      const created = await admin.createTopics({
        waitForLeaders: true,
        timeout: 30000,
        topics: [{
          topic: req.topic,
          numPartitions: req.partitions,
          replicationFactor: 1,
          configEntries: Object.entries(req.configs || {}).map(([name, value]) => ({ name, value }))
        }]
      })
      return { created }
    })
  },

  async 'delete-topic' (req) {
    return withAdmin(req, async (admin) => {
      await admin.deleteTopics({ topics: [req.topic], timeout: 30000 })
      return {}
    })
  },

  async produce (req) {
    const status = codecStatus[req.compression || 'gzip']
    if (req.compression && req.compression !== 'none' && !(status && status.ok)) {
      return { unavailable: `kafkajs ${req.compression} codec not available: ${status && status.error}` }
    }
    // Record the partition chosen for each message so that the acknowledged
    // base offsets can be turned into per-message offsets.
    const chosen = new WeakMap()
    const createPartitioner = () => {
      const inner = Partitioners.DefaultPartitioner()
      return (args) => {
        const p = inner(args)
        chosen.set(args.message, p)
        return p
      }
    }
    const producer = client(req).producer({
      createPartitioner,
      allowAutoTopicCreation: false,
      idempotent: !!req.idempotent,
      maxInFlightRequests: req.idempotent ? 1 : undefined
    })
    await producer.connect()
    const acks = [] // [partition, offset] per message, in input order
    try {
      const msgs = req.messages.map((m) => ({
        key: b64(m.key),
        value: b64(m.value),
        headers: toKafkajsHeaders(m.headers),
        timestamp: m.timestamp === null || m.timestamp === undefined ? undefined : String(m.timestamp)
      }))
      const chunk = req.chunk || 500
      for (let i = 0; i < msgs.length; i += chunk) {
        const part = msgs.slice(i, i + chunk)
        const res = await producer.send({
          topic: req.topic,
          messages: part,
          acks: -1,
          timeout: 30000,
          compression: COMPRESSION[req.compression || 'none']
        })
        const base = {}
        for (const r of res) {
          if (r.errorCode !== 0) throw new Error(`produce error code ${r.errorCode} on partition ${r.partition}`)
          base[r.partition] = BigInt(r.baseOffset)
        }
        const next = {}
        for (const m of part) {
          const p = chosen.get(m)
          if (p === undefined || base[p] === undefined) throw new Error(`no acknowledgement for partition ${p}`)
          const off = base[p] + BigInt(next[p] || 0)
          next[p] = (next[p] || 0) + 1
          acks.push([p, Number(off)])
        }
      }
    } finally {
      await producer.disconnect()
    }
    return { acks }
  },

  async offsets (req) {
    return withAdmin(req, async (admin) => {
      const offs = await admin.fetchTopicOffsets(req.topic)
      return { partitions: offs.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })) }
    })
  },

  async 'offsets-by-timestamp' (req) {
    return withAdmin(req, async (admin) => {
      const offs = await admin.fetchTopicOffsetsByTimestamp(req.topic, req.timestamp)
      return { partitions: offs.map((o) => ({ partition: o.partition, offset: Number(o.offset) })) }
    })
  },

  async metadata (req) {
    return withAdmin(req, async (admin) => {
      const topics = await admin.listTopics()
      // (fetchTopicMetadata throws for a topic that does not exist)
      const md = topics.includes(req.topic) ? await admin.fetchTopicMetadata({ topics: [req.topic] }) : { topics: [] }
      const cluster = await admin.describeCluster()
      return { topics, metadata: md.topics, cluster }
    })
  },

  async 'describe-configs' (req) {
    return withAdmin(req, async (admin) => {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: req.topic }]
      })
      return { resources: res.resources }
    })
  },

  // TODO(consumer-groups): riffle has no FindCoordinator/JoinGroup/OffsetCommit
  // yet and kafkajs has no group-less consumer, so the harness reads kafkajs
  // data back with confluent-kafka. When groups land, set
  // COMPAT_KAFKAJS_GROUP_CONSUMER=1 (see harness/clients/kafkajs.py) to read
  // with this consumer instead. Untested until then.
  async consume (req) {
    const consumer = client(req).consumer({ groupId: req.groupId, maxWaitTimeInMs: 100 })
    await consumer.connect()
    const records = []
    try {
      await consumer.subscribe({ topic: req.topic, fromBeginning: true })
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out with ${records.length}/${req.expected} records`)),
          req.timeoutMs || 90000)
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const headers = []
            for (const [k, v] of Object.entries(message.headers || {})) {
              for (const one of Array.isArray(v) ? v : [v]) headers.push([k, tob64(one)])
            }
            records.push({
              partition,
              offset: Number(message.offset),
              key: tob64(message.key),
              value: tob64(message.value),
              headers,
              timestamp: Number(message.timestamp)
            })
            if (records.length >= req.expected) { clearTimeout(timer); resolve() }
          }
        }).catch(reject)
      })
    } finally {
      await consumer.disconnect()
    }
    return { records }
  }
}

async function main () {
  const cmd = process.argv[2]
  if (!commands[cmd]) {
    process.stdout.write(JSON.stringify({ ok: false, error: `unknown command ${cmd}` }) + '\n', () => process.exit(2))
    return
  }
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  const text = Buffer.concat(chunks).toString() || '{}'
  const req = JSON.parse(text)
  let out, code
  try {
    const res = await commands[cmd](req)
    out = { ok: true, ...res }
    code = 0
  } catch (e) {
    out = { ok: false, error: String((e && e.message) || e), type: e && (e.type || e.name), stack: e && e.stack }
    code = 1
  }
  // stdout is an asynchronous pipe: exit only once the result is flushed
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code))
}

main()
