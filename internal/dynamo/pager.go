package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrStop, returned by a Query callback, ends the query early without an
// error.
var ErrStop = errors.New("stop paging")

// Query runs in and calls each for every item of every page, until the
// pages end or each returns ErrStop. It is the one place paging is done.
func Query(ctx context.Context, c *dynamodb.Client, in *dynamodb.QueryInput, each func(map[string]ddb.AttributeValue) error) error {
	p := dynamodb.NewQueryPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			if err := each(item); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// Page runs in for one page (in.Limit items at most) from cursor, a
// token Page returned before ("" for the first page), and returns its
// items and the next page's token, "" after the last. valid, when set,
// vets the key a cursor decodes to, so a token of another listing is
// refused. A cursor that does not decode or pass is an error wrapping
// ErrBadCursor.
func Page(ctx context.Context, c *dynamodb.Client, in *dynamodb.QueryInput, cursor string, valid func(map[string]ddb.AttributeValue) error) ([]map[string]ddb.AttributeValue, string, error) {
	if cursor != "" {
		k, err := DecodeCursor(cursor)
		if err == nil && valid != nil {
			if err = valid(k); err != nil && !errors.Is(err, ErrBadCursor) {
				err = fmt.Errorf("%w: %w", ErrBadCursor, err)
			}
		}
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = k
	}
	out, err := c.Query(ctx, in)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		next = EncodeCursor(out.LastEvaluatedKey)
	}
	return out.Items, next, nil
}

// EncodeCursor makes an opaque page token of a key made of string
// attributes.
func EncodeCursor(k map[string]ddb.AttributeValue) string {
	m := map[string]string{}
	for name := range k {
		m[name] = GetS(k, name)
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a token EncodeCursor made.
func DecodeCursor(c string) (map[string]ddb.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	var m map[string]string
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cursor is not one this API issued", ErrBadCursor)
	}
	out := map[string]ddb.AttributeValue{}
	for k, v := range m {
		out[k] = AttrS(v)
	}
	return out, nil
}
