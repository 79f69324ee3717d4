package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/topology"
)

// EventMemory is how long an applied event id is remembered for dedupe;
// EventBridge and Lambda redeliver within hours, not weeks.
const EventMemory = 30 * 24 * time.Hour

// Customers implements journey.Store over the customers and metrics tables.
type Customers struct {
	client    *dynamodb.Client
	customers string
	metrics   string
}

// NewCustomers returns the store.
func NewCustomers(client *dynamodb.Client, customersTable, metricsTable string) *Customers {
	return &Customers{client: client, customers: customersTable, metrics: metricsTable}
}

func identityKey(k identity.Key) map[string]ddb.AttributeValue {
	return key("identity#"+string(k), "identity")
}

// CustomerIDFor derives a new customer's id from its strongest key, so two
// racing first events for one person create the same customer.
func CustomerIDFor(k identity.Key) string {
	sum := sha256.Sum256([]byte(k))
	return "cus_" + hex.EncodeToString(sum[:10])
}

// Resolve looks up every key in one batch, picks the customer of the
// strongest known key (or a new one) and links the unknown keys to it.
func (c *Customers) Resolve(ctx context.Context, keys []identity.Key, now time.Time) (string, error) {
	known, err := c.lookup(ctx, keys)
	if err != nil {
		return "", err
	}
	cid := ""
	for _, k := range keys {
		if id, ok := known[k]; ok {
			cid = id
			break
		}
	}
	if cid == "" {
		cid = CustomerIDFor(keys[0])
	}
	for _, k := range keys {
		if _, ok := known[k]; ok {
			continue
		}
		item := identityKey(k)
		item["customer_id"] = s(cid)
		item["linked_at"] = s(now.UTC().Format(time.RFC3339Nano))
		_, err := c.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(c.customers), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err != nil && !conditionFailed(err) {
			return "", fmt.Errorf("link %s to %s: %w", k, cid, err)
		}
		// A lost race means another event linked the key first; it links to
		// the same derived id unless the key was known elsewhere, which
		// merging resolves.
	}
	return cid, nil
}

func (c *Customers) lookup(ctx context.Context, keys []identity.Key) (map[identity.Key]string, error) {
	req := make([]map[string]ddb.AttributeValue, 0, len(keys))
	for _, k := range keys {
		req = append(req, identityKey(k))
	}
	out, err := c.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		RequestItems: map[string]ddb.KeysAndAttributes{c.customers: {Keys: req, ConsistentRead: aws.Bool(true)}},
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d identity keys: %w", len(keys), err)
	}
	if len(out.UnprocessedKeys) > 0 {
		return nil, fmt.Errorf("look up identity keys: %d unprocessed (throttled); retry", len(out.UnprocessedKeys[c.customers].Keys))
	}
	known := map[identity.Key]string{}
	for _, item := range out.Responses[c.customers] {
		k := identity.Key(strings.TrimPrefix(str(item, topology.PK), "identity#"))
		known[k] = str(item, "customer_id")
	}
	return known, nil
}

// Apply writes the dedupe marker, the interaction, the customer profile and
// every counter in one transaction, so either all of an event counts or
// none of it does.
func (c *Customers) Apply(ctx context.Context, r journey.Record) (bool, error) {
	body, err := json.Marshal(r.Event)
	if err != nil {
		return false, fmt.Errorf("encode interaction: %w", err)
	}
	now := r.Now.UTC().Format(time.RFC3339Nano)
	marker := key("event#"+r.Event.ID, "journey")
	marker["customer_id"] = s(r.CustomerID)
	marker["expires_at"] = epoch(r.Now.Add(EventMemory))

	interaction := key("customer#"+r.CustomerID, "interaction#"+r.Event.OccurredAt.UTC().Format(time.RFC3339Nano)+"#"+r.Event.ID)
	interaction["event"] = s(string(body))
	interaction["type"] = s(r.Event.Type)
	interaction["channel"] = s(r.Event.Channel)
	interaction["expires_at"] = epoch(r.ExpiresAt)

	keys := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		keys[i] = string(k)
	}
	items := []ddb.TransactWriteItem{
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: interaction}},
		{Update: &ddb.Update{
			TableName:        aws.String(c.customers),
			Key:              key("customer#"+r.CustomerID, "profile"),
			UpdateExpression: aws.String("SET #first = if_not_exists(#first, :now), #updated = :now ADD #count :one, #keys :keys"),
			ExpressionAttributeNames: map[string]string{
				"#first": "first_seen_at", "#updated": "updated_at", "#count": "interactions", "#keys": "identity_keys",
			},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{
				":now": s(now), ":one": n(1), ":keys": &ddb.AttributeValueMemberSS{Value: keys},
			},
		}},
	}
	for _, inc := range r.Counters {
		items = append(items, counterUpdate(c.metrics, inc, now))
	}
	_, err = c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if transactionConditionFailed(err, 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write interaction %s: %w", r.Event.ID, err)
	}
	return true, nil
}

// CounterKey is the key of an hourly counter.
func CounterKey(family string, hour time.Time, dims string) (pk, sk string) {
	return "counter#" + family, hour.UTC().Format(time.RFC3339) + "#" + dims
}

// counterUpdate adds to a counter and marks it dirty for the next rollup.
func counterUpdate(table string, inc metric.Increment, now string) ddb.TransactWriteItem {
	pk, sk := CounterKey(inc.Family, inc.Hour, inc.Dims)
	// Every attribute goes through a placeholder: HOUR and friends are
	// DynamoDB reserved words.
	names := map[string]string{"#dirty": topology.DirtyPK, "#dirty_at": topology.DirtySK, "#family": "family", "#hour": "hour", "#dims": "dims", "#version": "version"}
	values := map[string]ddb.AttributeValue{":one": n(1), ":d": s("1"), ":now": s(now), ":fam": s(inc.Family), ":hour": s(inc.Hour.UTC().Format(time.RFC3339)), ":dims": s(inc.Dims)}
	fields := make([]string, 0, len(inc.Fields))
	for f := range inc.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	add := []string{"#version :one"}
	for i, f := range fields {
		names[fmt.Sprintf("#f%d", i)] = f
		values[fmt.Sprintf(":v%d", i)] = n(inc.Fields[f])
		add = append(add, fmt.Sprintf("#f%d :v%d", i, i))
	}
	return ddb.TransactWriteItem{Update: &ddb.Update{
		TableName:                 aws.String(table),
		Key:                       key(pk, sk),
		UpdateExpression:          aws.String("SET #dirty = :d, #dirty_at = :now, #family = :fam, #hour = :hour, #dims = :dims ADD " + strings.Join(add, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}
