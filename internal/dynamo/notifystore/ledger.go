package notifystore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/topology"
)

// NotificationRetention is how long a notification delivery record is kept:
// far longer than any redelivery or flush retry, so a late duplicate is
// still recognised as sent.
const NotificationRetention = 30 * 24 * time.Hour

// Notification delivery states.
const (
	ledgerClaimed = "claimed"
	ledgerSent    = "sent"
)

// Attribute names of a notification delivery record, besides the keys and
// the TTL attribute the topology names.
const (
	ledgerState      = "state"
	ledgerLeaseUntil = "lease_until" // epoch milliseconds; compared in conditions
	ledgerSentAt     = "sent_at"     // RFC 3339, for people reading the log
)

// ledgerClaimCondition lets a claim through when no attempt has touched the
// delivery, or when an attempt claimed it and its lease has lapsed. A sent
// delivery is never claimed again.
const ledgerClaimCondition = "attribute_not_exists(" + topology.PK + ") OR (#state = :claimed AND " + ledgerLeaseUntil + " < :now)"

// NotificationLedger is notify.Ledger on DynamoDB: one item per (delivery,
// receiver) under pk "notification#<delivery id>", sk "<receiver>", written
// with conditional writes so concurrent attempts agree on who sends.
type NotificationLedger struct {
	client *dynamodb.Client
	table  string
}

var _ notify.Ledger = (*NotificationLedger)(nil)

// NewNotificationLedger returns a ledger over table (the failures table).
func NewNotificationLedger(client *dynamodb.Client, table string) *NotificationLedger {
	return &NotificationLedger{client: client, table: table}
}

func ledgerKey(delivery, receiver string) map[string]ddb.AttributeValue {
	return map[string]ddb.AttributeValue{
		topology.PK: &ddb.AttributeValueMemberS{Value: "notification#" + delivery},
		topology.SK: &ddb.AttributeValueMemberS{Value: receiver},
	}
}

func ledgerMillis(t time.Time) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

func ledgerExpiry(t time.Time) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(t.Add(NotificationRetention).Unix(), 10)}
}

// Claim takes the delivery until leaseUntil. When the condition fails, the
// item as it was tells a delivery already sent from one another attempt is
// making.
func (l *NotificationLedger) Claim(ctx context.Context, delivery, receiver string, now, leaseUntil time.Time) (notify.Claim, error) {
	item := ledgerKey(delivery, receiver)
	item[ledgerState] = &ddb.AttributeValueMemberS{Value: ledgerClaimed}
	item[ledgerLeaseUntil] = ledgerMillis(leaseUntil)
	// Claims expire too, so one abandoned by a crash does not stay forever.
	item[topology.TTL] = ledgerExpiry(now)
	_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(l.table),
		Item:                                item,
		ConditionExpression:                 aws.String(ledgerClaimCondition),
		ExpressionAttributeNames:            map[string]string{"#state": ledgerState},
		ExpressionAttributeValues:           map[string]ddb.AttributeValue{":claimed": &ddb.AttributeValueMemberS{Value: ledgerClaimed}, ":now": ledgerMillis(now)},
		ReturnValuesOnConditionCheckFailure: ddb.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var cf *ddb.ConditionalCheckFailedException
	switch {
	case err == nil:
		return notify.Granted, nil
	case errors.As(err, &cf):
		if st, ok := cf.Item[ledgerState].(*ddb.AttributeValueMemberS); ok && st.Value == ledgerSent {
			return notify.AlreadySent, nil
		}
		return notify.Held, nil
	}
	return 0, fmt.Errorf("claim notification %s to %s: %w", delivery, receiver, err)
}

// MarkSent records the delivery. It updates rather than replaces the item so
// attributes added later (such as a Slack message timestamp for
// acknowledgements) survive.
func (l *NotificationLedger) MarkSent(ctx context.Context, delivery, receiver string, sentAt time.Time) error {
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(l.table),
		Key:              ledgerKey(delivery, receiver),
		UpdateExpression: aws.String("SET #state = :sent, " + ledgerSentAt + " = :at, #ttl = :exp REMOVE " + ledgerLeaseUntil),
		ExpressionAttributeNames: map[string]string{
			"#state": ledgerState,
			"#ttl":   topology.TTL,
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":sent": &ddb.AttributeValueMemberS{Value: ledgerSent},
			":at":   &ddb.AttributeValueMemberS{Value: sentAt.UTC().Format(time.RFC3339Nano)},
			":exp":  ledgerExpiry(sentAt),
		},
	})
	if err != nil {
		return fmt.Errorf("mark notification %s to %s sent: %w", delivery, receiver, err)
	}
	return nil
}

// Release deletes the claim taken with leaseUntil. The lease end identifies
// the claim: a claim another attempt took after this one's lapsed, or a
// delivery since sent, fails the condition and is left alone.
func (l *NotificationLedger) Release(ctx context.Context, delivery, receiver string, leaseUntil time.Time) error {
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.table),
		Key:                       ledgerKey(delivery, receiver),
		ConditionExpression:       aws.String("#state = :claimed AND " + ledgerLeaseUntil + " = :until"),
		ExpressionAttributeNames:  map[string]string{"#state": ledgerState},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":claimed": &ddb.AttributeValueMemberS{Value: ledgerClaimed}, ":until": ledgerMillis(leaseUntil)},
	})
	var cf *ddb.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cf) {
		return fmt.Errorf("release notification %s to %s: %w", delivery, receiver, err)
	}
	return nil
}
