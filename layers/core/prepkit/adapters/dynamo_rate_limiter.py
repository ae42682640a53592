"""RateLimiter on DynamoDB: fixed windows, one conditional UpdateItem per check, TTL on each window."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prepkit.ports import RateDecision

log = logging.getLogger(__name__)

#: the table's shape, shared with the CDK construct that owns it when deployed
PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"


class DynamoRateLimiter:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time):
        self._client = client
        self._table = table
        self._clock = clock

    def hit(self, key: str, *, limit: int, window_s: int) -> RateDecision | None:
        now = int(self._clock())
        window_start = now - now % window_s
        reset = window_start + window_s
        try:
            result = self._client.update_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": f"{key}#{window_start}"}},
                UpdateExpression="ADD #count :one SET #expires = if_not_exists(#expires, :expires)",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count", "#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":expires": {"N": str(reset + 60)},  # TTL: DynamoDB deletes the window after it ends
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return RateDecision(
                    allowed=False,
                    limit=limit,
                    remaining=0,
                    reset_epoch_s=reset,
                    retry_after_s=max(1, reset - now),
                )
            log.warning(
                "rate limiter unavailable, failing open: %s", exc.response.get("Error", {}).get("Code")
            )
            return None
        except BotoCoreError as exc:
            log.warning("rate limiter unavailable, failing open: %s", type(exc).__name__)
            return None
        count = int(result["Attributes"]["count"]["N"])
        return RateDecision(
            allowed=True, limit=limit, remaining=max(0, limit - count), reset_epoch_s=reset, retry_after_s=0
        )


def create_table(client: Any, table: str) -> None:
    """For the local stack and tests; deployed, CDK owns the table (same key and TTL attribute)."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
        return
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
