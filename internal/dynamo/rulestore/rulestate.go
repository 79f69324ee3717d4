// Package rulestore holds the failure rules' state in the rules table
// (rules.Store): windows, deadlines, cooldowns and rate tallies.
package rulestore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// RuleState implements rules.Store on the rules table, writing failures
// and their outbox messages to the failures table in the same transaction.
//
// Items of the rules table:
//
//	state#<rule>#<key>   / state          one rule's state for one key (JSON), versioned;
//	                                      listed in the due index under "timer" by deadline,
//	                                      or under "watch#<rule>" while a rate failure is open
//	tally#<rule>#<key>#<n> / <minute>     shard n of a rate rule's count for one key and
//	                                      minute (an event counts on the shard its id
//	                                      hashes to, tallyShards in all), listed under
//	                                      "tally#<rule>" by minute
//	tallied#<rule>#<event> / tallied      an event a rate rule counted, written with its
//	                                      count in one transaction so a redelivery counts
//	                                      nothing
//
// Every item expires (TTL) once it cannot matter. An event that changes
// one state is one conditional put; several states, or a new failure and
// its outbox message, are one transaction.
type RuleState struct {
	client   *dynamodb.Client
	table    string
	failures string
}

var _ rules.Store = (*RuleState)(nil)

// NewRuleState returns the store over the rules and failures tables.
func NewRuleState(client *dynamodb.Client, rulesTable, failuresTable string) *RuleState {
	return &RuleState{client: client, table: rulesTable, failures: failuresTable}
}

// Attribute names of rule items besides the keys.
const (
	ruleStateBody    = "state"
	ruleStateVersion = "version"
	rateBad          = "bad"
	rateTotal        = "total"
	rateLast         = "last"
	duePrefixTimer   = "timer"
	duePrefixWatch   = "watch#"
	duePrefixTally   = "tally#"
	// rateTallyRetention keeps a minute's tally for as long as any sane rate
	// window reaches back.
	rateTallyRetention = 48 * time.Hour
	// tallyShards spreads one key's minute over items: a channel's every
	// event of a minute on one item would be a single item's write rate.
	tallyShards = 8
)

// tallyShard is the shard an event counts on.
func tallyShard(event string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(event))
	return int(h.Sum32() % tallyShards)
}

func ruleStateKey(k rules.StateKey) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("state#"+k.Rule+"#"+k.Key, "state")
}

// Load implements rules.Store with consistent batch reads.
func (r *RuleState) Load(ctx context.Context, keys []rules.StateKey) (map[rules.StateKey]rules.State, error) {
	out := make(map[rules.StateKey]rules.State, len(keys))
	byPK := map[string]rules.StateKey{}
	var pending []map[string]ddb.AttributeValue
	for _, k := range keys {
		sk := ruleStateKey(k)
		if _, dup := byPK[dynamo.GetS(sk, topology.PK)]; dup {
			continue
		}
		byPK[dynamo.GetS(sk, topology.PK)] = k
		out[k] = rules.State{}
		pending = append(pending, sk)
	}
	for len(pending) > 0 {
		batch := pending[:min(len(pending), 100)]
		pending = pending[len(batch):]
		for len(batch) > 0 {
			res, err := r.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddb.KeysAndAttributes{
				r.table: {Keys: batch, ConsistentRead: aws.Bool(true)},
			}})
			if err != nil {
				return nil, fmt.Errorf("read %d rule states: %w", len(batch), err)
			}
			for _, it := range res.Responses[r.table] {
				st, err := decodeRuleState(it)
				if err != nil {
					return nil, err
				}
				out[byPK[dynamo.GetS(it, topology.PK)]] = st
			}
			batch = res.UnprocessedKeys[r.table].Keys
		}
	}
	return out, nil
}

func decodeRuleState(it map[string]ddb.AttributeValue) (rules.State, error) {
	var st rules.State
	if err := dynamo.UnmarshalDoc(it, ruleStateBody, &st); err != nil {
		return st, fmt.Errorf("decode rule state %s: %w", dynamo.GetS(it, topology.PK), err)
	}
	st.Version = dynamo.GetN(it, ruleStateVersion)
	st.Expires = time.Unix(dynamo.GetN(it, topology.TTL), 0).UTC()
	return st, nil
}

// stateWrite is the conditional put of a state at the next version.
func (r *RuleState) stateWrite(k rules.Keyed) (*ddb.Put, error) {
	body, err := json.Marshal(k.State)
	if err != nil {
		return nil, fmt.Errorf("encode rule state %s/%s: %w", k.Rule, k.Key, err)
	}
	item := ruleStateKey(k.StateKey)
	item["rule"] = dynamo.AttrS(k.Rule)
	item["key"] = dynamo.AttrS(k.Key)
	item[ruleStateBody] = dynamo.AttrDoc(body)
	item[ruleStateVersion] = dynamo.AttrN(k.State.Version + 1)
	item[topology.TTL] = dynamo.AttrEpoch(k.State.Expires)
	switch {
	case !k.State.Due.IsZero():
		item[topology.DuePK] = dynamo.AttrS(duePrefixTimer)
		item[topology.DueSK] = dynamo.AttrS(k.State.Due.UTC().Format(dynamo.Sortable) + "#" + k.Rule + "#" + k.Key)
	case k.State.Watch:
		item[topology.DuePK] = dynamo.AttrS(duePrefixWatch + k.Rule)
		item[topology.DueSK] = dynamo.AttrS(k.Key)
	}
	put := &ddb.Put{TableName: aws.String(r.table), Item: item}
	if k.State.Version == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(" + topology.PK + ")")
	} else {
		put.ConditionExpression = aws.String("#v = :v")
		put.ExpressionAttributeNames = map[string]string{"#v": ruleStateVersion}
		put.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(k.State.Version)}
	}
	return put, nil
}

// Count implements rules.Store: one conditional update that adds the
// event to its minute unless the minute's set of counted ids has it. The
// item grows by the event ids of the minute (about 35 bytes each), which
// is what each write to it costs: fine for thousands of events a minute
// per key, not for millions.
func (r *RuleState) Count(ctx context.Context, t rules.Tally, event string) error {
	minute := t.Minute.UTC().Format(dynamo.Sortable)
	names := map[string]string{"#b": rateBad, "#t": rateTotal, "#dp": topology.DuePK, "#ds": topology.DueSK,
		"#x": topology.TTL, "#rule": "rule", "#key": "key"}
	expires := dynamo.AttrEpoch(t.Minute.Add(rateTallyRetention))
	vals := map[string]ddb.AttributeValue{
		":b": dynamo.AttrN(t.Bad), ":t": dynamo.AttrN(t.Total),
		":dp": dynamo.AttrS(duePrefixTally + t.Rule), ":ds": dynamo.AttrS(minute + "#" + t.Key),
		":x": expires, ":r": dynamo.AttrS(t.Rule), ":k": dynamo.AttrS(t.Key),
	}
	expr := "ADD #b :b, #t :t SET #dp = :dp, #ds = :ds, #x = :x, #rule = :r, #key = :k"
	if t.Last != nil {
		b, err := json.Marshal(t.Last)
		if err != nil {
			return fmt.Errorf("encode tally evidence: %w", err)
		}
		expr += ", #l = :l"
		names["#l"] = rateLast
		vals[":l"] = dynamo.AttrS(string(b))
	}
	marker := dynamo.ItemKey("tallied#"+t.Rule+"#"+event, "tallied")
	marker[topology.TTL] = expires
	_, err := r.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Put: &ddb.Put{TableName: aws.String(r.table), Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &ddb.Update{
			TableName: aws.String(r.table), Key: dynamo.ItemKey(fmt.Sprintf("tally#%s#%s#%d", t.Rule, t.Key, tallyShard(event)), minute),
			UpdateExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		}},
	}})
	if dynamo.TransactionConditionFailed(err, 0) {
		return nil // counted before
	}
	if err != nil {
		return fmt.Errorf("count %s in rate tally of %s/%s: %w", event, t.Rule, t.Key, err)
	}
	return nil
}

// Commit implements rules.Store: one transaction over both tables, or a
// single conditional put when the commit is one state.
func (r *RuleState) Commit(ctx context.Context, c rules.Commit) error {
	var items []ddb.TransactWriteItem
	for _, k := range c.States {
		put, err := r.stateWrite(k)
		if err != nil {
			return err
		}
		items = append(items, ddb.TransactWriteItem{Put: put})
	}
	for _, fl := range c.Failures {
		item, err := failurestore.FailureItem(fl)
		if err != nil {
			return err
		}
		items = append(items, ddb.TransactWriteItem{Put: &ddb.Put{
			TableName: aws.String(r.failures), Item: item,
			ConditionExpression: aws.String("attribute_not_exists(" + topology.PK + ")"),
		}})
	}
	for _, m := range c.Messages {
		item, err := failurestore.OutboxItem(m)
		if err != nil {
			return err
		}
		items = append(items, ddb.TransactWriteItem{Put: &ddb.Put{TableName: aws.String(r.failures), Item: item}})
	}
	for _, rp := range c.Repeats {
		items = append(items, ddb.TransactWriteItem{Update: &ddb.Update{
			TableName: aws.String(r.failures), Key: failurestore.FailureKey(rp.Failure),
			UpdateExpression:          aws.String("ADD #o :one SET #l = :at"),
			ConditionExpression:       aws.String("attribute_exists(" + topology.PK + ")"),
			ExpressionAttributeNames:  map[string]string{"#o": failurestore.FieldOccurrences, "#l": failurestore.FieldLastSeen},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": dynamo.AttrN(1), ":at": dynamo.AttrS(rp.At.UTC().Format(time.RFC3339Nano))},
		}})
	}
	switch len(items) {
	case 0:
		return nil
	case 1:
		if p := items[0].Put; p != nil && len(c.States) == 1 {
			_, err := r.client.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
				ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
			})
			if dynamo.ConditionFailed(err) {
				return rules.ErrConflict
			}
			if err != nil {
				return fmt.Errorf("write rule state: %w", err)
			}
			return nil
		}
	}
	if len(items) > 100 {
		return fmt.Errorf("commit of %d items is over DynamoDB's 100-item transaction limit", len(items))
	}
	_, err := r.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case dynamo.TransactionConflict(err) || anyConditionFailed(err, len(items)):
		return rules.ErrConflict
	default:
		return fmt.Errorf("commit rule evaluation (%d items): %w", len(items), err)
	}
}

func anyConditionFailed(err error, n int) bool {
	for i := range n {
		if dynamo.TransactionConditionFailed(err, i) {
			return true
		}
	}
	return false
}

// Due implements rules.Store.
func (r *RuleState) Due(ctx context.Context, now time.Time, limit int) ([]rules.Keyed, error) {
	// "~" sorts after the "#" that follows the time, so every deadline at
	// or before now is included.
	return r.queryStates(ctx, duePrefixTimer, "#s <= :s", limit, now.UTC().Format(dynamo.Sortable)+"~")
}

// Upcoming implements rules.Store.
func (r *RuleState) Upcoming(ctx context.Context, after, through time.Time, limit int) ([]rules.Keyed, error) {
	// "~" sorts after the "#" that follows the time: a deadline at after
	// is left out, one at through is in.
	return r.queryStates(ctx, duePrefixTimer, "#s BETWEEN :s AND :u", limit,
		after.UTC().Format(dynamo.Sortable)+"~", through.UTC().Format(dynamo.Sortable)+"~")
}

// Watched implements rules.Store.
func (r *RuleState) Watched(ctx context.Context, rule string) ([]rules.StateKey, error) {
	var out []rules.StateKey
	ks, err := r.queryStates(ctx, duePrefixWatch+rule, "", 0)
	for _, k := range ks {
		out = append(out, k.StateKey)
	}
	return out, err
}

// queryStates lists the states under one partition of the due index,
// those whose sort key (#s) meets cond when it is set, its values (:s,
// then :u) taken from bounds in order.
func (r *RuleState) queryStates(ctx context.Context, pk, cond string, limit int, bounds ...string) ([]rules.Keyed, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(r.table), IndexName: aws.String(topology.DueIndex),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": topology.DuePK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":p": dynamo.AttrS(pk)},
	}
	if cond != "" {
		in.KeyConditionExpression = aws.String("#p = :p AND " + cond)
		in.ExpressionAttributeNames["#s"] = topology.DueSK
		for i, b := range bounds {
			in.ExpressionAttributeValues[[]string{":s", ":u"}[i]] = dynamo.AttrS(b)
		}
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(limit))
	}
	var out []rules.Keyed
	err := dynamo.Query(ctx, r.client, in, func(it map[string]ddb.AttributeValue) error {
		if limit > 0 && len(out) >= limit {
			return dynamo.ErrStop
		}
		st, err := decodeRuleState(it)
		if err != nil {
			return err
		}
		out = append(out, rules.Keyed{StateKey: rules.StateKey{Rule: dynamo.GetS(it, "rule"), Key: dynamo.GetS(it, "key")}, State: st})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list rule states under %s: %w", pk, err)
	}
	return out, nil
}

// Tallies implements rules.Store.
func (r *RuleState) Tallies(ctx context.Context, rule string, since time.Time) ([]rules.Tally, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(r.table), IndexName: aws.String(topology.DueIndex),
		KeyConditionExpression:   aws.String("#p = :p AND #s >= :s"),
		ExpressionAttributeNames: map[string]string{"#p": topology.DuePK, "#s": topology.DueSK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":p": dynamo.AttrS(duePrefixTally + rule), ":s": dynamo.AttrS(since.UTC().Format(dynamo.Sortable)),
		},
	}
	// A key's minute is the sum of its shards, its last bad event the
	// latest of theirs.
	var out []rules.Tally
	at := map[string]int{}
	err := dynamo.Query(ctx, r.client, in, func(it map[string]ddb.AttributeValue) error {
		ds := dynamo.GetS(it, topology.DueSK)
		minute, _, _ := strings.Cut(ds, "#")
		m, err := time.Parse(dynamo.Sortable, minute)
		if err != nil {
			return fmt.Errorf("tally %s: minute %q: %w", dynamo.GetS(it, topology.PK), minute, err)
		}
		i, seen := at[ds]
		if !seen {
			i, at[ds] = len(out), len(out)
			out = append(out, rules.Tally{Rule: rule, Key: dynamo.GetS(it, "key"), Minute: m})
		}
		t := &out[i]
		t.Bad += dynamo.GetN(it, rateBad)
		t.Total += dynamo.GetN(it, rateTotal)
		if l := dynamo.GetS(it, rateLast); l != "" {
			var ev events.Evidence
			if err := json.Unmarshal([]byte(l), &ev); err == nil && (t.Last == nil || ev.OccurredAt.After(t.Last.OccurredAt)) {
				t.Last = &ev
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tallies of rule %s: %w", rule, err)
	}
	return out, nil
}
