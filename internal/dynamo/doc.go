package dynamo

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// compressAbove is the size from which a document is stored compressed:
// below it gzip's 20-byte frame and the CPU buy nothing.
const compressAbove = 300

// AttrDoc stores a JSON document: as a string when short, gzip-compressed
// as binary when longer. DynamoDB bills a write per started KB of the
// whole item, and the failure, group, loop and outbound records are JSON
// of one to three KB that compresses to a third or less.
func AttrDoc(b []byte) ddb.AttributeValue {
	if len(b) <= compressAbove {
		return AttrS(string(b))
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                       // writes to a buffer do not fail
	_ = zw.Close()
	if buf.Len() >= len(b) {
		return AttrS(string(b))
	}
	return &ddb.AttributeValueMemberB{Value: buf.Bytes()}
}

// GetDoc reads a document AttrDoc stored, or a plain string (as every
// document was written before AttrDoc). A missing attribute is empty.
func GetDoc(item map[string]ddb.AttributeValue, name string) ([]byte, error) {
	switch v := item[name].(type) {
	case *ddb.AttributeValueMemberS:
		return []byte(v.Value), nil
	case *ddb.AttributeValueMemberB:
		zr, err := gzip.NewReader(bytes.NewReader(v.Value))
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", name, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", name, err)
		}
		return b, nil
	}
	return nil, nil
}

// UnmarshalDoc decodes the JSON document AttrDoc stored under name into v.
func UnmarshalDoc(item map[string]ddb.AttributeValue, name string, v any) error {
	b, err := GetDoc(item, name)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
