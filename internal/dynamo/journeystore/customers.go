// Package journeystore holds the journey function's stores in the
// customers table: customers, their identity links, interactions and
// journey instances (journey.Store), and refused links (journey.Refusals).
// docs/data-model.md describes every item.
package journeystore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/identitystore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

// Customers implements journey.Store over the customers and metrics tables.
// docs/data-model.md describes every item and the access patterns.
type Customers struct {
	client    *dynamodb.Client
	customers string
	metrics   string
}

var _ journey.Store = (*Customers)(nil)

// NewCustomers returns the store.
func NewCustomers(client *dynamodb.Client, customersTable, metricsTable string) *Customers {
	return &Customers{client: client, customers: customersTable, metrics: metricsTable}
}

// Item keys of the customers table.
func ProfileKey(cid string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey(CustomerPK(cid), "profile")
}
func MarkerKey(eventID string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("event#"+eventID, "journey")
}
func InstanceKey(r journey.Ref) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("journey#"+r.Journey+"#"+r.Instance, "journey")
}
func PointerKey(owner string, r journey.Ref) map[string]ddb.AttributeValue {
	return dynamo.ItemKey(CustomerPK(owner), PointerSK(r))
}
func CustomerPK(cid string) string   { return "customer#" + cid }
func PointerSK(r journey.Ref) string { return "journey#" + r.Journey + "#" + r.Instance }
func InteractionSK(ev events.Interaction) string {
	return "interaction#" + ev.OccurredAt.UTC().Format(time.RFC3339Nano) + "#" + ev.ID
}

// Resolve returns the customer behind keys without recording anything else:
// the customer of the strongest known key, or a new one, with the unknown
// keys linked to it. It never merges; applying an event does.
func (c *Customers) Resolve(ctx context.Context, keys []identity.Key, now time.Time) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("resolve: no identity keys")
	}
	for attempt := 0; attempt < 5; attempt++ {
		snap, err := c.Load(ctx, "", keys, nil)
		if err != nil {
			return "", err
		}
		cid := ""
		for _, k := range keys {
			if o, ok := snap.Owners[k]; ok {
				cid = o
				break
			}
		}
		if cid == "" {
			cid = identity.CustomerIDFor(keys[0])
		}
		var link []identity.Key
		for _, k := range keys {
			if _, ok := snap.Owners[k]; !ok {
				link = append(link, k)
			}
		}
		if len(link) == 0 {
			return cid, nil
		}
		at := now.UTC().Format(time.RFC3339Nano)
		items := []ddb.TransactWriteItem{profileUpdate(c.customers, cid, link, at, false)}
		for _, k := range link {
			items = append(items, linkUpdate(c.customers, k, cid, "", at))
		}
		_, err = c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return cid, nil
		}
		if len(Cancelled(err)) == 0 {
			return "", fmt.Errorf("link %d keys to %s: %w", len(link), cid, err)
		}
	}
	return "", fmt.Errorf("resolve %v: still conflicting", keys)
}

// Load reads the event's marker (an erased event keeps one, so its
// redelivery writes nothing back; events committed before profiles counted
// by digest have one too), the keys' identity items and the journey
// instances in one BatchGetItem.
func (c *Customers) Load(ctx context.Context, eventID string, keys []identity.Key, refs []journey.Ref) (journey.Snapshot, error) {
	req := make([]map[string]ddb.AttributeValue, 0, 1+len(keys)+len(refs))
	if eventID != "" {
		req = append(req, MarkerKey(eventID))
	}
	for _, k := range keys {
		req = append(req, identitystore.Key(k))
	}
	for _, r := range refs {
		req = append(req, InstanceKey(r))
	}
	items, err := dynamo.BatchGet(ctx, c.client, c.customers, req)
	if err != nil {
		return journey.Snapshot{}, fmt.Errorf("load %d items: %w", len(req), err)
	}
	snap := journey.Snapshot{Owners: map[identity.Key]string{}, Instances: map[journey.Ref]*journey.Instance{}}
	for _, it := range items {
		pk := dynamo.GetS(it, topology.PK)
		switch {
		case strings.HasPrefix(pk, "event#"):
			a := &journey.Applied{CustomerID: dynamo.GetS(it, "customer_id")}
			if e := dynamo.GetS(it, "emitted"); e != "" {
				if err := json.Unmarshal([]byte(e), &a.Emitted); err != nil {
					return snap, fmt.Errorf("decode journey events of %s: %w", eventID, err)
				}
			}
			snap.Applied = a
		case strings.HasPrefix(pk, "identity#"):
			snap.Owners[identity.Key(strings.TrimPrefix(pk, "identity#"))] = dynamo.GetS(it, "customer_id")
		case strings.HasPrefix(pk, "journey#"):
			in, err := DecodeInstance(it)
			if err != nil {
				return snap, err
			}
			snap.Instances[in.Ref()] = in
		}
	}
	return snap, nil
}

// Commit applies an interaction with one write per item and no
// transaction, so that repeating any part of it is harmless:
//
//  1. first, together: new keys linked to the customer (a condition keeps
//     a key another customer took; the same link again changes nothing),
//     stale keys repointed (from the merged-away customer, or already at
//     this one), journey instances conditional on the version read (an
//     instance records the ids of the events it applied, so an attempt
//     that meets its own earlier write reads it back and skips it) and
//     their pointers, and the interaction item (its key is the event's);
//  2. then the profile's count, conditional on the event's digest not
//     being among the latest the profile counted (see countUpdate): that
//     condition is the dedupe, so the event counts exactly once and
//     needs no marker item of its own.
//
// An attempt that stops before the count leaves writes its redelivery
// repeats to the same effect; the journey events it did not publish are
// announced again from the instance (see journey.Service.change). A
// redelivery after the count meets the condition and gets ErrDuplicate,
// and announces the same events again. Each write costs one write unit
// per KB instead of two in a transaction.
func (c *Customers) Commit(ctx context.Context, ch journey.Change) error {
	body, err := json.Marshal(ch.Event)
	if err != nil {
		return fmt.Errorf("encode interaction: %w", err)
	}
	now := ch.Now.UTC().Format(time.RFC3339Nano)
	// A redelivery of a counted event stops here, before it writes
	// anything: a consistent read of the profile's digests, which a merge
	// carries to the survivor.
	got, err := c.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.customers), Key: ProfileKey(ch.CustomerID),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#n, #o"),
		ExpressionAttributeNames: map[string]string{"#n": countedNew, "#o": countedOld}})
	if err != nil {
		return fmt.Errorf("read profile %s: %w", ch.CustomerID, err)
	}
	if d := EventDigest(ch.Event.ID); containsDigest(got.Item, countedNew, d) || containsDigest(got.Item, countedOld, d) {
		return journey.ErrDuplicate
	}
	var single []ddb.TransactWriteItem
	for _, k := range ch.Link {
		single = append(single, linkUpdate(c.customers, k, ch.CustomerID, ch.Event.ID, now))
	}
	for k, from := range ch.Repoint {
		single = append(single, repointOnce(c.customers, k, from, ch.CustomerID))
	}
	for _, in := range ch.Journeys {
		put, err := instancePut(c.customers, in)
		if err != nil {
			return err
		}
		single = append(single, put)
		if in.Version == 0 || in.StoredOutcome != in.State.Outcome {
			single = append(single, pointerPut(c.customers, in))
		}
	}
	interaction := dynamo.ItemKey(CustomerPK(ch.CustomerID), InteractionSK(ch.Event))
	// Compressed past a few hundred bytes: a provider's event with many
	// attributes stays within the KB one write unit buys.
	interaction["event"] = dynamo.AttrDoc(body)
	interaction["type"] = dynamo.AttrS(ch.Event.Type)
	interaction["channel"] = dynamo.AttrS(ch.Event.Channel)
	interaction["expires_at"] = dynamo.AttrEpoch(ch.ExpiresAt)
	interaction["applied_at"] = dynamo.AttrS(now)
	interaction["keys"] = KeySet(ch.Keys)
	if len(ch.Link) > 0 {
		interaction["linked"] = KeySet(ch.Link)
	}
	single = append(single, ddb.TransactWriteItem{Put: &ddb.Put{TableName: aws.String(c.customers), Item: interaction}})
	// Step 1's writes depend on nothing but the read, only the count on
	// them: they are sent together, so the commit takes two round trips.
	errs := make([]error, len(single))
	var wg sync.WaitGroup
	for i, w := range single {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.write(ctx, w)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && dynamo.ConditionFailed(err) {
			return fmt.Errorf("write interaction %s: %w (%v)", ch.Event.ID, journey.ErrConflict, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write interaction %s: %w", ch.Event.ID, err)
	}
	return c.count(ctx, ch, now)
}

// RecentCounted is how many event digests a profile's newer set holds
// before it becomes the older one (see countUpdate): a redelivery is
// recognised while fewer than this many of the customer's later events
// were counted since its first attempt. Redeliveries come within the bus
// queue's visibility timeout; a customer's events in those minutes are
// far fewer. Two sets of 32 digests keep a profile well under a KB.
const RecentCounted = 32

// count adds the interaction to the profile, once: the update's condition
// fails when the event's digest is already there (a duplicate) or the
// customer was merged away (a conflict: resolve again).
func (c *Customers) count(ctx context.Context, ch journey.Change, now string) error {
	d := EventDigest(ch.Event.ID)
	u := countUpdate(c.customers, ch.CustomerID, ch.Own, now, d)
	out, err := c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
		ExpressionAttributeValues: u.ExpressionAttributeValues, ReturnValues: ddb.ReturnValueUpdatedNew,
	})
	if dynamo.ConditionFailed(err) {
		// Which condition failed decides what to do: read the profile.
		got, gerr := c.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.customers), Key: ProfileKey(ch.CustomerID), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return fmt.Errorf("count interaction %s: read profile %s: %w", ch.Event.ID, ch.CustomerID, gerr)
		}
		if containsDigest(got.Item, countedNew, d) || containsDigest(got.Item, countedOld, d) {
			return journey.ErrDuplicate
		}
		// Merged away since it was resolved, and not counted here: the
		// interaction item this attempt wrote under it goes, so the retry,
		// which writes it under the survivor, leaves one.
		if _, err := c.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(c.customers),
			Key: dynamo.ItemKey(CustomerPK(ch.CustomerID), InteractionSK(ch.Event))}); err != nil {
			return fmt.Errorf("count interaction %s: withdraw it from merged-away %s: %w", ch.Event.ID, ch.CustomerID, err)
		}
		return fmt.Errorf("count interaction %s: %w (customer %s merged away)", ch.Event.ID, journey.ErrConflict, ch.CustomerID)
	}
	if err != nil {
		return fmt.Errorf("count interaction %s: %w", ch.Event.ID, err)
	}
	if n := len(dynamo.GetSS(out.Attributes, countedNew)); n >= RecentCounted {
		// The newer set is full: it becomes the older one, which drops the
		// oldest digests. The condition makes one of two racing rotations
		// a no-op: the second no longer finds its digest in the newer set.
		_, err := c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.customers), Key: ProfileKey(ch.CustomerID),
			UpdateExpression:          aws.String("SET #old = #new REMOVE #new"),
			ConditionExpression:       aws.String("contains(#new, :d)"),
			ExpressionAttributeNames:  map[string]string{"#old": countedOld, "#new": countedNew},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":d": dynamo.AttrS(d)},
		})
		if err != nil && !dynamo.ConditionFailed(err) {
			// The count stands; the next count rotates instead.
			return fmt.Errorf("rotate counted events of %s: %w", ch.CustomerID, err)
		}
	}
	return nil
}

// Attributes of the profile holding the digests of the latest counted
// events: the newer set and the one before it.
const (
	countedNew = "counted"
	countedOld = "counted_before"
)

// EventDigest names a counted event on its customer's profile: 64 bits of
// its id's SHA-256, safe among the few dozen a profile keeps.
func EventDigest(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

func containsDigest(it map[string]ddb.AttributeValue, attr, d string) bool {
	return slices.Contains(dynamo.GetSS(it, attr), d)
}

// countUpdate counts an interaction on a live customer's profile, creating
// it on first sight, unless the event's digest shows it counted already.
func countUpdate(table, cid string, own []identity.Key, now, digest string) *ddb.Update {
	u := profileUpdate(table, cid, own, now, true).Update
	*u.UpdateExpression += ", #new :digest"
	*u.ConditionExpression += " AND NOT contains(#new, :d) AND NOT contains(#old, :d)"
	u.ExpressionAttributeNames["#new"] = countedNew
	u.ExpressionAttributeNames["#old"] = countedOld
	u.ExpressionAttributeValues[":digest"] = &ddb.AttributeValueMemberSS{Value: []string{digest}}
	u.ExpressionAttributeValues[":d"] = dynamo.AttrS(digest)
	return u
}

// write performs one of Commit's single-item writes.
func (c *Customers) write(ctx context.Context, w ddb.TransactWriteItem) error {
	var err error
	switch {
	case w.Put != nil:
		_, err = c.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: w.Put.TableName, Item: w.Put.Item, ConditionExpression: w.Put.ConditionExpression,
			ExpressionAttributeNames: w.Put.ExpressionAttributeNames, ExpressionAttributeValues: w.Put.ExpressionAttributeValues,
		})
	case w.Update != nil:
		_, err = c.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: w.Update.TableName, Key: w.Update.Key, UpdateExpression: w.Update.UpdateExpression,
			ConditionExpression:      w.Update.ConditionExpression,
			ExpressionAttributeNames: w.Update.ExpressionAttributeNames, ExpressionAttributeValues: w.Update.ExpressionAttributeValues,
		})
	default:
		err = errors.New("no write")
	}
	return err
}

// cancelled returns the per-item reasons of a cancelled transaction ("" for
// items that were fine), or nil for any other outcome. A cancellation is a
// conflict with another writer: a condition that no longer holds, or a
// transaction racing on the same item.
func Cancelled(err error) []string {
	var tc *ddb.TransactionCanceledException
	if !errors.As(err, &tc) {
		return nil
	}
	out := make([]string, len(tc.CancellationReasons))
	for i, r := range tc.CancellationReasons {
		if code := aws.ToString(r.Code); code != "None" {
			out[i] = code
		}
	}
	if len(out) == 0 {
		out = []string{"TransactionConflict"}
	}
	return out
}

// profileUpdate counts an interaction (or only links keys) on a live
// customer's profile, creating it on first sight. The condition makes a
// write based on a stale key lookup fail once the customer is merged away.
func profileUpdate(table, cid string, own []identity.Key, now string, interaction bool) ddb.TransactWriteItem {
	set := "SET #first = if_not_exists(#first, :now), #updated = :now"
	add := "ADD #version :one"
	names := map[string]string{"#first": "first_seen_at", "#updated": "updated_at", "#version": "version", "#merged": "merged_into"}
	values := map[string]ddb.AttributeValue{":now": dynamo.AttrS(now), ":one": dynamo.AttrN(1)}
	if interaction {
		add += ", #count :one"
		names["#count"] = "interactions"
	}
	if len(own) > 0 {
		add += ", #keys :keys"
		names["#keys"] = "identity_keys"
		values[":keys"] = KeySet(own)
	}
	return ddb.TransactWriteItem{Update: &ddb.Update{
		TableName: aws.String(table), Key: ProfileKey(cid),
		UpdateExpression:          aws.String(set + " " + add),
		ConditionExpression:       aws.String("attribute_not_exists(#merged)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// linkUpdate points a new key at cid. Racing first events of one person
// derive the same customer id, so they may both link it.
func linkUpdate(table string, k identity.Key, cid, eventID, now string) ddb.TransactWriteItem {
	values := map[string]ddb.AttributeValue{":c": dynamo.AttrS(cid), ":now": dynamo.AttrS(now)}
	set := "SET customer_id = :c, linked_at = if_not_exists(linked_at, :now)"
	if eventID != "" {
		set += ", linked_by = if_not_exists(linked_by, :e)"
		values[":e"] = dynamo.AttrS(eventID)
	}
	return ddb.TransactWriteItem{Update: &ddb.Update{
		TableName: aws.String(table), Key: identitystore.Key(k),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR customer_id = :c"),
		ExpressionAttributeValues: values,
	}}
}

// repoint moves a key from one customer to another, if it is still where
// the caller saw it.
func Repoint(table string, k identity.Key, from, to string) ddb.TransactWriteItem {
	return ddb.TransactWriteItem{Update: &ddb.Update{
		TableName: aws.String(table), Key: identitystore.Key(k),
		UpdateExpression:          aws.String("SET customer_id = :to"),
		ConditionExpression:       aws.String("customer_id = :from"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":to": dynamo.AttrS(to), ":from": dynamo.AttrS(from)},
	}}
}

// repointOnce is Repoint that also holds when an earlier attempt of the
// same change already moved the key.
func repointOnce(table string, k identity.Key, from, to string) ddb.TransactWriteItem {
	w := Repoint(table, k, from, to)
	w.Update.ConditionExpression = aws.String("customer_id IN (:from, :to)")
	return w
}

// instancePut writes an instance if nobody changed it since it was read.
func instancePut(table string, in *journey.Instance) (ddb.TransactWriteItem, error) {
	steps, err := json.Marshal(in.Steps)
	if err != nil {
		return ddb.TransactWriteItem{}, fmt.Errorf("encode steps of %s/%s: %w", in.Journey, in.Instance, err)
	}
	state, err := json.Marshal(in.State)
	if err != nil {
		return ddb.TransactWriteItem{}, fmt.Errorf("encode state of %s/%s: %w", in.Journey, in.Instance, err)
	}
	item := InstanceKey(in.Ref())
	item["journey"] = dynamo.AttrS(in.Journey)
	item["instance"] = dynamo.AttrS(in.Instance)
	item["customer_id"] = dynamo.AttrS(in.CustomerID)
	item["version"] = dynamo.AttrN(in.Version + 1)
	item["steps"] = dynamo.AttrS(string(steps))
	item["state"] = dynamo.AttrS(string(state))
	item["outcome"] = dynamo.AttrS(in.State.Outcome)
	item["updated_at"] = dynamo.AttrS(in.UpdatedAt.UTC().Format(time.RFC3339Nano))
	if in.State.Stage != "" {
		item["stage"] = dynamo.AttrS(in.State.Stage)
	}
	if in.State.SLADueAt != nil {
		item["sla_due_at"] = dynamo.AttrS(in.State.SLADueAt.UTC().Format(time.RFC3339Nano))
	}
	if len(in.Keys) > 0 {
		item["keys"] = KeySet(in.Keys)
	}
	if !in.ExpiresAt.IsZero() {
		item["expires_at"] = dynamo.AttrEpoch(in.ExpiresAt)
	}
	put := &ddb.Put{TableName: aws.String(table), Item: item}
	if in.Version == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(in.Version)}
	}
	return ddb.TransactWriteItem{Put: put}, nil
}

// pointerPut lists an instance under the customer it belongs to, so a
// customer's journeys are one Query away. It carries the instance's expiry
// so both go together.
func pointerPut(table string, in *journey.Instance) ddb.TransactWriteItem {
	item := PointerKey(in.CustomerID, in.Ref())
	item["journey"] = dynamo.AttrS(in.Journey)
	item["instance"] = dynamo.AttrS(in.Instance)
	item["outcome"] = dynamo.AttrS(in.State.Outcome)
	if !in.ExpiresAt.IsZero() {
		item["expires_at"] = dynamo.AttrEpoch(in.ExpiresAt)
	}
	return ddb.TransactWriteItem{Put: &ddb.Put{TableName: aws.String(table), Item: item}}
}

func DecodeInstance(it map[string]ddb.AttributeValue) (*journey.Instance, error) {
	in := &journey.Instance{
		Journey: dynamo.GetS(it, "journey"), Instance: dynamo.GetS(it, "instance"), CustomerID: dynamo.GetS(it, "customer_id"),
		Version: dynamo.GetN(it, "version"), StoredOutcome: dynamo.GetS(it, "outcome"),
	}
	if err := json.Unmarshal([]byte(dynamo.GetS(it, "steps")), &in.Steps); err != nil {
		return nil, fmt.Errorf("decode steps of %s/%s: %w", in.Journey, in.Instance, err)
	}
	if err := json.Unmarshal([]byte(dynamo.GetS(it, "state")), &in.State); err != nil {
		return nil, fmt.Errorf("decode state of %s/%s: %w", in.Journey, in.Instance, err)
	}
	for _, k := range dynamo.GetSS(it, "keys") {
		in.Keys = append(in.Keys, identity.Key(k))
	}
	in.UpdatedAt, _ = time.Parse(time.RFC3339Nano, dynamo.GetS(it, "updated_at"))
	if e := dynamo.GetN(it, "expires_at"); e > 0 {
		in.ExpiresAt = time.Unix(e, 0).UTC()
	}
	return in, nil
}

// Customers reads profiles by id.
func (c *Customers) Customers(ctx context.Context, ids []string) (map[string]journey.Customer, error) {
	req := make([]map[string]ddb.AttributeValue, len(ids))
	for i, id := range ids {
		req[i] = ProfileKey(id)
	}
	items, err := dynamo.BatchGet(ctx, c.client, c.customers, req)
	if err != nil {
		return nil, fmt.Errorf("read %d profiles: %w", len(ids), err)
	}
	out := map[string]journey.Customer{}
	for _, it := range items {
		p := DecodeProfile(it)
		out[p.ID] = p
	}
	return out, nil
}

func DecodeProfile(it map[string]ddb.AttributeValue) journey.Customer {
	p := journey.Customer{
		ID: strings.TrimPrefix(dynamo.GetS(it, topology.PK), "customer#"), Exists: true, Version: dynamo.GetN(it, "version"),
		MergedInto: dynamo.GetS(it, "merged_into"), Apart: dynamo.GetSS(it, "apart"),
		Counted: append(dynamo.GetSS(it, countedNew), dynamo.GetSS(it, countedOld)...),
	}
	p.FirstSeen, _ = time.Parse(time.RFC3339Nano, dynamo.GetS(it, "first_seen_at"))
	for _, k := range dynamo.GetSS(it, "identity_keys") {
		p.Keys = append(p.Keys, identity.Key(k))
	}
	sort.Slice(p.Keys, func(i, j int) bool { return p.Keys[i] < p.Keys[j] })
	return p
}

// Merge points the absorbed customer at the survivor, moves its keys and
// records why, in one transaction. Interactions and journeys stay where
// they were recorded: readers follow the merge, and undoing it has nothing
// to unpick for them.
func (c *Customers) Merge(ctx context.Context, m journey.Merge) error {
	a, b := m.Survivor, m.Absorbed
	if len(b.Keys)+3 > 100 {
		return fmt.Errorf("merge %s: %s has %d identity keys, more than one transaction can move", m.ID, b.ID, len(b.Keys))
	}
	at := m.At.UTC().Format(time.RFC3339Nano)
	recSK := "merge#" + at + "#" + m.ID
	survivor := &ddb.Update{
		TableName: aws.String(c.customers), Key: ProfileKey(a.ID),
		UpdateExpression:         aws.String("SET #updated = :at ADD #version :one, #absorbed :b"),
		ConditionExpression:      aws.String("attribute_not_exists(#merged)"),
		ExpressionAttributeNames: map[string]string{"#updated": "updated_at", "#version": "version", "#absorbed": "absorbed", "#merged": "merged_into"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":at": dynamo.AttrS(at), ":one": dynamo.AttrN(1), ":b": &ddb.AttributeValueMemberSS{Value: []string{b.ID}},
		},
	}
	if len(b.Keys) > 0 {
		*survivor.UpdateExpression += ", #keys :keys"
		survivor.ExpressionAttributeNames["#keys"] = "identity_keys"
		survivor.ExpressionAttributeValues[":keys"] = KeySet(b.Keys)
	}
	if len(b.Counted) > 0 {
		// The absorbed customer's counted events (its version is the one
		// read, so none is counted on it meanwhile) stay recognised: a
		// redelivery now resolves to the survivor.
		*survivor.UpdateExpression += ", #counted :counted"
		survivor.ExpressionAttributeNames["#counted"] = countedNew
		survivor.ExpressionAttributeValues[":counted"] = &ddb.AttributeValueMemberSS{Value: b.Counted}
	}
	absorbed := &ddb.Update{
		TableName: aws.String(c.customers), Key: ProfileKey(b.ID),
		UpdateExpression:         aws.String("SET #merged = :a, #mergedAt = :at, #mergeSK = :sk ADD #version :one"),
		ExpressionAttributeNames: map[string]string{"#merged": "merged_into", "#mergedAt": "merged_at", "#mergeSK": "merge_sk", "#version": "version"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":a": dynamo.AttrS(a.ID), ":at": dynamo.AttrS(at), ":sk": dynamo.AttrS(recSK), ":one": dynamo.AttrN(1),
		},
	}
	if b.Version == 0 {
		absorbed.ConditionExpression = aws.String("attribute_not_exists(#version) AND attribute_not_exists(#merged)")
	} else {
		absorbed.ConditionExpression = aws.String("#version = :v AND attribute_not_exists(#merged)")
		absorbed.ExpressionAttributeValues[":v"] = dynamo.AttrN(b.Version)
	}
	rec := dynamo.ItemKey(CustomerPK(a.ID), recSK)
	rec["merge_id"] = dynamo.AttrS(m.ID)
	rec["survivor"] = dynamo.AttrS(a.ID)
	rec["absorbed"] = dynamo.AttrS(b.ID)
	rec["at"] = dynamo.AttrS(at)
	rec["state"] = dynamo.AttrS(MergeStateMerged)
	rec["cause_event"] = dynamo.AttrS(m.CauseEvent)
	rec["cause_keys"] = KeySet(m.CauseKeys)
	if len(b.Keys) > 0 {
		rec["keys"] = KeySet(b.Keys)
	}
	items := []ddb.TransactWriteItem{
		{Update: survivor}, {Update: absorbed},
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: rec, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}
	for _, k := range b.Keys {
		items = append(items, Repoint(c.customers, k, b.ID, a.ID))
	}
	_, err := c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if r := Cancelled(err); len(r) > 0 {
		return fmt.Errorf("merge %s: %w (%s)", m.ID, journey.ErrConflict, strings.Join(r, ","))
	}
	if err != nil {
		return fmt.Errorf("merge %s: %w", m.ID, err)
	}
	return nil
}

// Merge record states.
const (
	MergeStateMerged   = "merged"
	MergeStateUnmerged = "unmerged"
)

func KeySet(keys []identity.Key) ddb.AttributeValue {
	seen := map[string]bool{}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, string(k))
		}
	}
	sort.Strings(out)
	return &ddb.AttributeValueMemberSS{Value: out}
}
