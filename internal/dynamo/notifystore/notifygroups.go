// Package notifystore holds the notify function's state in the failures
// table: notification groups (notify.GroupStore), the delivery ledger
// (notify.Ledger) and silences (silence.Store).
package notifystore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/topology"
)

// Key layout of notification groups in the failures table:
//
//	pk "ngroup#<key>", sk "group"             the group's state (JSON), its version,
//	                                          and gsi1 ("ngroup-due", due time) while due
//	pk "ngroup#<key>", sk "member#<failure>"  a member: the failure as last seen
//	pk "ninhibit",     sk "<failure id>"      an unresolved failure that can inhibit others
const (
	groupPrefix   = "ngroup#"
	groupSK       = "group"
	memberPrefix  = "member#"
	gsiGroupDue   = "ngroup-due"
	inhibitPK     = "ninhibit"
	attrGroup     = "group"
	attrVersion   = "version"
	attrFailure   = "failure"
	attrAddedAt   = "added_at"
	attrSourceSet = "labels"
)

// NotifyGroups serves the Slack actions endpoint (Members) and keeps
// notify's groups, members and inhibiting failures (notify.GroupStore).
type NotifyGroups struct {
	client *dynamodb.Client
	table  string
}

var _ notify.GroupStore = (*NotifyGroups)(nil)

// NewNotifyGroups returns the group store over table (the failures table).
func NewNotifyGroups(client *dynamodb.Client, table string) *NotifyGroups {
	return &NotifyGroups{client: client, table: table}
}

// Members returns the ids of every failure in group, whatever its state;
// none for an unknown group.
func (g *NotifyGroups) Members(ctx context.Context, group string) ([]string, error) {
	ms, err := g.GroupMembers(ctx, group)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Failure.ID
	}
	return ids, nil
}

// AddMember puts f into the group unless it is already a member.
func (g *NotifyGroups) AddMember(ctx context.Context, gk string, f events.Failure, at time.Time) (bool, error) {
	item, err := memberItem(gk, f)
	if err != nil {
		return false, err
	}
	item[attrAddedAt] = dynamo.AttrN(at.UnixMilli())
	_, err = g.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(g.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(" + topology.PK + ")"),
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add failure %s to group %s: %w", f.ID, gk, err)
	}
	return true, nil
}

// UpdateMember replaces the record of a member, keeping when it joined.
func (g *NotifyGroups) UpdateMember(ctx context.Context, gk string, f events.Failure) (bool, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return false, fmt.Errorf("encode failure %s: %w", f.ID, err)
	}
	_, err = g.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(g.table), Key: dynamo.ItemKey(groupPrefix+gk, memberPrefix+f.ID),
		UpdateExpression:          aws.String("SET #f = :f"),
		ConditionExpression:       aws.String("attribute_exists(" + topology.PK + ")"),
		ExpressionAttributeNames:  map[string]string{"#f": attrFailure},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":f": dynamo.AttrDoc(b)},
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update failure %s in group %s: %w", f.ID, gk, err)
	}
	return true, nil
}

func memberItem(gk string, f events.Failure) (map[string]ddb.AttributeValue, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode failure %s: %w", f.ID, err)
	}
	item := dynamo.ItemKey(groupPrefix+gk, memberPrefix+f.ID)
	item[attrFailure] = dynamo.AttrDoc(b)
	return item, nil
}

// Group reads a group's state with a strongly consistent read.
func (g *NotifyGroups) Group(ctx context.Context, gk string) (notify.Group, bool, error) {
	out, err := g.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(g.table), Key: dynamo.ItemKey(groupPrefix+gk, groupSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return notify.Group{}, false, fmt.Errorf("read group %s: %w", gk, err)
	}
	if out.Item == nil {
		return notify.Group{}, false, nil
	}
	var gr notify.Group
	if err := dynamo.UnmarshalDoc(out.Item, attrGroup, &gr); err != nil {
		return notify.Group{}, false, fmt.Errorf("decode group %s: %w", gk, err)
	}
	gr.Version = dynamo.GetN(out.Item, attrVersion)
	return gr, true, nil
}

// GroupMembers reads every member of a group.
func (g *NotifyGroups) GroupMembers(ctx context.Context, gk string) ([]notify.Member, error) {
	var out []notify.Member
	err := dynamo.Query(ctx, g.client, &dynamodb.QueryInput{
		TableName:                aws.String(g.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :m)"),
		ExpressionAttributeNames: map[string]string{"#pk": topology.PK, "#sk": topology.SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":pk": dynamo.AttrS(groupPrefix + gk), ":m": dynamo.AttrS(memberPrefix)},
		ConsistentRead: aws.Bool(true),
	}, func(item map[string]ddb.AttributeValue) error {
		var m notify.Member
		if err := dynamo.UnmarshalDoc(item, attrFailure, &m.Failure); err != nil {
			return fmt.Errorf("decode member %s of group %s: %w", dynamo.GetS(item, topology.SK), gk, err)
		}
		m.AddedAt = time.UnixMilli(dynamo.GetN(item, attrAddedAt)).UTC()
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read members of group %s: %w", gk, err)
	}
	return out, nil
}

// SaveGroup writes gr if the stored version is still gr.Version, indexing
// it by due time while it is due.
func (g *NotifyGroups) SaveGroup(ctx context.Context, gr notify.Group) error {
	b, err := json.Marshal(gr)
	if err != nil {
		return fmt.Errorf("encode group %s: %w", gr.Key, err)
	}
	item := dynamo.ItemKey(groupPrefix+gr.Key, groupSK)
	item[attrGroup] = dynamo.AttrDoc(b)
	item[attrVersion] = dynamo.AttrN(gr.Version + 1)
	if !gr.Due.IsZero() {
		item[topology.GSI1PK] = dynamo.AttrS(gsiGroupDue)
		item[topology.GSI1SK] = dynamo.AttrS(dueKey(gr.Due) + "#" + gr.Key)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(g.table), Item: item}
	if gr.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(" + topology.PK + ")")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(gr.Version)}
	}
	_, err = g.client.PutItem(ctx, in)
	if dynamo.ConditionFailed(err) {
		return fmt.Errorf("save group %s: %w", gr.Key, notify.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("save group %s: %w", gr.Key, err)
	}
	return nil
}

// dueKey sorts by time as text: zero-padded epoch milliseconds.
func dueKey(t time.Time) string { return fmt.Sprintf("%015d", t.UnixMilli()) }

// Due lists groups due at or before now, soonest first.
func (g *NotifyGroups) Due(ctx context.Context, now time.Time) ([]string, error) {
	var keys []string
	err := dynamo.Query(ctx, g.client, &dynamodb.QueryInput{
		TableName:                aws.String(g.table),
		IndexName:                aws.String(topology.GSI1Index),
		KeyConditionExpression:   aws.String("#g = :g AND #s <= :s"),
		ExpressionAttributeNames: map[string]string{"#g": topology.GSI1PK, "#s": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":g": dynamo.AttrS(gsiGroupDue), ":s": dynamo.AttrS(dueKey(now) + "#~")},
	}, func(item map[string]ddb.AttributeValue) error {
		keys = append(keys, strings.TrimPrefix(dynamo.GetS(item, topology.PK), groupPrefix))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list due groups: %w", err)
	}
	return keys, nil
}

// PutSource remembers an unresolved failure that can inhibit others.
func (g *NotifyGroups) PutSource(ctx context.Context, f events.Failure) error {
	b, err := json.Marshal(labels.Of(f))
	if err != nil {
		return err
	}
	item := dynamo.ItemKey(inhibitPK, f.ID)
	item[attrSourceSet] = dynamo.AttrS(string(b))
	if _, err := g.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(g.table), Item: item}); err != nil {
		return fmt.Errorf("record inhibiting failure %s: %w", f.ID, err)
	}
	return nil
}

// DeleteSource forgets a resolved inhibiting failure.
func (g *NotifyGroups) DeleteSource(ctx context.Context, failureID string) error {
	if _, err := g.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(g.table), Key: dynamo.ItemKey(inhibitPK, failureID)}); err != nil {
		return fmt.Errorf("forget inhibiting failure %s: %w", failureID, err)
	}
	return nil
}

// Sources returns the labels of every unresolved inhibiting failure by id.
func (g *NotifyGroups) Sources(ctx context.Context) (map[string]labels.Set, error) {
	out := map[string]labels.Set{}
	err := dynamo.Query(ctx, g.client, &dynamodb.QueryInput{
		TableName:                 aws.String(g.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(inhibitPK)},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]ddb.AttributeValue) error {
		var set labels.Set
		if err := json.Unmarshal([]byte(dynamo.GetS(item, attrSourceSet)), &set); err != nil {
			return fmt.Errorf("decode inhibiting failure %s: %w", dynamo.GetS(item, topology.SK), err)
		}
		out[dynamo.GetS(item, topology.SK)] = set
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list inhibiting failures: %w", err)
	}
	return out, nil
}
