#!/usr/bin/env python3
"""Enqueue a secret-sync job from another service (pika).

    AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f QUEUE_PREFIX= \
        python3 enqueue.py sync <sync-id> [--trigger api] [--traceparent 00-...]

The body follows docs/schemas/job.schema.json. The message is persistent,
its message_id is the job id, and the publish waits for the broker's
confirm: when this prints the job id, RabbitMQ has the job.
"""
import argparse
import json
import os
import sys
import uuid

import pika

IMPORT_BEHAVIORS = ("prioritize-source", "prioritize-destination")


def build_job(job_type, sync_id, trigger, import_behavior=None, delete_sync_on_complete=False):
    """The job body of docs/schemas/job.schema.json, with a fresh job id."""
    job = {"jobId": str(uuid.uuid4()), "syncId": str(uuid.UUID(sync_id)), "type": job_type, "trigger": trigger}
    if job_type == "import":
        if import_behavior not in IMPORT_BEHAVIORS:
            raise ValueError(f"import jobs need --import-behavior {'|'.join(IMPORT_BEHAVIORS)}")
        job["importBehavior"] = import_behavior
    if job_type == "remove":
        job["deleteSyncOnComplete"] = delete_sync_on_complete
    return job


def publish(amqp_url, prefix, job, traceparent=None):
    """Publishes with confirms to `{prefix}secret-sync.jobs`, routing key = type."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()  # basic_publish now raises unless confirmed
        headers = {"traceparent": traceparent} if traceparent else None
        channel.basic_publish(
            exchange=f"{prefix}secret-sync.jobs",
            routing_key=job["type"],
            body=json.dumps(job).encode(),
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=job["jobId"],
                headers=headers,
            ),
            mandatory=True,  # unroutable (no queue bound yet) raises instead of vanishing
        )
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description="Enqueue a secret-sync job")
    parser.add_argument("type", choices=("sync", "import", "remove"))
    parser.add_argument("sync_id")
    parser.add_argument("--trigger", default="api")
    parser.add_argument("--import-behavior", choices=IMPORT_BEHAVIORS)
    parser.add_argument("--delete-sync-on-complete", action="store_true")
    parser.add_argument("--traceparent", help="W3C traceparent, continued in the worker's logs")
    args = parser.parse_args()
    amqp_url = os.environ.get("AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/%2f"
    prefix = os.environ.get("QUEUE_PREFIX", "")
    try:
        job = build_job(args.type, args.sync_id, args.trigger, args.import_behavior, args.delete_sync_on_complete)
        publish(amqp_url, prefix, job, args.traceparent)
    except (ValueError, pika.exceptions.AMQPError) as e:
        print(f"error: could not enqueue the job: {e!r}", file=sys.stderr)
        return 1
    print(job["jobId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
