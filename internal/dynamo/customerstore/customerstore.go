// Package customerstore serves the customers API from the customers and
// failures tables: reading a customer, undoing a merge, erasing
// (customer.Store) and the failures a customer raised (customer.Raiser).
package customerstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/identitystore"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

// Store implements customer.Store on the items the journey function writes
// in the customers table (journeystore): reading a customer, undoing a
// merge and erasing.
type Store struct {
	client    *dynamodb.Client
	customers string
}

var _ customer.Store = (*Store)(nil)

// New returns the store over the customers table.
func New(client *dynamodb.Client, customersTable string) *Store {
	return &Store{client: client, customers: customersTable}
}

// Partition reads what is recorded under one customer id in one Query,
// newest first: sort keys order profile > merge# > journey# > interaction#,
// so the profile, merge records and journey pointers come first and the
// newest interactions after them, and reading stops once enough are in.
func (c *Store) Partition(ctx context.Context, id string, recent int) (customer.Partition, error) {
	var p customer.Partition
	p.Profile.ID = id
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.customers),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(journeystore.CustomerPK(id))},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	if recent >= 0 {
		// A customer has a handful of records besides interactions.
		in.Limit = aws.Int32(int32(recent + 32))
	}
	err := dynamo.Query(ctx, c.client, in, func(it map[string]ddb.AttributeValue) error {
		sk := dynamo.GetS(it, topology.SK)
		switch {
		case sk == "profile":
			p.Profile = decodeCustomerProfile(id, it)
		case strings.HasPrefix(sk, "merge#"):
			p.Merges = append(p.Merges, decodeMerge(it))
		case strings.HasPrefix(sk, "journey#"):
			p.Journeys = append(p.Journeys, journey.Ref{Journey: dynamo.GetS(it, "journey"), Instance: dynamo.GetS(it, "instance")})
		case strings.HasPrefix(sk, "interaction#"):
			if recent >= 0 && len(p.Interactions) >= recent {
				return dynamo.ErrStop
			}
			st := customer.Stored{SK: sk}
			if err := dynamo.UnmarshalDoc(it, "event", &st.Event); err != nil {
				return fmt.Errorf("decode interaction %s: %w", sk, err)
			}
			st.Keys, st.Linked = keysOf(it, "keys"), keysOf(it, "linked")
			if len(st.Keys) == 0 {
				// Recorded before interactions kept their keys.
				st.Keys = identity.Keys(st.Event.Channel, st.Event.Customer)
			}
			p.Interactions = append(p.Interactions, st)
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("query customer %s: %w", id, err)
	}
	return p, nil
}

// query pages through a Query on the customers table, stopping after limit
// items when limit > 0.
func (c *Store) query(ctx context.Context, in *dynamodb.QueryInput, limit int, each func(map[string]ddb.AttributeValue) error) error {
	in.TableName = aws.String(c.customers)
	in.ConsistentRead = aws.Bool(true)
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	seen := 0
	err := dynamo.Query(ctx, c.client, in, func(it map[string]ddb.AttributeValue) error {
		if limit > 0 && seen >= limit {
			return dynamo.ErrStop
		}
		seen++
		return each(it)
	})
	if err != nil {
		return fmt.Errorf("query %s: %w", aws.ToString(in.KeyConditionExpression), err)
	}
	return nil
}

func decodeCustomerProfile(id string, it map[string]ddb.AttributeValue) customer.Profile {
	jp := journeystore.DecodeProfile(it)
	p := customer.Profile{
		ID: id, Exists: true, Version: jp.Version, FirstSeenAt: jp.FirstSeen, Keys: jp.Keys,
		MergedInto: jp.MergedInto, Apart: jp.Apart, MergeSK: dynamo.GetS(it, "merge_sk"), Absorbed: dynamo.GetSS(it, "absorbed"),
		Interactions: dynamo.GetN(it, "interactions"), LastUnmergeSK: dynamo.GetS(it, "last_unmerge_sk"), LastUnmergedFrom: dynamo.GetS(it, "last_unmerged_from"),
	}
	p.UpdatedAt, _ = time.Parse(time.RFC3339Nano, dynamo.GetS(it, "updated_at"))
	return p
}

func decodeMerge(it map[string]ddb.AttributeValue) customer.MergeRecord {
	m := customer.MergeRecord{
		ID: dynamo.GetS(it, "merge_id"), SK: dynamo.GetS(it, topology.SK), Survivor: dynamo.GetS(it, "survivor"), Absorbed: dynamo.GetS(it, "absorbed"),
		State: dynamo.GetS(it, "state"), Cause: customer.Cause{EventID: dynamo.GetS(it, "cause_event"), Keys: keysOf(it, "cause_keys")},
		Keys: keysOf(it, "keys"), Returned: keysOf(it, "returned_keys"), Moved: int(dynamo.GetN(it, "moved")), Pending: dynamo.GetSS(it, "pending"),
	}
	m.At, _ = time.Parse(time.RFC3339Nano, dynamo.GetS(it, "at"))
	if t, err := time.Parse(time.RFC3339Nano, dynamo.GetS(it, "unmerged_at")); err == nil {
		m.UnmergedAt = &t
	}
	sort.Strings(m.Pending)
	return m
}

func keysOf(it map[string]ddb.AttributeValue, name string) []identity.Key {
	var out []identity.Key
	for _, k := range dynamo.GetSS(it, name) {
		out = append(out, identity.Key(k))
	}
	return out
}

// Owner returns the customer a key points at, or "".
func (c *Store) Owner(ctx context.Context, k identity.Key) (string, error) {
	out, err := c.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.customers), Key: identitystore.Key(k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("read identity key: %w", err)
	}
	return dynamo.GetS(out.Item, "customer_id"), nil
}

// Links reads the identity items of keys.
func (c *Store) Links(ctx context.Context, keys []identity.Key) (map[identity.Key]customer.Link, error) {
	req := make([]map[string]ddb.AttributeValue, len(keys))
	for i, k := range keys {
		req[i] = identitystore.Key(k)
	}
	items, err := dynamo.BatchGet(ctx, c.client, c.customers, req)
	if err != nil {
		return nil, fmt.Errorf("read %d identity keys: %w", len(keys), err)
	}
	out := map[identity.Key]customer.Link{}
	for _, it := range items {
		l := customer.Link{Customer: dynamo.GetS(it, "customer_id"), LinkedBy: dynamo.GetS(it, "linked_by")}
		l.LinkedAt, _ = time.Parse(time.RFC3339Nano, dynamo.GetS(it, "linked_at"))
		out[identity.Key(strings.TrimPrefix(dynamo.GetS(it, topology.PK), "identity#"))] = l
	}
	return out, nil
}

// Instances reads journey instances.
func (c *Store) Instances(ctx context.Context, refs []journey.Ref) (map[journey.Ref]*journey.Instance, error) {
	req := make([]map[string]ddb.AttributeValue, len(refs))
	for i, r := range refs {
		req[i] = journeystore.InstanceKey(r)
	}
	items, err := dynamo.BatchGet(ctx, c.client, c.customers, req)
	if err != nil {
		return nil, fmt.Errorf("read %d journey instances: %w", len(refs), err)
	}
	out := map[journey.Ref]*journey.Instance{}
	for _, it := range items {
		in, err := journeystore.DecodeInstance(it)
		if err != nil {
			return nil, err
		}
		out[in.Ref()] = in
	}
	return out, nil
}

// Unmerge splits the customers in one transaction: the keys go back, both
// profiles change (each conditional on the version read, so an event or
// merge that slipped in makes it retry), the merge record is marked undone
// with the items still to move, and each customer records the other as
// kept apart.
func (c *Store) Unmerge(ctx context.Context, u customer.Unmerge) error {
	a, b := u.Survivor, u.Absorbed
	if len(u.Keys)+3 > 100 {
		return fmt.Errorf("unmerge %s: %d identity keys to move, more than one transaction can", b.ID, len(u.Keys))
	}
	at := u.At.UTC().Format(time.RFC3339Nano)
	if len(u.Keys) == 0 {
		return fmt.Errorf("unmerge %s: the merge record lists no keys to give back", b.ID)
	}
	survivor := &ddb.Update{
		TableName: aws.String(c.customers), Key: journeystore.ProfileKey(a.ID),
		UpdateExpression:    aws.String("SET #updated = :at ADD #version :one, #count :neg, #apart :b DELETE #absorbed :b, #keys :keys"),
		ConditionExpression: aws.String("#version = :v AND attribute_not_exists(#merged)"),
		ExpressionAttributeNames: map[string]string{
			"#updated": "updated_at", "#version": "version", "#count": "interactions", "#apart": "apart",
			"#absorbed": "absorbed", "#keys": "identity_keys", "#merged": "merged_into",
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":at": dynamo.AttrS(at), ":one": dynamo.AttrN(1), ":neg": dynamo.AttrN(-u.Interactions), ":b": &ddb.AttributeValueMemberSS{Value: []string{b.ID}},
			":keys": journeystore.KeySet(u.Keys), ":v": dynamo.AttrN(a.Version),
		},
	}
	absorbed := &ddb.Update{
		TableName: aws.String(c.customers), Key: journeystore.ProfileKey(b.ID),
		UpdateExpression: aws.String("SET #updated = :at, #lastSK = :sk, #lastFrom = :a ADD #version :one, #count :n, #apart :aset" +
			" REMOVE #merged, #mergedAt, #mergeSK"),
		ConditionExpression: aws.String("#version = :v AND #merged = :a"),
		ExpressionAttributeNames: map[string]string{
			"#updated": "updated_at", "#lastSK": "last_unmerge_sk", "#lastFrom": "last_unmerged_from", "#version": "version",
			"#count": "interactions", "#apart": "apart", "#merged": "merged_into", "#mergedAt": "merged_at", "#mergeSK": "merge_sk",
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":at": dynamo.AttrS(at), ":sk": dynamo.AttrS(u.Merge.SK), ":a": dynamo.AttrS(a.ID), ":one": dynamo.AttrN(1), ":n": dynamo.AttrN(u.Interactions),
			":aset": &ddb.AttributeValueMemberSS{Value: []string{a.ID}}, ":v": dynamo.AttrN(b.Version),
		},
	}
	if len(u.Returned) > 0 {
		*absorbed.UpdateExpression = strings.Replace(*absorbed.UpdateExpression, " REMOVE", ", #keys :ret REMOVE", 1)
		absorbed.ExpressionAttributeNames["#keys"] = "identity_keys"
		absorbed.ExpressionAttributeValues[":ret"] = journeystore.KeySet(u.Returned)
	}
	rec := &ddb.Update{
		TableName: aws.String(c.customers), Key: dynamo.ItemKey(journeystore.CustomerPK(a.ID), u.Merge.SK),
		UpdateExpression:    aws.String("SET #state = :unmerged, unmerged_at = :at, moved = :moved"),
		ConditionExpression: aws.String("#state = :merged"),
		ExpressionAttributeNames: map[string]string{
			"#state": "state",
		},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":unmerged": dynamo.AttrS(journeystore.MergeStateUnmerged), ":merged": dynamo.AttrS(journeystore.MergeStateMerged), ":at": dynamo.AttrS(at), ":moved": dynamo.AttrN(int64(len(u.Moves))),
		},
	}
	var adds []string
	if len(u.Moves) > 0 {
		adds = append(adds, "pending :moves")
		rec.ExpressionAttributeValues[":moves"] = &ddb.AttributeValueMemberSS{Value: u.Moves}
	}
	if len(u.Returned) > 0 {
		adds = append(adds, "returned_keys :ret")
		rec.ExpressionAttributeValues[":ret"] = journeystore.KeySet(u.Returned)
	}
	if len(adds) > 0 {
		*rec.UpdateExpression += " ADD " + strings.Join(adds, ", ")
	}
	items := []ddb.TransactWriteItem{{Update: survivor}, {Update: absorbed}, {Update: rec}}
	for _, k := range u.Keys {
		items = append(items, journeystore.Repoint(c.customers, k, a.ID, b.ID))
	}
	_, err := c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if r := journeystore.Cancelled(err); len(r) > 0 {
		return fmt.Errorf("unmerge %s from %s: %w (%s)", b.ID, a.ID, customer.ErrConflict, strings.Join(r, ","))
	}
	if err != nil {
		return fmt.Errorf("unmerge %s from %s: %w", b.ID, a.ID, err)
	}
	return nil
}

// moveChunk keeps a move transaction well under DynamoDB's 100 items: an
// interaction takes two, a journey three, plus the merge record.
const moveChunk = 25

// Move copies each pending item from the survivor's partition to the
// absorbed customer's, deletes the original and strikes it off the merge
// record's pending list, a chunk per transaction. Items already moved are
// only struck off, so a repeated run finishes what an interrupted one left.
func (c *Store) Move(ctx context.Context, survivor, absorbed, mergeSK string, ids []string) error {
	for start := 0; start < len(ids); start += moveChunk {
		chunk := ids[start:min(start+moveChunk, len(ids))]
		req := make([]map[string]ddb.AttributeValue, len(chunk))
		for i, sk := range chunk {
			req[i] = dynamo.ItemKey(journeystore.CustomerPK(survivor), sk)
		}
		found, err := dynamo.BatchGet(ctx, c.client, c.customers, req)
		if err != nil {
			return fmt.Errorf("read items to move from %s: %w", survivor, err)
		}
		// A journey instance may have expired meanwhile; only those that
		// exist change owner.
		var refs []journey.Ref
		for _, it := range found {
			if strings.HasPrefix(dynamo.GetS(it, topology.SK), "journey#") {
				refs = append(refs, journey.Ref{Journey: dynamo.GetS(it, "journey"), Instance: dynamo.GetS(it, "instance")})
			}
		}
		insts, err := c.Instances(ctx, refs)
		if err != nil {
			return err
		}
		var items []ddb.TransactWriteItem
		for _, it := range found {
			sk := dynamo.GetS(it, topology.SK)
			moved := make(map[string]ddb.AttributeValue, len(it))
			for k, v := range it {
				moved[k] = v
			}
			moved[topology.PK] = dynamo.AttrS(journeystore.CustomerPK(absorbed))
			items = append(items,
				ddb.TransactWriteItem{Put: &ddb.Put{TableName: aws.String(c.customers), Item: moved}},
				ddb.TransactWriteItem{Delete: &ddb.Delete{TableName: aws.String(c.customers), Key: dynamo.ItemKey(journeystore.CustomerPK(survivor), sk)}},
			)
			ref := journey.Ref{Journey: dynamo.GetS(it, "journey"), Instance: dynamo.GetS(it, "instance")}
			if _, ok := insts[ref]; ok && strings.HasPrefix(sk, "journey#") {
				items = append(items, ddb.TransactWriteItem{Update: &ddb.Update{
					TableName: aws.String(c.customers), Key: journeystore.InstanceKey(ref),
					UpdateExpression:          aws.String("SET customer_id = :b"),
					ConditionExpression:       aws.String("attribute_exists(pk)"),
					ExpressionAttributeValues: map[string]ddb.AttributeValue{":b": dynamo.AttrS(absorbed)},
				}})
			}
		}
		items = append(items, ddb.TransactWriteItem{Update: &ddb.Update{
			TableName: aws.String(c.customers), Key: dynamo.ItemKey(journeystore.CustomerPK(survivor), mergeSK),
			UpdateExpression:          aws.String("DELETE pending :chunk"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":chunk": &ddb.AttributeValueMemberSS{Value: chunk}},
		}})
		if _, err := c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			return fmt.Errorf("move %d items from %s to %s: %w", len(chunk), survivor, absorbed, err)
		}
	}
	return nil
}

// Erase deletes everything in the plan. Identity keys go first, so no new
// event reaches the customer while it is being erased, and profiles go
// last, so an interrupted erasure can be found and finished.
func (c *Store) Erase(ctx context.Context, p customer.ErasePlan) error {
	erased := map[string]bool{}
	for _, id := range p.Customers {
		erased[id] = true
	}
	for _, k := range p.Keys {
		if err := c.eraseKey(ctx, k, erased); err != nil {
			return err
		}
	}
	var deletes, puts []map[string]ddb.AttributeValue
	for _, r := range p.Instances {
		deletes = append(deletes, journeystore.InstanceKey(r))
	}
	for _, id := range p.Events {
		// The marker stays, emptied, so a redelivery of an erased event is
		// still recognised and does not bring the data back.
		m := journeystore.MarkerKey(id)
		m["erased"] = &ddb.AttributeValueMemberBOOL{Value: true}
		m["expires_at"] = dynamo.AttrEpoch(p.At.Add(dynamo.EventMemory))
		puts = append(puts, m)
	}
	for _, id := range p.Customers {
		err := c.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(journeystore.CustomerPK(id))},
			ProjectionExpression:      aws.String("pk, sk"),
		}, 0, func(it map[string]ddb.AttributeValue) error {
			if dynamo.GetS(it, topology.SK) != "profile" {
				deletes = append(deletes, dynamo.ItemKey(dynamo.GetS(it, topology.PK), dynamo.GetS(it, topology.SK)))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Customers an unmerge separated from the erased ones keep a record of
	// it naming the erased keys; that record goes, and so does the note
	// that they are kept apart.
	for _, other := range p.Apart {
		if erased[other] {
			continue
		}
		err := c.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :m)"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(journeystore.CustomerPK(other)), ":m": dynamo.AttrS("merge#")},
		}, 0, func(it map[string]ddb.AttributeValue) error {
			if erased[dynamo.GetS(it, "absorbed")] || erased[dynamo.GetS(it, "survivor")] {
				deletes = append(deletes, dynamo.ItemKey(dynamo.GetS(it, topology.PK), dynamo.GetS(it, topology.SK)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		_, err = c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.customers), Key: journeystore.ProfileKey(other),
			UpdateExpression:          aws.String("DELETE apart :ids"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":ids": &ddb.AttributeValueMemberSS{Value: p.Customers}},
		})
		if err != nil && !dynamo.ConditionFailed(err) {
			return fmt.Errorf("forget erased customers on %s: %w", other, err)
		}
	}
	if err := c.batchWrite(ctx, puts, deletes); err != nil {
		return err
	}
	var profiles []map[string]ddb.AttributeValue
	for _, id := range p.Customers {
		profiles = append(profiles, journeystore.ProfileKey(id))
	}
	return c.batchWrite(ctx, nil, profiles)
}

// eraseKey deletes an identity key if it still points at an erased
// customer: an unmerge or merge racing the erasure may have moved it.
func (c *Store) eraseKey(ctx context.Context, k identity.Key, erased map[string]bool) error {
	for id := range erased {
		_, err := c.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(c.customers), Key: identitystore.Key(k),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR customer_id = :c"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":c": dynamo.AttrS(id)},
		})
		if err == nil {
			return nil
		}
		if !dynamo.ConditionFailed(err) {
			return fmt.Errorf("erase an identity key: %w", err)
		}
	}
	return nil
}

// batchWrite puts and deletes items 25 at a time, retrying what DynamoDB
// leaves unprocessed.
func (c *Store) batchWrite(ctx context.Context, puts, deletes []map[string]ddb.AttributeValue) error {
	var reqs []ddb.WriteRequest
	for _, it := range puts {
		reqs = append(reqs, ddb.WriteRequest{PutRequest: &ddb.PutRequest{Item: it}})
	}
	for _, k := range deletes {
		reqs = append(reqs, ddb.WriteRequest{DeleteRequest: &ddb.DeleteRequest{Key: k}})
	}
	for start := 0; start < len(reqs); start += 25 {
		pending := reqs[start:min(start+25, len(reqs))]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 5 {
				return fmt.Errorf("batch write: %d requests still unprocessed (throttled); retry", len(pending))
			}
			if attempt > 0 {
				time.Sleep(time.Duration(attempt*attempt) * 20 * time.Millisecond)
			}
			out, err := c.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddb.WriteRequest{c.customers: pending}})
			if err != nil {
				return fmt.Errorf("batch write %d requests: %w", len(pending), err)
			}
			pending = out.UnprocessedItems[c.customers]
		}
	}
	return nil
}

// PutErasure writes the audit record under each erased customer id, so
// asking about any of them finds it.
func (c *Store) PutErasure(ctx context.Context, e customer.Erasure) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode erasure %s: %w", e.ID, err)
	}
	var puts []map[string]ddb.AttributeValue
	for _, id := range e.CustomerIDs {
		it := dynamo.ItemKey("erased#"+id, "erasure#"+e.RequestedAt.UTC().Format(time.RFC3339Nano)+"#"+e.ID)
		it["erasure"] = dynamo.AttrS(string(body))
		it["state"] = dynamo.AttrS(e.State)
		puts = append(puts, it)
	}
	return c.batchWrite(ctx, puts, nil)
}

// Erasures lists a customer id's erasures, oldest first.
func (c *Store) Erasures(ctx context.Context, id string) ([]customer.Erasure, error) {
	var out []customer.Erasure
	err := c.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS("erased#" + id)},
	}, 0, func(it map[string]ddb.AttributeValue) error {
		var e customer.Erasure
		if err := json.Unmarshal([]byte(dynamo.GetS(it, "erasure")), &e); err != nil {
			return fmt.Errorf("decode erasure of %s: %w", id, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
