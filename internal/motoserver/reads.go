package motoserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// ReadHalfUnits counts DynamoDB read request units measured at moto, in
// halves: an eventually consistent read of up to 4 KB is one half, a
// strongly consistent one two, a transactional one four. With
// MeasureWrites on, the proxy asks moto the same read itself and sizes
// what it returns: a GetItem or each key of a BatchGetItem by its item
// (an absent item still costs the least a read costs), a Query or Scan by
// the items of its page together. A Query's filter is applied after the
// read and DynamoDB bills what it read, so a filtered Query is counted
// low: only by what it returned.
const ReadHalfUnits = "dynamodb read half-units"

// ReadPrefix starts the keys that count the same half-units by table, item
// kind (as WritePrefix's), action and consistency, so a report can say
// which reads an interaction's price is made of.
const ReadPrefix = "dynamodb read half-units: "

// read counts n half-units of one read of an item of the kind (a page of
// a Query by its first item's).
func (m *Meter) read(table, kind, action string, consistent bool, n int) {
	m.add(ReadHalfUnits, n)
	m.add(ReadPrefix+table+" "+kind+" "+action+" "+consistency(consistent), n)
}

func consistency(consistent bool) string {
	if consistent {
		return "consistent"
	}
	return "eventual"
}

// measureRead counts the read units of r, a DynamoDB read, when reads are
// measured.
func (m *Meter) measureRead(r *http.Request, direct string) {
	service, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	if service != "DynamoDB_20120810" || !m.measuring() {
		return
	}
	body := peek(r)
	auth := r.Header.Get("Authorization")
	switch action {
	case "GetItem":
		var in struct {
			TableName      string
			Key            map[string]json.RawMessage
			ConsistentRead bool
		}
		if json.Unmarshal(body, &in) == nil {
			m.read(in.TableName, kindOf(in.Key), action, in.ConsistentRead, halves(ItemSize(getItem(direct, auth, in.TableName, in.Key)), in.ConsistentRead))
		}
	case "BatchGetItem":
		var in struct {
			RequestItems map[string]struct {
				Keys           []map[string]json.RawMessage
				ConsistentRead bool
			}
		}
		if json.Unmarshal(body, &in) == nil {
			for table, ka := range in.RequestItems {
				for _, k := range ka.Keys {
					m.read(table, kindOf(k), action, ka.ConsistentRead, halves(ItemSize(getItem(direct, auth, table, k)), ka.ConsistentRead))
				}
			}
		}
	case "TransactGetItems":
		var in struct {
			TransactItems []struct {
				Get struct {
					TableName string
					Key       map[string]json.RawMessage
				}
			}
		}
		if json.Unmarshal(body, &in) == nil {
			for _, it := range in.TransactItems {
				m.read(it.Get.TableName, kindOf(it.Get.Key), action, true, 2*halves(ItemSize(getItem(direct, auth, it.Get.TableName, it.Get.Key)), true))
			}
		}
	case "Query", "Scan":
		var in struct {
			TableName      string
			IndexName      string
			ConsistentRead bool
		}
		_ = json.Unmarshal(body, &in)
		var out struct{ Items []map[string]json.RawMessage }
		if json.Unmarshal(call(direct, auth, action, body), &out) == nil {
			size := 0
			for _, it := range out.Items {
				size += ItemSize(it)
			}
			if in.IndexName != "" {
				action += " " + in.IndexName
			}
			kind := "(no item)"
			if len(out.Items) > 0 {
				kind = kindOf(out.Items[0])
			}
			m.read(in.TableName, kind, action, in.ConsistentRead, halves(size, in.ConsistentRead))
		}
	}
}

// halves is what reading size bytes costs in half read units: one per
// started 4 KB, doubled when strongly consistent; never less than one read.
func halves(size int, consistent bool) int {
	n := max(1, (size+4095)/4096)
	if consistent {
		return 2 * n
	}
	return n
}

// getItem reads an item from moto itself, consistently, bypassing the
// proxy (and so the meter); nil when it is absent or cannot be read.
func getItem(direct, auth, table string, key map[string]json.RawMessage) map[string]json.RawMessage {
	body, err := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	if err != nil {
		return nil
	}
	var out struct{ Item map[string]json.RawMessage }
	if json.Unmarshal(call(direct, auth, "GetItem", body), &out) != nil {
		return nil
	}
	return out.Item
}

// call sends one DynamoDB request to moto itself, with the caller's
// Authorization (moto takes the region from its credential scope), and
// returns the answer's body, or nil when the call failed.
func call(direct, auth, action string, body []byte) []byte {
	req, err := http.NewRequest(http.MethodPost, direct+"/", bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+action)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return b
}
