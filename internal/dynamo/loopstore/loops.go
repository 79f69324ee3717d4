// Package loopstore holds failures' closed loops in the failures table
// (loop.Store): tickets, follow-ups and outcomes, indexed by customer and
// by ticket.
package loopstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/topology"
)

// Loops keeps failures' closed loops in the failures table: the record
// (pk "loop#<failure id>", sk "loop", its JSON and a version), an index
// item per undecided loop of a customer (pk "loopcust#<customer id>", sk
// the failure id) and one per ticket (pk "loopticket#<ticket id>"). Put
// writes the record and its index items in one transaction.
type Loops struct {
	client *dynamodb.Client
	table  string
}

var _ loop.Store = (*Loops)(nil)

// NewLoops returns the loop store on the failures table.
func NewLoops(client *dynamodb.Client, table string) *Loops {
	return &Loops{client: client, table: table}
}

const (
	loopDuePK = "loopdue"
	// loopDueFormat sorts as time does: a fixed number of digits.
	loopDueFormat = "2006-01-02T15:04:05.000000000Z"
	loopSK        = "loop"
	loopRecord    = "loop"
	loopVersion   = "version"
	loopFailure   = "failure_id"
)

// Get implements loop.Store.
func (l *Loops) Get(ctx context.Context, id string) (loop.Record, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: dynamo.ItemKey("loop#"+id, loopSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return loop.Record{}, fmt.Errorf("read loop of failure %s: %w", id, err)
	}
	if out.Item == nil {
		return loop.Record{}, loop.ErrNotFound
	}
	var r loop.Record
	if err := dynamo.UnmarshalDoc(out.Item, loopRecord, &r); err != nil {
		return loop.Record{}, fmt.Errorf("decode loop of failure %s: %w", id, err)
	}
	r.Version = dynamo.GetN(out.Item, loopVersion)
	return r, nil
}

// Put implements loop.Store.
func (l *Loops) Put(ctx context.Context, r loop.Record) error {
	prev := r.Version
	r.Version = prev + 1
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode loop of failure %s: %w", r.FailureID, err)
	}
	item := dynamo.ItemKey("loop#"+r.FailureID, loopSK)
	item[loopRecord] = dynamo.AttrDoc(body)
	item[loopVersion] = dynamo.AttrN(r.Version)
	// Indexed by the next instant something may be due, for the sweep.
	if at := r.NextAt(); !at.IsZero() {
		item[topology.GSI1PK] = dynamo.AttrS(loopDuePK)
		item[topology.GSI1SK] = dynamo.AttrS(at.UTC().Format(loopDueFormat) + "#" + r.FailureID)
	}
	put := &ddb.Put{TableName: aws.String(l.table), Item: item}
	if prev == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		put.ConditionExpression = aws.String("#v = :v")
		put.ExpressionAttributeNames = map[string]string{"#v": loopVersion}
		put.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(prev)}
	}
	// The indexes are written on their own, not in a transaction with the
	// record (which would bill each write twice): those that point at the
	// loop before it, the customer's entry dropped after the loop is
	// decided. A stray entry left by a write that stopped halfway, or lost
	// its race, names a loop that is missing or decided, which readers skip.
	custKey := dynamo.ItemKey("loopcust#"+r.CustomerID, r.FailureID)
	if r.CustomerID != "" && !r.Decided() {
		if _, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: custKey}); err != nil {
			return fmt.Errorf("index loop of failure %s under its customer: %w", r.FailureID, err)
		}
	}
	if r.TicketID != "" {
		k := dynamo.ItemKey("loopticket#"+r.TicketID, loopSK)
		k[loopFailure] = dynamo.AttrS(r.FailureID)
		if _, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: k}); err != nil {
			return fmt.Errorf("index loop of failure %s under its ticket: %w", r.FailureID, err)
		}
	}
	_, err = l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression,
		ExpressionAttributeNames: put.ExpressionAttributeNames, ExpressionAttributeValues: put.ExpressionAttributeValues,
	})
	if dynamo.ConditionFailed(err) {
		return loop.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store loop of failure %s: %w", r.FailureID, err)
	}
	if r.CustomerID != "" && r.Decided() {
		if _, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: custKey}); err != nil {
			return fmt.Errorf("unindex decided loop of failure %s: %w", r.FailureID, err)
		}
	}
	return nil
}

// OfCustomer implements loop.Store.
func (l *Loops) OfCustomer(ctx context.Context, customerID string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS("loopcust#" + customerID)},
	}
	var out []string
	err := dynamo.Query(ctx, l.client, in, func(it map[string]ddb.AttributeValue) error {
		out = append(out, dynamo.GetS(it, "sk"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list loops of customer %s: %w", customerID, err)
	}
	return out, nil
}

// ByTicket implements loop.Store.
func (l *Loops) ByTicket(ctx context.Context, ticket string) (string, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: dynamo.ItemKey("loopticket#"+ticket, loopSK)})
	if err != nil {
		return "", fmt.Errorf("find the loop of ticket %s: %w", ticket, err)
	}
	if out.Item == nil {
		return "", loop.ErrNotFound
	}
	return dynamo.GetS(out.Item, loopFailure), nil
}

// Erase deletes a failure's loop and its index items: they name the
// customer and the ticket opened for them, so they go with the failure
// when the customer is erased.
func (l *Loops) Erase(ctx context.Context, failureID string) error {
	r, err := l.Get(ctx, failureID)
	if errors.Is(err, loop.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	keys := []map[string]ddb.AttributeValue{dynamo.ItemKey("loop#"+failureID, loopSK)}
	if r.CustomerID != "" {
		keys = append(keys, dynamo.ItemKey("loopcust#"+r.CustomerID, failureID))
	}
	if r.TicketID != "" {
		keys = append(keys, dynamo.ItemKey("loopticket#"+r.TicketID, loopSK))
	}
	for _, k := range keys {
		if _, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: k}); err != nil {
			return fmt.Errorf("erase loop of failure %s: %w", failureID, err)
		}
	}
	return nil
}

// Due implements loop.Store: the sweep's query of the due index.
func (l *Loops) Due(ctx context.Context, until time.Time, limit int) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk <= :until"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.GSI1PK, "#sk": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(loopDuePK), ":until": dynamo.AttrS(until.UTC().Format(loopDueFormat) + "#~")},
	}
	var out []string
	err := dynamo.Query(ctx, l.client, in, func(it map[string]ddb.AttributeValue) error {
		if len(out) == limit {
			return dynamo.ErrStop
		}
		out = append(out, strings.TrimPrefix(dynamo.GetS(it, topology.PK), "loop#"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list loops due by %s: %w", until, err)
	}
	return out, nil
}
