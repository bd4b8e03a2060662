// One kafkajs consumer group member for compat-tests/groups, run as
//
//   node kafkajs-member.js '{"Addr": "127.0.0.1:port", "Group": "g", "Topic": "t",
//                            "Name": "a", "SessionMs": 3000, "HeartMs": 100}'
//
// It prints, one line each (stdout is a pipe, written synchronously):
//
//   assignment 0,2,4              after each join: its whole assignment
//   record <partition> <offset> <value>
//   uncommitted <partition> <offset>   committing it failed
//
// and commits each record's offset after printing it (autoCommit off). On
// SIGTERM it disconnects (leaving the group) and exits 0. kafkajs has one
// assigner, round robin. kafkajs logs go to stderr.
'use strict';

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

// franz-go, which writes the records, compresses with snappy.
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');

const a = JSON.parse(process.argv[2]);

function out(line) {
  process.stdout.write(line + '\n');
}

const kafka = new Kafka({
  clientId: a.Name,
  brokers: [a.Addr],
  logLevel: logLevel.WARN,
  logCreator: () => ({ level, log }) => {
    process.stderr.write(JSON.stringify({ level, ...log }) + '\n');
  },
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
});

const consumer = kafka.consumer({
  groupId: a.Group,
  sessionTimeout: a.SessionMs,
  heartbeatInterval: a.HeartMs,
  rebalanceTimeout: 5000,
  maxWaitTimeInMs: 100,
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 },
});

// A crash kafkajs does not restart from ends the member, so that the test
// sees it.
consumer.on(consumer.events.CRASH, (e) => {
  process.stderr.write('crash (restart: ' + e.payload.restart + '): ' + (e.payload.error && e.payload.error.stack) + '\n');
  if (!e.payload.restart) {
    process.exit(1);
  }
});

consumer.on(consumer.events.GROUP_JOIN, (e) => {
  const parts = (e.payload.memberAssignment[a.Topic] || []).slice().sort((x, y) => x - y);
  out('assignment ' + parts.join(','));
});

let stopping = null;
process.on('SIGTERM', () => {
  if (!stopping) {
    stopping = consumer.disconnect().then(
      () => process.exit(0),
      (e) => {
        process.stderr.write('disconnect: ' + (e && e.stack ? e.stack : e) + '\n');
        process.exit(1);
      });
  }
});

async function main() {
  await consumer.connect();
  await consumer.subscribe({ topics: [a.Topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      out(`record ${partition} ${message.offset} ${message.value}`);
      try {
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      } catch (e) {
        process.stderr.write('commitOffsets: ' + (e && e.stack ? e.stack : e) + '\n');
        out(`uncommitted ${partition} ${message.offset}`);
      }
    },
  });
}

main().catch((e) => {
  process.stderr.write((e && e.stack ? e.stack : String(e)) + '\n');
  process.exit(1);
});
