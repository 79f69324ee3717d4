package dynamo

import (
	"bytes"
	"strings"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A short document stays a readable string; a long one is stored
// compressed and smaller; both, and strings written before, read back.
func TestDocRoundTrip(t *testing.T) {
	short := []byte(`{"id":"flr_1"}`)
	long := []byte(`{"id":"flr_1","evidence":[` + strings.Repeat(`{"type":"survey.responded","channel":"typeform","score":3},`, 30) + `{}]}`)
	item := map[string]ddb.AttributeValue{"s": AttrDoc(short), "l": AttrDoc(long), "old": AttrS(string(long))}
	if _, ok := item["s"].(*ddb.AttributeValueMemberS); !ok {
		t.Fatalf("short document stored as %T", item["s"])
	}
	b, ok := item["l"].(*ddb.AttributeValueMemberB)
	if !ok || len(b.Value)*3 > len(long) {
		t.Fatalf("long document stored as %T, want gzip at most a third of %d bytes", item["l"], len(long))
	}
	for _, name := range []string{"s", "l", "old"} {
		got, err := GetDoc(item, name)
		want := long
		if name == "s" {
			want = short
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s read back %q, %v", name, got, err)
		}
	}
	item["bad"] = &ddb.AttributeValueMemberB{Value: []byte("not gzip")}
	if _, err := GetDoc(item, "bad"); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("corrupt document: %v, want an error naming it", err)
	}
}
