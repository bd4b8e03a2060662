// kafkajs transactions for compat-tests/txn, in one of two modes:
//
//   node kafkajs-txn.js driver '{"Addr": "127.0.0.1:port"}'
//
// reads one JSON operation per line on stdin and answers each with one line
// on stdout, {"ok": result} or {"error": {...}}:
//
//   {"op": "init", "id": "t", "timeoutMs": 60000}   a transactional producer (connect initialises it)
//   {"op": "begin"} {"op": "commit"} {"op": "abort"}
//   {"op": "send", "topic": "t", "records": [{"P": 0, "Key": "k", "Value": "v"}]}
//   {"op": "sendOffsets", "group": "g", "topic": "t", "offsets": {"0": 3}}
//   {"op": "read", "topic": "t", "partitions": 2, "committed": true, "sentinel": "end"}
//   {"op": "close"}
//
// "read" consumes with a new group (kafkajs has no consumer without one)
// from the beginning until every partition showed the sentinel.
//
//   node kafkajs-txn.js pipeline '{"Addr": ..., "Group": ..., "In": ..., "Out": ..., "TxnID": ..., "PauseAt": 4, "SessionMs": 3000}'
//
// is the consume-transform-produce process of the pipeline scenario (see
// pipelineArgs in compat-tests/txn): it prints "paused" and waits to be
// killed before committing transaction PauseAt, and "committed <n>" after
// each commit. kafkajs logs go to stderr.
'use strict';

const readline = require('readline');
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

// franz-go, which writes the pipeline's input, compresses with snappy.
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');

const [mode, argsJSON] = process.argv.slice(2);
const a = JSON.parse(argsJSON);

const kafka = new Kafka({
  clientId: 'potok-compat-txn',
  brokers: [a.Addr],
  logLevel: logLevel.WARN,
  logCreator: () => ({ level, log }) => {
    process.stderr.write(JSON.stringify({ level, ...log }) + '\n');
  },
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
});

function out(line) {
  process.stdout.write(line + '\n');
}

function describeError(e) {
  return {
    name: e.name,
    type: e.type || null,
    message: e.message,
    errors: (e.errors || []).map(describeError),
    cause: e.cause ? describeError(e.cause) : null,
  };
}

async function read(op) {
  const consumer = kafka.consumer({
    groupId: 'reader-' + process.pid + '-' + Date.now(),
    readUncommitted: !op.committed,
    maxWaitTimeInMs: 100,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [op.topic], fromBeginning: true });
    const got = [];
    const done = new Set();
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no sentinel in every partition within 30s: ' + JSON.stringify(got))), 30000);
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (done.has(partition)) {
            got.push({ P: partition, Key: 'AFTER-SENTINEL', Value: String(message.value) });
            return;
          }
          got.push({ P: partition, Key: String(message.key), Value: String(message.value) });
          if (String(message.value) === op.sentinel) {
            done.add(partition);
            if (done.size === op.partitions) {
              clearTimeout(timer);
              resolve();
            }
          }
        },
      }).catch(reject);
    });
    return got;
  } finally {
    await consumer.disconnect();
  }
}

async function driver() {
  let producer = null;
  let txn = null;
  const ops = {
    async init(op) {
      producer = kafka.producer({
        transactionalId: op.id,
        transactionTimeout: op.timeoutMs,
        idempotent: true,
        maxInFlightRequests: 1,
        retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
      });
      await producer.connect();
    },
    async begin() {
      txn = await producer.transaction();
    },
    async send(op) {
      return txn.send({
        topic: op.topic,
        acks: -1,
        messages: op.records.map((r) => ({ partition: r.P, key: r.Key, value: r.Value })),
      });
    },
    async sendOffsets(op) {
      const partitions = Object.entries(op.offsets).map(([p, o]) => ({ partition: Number(p), offset: String(o) }));
      await txn.sendOffsets({ consumerGroupId: op.group, topics: [{ topic: op.topic, partitions }] });
    },
    async commit() {
      await txn.commit();
    },
    async abort() {
      await txn.abort();
    },
    async close() {
      if (producer) {
        await producer.disconnect();
      }
    },
    read,
  };
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const op = JSON.parse(line);
    try {
      const r = await ops[op.op](op);
      out(JSON.stringify({ ok: r === undefined ? null : r }));
    } catch (e) {
      out(JSON.stringify({ error: describeError(e) }));
    }
  }
}

async function pipeline() {
  const consumer = kafka.consumer({
    groupId: a.Group,
    readUncommitted: false,
    sessionTimeout: a.SessionMs,
    heartbeatInterval: 100,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 100,
  });
  const producer = kafka.producer({
    transactionalId: a.TxnID,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  process.on('SIGTERM', () => {
    Promise.all([consumer.disconnect(), producer.disconnect()]).then(() => process.exit(0), () => process.exit(1));
  });
  consumer.on(consumer.events.CRASH, (e) => {
    process.stderr.write((e.payload.error && e.payload.error.stack) + '\n');
    process.stderr.write('consumer crashed (restart: ' + e.payload.restart + '): ' + JSON.stringify(describeError(e.payload.error || {})) + '\n');
    if (!e.payload.restart) {
      process.exit(1);
    }
  });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [a.In], fromBeginning: true });
  let done = 0;
  let txns = 0;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      for (let i = 0; i < batch.messages.length; i += 20) {
        const chunk = batch.messages.slice(i, i + 20);
        const last = chunk[chunk.length - 1].offset;
        const txn = await producer.transaction();
        try {
          await txn.send({
            topic: a.Out,
            acks: -1,
            messages: chunk.map((m) => ({ partition: batch.partition, key: m.key, value: 'out-' + m.value })),
          });
          await txn.sendOffsets({
            consumerGroupId: a.Group,
            topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
          });
          if (++txns === a.PauseAt) {
            out('paused');
            await new Promise(() => {}); // until killed
          }
          await txn.commit();
        } catch (e) {
          process.stderr.write((e && e.stack ? e.stack : e) + '\n');
          process.stderr.write('transaction failed: ' + JSON.stringify(describeError(e)) + '\n');
          process.exit(1);
        }
        resolveOffset(last);
        done += chunk.length;
        out('committed ' + done);
      }
    },
  });
}

(mode === 'driver' ? driver() : pipeline()).catch((e) => {
  process.stderr.write((e && e.stack ? e.stack : String(e)) + '\n');
  process.stderr.write('failed: ' + JSON.stringify(describeError(e)) + '\n');
  process.exit(1);
});
