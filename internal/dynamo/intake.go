package dynamo

import (
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The intake table's tally items, which the ingest function writes and
// the channel health view reads: one item per channel and minute, and one
// per channel holding its last accepted delivery.
const (
	// IntakeMinute is a tally item's minute in its sort key.
	IntakeMinute = "2006-01-02T15:04Z"
	// IntakeLastTime orders as a string: fixed width, UTC.
	IntakeLastTime = "2006-01-02T15:04:05.000000000Z"
)

// IntakeTallyCounts are a tally item's counters, in events.IntakeTally's
// field order.
var IntakeTallyCounts = []string{"accepted", "duplicate", "rejected_signature", "rejected_other", "unavailable", "events", "ignored", "quarantined"}

// IntakeMinuteKey is the key of a channel's tally of the minute holding at.
func IntakeMinuteKey(channel string, at time.Time) map[string]ddb.AttributeValue {
	return ItemKey("intake#"+channel, "minute#"+at.UTC().Format(IntakeMinute))
}

// IntakeLastKey is the key of a channel's last accepted delivery.
func IntakeLastKey(channel string) map[string]ddb.AttributeValue {
	return ItemKey("intake#"+channel, "last")
}
