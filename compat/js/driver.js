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
// metadata, describe-configs, consume (group consumer), group-admin, topic-admin,
// txn-produce, txn-fence, txn-ctp (transactions, see below);
// group-worker (long-running group member, JSON-lines protocol, see below).
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

// TLS / SASL from the request's client-neutral "security" (harness/security.py):
// protocol, mechanism, username, password, ca / cert / key (PEM files)
function securityOptions (sec) {
  if (!sec) return {}
  const fs = require('fs')
  const out = {}
  if (sec.protocol.includes('SSL')) {
    out.ssl = { rejectUnauthorized: true }
    if (sec.ca) out.ssl.ca = [fs.readFileSync(sec.ca, 'utf-8')]
    if (sec.cert) {
      out.ssl.cert = fs.readFileSync(sec.cert, 'utf-8')
      out.ssl.key = fs.readFileSync(sec.key, 'utf-8')
    }
  }
  if (sec.protocol.startsWith('SASL_')) {
    const mechanism = sec.mechanism.toLowerCase()
    if (mechanism === 'oauthbearer') {
      const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
      const now = Math.floor(Date.now() / 1000)
      const value = enc({ alg: 'none' }) + '.' + enc({ sub: sec.oauth_sub, iat: now, exp: now + 3600 }) + '.'
      out.sasl = { mechanism, oauthBearerProvider: async () => ({ value }) }
    } else {
      out.sasl = { mechanism, username: sec.username, password: sec.password }
    }
  }
  return out
}

function client (req) {
  return new Kafka({
    ...securityOptions(req.security),
    clientId: req.clientId || 'riffle-compat-kafkajs',
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
        timestamp: m.timestamp === null || m.timestamp === undefined ? undefined : String(m.timestamp),
        // an explicit partition (kafkajs's partitioner honours it)
        partition: m.partition === null || m.partition === undefined ? undefined : m.partition
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

  // kafkajs's admin lists offsets with isolation READ_COMMITTED (its ListOffsets
  // default): "high" is the last stable offset
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

  // --- topic admin: CreatePartitions, AlterConfigs (kafkajs has no
  // IncrementalAlterConfigs), DescribeConfigs, DeleteRecords, ListOffsets.
  // Errors are returned, not thrown: {error: {type, name, message, partitions?}}
  async 'topic-admin' (req) {
    return withAdmin(req, async (admin) => {
      const results = []
      const resourceType = (op) => (op.resource === 'broker' ? ConfigResourceTypes.BROKER : ConfigResourceTypes.TOPIC)
      for (const op of req.ops) {
        try {
          let res
          switch (op.op) {
            case 'create-partitions':
              res = await admin.createPartitions({
                validateOnly: !!op.validateOnly,
                timeout: 30000,
                topicPartitions: [{ topic: op.topic, count: op.count }]
              })
              res = { done: res === undefined ? true : res }
              break
            case 'metadata': {
              const md = await admin.fetchTopicMetadata({ topics: [op.topic] })
              res = { partitions: md.topics[0].partitions.map((p) => ({ partition: p.partitionId, leader: p.leader, errorCode: p.partitionErrorCode })) }
              break
            }
            case 'alter-configs': {
              const r = await admin.alterConfigs({
                validateOnly: !!op.validateOnly,
                resources: [{
                  type: resourceType(op),
                  name: op.name || op.topic,
                  configEntries: Object.entries(op.configs).map(([name, value]) => ({ name, value }))
                }]
              })
              res = { resources: r.resources }
              break
            }
            case 'describe-configs': {
              const r = await admin.describeConfigs({
                includeSynonyms: false,
                resources: [{ type: resourceType(op), name: op.name || op.topic }]
              })
              res = { resources: r.resources }
              break
            }
            case 'delete-records':
              // deleteTopicRecords looks the leaders up in the admin's metadata
              // cache without loading it (KafkaJSTopicMetadataNotLoaded otherwise)
              await admin.fetchTopicMetadata({ topics: [op.topic] })
              res = await admin.deleteTopicRecords({
                topic: op.topic,
                partitions: op.partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) }))
              })
              res = { done: true, returned: res === undefined ? null : res }
              break
            case 'offsets': {
              const offs = await admin.fetchTopicOffsets(op.topic)
              res = { partitions: offs.map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) })) }
              break
            }
            case 'offsets-by-timestamp': {
              const offs = await admin.fetchTopicOffsetsByTimestamp(op.topic, op.timestamp)
              res = { partitions: offs.map((o) => ({ partition: o.partition, offset: Number(o.offset) })) }
              break
            }
            default: throw new Error(`unknown topic-admin op ${op.op}`)
          }
          results.push({ ok: true, result: res })
        } catch (e) {
          results.push({ ok: false, error: adminError(e) })
        }
      }
      return { results }
    })
  },

  // Reads a topic from the beginning with a group consumer (a fresh group):
  // kafkajs has no group-less consumer. Used by the harness's read_all.
  // --- consumer-group admin --------------------------------------------
  // Errors are returned, not thrown, so that scenarios can check them:
  // {error: {type, name, message, groups?: [{groupId, errorCode, error}]}}
  async 'group-admin' (req) {
    return withAdmin(req, async (admin) => {
      const results = []
      for (const op of req.ops) {
        try {
          let res
          switch (op.op) {
            case 'list': res = await admin.listGroups(); break
            case 'describe': res = await admin.describeGroups(op.groups); break
            case 'fetch-offsets': res = await admin.fetchOffsets({ groupId: op.group, topics: op.topics, resolveOffsets: !!op.resolve }); break
            case 'delete': res = await admin.deleteGroups(op.groups); break
            case 'set-offsets':
              await admin.setOffsets({ groupId: op.group, topic: op.topic, partitions: op.partitions })
              res = {}
              break
            case 'reset-offsets':
              await admin.resetOffsets({ groupId: op.group, topic: op.topic, earliest: !!op.earliest })
              res = {}
              break
            default: throw new Error(`unknown group-admin op ${op.op}`)
          }
          results.push({ ok: true, result: decodeGroupResult(res) })
        } catch (e) {
          results.push({
            ok: false,
            error: {
              type: e && e.type,
              name: e && e.name,
              message: String((e && e.message) || e),
              groups: e && e.groups ? e.groups.map((g) => ({ groupId: g.groupId, errorCode: g.errorCode, error: g.error && { type: g.error.type, message: g.error.message } })) : undefined
            }
          })
        }
      }
      return { results }
    })
  },

  // With `until` ({partition: high watermark}) it reads until every partition
  // has delivered the record just below its high watermark (compacted topics:
  // offsets have gaps, so a count cannot tell when the end is reached).
  // readUncommitted: isolation read_uncommitted (kafkajs's default is read_committed).
  async consume (req) {
    const consumer = client(req).consumer({ groupId: req.groupId, maxWaitTimeInMs: 100, readUncommitted: !!req.readUncommitted })
    await consumer.connect()
    const records = []
    const until = req.until || null
    const reached = {} // partition -> next offset after the last record seen
    const done = () => {
      if (!until) return records.length >= req.expected
      return Object.entries(until).every(([p, hw]) => Number(hw) <= 0 || (reached[p] || 0) >= Number(hw))
    }
    try {
      await consumer.subscribe({ topic: req.topic, fromBeginning: true })
      await new Promise((resolve, reject) => {
        if (until && done()) { resolve(); return }
        const timer = setTimeout(() => reject(new Error(`timed out with ${records.length}/${req.expected} records` +
          (until ? `; reached ${JSON.stringify(reached)} of ${JSON.stringify(until)}` : ''))),
        req.timeoutMs || 90000)
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            // with `until`, records from there on are left out
            if (until && Number(message.offset) >= Number(until[partition] || 0)) return
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
              timestamp: Number(message.timestamp),
              // kafkajs keeps the batch attributes: 0 CreateTime, 1 LogAppendTime
              timestampType: message.batchContext ? message.batchContext.timestampType : null
            })
            reached[partition] = Math.max(reached[partition] || 0, Number(message.offset) + 1)
            if (done()) { clearTimeout(timer); resolve() }
          }
        }).catch(reject)
      })
    } finally {
      await consumer.disconnect()
    }
    return { records }
  }
}

// --- transactions (scenarios/transactions.py) ------------------------------
// txn-produce: one transactional producer, one transaction after the other, each
// committed, aborted or left open ("open": the driver answers and exits without
// ending it). txn-fence: producer A begins and writes `first`; producer B with the
// same transactionalId initialises (fencing A); A sends `after` and commits (both
// must fail); B writes `second` and commits. txn-ctp: consume (group,
// read_committed, no auto commit) - transform - produce, the consumed offsets sent
// to each transaction (transaction.sendOffsets: AddOffsetsToTxn + TxnOffsetCommit
// v1, the group id only); batch `abortBatch` is aborted and reprocessed from the
// offset it started at (consumer.seek).

function txnProducer (kafka, req, extra) {
  return kafka.producer({
    transactionalId: req.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionTimeout: req.transactionTimeoutMs || undefined,
    ...(extra || {})
  })
}

// Sends the messages (explicit partitions) in one call: [partition, offset] each, from
// the base offset kafkajs answers per partition.
async function sendWithAcks (sender, topic, messages) {
  const res = await sender.send({ topic, messages, acks: -1, timeout: 30000 })
  const base = {}
  for (const r of res) {
    if (r.errorCode !== 0) throw new Error(`produce error code ${r.errorCode} on partition ${r.partition}`)
    base[r.partition] = BigInt(r.baseOffset)
  }
  const next = {}
  return messages.map((m) => {
    const p = m.partition
    if (base[p] === undefined) throw new Error(`no acknowledgement for partition ${p}`)
    const off = base[p] + BigInt(next[p] || 0)
    next[p] = (next[p] || 0) + 1
    return [p, Number(off)]
  })
}

const wireMessages = (list) => list.map((m) => ({
  key: b64(m.key),
  value: b64(m.value),
  headers: toKafkajsHeaders(m.headers),
  timestamp: m.timestamp === null || m.timestamp === undefined ? undefined : String(m.timestamp),
  partition: m.partition
}))

// Kafka's name of a kafkajs error (its `type`, also of a wrapped cause), else name and text.
function errName (e) {
  for (let c = e, i = 0; c && i < 5; c = c.cause || c.originalError, i++) {
    if (typeof c.type === 'string' && /^[A-Z_]+$/.test(c.type)) return c.type
  }
  return `${e && e.name}: ${e && e.message}`
}

Object.assign(commands, {
  async 'txn-produce' (req) {
    const producer = txnProducer(client(req), req)
    await producer.connect()
    const acks = []
    let open = false
    for (const t of req.transactions) {
      const txn = await producer.transaction()
      acks.push(...await sendWithAcks(txn, req.topic, wireMessages(t.messages)))
      if (t.outcome === 'commit') await txn.commit()
      else if (t.outcome === 'abort') await txn.abort()
      else if (t.outcome === 'open') { open = true; break } else throw new Error(`unknown outcome ${t.outcome}`)
    }
    if (!open) await producer.disconnect()
    return { acks, leftOpen: open }
  },

  async 'txn-fence' (req) {
    const kafka = client(req)
    // A gives up quickly: a transactional kafkajs producer retries (almost) forever by default
    const a = txnProducer(kafka, req, { retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 } })
    await a.connect()
    const txnA = await a.transaction() // InitProducerId, then the transaction
    const out = { first: await sendWithAcks(txnA, req.topic, wireMessages(req.first)) }
    const b = txnProducer(kafka, req)
    await b.connect()
    const txnB = await b.transaction() // B's InitProducerId fences A; its open transaction is aborted
    out.sendError = null
    out.afterAcked = false
    try {
      await sendWithAcks(txnA, req.topic, wireMessages(req.after))
      out.afterAcked = true
    } catch (e) {
      out.sendError = errName(e)
      process.stderr.write(`A's send after the fencing: ${e && e.stack}\n`)
    }
    out.commitError = null
    try {
      await txnA.commit()
    } catch (e) {
      out.commitError = errName(e)
      process.stderr.write(`A's commit after the fencing: ${e && e.stack}\n`)
    }
    out.second = await sendWithAcks(txnB, req.topic, wireMessages(req.second))
    await txnB.commit()
    await a.disconnect().catch(() => {})
    await b.disconnect()
    return out
  },

  async 'txn-ctp' (req) {
    const kafka = client(req)
    const producer = txnProducer(kafka, req)
    const admin = kafka.admin()
    const consumer = kafka.consumer({ groupId: req.group, maxWaitTimeInMs: 100 }) // read_committed
    await producer.connect()
    await admin.connect()
    await consumer.connect()
    const parts = (await admin.fetchTopicOffsets(req.input)).map((o) => o.partition)
    const fetchCommitted = async () => {
      const res = await admin.fetchOffsets({ groupId: req.group, topics: [req.input] })
      const got = {}
      for (const t of res) for (const p of t.partitions) got[p.partition] = Number(p.offset)
      return got
    }
    // the group's offsets once each is at least what the committed transactions stored
    const committedAtLeast = async (committed) => {
      const deadline = Date.now() + 60000
      let got = {}
      for (;;) {
        try {
          got = await fetchCommitted()
          if (parts.every((p) => (got[p] === undefined ? -1 : got[p]) >= (committed[p] === undefined ? -1 : committed[p]))) break
        } catch (e) {
          process.stderr.write(`fetchOffsets: ${e && e.message}\n`)
        }
        if (Date.now() > deadline) break
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      const out = {}
      for (const p of parts) out[p] = got[p] === undefined ? -1 : got[p]
      return out
    }
    const outputs = []
    const aborted = []
    const committed = {}
    let before = {}
    let after = {}
    let batches = 0
    let processed = 0
    let finished = false
    await consumer.subscribe({ topic: req.input, fromBeginning: true })
    try {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consume-transform-produce: ${processed} of ${req.expected} processed in time`)),
          req.timeoutMs || 180000)
        const fail = (e) => { finished = true; clearTimeout(timer); reject(e) }
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
            try {
              const msgs = batch.messages
              for (let i = 0; i < msgs.length; i += req.maxPoll) {
                if (finished || !isRunning() || isStale()) return
                const chunk = msgs.slice(i, i + req.maxPoll)
                const n = batches++
                const txn = await producer.transaction()
                const outMsgs = chunk.map((m) => ({ key: m.key, value: Buffer.concat([Buffer.from('out|'), m.value]), partition: batch.partition }))
                const acks = await sendWithAcks(txn, req.output, outMsgs)
                const acked = acks.map(([p, o], j) => [p, o, tob64(outMsgs[j].value)])
                const next = Number(chunk[chunk.length - 1].offset) + 1
                await txn.sendOffsets({ consumerGroupId: req.group, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: String(next) }] }] })
                if (n === req.abortBatch) {
                  await txn.abort()
                  aborted.push(...acked)
                  before = { ...committed }
                  after = await committedAtLeast(committed)
                  // read again from where the aborted batch began; the rest of this batch is refetched
                  consumer.seek({ topic: batch.topic, partition: batch.partition, offset: chunk[0].offset })
                  return
                }
                await txn.commit()
                committed[batch.partition] = next
                outputs.push(...acked)
                processed += chunk.length
                resolveOffset(chunk[chunk.length - 1].offset)
                await heartbeat()
                if (processed >= req.expected) {
                  finished = true
                  clearTimeout(timer)
                  resolve()
                  return
                }
              }
            } catch (e) {
              fail(e)
            }
          }
        }).catch(fail)
      })
    } finally {
      await consumer.disconnect()
      await producer.disconnect()
      await admin.disconnect()
    }
    return { outputs, aborted, batches, abortedBatch: req.abortBatch, committedBefore: before, committedAfterAbort: after }
  }
})

// An admin error as JSON, with its cause chain (kafkajs's retrier wraps the
// broker's error, e.g. KafkaJSDeleteTopicRecordsError, in a
// KafkaJSNonRetriableError) and per-partition errors.
function adminError (e, depth = 0) {
  if (!e) return null
  return {
    type: e.type,
    name: e.name,
    message: String(e.message || e),
    partitions: e.partitions ? e.partitions.map((p) => ({ partition: p.partition, offset: p.offset, error: p.error && { type: p.error.type, name: p.error.name, message: p.error.message } })) : undefined,
    cause: depth < 4 && e.cause ? adminError(e.cause, depth + 1) : undefined
  }
}

// describeGroups: member metadata/assignment are consumer-protocol bytes;
// decode them with kafkajs's own decoders (as kafkajs users do)
function decodeGroupResult (res) {
  if (!res || !res.groups) return res
  const { AssignerProtocol } = require('kafkajs')
  return {
    ...res,
    groups: res.groups.map((g) => ({
      ...g,
      members: (g.members || []).map((m) => {
        const out = { ...m }
        try {
          out.memberAssignment = m.memberAssignment && m.memberAssignment.length
            ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
        } catch (e) { out.memberAssignment = { undecodable: String(e) } }
        try {
          out.memberMetadata = m.memberMetadata && m.memberMetadata.length
            ? AssignerProtocol.MemberMetadata.decode(m.memberMetadata) : null
          if (out.memberMetadata && out.memberMetadata.userData) out.memberMetadata.userData = tob64(out.memberMetadata.userData)
        } catch (e) { out.memberMetadata = { undecodable: String(e) } }
        return out
      })
    }))
  }
}

// --- group-worker: a long-running group member (see harness/groups.py) ------
// First stdin line: the request; later lines: commands ("close"). Events are
// JSON lines on stdout, like harness/group_worker.py: started, assign
// (kafkajs's own view: GROUP_JOIN memberAssignment), rebalancing, recs,
// commit, commit_failed, error, stopped_after, closed, fatal.
function groupWorker () {
  const emit = (ev, extra) => process.stdout.write(JSON.stringify({ ev, t: Date.now() / 1000, ...extra }) + '\n')
  const rl = require('readline').createInterface({ input: process.stdin })
  let req = null
  let consumer = null
  let closing = false
  let stopped = false
  let count = 0
  let batches = 0
  const processed = {} // "topic\tpartition" -> next offset
  const finish = async (code) => {
    if (closing) return
    closing = true
    try {
      if (consumer) await consumer.disconnect()
      emit('closed', { count })
    } catch (e) {
      emit('fatal', { error: `disconnect: ${e && e.message}` })
      code = 2
    }
    process.stdout.write('', () => process.exit(code))
  }
  rl.on('line', (line) => {
    line = line.trim()
    if (!line) return
    if (req === null) {
      req = JSON.parse(line)
      start().catch((e) => { emit('fatal', { error: String((e && e.stack) || e) }); process.exit(2) })
      return
    }
    if (line === 'close') finish(0)
    else if (line === 'exit') process.exit(3)
  })
  rl.on('close', () => finish(0))

  async function start () {
    const kafka = client(req)
    consumer = kafka.consumer({
      groupId: req.groupId,
      sessionTimeout: req.sessionTimeout || 6000,
      heartbeatInterval: req.heartbeatInterval || 500,
      rebalanceTimeout: req.rebalanceTimeout || 20000,
      maxWaitTimeInMs: 100,
      metadataMaxAge: 2000,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 2000 }
    })
    const { GROUP_JOIN, REBALANCING, CRASH, COMMIT_OFFSETS } = consumer.events
    consumer.on(GROUP_JOIN, (e) => {
      // a new generation: forget the progress on partitions of the old one
      for (const k of Object.keys(processed)) delete processed[k]
      const a = e.payload.memberAssignment || {}
      const parts = []
      for (const [t, ps] of Object.entries(a)) for (const p of ps) parts.push([t, p])
      parts.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]))
      emit('assign', { parts, assignment: parts, incremental: false, member_id: e.payload.memberId,
        leader: e.payload.isLeader, protocol: e.payload.groupProtocol })
    })
    consumer.on(REBALANCING, (e) => emit('rebalancing', { member_id: e.payload.memberId }))
    consumer.on(CRASH, (e) => emit('error', { error: `crash: ${e.payload.error && (e.payload.error.type || e.payload.error.name)}: ${e.payload.error && e.payload.error.message} (restart: ${e.payload.restart})` }))
    consumer.on(COMMIT_OFFSETS, (e) => {
      const offs = []
      for (const t of e.payload.topics || []) for (const p of t.partitions) offs.push([t.topic, p.partition, Number(p.offset)])
      emit('committed_event', { offsets: offs })
    })
    await consumer.connect()
    for (const t of req.topics) await consumer.subscribe({ topic: t, fromBeginning: true })
    emit('started', {})
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (stopped || closing) return
        const recs = []
        let next = null
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break
          if (req.stop_after && count >= req.stop_after) break
          recs.push([batch.topic, batch.partition, Number(m.offset), m.value === null ? null : m.value.toString()])
          next = Number(m.offset) + 1
          count++
          resolveOffset(m.offset)
        }
        if (recs.length) {
          emit('recs', { recs })
          processed[`${batch.topic}\t${batch.partition}`] = next
          batches++
        }
        const last = req.stop_after && count >= req.stop_after
        if (recs.length && (batches % (req.commit_every || 1) === 0 || last)) {
          // everything processed so far (this member's partitions of this generation)
          const offs = Object.entries(processed).map(([k, o]) => { const [t, p] = k.split('\t'); return [t, Number(p), o] })
          const offsets = offs.map(([topic, partition, o]) => ({ topic, partition, offset: String(o) }))
          try {
            await consumer.commitOffsets(offsets)
            emit('commit', { where: 'batch', offsets: offs })
          } catch (e) {
            emit('commit_failed', { where: 'batch', error: `${e.type || e.name}: ${e.message}`, offsets: offs })
          }
        }
        if (req.stop_after && count >= req.stop_after && !stopped) {
          stopped = true
          emit('stopped_after', { count })
          if (req.after_stop !== 'hold') setImmediate(() => finish(0))
          else consumer.pause(req.topics.map((topic) => ({ topic })))
        }
        await heartbeat()
      }
    })
  }
}

async function main () {
  const cmd = process.argv[2]
  if (cmd === 'group-worker') return groupWorker()
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
