// Runs kafkajs operations against a broker for the Go test in
// compat-tests/kafkajs. It reads one JSON object from stdin,
//
//   {"brokers": ["127.0.0.1:port"], "ops": [{"op": "produce", ...}, ...]}
//
// runs the operations in order and prints one JSON array to stdout with,
// for each operation, {"ok": result} or {"error": {...}}. The Go test
// decides what is right; this file only translates. kafkajs logs go to
// stderr.
'use strict';

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

// Codecs kafkajs does not have built in come from separate packages; lz4
// and zstd are native modules and optional (see README.md).
const codecErrors = {};
try {
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
} catch (e) {
  codecErrors.snappy = String(e);
}
try {
  const LZ4Codec = require('kafkajs-lz4');
  CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
} catch (e) {
  codecErrors.lz4 = String(e);
}
try {
  CompressionCodecs[CompressionTypes.ZSTD] = require('@kafkajs/zstd')();
} catch (e) {
  codecErrors.zstd = String(e);
}

const compressionTypes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

function fromB64(s) {
  return s === null || s === undefined ? null : Buffer.from(s, 'base64');
}

// toMessage turns {key, value, headers: [[k, v], ...], timestamp} (base64
// bytes, null for null) into a kafkajs message. kafkajs takes headers as an
// object, so a repeated key becomes an array under its first position.
function toMessage(r) {
  const m = { key: fromB64(r.key), value: fromB64(r.value) };
  if (r.headers && r.headers.length) {
    m.headers = {};
    for (const [k, v] of r.headers) {
      const b = fromB64(v);
      if (k in m.headers) {
        m.headers[k] = [].concat(m.headers[k], b);
      } else {
        m.headers[k] = b;
      }
    }
  }
  if (r.partition !== undefined) m.partition = r.partition;
  if (r.timestamp !== undefined) m.timestamp = String(r.timestamp);
  return m;
}

function describeError(e) {
  return {
    name: e.name,
    type: e.type || null,
    message: e.message,
    retriable: e.retriable,
    errors: (e.errors || []).map(describeError),
    cause: e.cause ? describeError(e.cause) : null,
  };
}

const ops = {
  async produce(kafka, op) {
    if (codecErrors[op.compression]) {
      throw new Error(`codec ${op.compression} is not available: ${codecErrors[op.compression]}`);
    }
    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: !!op.idempotent,
      maxInFlightRequests: op.idempotent ? 1 : undefined,
      retry: { retries: op.retries === undefined ? 2 : op.retries, initialRetryTime: 100 },
    });
    await producer.connect();
    try {
      return await producer.send({
        topic: op.topic,
        acks: op.acks,
        timeout: 10000,
        compression: compressionTypes[op.compression || 'none'],
        messages: op.records.map(toMessage),
      });
    } finally {
      await producer.disconnect();
    }
  },
  async createTopics(kafka, op) {
    return withAdmin(kafka, (admin) =>
      admin.createTopics({ validateOnly: !!op.validateOnly, waitForLeaders: true, timeout: 10000, topics: op.topics }));
  },
  async createPartitions(kafka, op) {
    return withAdmin(kafka, (admin) => admin.createPartitions({ topicPartitions: op.topicPartitions }));
  },
  async deleteTopics(kafka, op) {
    return withAdmin(kafka, (admin) => admin.deleteTopics({ topics: op.topics, timeout: 10000 }));
  },
  async listTopics(kafka) {
    return withAdmin(kafka, async (admin) => (await admin.listTopics()).sort());
  },
  async fetchTopicMetadata(kafka, op) {
    return withAdmin(kafka, (admin) => admin.fetchTopicMetadata({ topics: op.topics }));
  },
  async fetchTopicOffsets(kafka, op) {
    return withAdmin(kafka, async (admin) =>
      (await admin.fetchTopicOffsets(op.topic)).sort((a, b) => a.partition - b.partition));
  },
  async fetchTopicOffsetsByTimestamp(kafka, op) {
    return withAdmin(kafka, async (admin) =>
      (await admin.fetchTopicOffsetsByTimestamp(op.topic, op.timestamp)).sort((a, b) => a.partition - b.partition));
  },
  async describeCluster(kafka) {
    return withAdmin(kafka, (admin) => admin.describeCluster());
  },
  async describeConfigs(kafka, op) {
    return withAdmin(kafka, (admin) =>
      admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: op.topic }] }));
  },
};

async function withAdmin(kafka, fn) {
  const admin = kafka.admin({ retry: { retries: 2, initialRetryTime: 100 } });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

function stderrLogger() {
  return ({ level, log }) => {
    const { message, ...extra } = log;
    process.stderr.write(`[kafkajs ${level}] ${message} ${JSON.stringify(extra)}\n`);
  };
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input);
  const kafka = new Kafka({
    clientId: 'potok-compat',
    brokers: req.brokers,
    logLevel: logLevel.WARN,
    logCreator: stderrLogger,
    retry: { retries: 2, initialRetryTime: 100 },
    connectionTimeout: 5000,
    requestTimeout: 15000,
  });
  const results = [];
  for (const op of req.ops) {
    try {
      results.push({ ok: await ops[op.op](kafka, op) });
    } catch (e) {
      results.push({ error: describeError(e) });
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
