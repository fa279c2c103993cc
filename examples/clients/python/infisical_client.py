#!/usr/bin/env python3
"""A client written against Infisical's Secret Sync API, run against secret-sync.

It uses only Infisical's paths (no secret-sync-only call), as a script or
SDK written for Infisical would:

    GET  /api/v1/secret-syncs/options
    GET  /api/v1/app-connections/humanitec/connection-name/{name}
    POST /api/v1/secret-syncs/humanitec
    POST /api/v1/secret-syncs/humanitec/{syncId}/import-secrets?importBehavior=...
    GET  /api/v1/secret-syncs/humanitec/sync-name/{name}?projectId=...

    INFISICAL_API_URL=http://127.0.0.1:8080 INFISICAL_TOKEN=ssk_... \\
        python3 infisical_client.py --project shop --connection-name humanitec \\
            --sync-name backend-prod --environment prod --secret-path /backend \\
            --org demo-org --app web [--env development] \\
            [--import-behavior prioritize-destination]

It prints the sync, as read by name once the import is done, as JSON on
stdout, and exits 0 if the import succeeded. Only the Python standard
library is used. The token is sent in a header and never printed.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class ApiError(Exception):
    pass


class Client:
    def __init__(self, base_url, token):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method, path, query=None, body=None):
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            # Infisical's error body: {reqId, statusCode, message, error}.
            try:
                detail = json.load(e)
                message = f"{detail.get('statusCode')} {detail.get('message')} ({detail.get('reqId')})"
            except ValueError:
                message = str(e.code)
            raise ApiError(f"{method} {path}: {message}") from None


def segment(value):
    return urllib.parse.quote(value, safe="")


def run(args, client):
    options = client.call("GET", "/api/v1/secret-syncs/options")["secretSyncOptions"]
    humanitec = next((o for o in options if o["destination"] == "humanitec"), None)
    if humanitec is None:
        raise ApiError("this server offers no Humanitec syncs")
    if not humanitec["canImportSecrets"]:
        raise ApiError("this server cannot import from Humanitec")

    connection = client.call(
        "GET", f"/api/v1/app-connections/humanitec/connection-name/{segment(args.connection_name)}"
    )["appConnection"]
    if connection["app"] != humanitec["connection"]:
        raise ApiError(f"connection {args.connection_name} is not a {humanitec['connection']} connection")

    destination = {"scope": "application", "org": args.org, "app": args.app}
    if args.env:
        destination = {"scope": "environment", "org": args.org, "app": args.app, "env": args.env}
    sync = client.call(
        "POST",
        "/api/v1/secret-syncs/humanitec",
        body={
            "name": args.sync_name,
            "projectId": args.project,
            "connectionId": connection["id"],
            "environment": args.environment,
            "secretPath": args.secret_path,
            # Import first: no sync job should push before the values came in.
            "isAutoSyncEnabled": False,
            "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
            "destinationConfig": destination,
        },
    )["secretSync"]

    client.call(
        "POST",
        f"/api/v1/secret-syncs/humanitec/{sync['id']}/import-secrets",
        query={"importBehavior": args.import_behavior},
    )

    deadline = time.monotonic() + args.timeout
    while True:
        sync = client.call(
            "GET",
            f"/api/v1/secret-syncs/humanitec/sync-name/{segment(args.sync_name)}",
            query={"projectId": args.project},
        )["secretSync"]
        if sync["importStatus"] in ("succeeded", "failed"):
            return sync
        if time.monotonic() > deadline:
            raise ApiError(f"the import did not finish within {args.timeout} s (importStatus {sync['importStatus']})")
        time.sleep(0.25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--connection-name", required=True)
    parser.add_argument("--sync-name", required=True)
    parser.add_argument("--environment", required=True, help="the source environment's slug")
    parser.add_argument("--secret-path", default="/")
    parser.add_argument("--org", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--env", help="a Humanitec environment: environment scope instead of app scope")
    parser.add_argument(
        "--import-behavior",
        default="prioritize-destination",
        choices=("prioritize-source", "prioritize-destination"),
    )
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    base_url = os.environ.get("INFISICAL_API_URL", "http://127.0.0.1:8080")
    token = os.environ.get("INFISICAL_TOKEN")
    if not token:
        print("set INFISICAL_TOKEN to an API token", file=sys.stderr)
        return 2
    try:
        sync = run(args, Client(base_url, token))
    except ApiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"secretSync": sync}))
    if sync["importStatus"] != "succeeded":
        print(f"the import failed: {sync.get('lastImportMessage')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
