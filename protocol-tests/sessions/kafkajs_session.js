#!/usr/bin/env node
// kafkajs session. Usage: NODE_PATH=/tmp/fixture-js/node_modules node kafkajs_session.js BOOTSTRAP
// kafkajs has no group-less consumer, so this session does not fetch.
// Every step runs even if an earlier one fails; failures are printed as "STEP-ERROR",
// expected broker errors as "EXPECTED".
'use strict'
const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs')

const codecs = [['gzip', CompressionTypes.GZIP]]
try {
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
  codecs.push(['snappy', CompressionTypes.Snappy])
} catch (e) {
  console.log('snappy codec not installed; skipping snappy:', e.message)
}

const B = process.argv[2]
const T = 'kjs-topic'
const FAILED = []
const kafka = new Kafka({ clientId: 'riffle-fixture-kafkajs', brokers: [B], logLevel: logLevel.WARN, retry: { retries: 3 } })

async function step (name, fn) {
  console.log('=== STEP', name)
  try {
    await fn()
  } catch (e) {
    FAILED.push(name)
    console.log(`STEP-ERROR ${name}: ${e.name}: ${e.message} ${e.type || ''}`)
    if (e.stack) console.log(e.stack)
  }
}

async function expectError (type, fn) {
  try {
    const r = await fn()
    console.log(`UNEXPECTED success (expected ${type}):`, JSON.stringify(r))
  } catch (e) {
    // kafkajs retries UNKNOWN_TOPIC_OR_PARTITION and then throws
    // KafkaJSNumberOfRetriesExceeded with the original error as its cause.
    const cause = e.originalError || e.cause || {}
    const text = `${e.name} ${e.type || ''} ${cause.type || ''} ${e.message} ${JSON.stringify(e.errors || e.topicErrors || '')}`
    if (text.includes(type)) console.log('EXPECTED', text)
    else throw e
  }
}

const j = x => JSON.stringify(x)

async function main () {
  const admin = kafka.admin()
  await step('admin-connect', () => admin.connect())

  await step('metadata-all', async () => console.log('topics', j(await admin.listTopics())))
  await step('describe-cluster', async () => console.log(j(await admin.describeCluster())))

  await step('create-topics', async () => {
    const created = await admin.createTopics({
      waitForLeaders: true,
      timeout: 10000,
      topics: [
        { topic: T, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'delete' }] },
        { topic: 'kjs-to-delete', numPartitions: 1, replicationFactor: 1 }
      ]
    })
    console.log('created', created)
    if (!created) throw new Error('createTopics returned false')
  })
  await step('create-topics-validate-only', async () => {
    // waitForLeaders must be off: the topic does not exist afterwards, so waiting for its
    // leaders would fail with UNKNOWN_TOPIC_OR_PARTITION.
    console.log('validateOnly ->', await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: 'kjs-validate', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '60000' }] }] }))
    if ((await admin.listTopics()).includes('kjs-validate')) console.log('UNEXPECTED: validateOnly created kjs-validate')
  })
  await step('create-topics-already-exists', async () => {
    // kafkajs treats TOPIC_ALREADY_EXISTS as "not created" and returns false.
    const r = await admin.createTopics({ topics: [{ topic: T, numPartitions: 3 }] })
    if (r !== false) console.log('UNEXPECTED: createTopics of an existing topic returned', r)
    else console.log('EXPECTED createTopics(existing) -> false')
  })
  await step('create-topics-defaults', async () => {
    // numPartitions/replicationFactor -1: broker defaults.
    console.log(await admin.createTopics({ topics: [{ topic: 'kjs-defaults' }] }))
  })
  await step('metadata-named', async () => console.log(j(await admin.fetchTopicMetadata({ topics: [T, 'kjs-defaults'] }))))

  const producerRun = async (label, n, sendOpts = {}, producerOpts = {}, topic = T) => {
    const p = kafka.producer({ allowAutoTopicCreation: true, ...producerOpts })
    await p.connect()
    try {
      const messages = []
      for (let i = 0; i < n; i++) {
        messages.push({
          key: `key${i % 7}`,
          value: `${label}-value-${i}`,
          headers: { source: 'kafkajs', label },
          ...(sendOpts.partition !== undefined ? { partition: sendOpts.partition } : {})
        })
      }
      const { partition, ...opts } = sendOpts
      const r = await p.send({ topic, messages, ...opts })
      console.log(label, j(r))
    } finally {
      await p.disconnect()
    }
  }

  const tsBefore = Date.now()
  await step('produce-plain', () => producerRun('plain', 15))
  await new Promise(resolve => setTimeout(resolve, 50))
  const tsMid = Date.now()
  await new Promise(resolve => setTimeout(resolve, 50))
  for (const [name, codec] of codecs) {
    await step(`produce-${name}`, () => producerRun(name, 15, { compression: codec }))
  }
  await step('produce-acks1', () => producerRun('acks1', 10, { acks: 1 }))
  await step('produce-acksall', () => producerRun('acksall', 10, { acks: -1 }))
  await step('produce-acks0', () => producerRun('acks0', 10, { acks: 0 }))
  await step('produce-idempotent', () => producerRun('idem', 15, {}, { idempotent: true, maxInFlightRequests: 1 }))
  await step('produce-idempotent-gzip', () => producerRun('idemgzip', 10, { compression: CompressionTypes.GZIP }, { idempotent: true, maxInFlightRequests: 1 }))
  await step('produce-partition2', () => producerRun('p2', 5, { partition: 2 }))
  await step('produce-autocreate', () => producerRun('auto', 3, {}, {}, 'kjs-auto'))

  await step('list-offsets', async () => {
    const offs = await admin.fetchTopicOffsets(T)
    console.log('fetchTopicOffsets', j(offs))
    const total = offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0)
    console.log('total', total)
    if (total < 15 * (1 + codecs.length) + 10 * 2 + 15 + 10 + 5) console.log('UNEXPECTED: only', total, 'messages in', T)
  })
  await step('list-offsets-by-timestamp', async () => {
    console.log('mid', j(await admin.fetchTopicOffsetsByTimestamp(T, tsMid)))
    console.log('before', j(await admin.fetchTopicOffsetsByTimestamp(T, tsBefore - 3600000)))
    console.log('future', j(await admin.fetchTopicOffsetsByTimestamp(T, Date.now() + 3600000)))
    console.log('no timestamp (latest)', j(await admin.fetchTopicOffsetsByTimestamp(T)))
  })

  await step('list-offsets-inside-compressed-batch', async () => {
    // One gzip batch of 20 records 10 ms apart. Kafka looks inside the batch: the offset
    // for TS0+55 is 6.
    const t = 'kjs-ts'
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 1 }] })
    const ts0 = Date.now() - 60000
    const p = kafka.producer()
    await p.connect()
    const messages = []
    for (let i = 0; i < 20; i++) messages.push({ partition: 0, key: 'k', value: 'a'.repeat(200) + i, timestamp: String(ts0 + 10 * i), headers: { label: 'ts' } })
    await p.send({ topic: t, compression: CompressionTypes.GZIP, messages })
    await p.disconnect()
    const r = await admin.fetchTopicOffsetsByTimestamp(t, ts0 + 55)
    console.log('fetchTopicOffsetsByTimestamp(TS0+55)', j(r))
    if (Number(r[0].offset) !== 6) console.log(`UNEXPECTED: ListOffsets for a timestamp inside a gzip batch: got offset ${r[0].offset}, Kafka answers 6`)
  })

  await step('describe-configs', async () => {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: T }, { type: ConfigResourceTypes.BROKER, name: '1' }]
    })
    for (const res of r.resources) {
      const pick = res.configEntries.filter(e => ['retention.ms', 'cleanup.policy', 'num.partitions', 'log.dirs'].includes(e.configName))
      console.log(res.resourceType, res.resourceName, 'error', res.errorCode, res.configEntries.length, 'entries', j(pick))
    }
  })
  await step('describe-configs-named-synonyms', async () => {
    const r = await admin.describeConfigs({
      includeSynonyms: true,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: T, configNames: ['retention.ms', 'segment.bytes'] }]
    })
    console.log(j(r.resources))
  })
  await step('describe-configs-unknown-topic', () => expectError('UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs-nope' }] })
    if (r.resources[0].errorCode === 3) throw new Error('UNKNOWN_TOPIC_OR_PARTITION (errorCode 3 in resource)')
    return r
  }))

  await step('delete-topics', async () => {
    await admin.deleteTopics({ topics: ['kjs-to-delete', 'kjs-auto', 'kjs-defaults', 'kjs-ts'], timeout: 10000 })
  })
  await step('delete-topics-unknown', () => expectError('UNKNOWN_TOPIC_OR_PARTITION', () => admin.deleteTopics({ topics: ['kjs-nope'], timeout: 5000 })))
  await step('metadata-final', async () => {
    const topics = await admin.listTopics()
    console.log('topics', j(topics))
    for (const t of ['kjs-to-delete', 'kjs-auto', 'kjs-defaults']) {
      if (topics.includes(t)) console.log(`UNEXPECTED: ${t} still listed after delete`)
    }
  })
  await step('admin-disconnect', () => admin.disconnect())

  console.log('FAILED steps:', j(FAILED))
  process.exit(FAILED.length ? 1 : 0)
}

main().catch(e => { console.log('STEP-ERROR main:', e); process.exit(2) })
