// kafkajs admin client against potok: run by kafkajs_test.go as
//   node kafkajs_admin.cjs <broker host:port> <topic>
// It exits non-zero with a message on the first check that fails.
'use strict'
const { Kafka, ConfigResourceTypes, logLevel } = require('kafkajs')

const [broker, topic] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'potok-compat-kafkajs', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 1 } })

function check (ok, what) {
  if (!ok) throw new Error(what)
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer({ retry: { retries: 0 } })
  await producer.connect()
  try {
    check(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }),
      'createTopics did not create the topic')
    const cluster = await admin.describeCluster()
    check(cluster.brokers.length === 1 && cluster.controller === cluster.brokers[0].nodeId && cluster.clusterId,
      'describeCluster: ' + JSON.stringify(cluster))

    // Every topic config, with the override marked.
    let res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] })
    const entries = res.resources[0].configEntries
    const get = name => entries.find(e => e.configName === name)
    check(entries.length >= 30, 'describeConfigs lists ' + entries.length + ' configs')
    check(get('retention.ms').configValue === '3600000' && !get('retention.ms').isDefault, 'retention.ms: ' + JSON.stringify(get('retention.ms')))
    check(get('cleanup.policy').configValue === 'delete' && get('cleanup.policy').isDefault, 'cleanup.policy: ' + JSON.stringify(get('cleanup.policy')))

    // A lowered max.message.bytes rejects a larger record.
    const big = Buffer.alloc(50000, 7)
    await producer.send({ topic, messages: [{ partition: 0, value: big }] })
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }] })
    let rejected = null
    try {
      await producer.send({ topic, compression: 0, messages: [{ partition: 0, value: Buffer.alloc(50000, 1).map((_, i) => (i * 7919) & 255) }] })
    } catch (e) {
      rejected = e
    }
    check(rejected && /larger than|too large|MESSAGE_TOO_LARGE/i.test(String(rejected.message) + String(rejected.type)),
      'a 50 kB record with max.message.bytes=20000 was not refused: ' + rejected)
    res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes', 'retention.ms'] }] })
    const after = Object.fromEntries(res.resources[0].configEntries.map(e => [e.configName, e.configValue]))
    // AlterConfigs replaces the whole set: retention.ms is back to its default.
    check(after['max.message.bytes'] === '20000' && after['retention.ms'] === '604800000', 'after alterConfigs: ' + JSON.stringify(after))

    // A bad value is refused with INVALID_CONFIG.
    let bad = null
    try {
      await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: 'soon' }] }] })
    } catch (e) {
      bad = e
    }
    check(bad && /INVALID_CONFIG|invalid/i.test(JSON.stringify(bad.errors || bad.type || bad.message)), 'bad retention.ms accepted: ' + bad)

    // Broker configs.
    res = await admin.describeConfigs({ includeSynonyms: true, resources: [{ type: ConfigResourceTypes.BROKER, name: String(cluster.brokers[0].nodeId) }] })
    check(res.resources[0].configEntries.length >= 50, 'broker configs: ' + res.resources[0].configEntries.length)

    await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    check(md.topics[0].partitions.length === 3, 'partitions after createPartitions: ' + md.topics[0].partitions.length)
    await admin.deleteTopics({ topics: [topic] })
    check(!(await admin.listTopics()).includes(topic), 'topic still listed after deleteTopics')
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
}

main().then(() => { console.log('ok') }, e => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1) })
