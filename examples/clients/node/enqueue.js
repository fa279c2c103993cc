#!/usr/bin/env node
// Enqueue a secret-sync job from another service (amqplib).
//
//   AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f QUEUE_PREFIX= \
//     node enqueue.js sync <sync-id> [--trigger api] [--traceparent 00-...]
//
// The body follows docs/schemas/job.schema.json. The message is persistent,
// its messageId is the job id, and the publish waits for the broker's
// confirm: when this prints the job id, RabbitMQ has the job.
'use strict';

const amqp = require('amqplib');
const { randomUUID } = require('node:crypto');
const { parseArgs } = require('node:util');

const IMPORT_BEHAVIORS = ['prioritize-source', 'prioritize-destination'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function buildJob(type, syncId, { trigger = 'api', importBehavior, deleteSyncOnComplete = false } = {}) {
  if (!['sync', 'import', 'remove'].includes(type)) throw new Error(`unknown job type ${type}`);
  if (!UUID.test(syncId)) throw new Error(`sync id ${syncId} is not a UUID`);
  const job = { jobId: randomUUID(), syncId, type, trigger };
  if (type === 'import') {
    if (!IMPORT_BEHAVIORS.includes(importBehavior)) {
      throw new Error(`import jobs need --import-behavior ${IMPORT_BEHAVIORS.join('|')}`);
    }
    job.importBehavior = importBehavior;
  }
  if (type === 'remove') job.deleteSyncOnComplete = deleteSyncOnComplete;
  return job;
}

// Publishes with confirms to `${prefix}secret-sync.jobs`, routing key = type.
async function publish(amqpUrl, prefix, job, traceparent) {
  const connection = await amqp.connect(amqpUrl);
  // Errors also arrive as events; without listeners they would crash the process.
  connection.on('error', () => {});
  try {
    const channel = await connection.createConfirmChannel();
    const unroutable = new Promise((_, reject) => {
      channel.once('return', () => reject(new Error('no queue is bound for this job type (is the topology declared?)')));
      channel.once('error', reject); // e.g. 404: the exchange does not exist
    });
    const confirmed = new Promise((resolve, reject) => {
      channel.publish(`${prefix}secret-sync.jobs`, job.type, Buffer.from(JSON.stringify(job)), {
        contentType: 'application/json',
        persistent: true,
        messageId: job.jobId,
        mandatory: true,
        headers: traceparent ? { traceparent } : {},
      }, (err) => (err ? reject(err) : resolve()));
    });
    // A return arrives before the confirm, so racing the two is enough.
    await Promise.race([confirmed, unroutable]);
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      trigger: { type: 'string', default: 'api' },
      'import-behavior': { type: 'string' },
      'delete-sync-on-complete': { type: 'boolean', default: false },
      traceparent: { type: 'string' },
    },
  });
  const [type, syncId] = positionals;
  const amqpUrl = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2f';
  const prefix = process.env.QUEUE_PREFIX || '';
  const job = buildJob(type, syncId || '', {
    trigger: values.trigger,
    importBehavior: values['import-behavior'],
    deleteSyncOnComplete: values['delete-sync-on-complete'],
  });
  await publish(amqpUrl, prefix, job, values.traceparent);
  console.log(job.jobId);
}

module.exports = { buildJob, publish };

if (require.main === module) {
  main().catch((err) => {
    console.error(`error: could not enqueue the job: ${err.message}`);
    process.exit(1);
  });
}
