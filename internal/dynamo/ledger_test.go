package dynamo_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/notifystore"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/topology"
)

// ledgerTestTable creates a fresh pk/sk table on moto for one test.
func ledgerTestTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := dynamodb.NewFromConfig(mototest.Config(t))
	name := fmt.Sprintf("ledger-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	_, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddb.BillingModePayPerRequest,
		KeySchema: []ddb.KeySchemaElement{
			{AttributeName: aws.String(topology.PK), KeyType: ddb.KeyTypeHash},
			{AttributeName: aws.String(topology.SK), KeyType: ddb.KeyTypeRange},
		},
		AttributeDefinitions: []ddb.AttributeDefinition{
			{AttributeName: aws.String(topology.PK), AttributeType: ddb.ScalarAttributeTypeS},
			{AttributeName: aws.String(topology.SK), AttributeType: ddb.ScalarAttributeTypeS},
		},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	return client, name
}

// ledgerItem reads the stored record of a delivery, or nil.
func ledgerItem(t *testing.T, client *dynamodb.Client, table, failureID, receiver string) map[string]ddb.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: dynamo.ItemKey("notification#"+failureID, receiver), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func ledgerAttr(item map[string]ddb.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *ddb.AttributeValueMemberS:
		return v.Value
	case *ddb.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

var ledgerT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestLedgerClaimSendOnce(t *testing.T) {
	ctx := context.Background()
	client, table := ledgerTestTable(t)
	l := notifystore.NewNotificationLedger(client, table)
	until := ledgerT0.Add(notify.DefaultLease)

	steps := []struct {
		name string
		do   func() (notify.Claim, error)
		want notify.Claim
	}{
		{"first claim", func() (notify.Claim, error) { return l.Claim(ctx, "f-1", "cx/slack", ledgerT0, until) }, notify.Granted},
		{"claim while leased", func() (notify.Claim, error) {
			return l.Claim(ctx, "f-1", "cx/slack", ledgerT0.Add(time.Second), until.Add(time.Second))
		}, notify.Held},
		{"other receiver", func() (notify.Claim, error) { return l.Claim(ctx, "f-1", "cx/email", ledgerT0, until) }, notify.Granted},
		{"other failure", func() (notify.Claim, error) { return l.Claim(ctx, "f-2", "cx/slack", ledgerT0, until) }, notify.Granted},
		{"claim after sent", func() (notify.Claim, error) {
			if err := l.MarkSent(ctx, "f-1", "cx/slack", ledgerT0.Add(2*time.Second)); err != nil {
				return 0, err
			}
			return l.Claim(ctx, "f-1", "cx/slack", ledgerT0.Add(time.Hour), until.Add(time.Hour))
		}, notify.AlreadySent},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Fatalf("%s: %v, want %v", s.name, got, s.want)
		}
	}

	item := ledgerItem(t, client, table, "f-1", "cx/slack")
	if got := ledgerAttr(item, topology.PK); got != "notification#f-1" {
		t.Errorf("pk %q", got)
	}
	if got := ledgerAttr(item, "state"); got != "sent" {
		t.Errorf("state %q, want sent", got)
	}
	if got := ledgerAttr(item, "sent_at"); got != "2025-03-01T12:00:02Z" {
		t.Errorf("sent_at %q", got)
	}
	if _, ok := item["lease_until"]; ok {
		t.Error("a sent record still carries a lease")
	}
	wantTTL := strconv.FormatInt(ledgerT0.Add(2*time.Second).Add(30*24*time.Hour).Unix(), 10)
	if got := ledgerAttr(item, topology.TTL); got != wantTTL {
		t.Errorf("expires_at %s, want %s (30 days on)", got, wantTTL)
	}

	claimed := ledgerItem(t, client, table, "f-1", "cx/email")
	if ledgerAttr(claimed, "state") != "claimed" || ledgerAttr(claimed, "lease_until") != strconv.FormatInt(until.UnixMilli(), 10) {
		t.Errorf("claim record %v", claimed)
	}
	if ledgerAttr(claimed, topology.TTL) == "" {
		t.Error("a claim has no expiry")
	}
}

func TestLedgerLeaseLapsesAndRelease(t *testing.T) {
	ctx := context.Background()
	client, table := ledgerTestTable(t)
	l := notifystore.NewNotificationLedger(client, table)
	lease := notify.DefaultLease
	claim := func(at time.Time) notify.Claim {
		t.Helper()
		c, err := l.Claim(ctx, "f-1", "cx/slack", at, at.Add(lease))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	if c := claim(ledgerT0); c != notify.Granted {
		t.Fatalf("first claim %v", c)
	}
	if c := claim(ledgerT0.Add(lease)); c != notify.Held {
		t.Fatalf("claim at the lease end %v, want held", c)
	}
	// The first attempt died; after its lease a second takes over.
	second := ledgerT0.Add(lease + time.Millisecond)
	if c := claim(second); c != notify.Granted {
		t.Fatalf("claim after the lease lapsed %v, want granted", c)
	}
	// The first attempt's late release must not free the second's claim.
	if err := l.Release(ctx, "f-1", "cx/slack", ledgerT0.Add(lease)); err != nil {
		t.Fatal(err)
	}
	if c := claim(second.Add(time.Second)); c != notify.Held {
		t.Fatalf("claim after a stale release %v, want held", c)
	}
	// The second attempt's own release lets a retry send at once.
	if err := l.Release(ctx, "f-1", "cx/slack", second.Add(lease)); err != nil {
		t.Fatal(err)
	}
	if item := ledgerItem(t, client, table, "f-1", "cx/slack"); item != nil {
		t.Fatalf("released claim still stored: %v", item)
	}
	if c := claim(second.Add(2 * time.Second)); c != notify.Granted {
		t.Fatalf("claim after release %v, want granted", c)
	}
}

func TestLedgerReleaseKeepsSentRecord(t *testing.T) {
	ctx := context.Background()
	client, table := ledgerTestTable(t)
	l := notifystore.NewNotificationLedger(client, table)
	until := ledgerT0.Add(time.Minute)
	if _, err := l.Claim(ctx, "f-1", "cx/email", ledgerT0, until); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkSent(ctx, "f-1", "cx/email", ledgerT0); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, "f-1", "cx/email", until); err != nil {
		t.Fatalf("release of a sent delivery: %v", err)
	}
	if c, err := l.Claim(ctx, "f-1", "cx/email", ledgerT0.Add(time.Hour), ledgerT0.Add(2*time.Hour)); err != nil || c != notify.AlreadySent {
		t.Fatalf("claim = %v, %v; want already sent", c, err)
	}
	// Releasing something never claimed is harmless.
	if err := l.Release(ctx, "f-9", "cx/email", until); err != nil {
		t.Fatalf("release of an unknown delivery: %v", err)
	}
}

func TestLedgerConcurrentClaimsGrantOne(t *testing.T) {
	ctx := context.Background()
	client, table := ledgerTestTable(t)
	l := notifystore.NewNotificationLedger(client, table)
	const attempts = 8
	results := make([]notify.Claim, attempts)
	errs := make([]error, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			results[i], errs[i] = l.Claim(ctx, "f-1", "cx/slack", ledgerT0, ledgerT0.Add(time.Minute))
		})
	}
	wg.Wait()
	granted := 0
	for i, c := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if c == notify.Granted {
			granted++
		} else if c != notify.Held {
			t.Errorf("attempt %d: %v, want held", i, c)
		}
	}
	if granted != 1 {
		t.Fatalf("%d attempts granted, want exactly 1", granted)
	}
}

func TestLedgerMissingTable(t *testing.T) {
	l := notifystore.NewNotificationLedger(dynamodb.NewFromConfig(mototest.Config(t)), "ledger-no-such-table")
	_, err := l.Claim(context.Background(), "f-1", "cx/slack", ledgerT0, ledgerT0.Add(time.Minute))
	if err == nil || !strings.HasPrefix(err.Error(), "claim notification f-1 to cx/slack: ") {
		t.Fatalf("Claim error %v, want one naming the delivery", err)
	}
	if err := l.MarkSent(context.Background(), "f-1", "cx/slack", ledgerT0); err == nil {
		t.Fatal("MarkSent on a missing table succeeded")
	}
	if err := l.Release(context.Background(), "f-1", "cx/slack", ledgerT0); err == nil {
		t.Fatal("Release on a missing table succeeded")
	}
}
