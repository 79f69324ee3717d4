package motoserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
)

// Write units as DynamoDB bills them, measured rather than estimated: with
// MeasureWrites on, the proxy reads each item a write touches from moto
// before and after the write, so a write is charged on the larger of the
// item's two sizes (one unit per started KB, two in a transaction), and
// every global secondary index whose entry the write adds, changes or
// removes is charged too (one unit per started KB of the entry, two when
// its key moves: a delete and a put). Indexes project every attribute
// here, so an entry is the item. The request alone cannot say either: an
// update carries no size, and whether an item is in a sparse index
// depends on what is stored.

// schema is what the meter learns of a table from its CreateTable request.
type schema struct {
	key     []string   // the table's key attributes
	indexes [][]string // each global secondary index's key attributes
}

// MeasureWrites turns exact write and read metering on or off (see above
// and ReadHalfUnits). It adds reads of moto per request, so it is for the
// tests that price.
func (m *Meter) MeasureWrites(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exact = on
}

func (m *Meter) measuring() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exact
}

// learnTable keeps a new table's key schema and indexes.
func (m *Meter) learnTable(body []byte) {
	var in struct {
		TableName string
		KeySchema []struct{ AttributeName string }
		GSIs      []struct {
			KeySchema []struct{ AttributeName string }
		} `json:"GlobalSecondaryIndexes"`
	}
	if json.Unmarshal(body, &in) != nil || in.TableName == "" {
		return
	}
	var sc schema
	for _, k := range in.KeySchema {
		sc.key = append(sc.key, k.AttributeName)
	}
	for _, g := range in.GSIs {
		var ks []string
		for _, k := range g.KeySchema {
			ks = append(ks, k.AttributeName)
		}
		sc.indexes = append(sc.indexes, ks)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables == nil {
		m.tables = map[string]schema{}
	}
	m.tables[in.TableName] = sc
}

// itemWrite is one item a write request touches.
type itemWrite struct {
	table  string
	key    map[string]json.RawMessage
	kind   string // the WritePrefix key it is counted under
	factor int    // 2 in a transaction
	before map[string]json.RawMessage
}

// writeProbe measures one write request around its forwarding.
type writeProbe struct {
	m      *Meter
	direct string
	auth   string
	items  []*itemWrite
}

// probe reads, before r is forwarded, the items it writes; nil when r
// writes nothing or writes are not measured.
func (m *Meter) probe(r *http.Request, direct string) *writeProbe {
	service, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if service != "DynamoDB_20120810" || !m.measuring() {
		return nil
	}
	body := peek(r)
	p := &writeProbe{m: m, direct: direct, auth: r.Header.Get("Authorization")}
	var in struct {
		TableName     string
		Item          map[string]json.RawMessage
		Key           map[string]json.RawMessage
		TransactItems []map[string]json.RawMessage
		RequestItems  map[string][]struct {
			PutRequest    *struct{ Item map[string]json.RawMessage }
			DeleteRequest *struct{ Key map[string]json.RawMessage }
		}
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	switch action {
	case "PutItem", "UpdateItem", "DeleteItem":
		p.add(in.TableName, in.Item, in.Key, writeKind(body, action), 1)
	case "TransactWriteItems":
		for _, op := range in.TransactItems {
			for name, inner := range op {
				var w struct {
					TableName string
					Item      map[string]json.RawMessage
					Key       map[string]json.RawMessage
				}
				_ = json.Unmarshal(inner, &w)
				p.add(w.TableName, w.Item, w.Key, writeKind(inner, "Transact"+name), 2)
			}
		}
	case "BatchWriteItem":
		for table, reqs := range in.RequestItems {
			for _, rq := range reqs {
				switch {
				case rq.PutRequest != nil:
					p.add(table, rq.PutRequest.Item, nil, WritePrefix+table+" "+kindOf(rq.PutRequest.Item)+" BatchPut", 1)
				case rq.DeleteRequest != nil:
					p.add(table, nil, rq.DeleteRequest.Key, WritePrefix+table+" "+kindOf(rq.DeleteRequest.Key)+" BatchDelete", 1)
				}
			}
		}
	default:
		return nil
	}
	for _, w := range p.items {
		w.before = p.get(w)
	}
	return p
}

// add notes one item written: its key comes from the request's Key, or
// from the put item's key attributes.
func (p *writeProbe) add(table string, item, key map[string]json.RawMessage, kind string, factor int) {
	if key == nil {
		p.m.mu.Lock()
		sc := p.m.tables[table]
		p.m.mu.Unlock()
		key = map[string]json.RawMessage{}
		for _, a := range sc.key {
			key[a] = item[a]
		}
	}
	p.items = append(p.items, &itemWrite{table: table, key: key, kind: kind, factor: factor})
}

// finish reads the items again, after the write, and counts their units.
func (p *writeProbe) finish() {
	for _, w := range p.items {
		after := p.get(w)
		p.m.mu.Lock()
		sc := p.m.tables[w.table]
		p.m.mu.Unlock()
		u := w.factor * max(1, kb(w.before), kb(after))
		if !reflect.DeepEqual(w.before, after) {
			for _, ix := range sc.indexes {
				u += indexUnits(ix, w.before, after)
			}
		}
		p.m.add(WriteUnits, u)
		p.m.add(w.kind, u)
	}
}

// indexUnits is what one index is charged when an item goes from before
// to after (nil: absent): a put of the new entry, a delete of the old
// one, or both when the entry's key changes.
func indexUnits(keys []string, before, after map[string]json.RawMessage) int {
	in := func(it map[string]json.RawMessage) bool {
		if it == nil {
			return false
		}
		for _, k := range keys {
			if _, ok := it[k]; !ok {
				return false
			}
		}
		return true
	}
	was, is := in(before), in(after)
	switch {
	case was && is:
		for _, k := range keys {
			if !reflect.DeepEqual(before[k], after[k]) {
				return kb(before) + kb(after)
			}
		}
		return kb(after)
	case is:
		return kb(after)
	case was:
		return kb(before)
	}
	return 0
}

// kb is an item's started kilobytes (0 for none).
func kb(it map[string]json.RawMessage) int {
	if it == nil {
		return 0
	}
	return (ItemSize(it) + 1023) / 1024
}

// kindOf names an item by its partition key's prefix, as writeKind does.
func kindOf(attrs map[string]json.RawMessage) string {
	var pk struct{ S string }
	_ = json.Unmarshal(attrs["pk"], &pk)
	if pk.S == "" {
		return "?"
	}
	if i := strings.IndexAny(pk.S, "#_"); i > 0 {
		return pk.S[:i]
	}
	return pk.S
}

// get reads an item from moto itself (getItem).
func (p *writeProbe) get(w *itemWrite) map[string]json.RawMessage {
	return getItem(p.direct, p.auth, w.table, w.key)
}
