package notifystore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/topology"
)

// silencePK holds every silence in one partition of the failures table:
// they are few, and a flush reads them all at once.
const (
	silencePK   = "silence"
	attrSilence = "silence"
	// silenceRetention keeps an expired silence listable for a while.
	silenceRetention = 30 * 24 * time.Hour
)

// Silences is silence.Store on DynamoDB.
type Silences struct {
	client *dynamodb.Client
	table  string
}

var _ silence.Store = (*Silences)(nil)

// NewSilences returns the silence store over table (the failures table).
func NewSilences(client *dynamodb.Client, table string) *Silences {
	return &Silences{client: client, table: table}
}

// Put stores a new silence.
func (st *Silences) Put(ctx context.Context, sl silence.Silence) error {
	b, err := json.Marshal(sl)
	if err != nil {
		return fmt.Errorf("encode silence %s: %w", sl.ID, err)
	}
	item := dynamo.ItemKey(silencePK, sl.ID)
	item[attrSilence] = dynamo.AttrS(string(b))
	item[topology.TTL] = dynamo.AttrEpoch(sl.EndsAt.Add(silenceRetention))
	if _, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: item}); err != nil {
		return fmt.Errorf("store silence %s: %w", sl.ID, err)
	}
	return nil
}

// List returns every silence kept, newest first.
func (st *Silences) List(ctx context.Context) ([]silence.Silence, error) {
	var out []silence.Silence
	err := dynamo.Query(ctx, st.client, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(silencePK)},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]ddb.AttributeValue) error {
		var sl silence.Silence
		if err := json.Unmarshal([]byte(dynamo.GetS(item, attrSilence)), &sl); err != nil {
			return fmt.Errorf("decode silence %s: %w", dynamo.GetS(item, topology.SK), err)
		}
		out = append(out, sl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	slices.SortFunc(out, func(a, b silence.Silence) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// Expire ends the silence at `at` unless it already ended.
func (st *Silences) Expire(ctx context.Context, id string, at time.Time) (silence.Silence, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: dynamo.ItemKey(silencePK, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return silence.Silence{}, fmt.Errorf("read silence %s: %w", id, err)
	}
	if out.Item == nil {
		return silence.Silence{}, fmt.Errorf("silence %s: %w", id, silence.ErrNotFound)
	}
	var sl silence.Silence
	if err := json.Unmarshal([]byte(dynamo.GetS(out.Item, attrSilence)), &sl); err != nil {
		return silence.Silence{}, fmt.Errorf("decode silence %s: %w", id, err)
	}
	if !sl.EndsAt.After(at) {
		return sl, nil
	}
	sl.EndsAt = at.UTC()
	if sl.StartsAt.After(sl.EndsAt) {
		sl.StartsAt = sl.EndsAt
	}
	return sl, st.Put(ctx, sl)
}
